"""Protocol layer: SigV4 for the initial request and the chained event signatures (both sides).

The client signs the HTTP/2 request with ordinary SigV4 (payload hash
``STREAMING-AWS4-HMAC-SHA256-EVENTS``) and then wraps every input event in an outer message
whose ``:chunk-signature`` chains from the previous signature, starting at the request's.
The local service verifies both with the same code. Clocks are injected; no secret ever
reaches an exception message or a ``repr``. This module signs the request and is the one
import for all of it: the shared pieces are in ``sigv4_common``, request verification in
``sigv4_verify``, the event chain in ``event_signing``.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.event_signing import EventSigner, EventVerifier
from polly_pipeline.protocol.sigv4_common import (
    ALGORITHM,
    AMZ_DATE,
    STREAMING_PAYLOAD,
    canonical_request,
    credential_scope,
    derive_signing_key,
    request_string_to_sign,
    utc,
)
from polly_pipeline.protocol.sigv4_verify import (
    Authorization,
    VerifiedRequest,
    parse_authorization,
    verify_request,
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
    amz_date = utc(now).strftime(AMZ_DATE)
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
    canonical, signed_headers = canonical_request(method, path, query, signed, payload_hash)
    scope = credential_scope(amz_date[:8], region, service)
    key = derive_signing_key(credentials.secret_key, amz_date[:8], region, service)
    signature = hmac.new(
        key, request_string_to_sign(amz_date, scope, canonical).encode(), hashlib.sha256
    ).hexdigest()
    authorization = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return SignedRequest((*headers, *added, ("authorization", authorization)), signature)
