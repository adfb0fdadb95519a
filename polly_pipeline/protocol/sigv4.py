"""Protocol layer: SigV4 for the initial request and the chained event signatures (both sides).

The client signs the HTTP/2 request with ordinary SigV4 (payload hash
``STREAMING-AWS4-HMAC-SHA256-EVENTS``) and then wraps every input event in an outer message
whose ``:chunk-signature`` chains from the previous signature, starting at the request's.
The local service verifies both with the same code. Clocks are injected; no secret ever
reaches an exception message or a ``repr``.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote

from polly_pipeline.errors import SignatureError
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.eventstream import (
    Header,
    HeaderType,
    Message,
    encode_frame,
    epoch_millis,
)

__all__ = [
    "ALGORITHM",
    "STREAMING_PAYLOAD",
    "Authorization",
    "EventSigner",
    "EventVerifier",
    "SignedRequest",
    "VerifiedRequest",
    "derive_signing_key",
    "parse_authorization",
    "sign_request",
    "verify_request",
]

#: The ``x-amz-content-sha256`` value announcing a signed event stream body.
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
#: The SigV4 algorithm name (the first word of the Authorization header).
ALGORITHM = "AWS4-HMAC-SHA256"
_EVENT_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
# Headers SigV4 leaves unsigned (botocore's list): proxies and HTTP stacks rewrite them.
_UNSIGNED = frozenset(
    {
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)
# Headers sign_request adds itself and so refuses from the caller.
_RESERVED = frozenset(
    {"host", "authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"}
)


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _utc(value: datetime.datetime) -> datetime.datetime:
    """``value`` in UTC; naive datetimes are refused (they hide local-time bugs)."""
    if value.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware one, e.g. datetime.now(UTC)")
    return value.astimezone(datetime.UTC)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


@lru_cache(maxsize=32)
def derive_signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for one ``YYYYMMDD`` date, region and service."""
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    return _hmac(_hmac(_hmac(key, region), service), "aws4_request")


def _scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/aws4_request"


# --- the initial request ------------------------------------------------------------------


def _canonical_path(path: str) -> str:
    """Dot segments and empty segments removed, then URI-encoded (as botocore does)."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(quote(segment, safe="~"))
    trailing = "/" if path.endswith("/") and segments else ""
    return "/" + "/".join(segments) + trailing


def _canonical_query(query: str) -> str:
    """Each name and value decoded then URI-encoded afresh, pairs sorted by name then value."""
    pairs = []
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((quote(unquote(name), safe="~"), quote(unquote(value), safe="~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _canonical_request(
    method: str, path: str, query: str, signed: Sequence[tuple[str, str]], payload_hash: str
) -> tuple[str, str]:
    """The canonical request and its signed-headers list; ``signed`` holds lowercase names."""
    values: dict[str, list[str]] = {}
    for name, value in signed:
        values.setdefault(name, []).append(" ".join(value.split()))
    names = sorted(values)
    headers = "".join(f"{name}:{','.join(values[name])}\n" for name in names)
    signed_headers = ";".join(names)
    request = "\n".join(
        (
            method.upper(),
            _canonical_path(path),
            _canonical_query(query),
            headers,
            signed_headers,
            payload_hash,
        )
    )
    return request, signed_headers


def _request_string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


@dataclass(frozen=True)
class SignedRequest:
    """The request headers to send (input plus the SigV4 ones) and the seed signature."""

    headers: tuple[tuple[str, str], ...]
    signature: str

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        return f"SignedRequest(headers=<{names}>, signature={self.signature!r})"


def sign_request(
    *,
    method: str,
    host: str,
    path: str,
    query: str = "",
    headers: Sequence[tuple[str, str]],
    credentials: Credentials,
    region: str,
    service: str = "polly",
    now: datetime.datetime,
    payload_hash: str = STREAMING_PAYLOAD,
) -> SignedRequest:
    """Sign a request with SigV4; ``host`` is signed exactly as given (add a non-default port)."""
    amz_date = _utc(now).strftime(_AMZ_DATE)
    added = [("x-amz-date", amz_date), ("x-amz-content-sha256", payload_hash)]
    if credentials.session_token:
        added.append(("x-amz-security-token", credentials.session_token))
    signed = [("host", host)]
    for name, value in headers:
        lname = name.strip().lower()
        if lname in _RESERVED:
            raise ValueError(f"headers must not contain {name!r}: sign_request sets it")
        if lname.startswith(":"):
            raise ValueError(f"HTTP/2 pseudo-header {name!r} cannot be signed")
        if lname not in _UNSIGNED:
            signed.append((lname, value))
    signed.extend(added)
    canonical, signed_headers = _canonical_request(method, path, query, signed, payload_hash)
    scope = _scope(amz_date[:8], region, service)
    key = derive_signing_key(credentials.secret_key, amz_date[:8], region, service)
    signature = hmac.new(
        key, _request_string_to_sign(amz_date, scope, canonical).encode(), hashlib.sha256
    ).hexdigest()
    authorization = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return SignedRequest((*headers, *added, ("authorization", authorization)), signature)


# --- verifying the initial request (server side) --------------------------------------


@dataclass(frozen=True)
class Authorization:
    """The parts of a SigV4 ``Authorization`` header."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def _is_hex_signature(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def parse_authorization(value: str) -> Authorization:
    """Split a SigV4 ``Authorization`` header; raises SignatureError if it is malformed."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(
            f"Authorization header uses an unsupported algorithm {algorithm[:40]!r}; "
            f"expected {ALGORITHM!r}"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            raise SignatureError(
                f"Authorization header parameter {key[:40]!r} is not a key=value pair"
            )
        fields[key] = item
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in fields:
            raise SignatureError(f"Authorization header requires {required!r} parameter")
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise SignatureError(
            "Credential must have the form <access key>/<YYYYMMDD>/<region>/<service>/aws4_request"
        )
    access_key, date, region, service, _ = scope
    if len(date) != 8 or not date.isdigit():
        raise SignatureError(f"Credential scope date {date[:20]!r} is not YYYYMMDD")
    signed_headers = tuple(fields["SignedHeaders"].split(";"))
    if not all(signed_headers):
        raise SignatureError("SignedHeaders must be a ';'-separated list of header names")
    if not _is_hex_signature(fields["Signature"]):
        raise SignatureError("Signature must be 64 lowercase hex digits")
    return Authorization(access_key, date, region, service, signed_headers, fields["Signature"])


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose SigV4 signature verified: who signed it, where, and when."""

    credentials: Credentials
    region: str
    signature: str
    request_time: datetime.datetime


def _check_skew(
    stamp: datetime.datetime, now: datetime.datetime, max_skew: datetime.timedelta
) -> None:
    """SignatureError (AWS wording) if ``stamp`` is more than ``max_skew`` away from ``now``."""
    minutes = f"{max_skew.total_seconds() / 60:g} min."
    if stamp < now - max_skew:
        raise SignatureError(
            f"Signature expired: {stamp.strftime(_AMZ_DATE)} is now earlier than "
            f"{(now - max_skew).strftime(_AMZ_DATE)} ({now.strftime(_AMZ_DATE)} - {minutes})"
        )
    if stamp > now + max_skew:
        raise SignatureError(
            f"Signature not yet current: {stamp.strftime(_AMZ_DATE)} is still later than "
            f"{(now + max_skew).strftime(_AMZ_DATE)} ({now.strftime(_AMZ_DATE)} + {minutes})"
        )


def verify_request(
    *,
    method: str,
    path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    lookup: Callable[[str], Credentials | None],
    now: datetime.datetime,
    max_skew: datetime.timedelta = datetime.timedelta(minutes=5),
    service: str = "polly",
    payload_hash: str = _EMPTY_SHA256,
) -> VerifiedRequest:
    """Verify a SigV4-signed request; ``headers`` must include ``host`` (HTTP/2: :authority).

    The payload hash signed is the ``x-amz-content-sha256`` header when present (streaming
    requests), else ``payload_hash`` (default: the hash of an empty body).
    """
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        by_name.setdefault(name.strip().lower(), []).append(value)
    if "authorization" not in by_name:
        raise SignatureError("Missing Authentication Token")
    auth = parse_authorization(by_name["authorization"][0])
    credentials = lookup(auth.access_key)
    if credentials is None:
        redacted = auth.access_key[:4] + "*" * max(0, len(auth.access_key) - 4)
        raise SignatureError(
            f"The security token included in the request is invalid (unknown access key {redacted})"
        )
    if auth.service != service:
        raise SignatureError(f"Credential should be scoped to correct service: {service!r}")
    if "host" not in auth.signed_headers:
        raise SignatureError(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization"
        )
    if "x-amz-date" not in by_name:
        raise SignatureError("Authorization header requires existence of a 'X-Amz-Date' header")
    amz_date = by_name["x-amz-date"][0].strip()
    try:
        request_time = datetime.datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise SignatureError(f"X-Amz-Date {amz_date[:40]!r} is not YYYYMMDDTHHMMSSZ") from None
    if "x-amz-date" not in auth.signed_headers:
        raise SignatureError("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization")
    if auth.date != amz_date[:8]:
        raise SignatureError(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: {auth.date!r} != {amz_date[:8]!r}, from {amz_date!r}"
        )
    _check_skew(request_time, _utc(now), max_skew)
    tokens = by_name.get("x-amz-security-token", [])
    if credentials.session_token is not None or tokens:
        if not tokens or not hmac.compare_digest(
            tokens[0].encode(), (credentials.session_token or "").encode()
        ):
            raise SignatureError("The security token included in the request is invalid")
        if "x-amz-security-token" not in auth.signed_headers:
            raise SignatureError("'X-Amz-Security-Token' must be a 'SignedHeader'")
    signed: list[tuple[str, str]] = []
    for name in auth.signed_headers:
        if name not in by_name:
            raise SignatureError(f"signed header {name!r} is missing from the request")
        signed.extend((name, value) for value in by_name[name])
    body_hash = by_name.get("x-amz-content-sha256", [payload_hash])[0].strip()
    canonical, _ = _canonical_request(method, path, query, signed, body_hash)
    string_to_sign = _request_string_to_sign(
        amz_date, _scope(auth.date, auth.region, auth.service), canonical
    )
    key = derive_signing_key(credentials.secret_key, auth.date, auth.region, auth.service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureError(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            f"The String-to-Sign should have been {string_to_sign!r}"
        )
    return VerifiedRequest(credentials, auth.region, auth.signature, request_time)


# --- the event chain ----------------------------------------------------------------------


def _date_block(when: datetime.datetime) -> bytes:
    """The encoded ``:date`` header (15 bytes: 0x05 ':date' 0x08 i64 milliseconds)."""
    return _DATE_PREFIX + _I64.pack(epoch_millis(when))


# The two header names of an outer message, encoded once: name length, name, type code (and,
# for the signature, its u16 length: always 32 bytes).
_DATE_PREFIX = b"\x05:date\x08"
_SIGNATURE_PREFIX = b"\x10:chunk-signature\x06\x00\x20"
_OUTER_HEADERS_LENGTH = len(_DATE_PREFIX) + 8 + len(_SIGNATURE_PREFIX) + 32
_I64 = struct.Struct("!q")


class _EventChain:
    """What signer and verifier share: the frozen credentials, the scope and the chain."""

    def __init__(
        self, credentials: Credentials, region: str, service: str, seed_signature: str
    ) -> None:
        if not _is_hex_signature(seed_signature):
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
        amz_date = when.strftime(_AMZ_DATE)
        head = (
            f"{_EVENT_ALGORITHM}\n{amz_date}\n{_scope(amz_date[:8], self._region, self._service)}\n"
        )
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
        clock: Callable[[], datetime.datetime] = _utc_now,
    ) -> None:
        super().__init__(credentials, region, service, seed_signature)
        self._clock = clock

    @property
    def prior_signature(self) -> str:
        """The hex signature the next event chains from."""
        return self._prior

    def sign(self, payload: bytes) -> bytes:
        """The encoded outer message carrying ``payload`` (an encoded inner message)."""
        when = _utc(self._clock())
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
        _check_skew(date, _utc(self._clock()), self._max_skew)
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
