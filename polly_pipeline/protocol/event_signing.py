"""Protocol layer: the chained event signatures (the client signs, the local service verifies).

Every input event is wrapped in an outer message whose headers are ``:date`` and
``:chunk-signature``; each signature chains from the previous one, starting at the request's.
Credentials are frozen for the chain's life; clocks are injected.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import struct
from collections.abc import Callable

from polly_pipeline.errors import SignatureError
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.eventstream import (
    Header,
    HeaderType,
    Message,
    encode_frame,
    epoch_millis,
)
from polly_pipeline.protocol.sigv4_common import (
    AMZ_DATE,
    EVENT_ALGORITHM,
    check_skew,
    credential_scope,
    derive_signing_key,
    is_hex_signature,
    utc,
    utc_now,
)

__all__ = ["EventSigner", "EventVerifier"]


def _date_block(when: datetime.datetime) -> bytes:
    """The encoded ``:date`` header (15 bytes: 0x05 ':date' 0x08 i64 milliseconds)."""
    return _DATE_PREFIX + _I64.pack(epoch_millis(when))


# The two header names of an outer message, encoded once: name length, name, type code (and,
# for the signature, its u16 length: always 32 bytes).
_DATE_PREFIX = b"\x05:date\x08"
_SIGNATURE_PREFIX = b"\x10:chunk-signature\x06\x00\x20"
_I64 = struct.Struct("!q")


class _EventChain:
    """What signer and verifier share: the frozen credentials, the scope and the chain."""

    def __init__(
        self, credentials: Credentials, region: str, service: str, seed_signature: str
    ) -> None:
        if not is_hex_signature(seed_signature):
            raise ValueError("seed_signature must be the 64 lowercase hex digits of a signature")
        self._credentials = credentials
        self._region = region
        self._service = service
        self._prior = seed_signature
        # The string-to-sign's head changes once a second: (whole seconds, head, signing key).
        self._second: tuple[datetime.datetime, str, bytes] | None = None

    def _head(self, when: datetime.datetime) -> tuple[str, bytes]:
        """The string-to-sign's first three lines and the signing key for ``when``'s second."""
        second = when.replace(microsecond=0)
        cached = self._second
        if cached is not None and cached[0] == second:
            return cached[1], cached[2]
        amz_date = when.strftime(AMZ_DATE)
        where = credential_scope(amz_date[:8], self._region, self._service)
        head = f"{EVENT_ALGORITHM}\n{amz_date}\n{where}\n"
        key = derive_signing_key(
            self._credentials.secret_key, amz_date[:8], self._region, self._service
        )
        self._second = (second, head, key)
        return head, key

    def _signature(self, when: datetime.datetime, date_block: bytes, payload: bytes) -> bytes:
        """The raw chunk signature; the string-to-sign time is ``when`` to whole seconds."""
        head, key = self._head(when)
        string_to_sign = (
            f"{head}{self._prior}\n{hashlib.sha256(date_block).hexdigest()}\n"
            f"{hashlib.sha256(payload).hexdigest()}"
        )
        return hmac.digest(key, string_to_sign.encode(), "sha256")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(credentials={self._credentials!r}, region={self._region!r})"


class EventSigner(_EventChain):
    """Wraps each encoded input event in a signed outer message, chaining the signatures."""

    def __init__(
        self,
        *,
        credentials: Credentials,
        region: str,
        service: str = "polly",
        seed_signature: str,
        clock: Callable[[], datetime.datetime] = utc_now,
    ) -> None:
        super().__init__(credentials, region, service, seed_signature)
        self._clock = clock

    @property
    def prior_signature(self) -> str:
        """The hex signature the next event chains from."""
        return self._prior

    def sign(self, payload: bytes) -> bytes:
        """The encoded outer message carrying ``payload`` (an encoded inner message)."""
        when = utc(self._clock())
        date_block = _DATE_PREFIX + _I64.pack(epoch_millis(when))
        signature = self._signature(when, date_block, payload)
        self._prior = signature.hex()
        return encode_frame(date_block + _SIGNATURE_PREFIX + signature, payload)

    def sign_end(self) -> bytes:
        """The signed empty frame that ends the input stream."""
        return self.sign(b"")


def _only_header(message: Message, name: str, htype: HeaderType) -> Header:
    """The one header ``name`` of type ``htype``, else SignatureError."""
    found = [h for h in message.headers if h.name == name]
    if not found:
        raise SignatureError(f"signed event is missing its {name!r} header")
    if len(found) > 1:
        raise SignatureError(f"signed event carries {len(found)} {name!r} headers")
    if found[0].type is not htype:
        raise SignatureError(
            f"signed event header {name!r} has type {found[0].type.name}, expected {htype.name}"
        )
    return found[0]


def _event_date_and_signature(message: Message) -> tuple[datetime.datetime, bytes]:
    """The ``:date`` and ``:chunk-signature`` of an outer message, checked for type and size."""
    date = _only_header(message, ":date", HeaderType.TIMESTAMP).value
    signature = _only_header(message, ":chunk-signature", HeaderType.BYTE_ARRAY).value
    if not isinstance(date, datetime.datetime) or not isinstance(signature, bytes):
        raise SignatureError("signed event headers carry values of the wrong type")
    if len(signature) != 32:
        raise SignatureError(f"':chunk-signature' must be 32 bytes, got {len(signature)}")
    return date, signature


class EventVerifier(_EventChain):
    """Server side of the event chain: checks each outer message and unwraps its payload."""

    def __init__(
        self,
        *,
        credentials: Credentials,
        region: str,
        service: str = "polly",
        seed_signature: str,
        clock: Callable[[], datetime.datetime],
        max_skew: datetime.timedelta = datetime.timedelta(minutes=5),
    ) -> None:
        super().__init__(credentials, region, service, seed_signature)
        self._clock = clock
        self._max_skew = max_skew
        self._ended = False

    @property
    def ended(self) -> bool:
        """True once the empty end-of-stream frame has verified."""
        return self._ended

    def verify(self, outer: Message) -> bytes:
        """Check ``outer``'s signature and chain; return its payload (b"" for the end frame)."""
        if self._ended:
            raise SignatureError("signed event received after the end-of-stream frame")
        date, signature = _event_date_and_signature(outer)
        check_skew(date, utc(self._clock()), self._max_skew)
        expected = self._signature(date, _date_block(date), outer.payload)
        if not hmac.compare_digest(expected, signature):
            raise SignatureError(
                "The event signature we calculated does not match the signature you provided "
                "(tampered payload, wrong key, or a frame out of chain order)"
            )
        self._prior = signature.hex()
        if not outer.payload:
            self._ended = True
        return outer.payload
