"""Protocol layer: what SigV4 request and event signatures share, on both sides of the wire.

Constants, the derived signing key, the credential scope, the canonical request and the clock
checks (naive datetimes refused, skew bounded).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import quote, unquote

from polly_pipeline.errors import SignatureError

__all__ = [
    "ALGORITHM",
    "AMZ_DATE",
    "EMPTY_SHA256",
    "EVENT_ALGORITHM",
    "STREAMING_PAYLOAD",
    "canonical_request",
    "check_skew",
    "credential_scope",
    "derive_signing_key",
    "is_hex_signature",
    "request_string_to_sign",
    "utc",
    "utc_now",
]

#: The ``x-amz-content-sha256`` value announcing a signed event stream body.
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
#: The SigV4 algorithm name (the first word of the Authorization header).
ALGORITHM = "AWS4-HMAC-SHA256"
EVENT_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
AMZ_DATE = "%Y%m%dT%H%M%SZ"


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def utc(value: datetime.datetime) -> datetime.datetime:
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


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/aws4_request"


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


def canonical_request(
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


def request_string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def is_hex_signature(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def check_skew(
    stamp: datetime.datetime, now: datetime.datetime, max_skew: datetime.timedelta
) -> None:
    """SignatureError (AWS wording) if ``stamp`` is more than ``max_skew`` away from ``now``."""
    minutes = f"{max_skew.total_seconds() / 60:g} min."
    if stamp < now - max_skew:
        raise SignatureError(
            f"Signature expired: {stamp.strftime(AMZ_DATE)} is now earlier than "
            f"{(now - max_skew).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} - {minutes})"
        )
    if stamp > now + max_skew:
        raise SignatureError(
            f"Signature not yet current: {stamp.strftime(AMZ_DATE)} is still later than "
            f"{(now + max_skew).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} + {minutes})"
        )
