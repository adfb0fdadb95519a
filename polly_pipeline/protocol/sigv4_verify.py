"""Protocol layer: verifying a SigV4-signed request (the local service's side).

Parses the ``Authorization`` header, finds the credentials for its access key, checks the
scope, the date and the signed headers, and recomputes the signature in constant time. No
secret reaches an error message.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from polly_pipeline.errors import SignatureError
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.sigv4_common import (
    ALGORITHM,
    AMZ_DATE,
    EMPTY_SHA256,
    canonical_request,
    check_skew,
    credential_scope,
    derive_signing_key,
    is_hex_signature,
    request_string_to_sign,
    utc,
)

__all__ = ["Authorization", "VerifiedRequest", "parse_authorization", "verify_request"]


@dataclass(frozen=True)
class Authorization:
    """The parts of a SigV4 ``Authorization`` header."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


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
    if not is_hex_signature(fields["Signature"]):
        raise SignatureError("Signature must be 64 lowercase hex digits")
    return Authorization(access_key, date, region, service, signed_headers, fields["Signature"])


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose SigV4 signature verified: who signed it, where, and when."""

    credentials: Credentials
    region: str
    signature: str
    request_time: datetime.datetime


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
    payload_hash: str = EMPTY_SHA256,
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
        request_time = datetime.datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise SignatureError(f"X-Amz-Date {amz_date[:40]!r} is not YYYYMMDDTHHMMSSZ") from None
    if "x-amz-date" not in auth.signed_headers:
        raise SignatureError("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization")
    if auth.date != amz_date[:8]:
        raise SignatureError(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: {auth.date!r} != {amz_date[:8]!r}, from {amz_date!r}"
        )
    check_skew(request_time, utc(now), max_skew)
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
    canonical, _ = canonical_request(method, path, query, signed, body_hash)
    string_to_sign = request_string_to_sign(
        amz_date, credential_scope(auth.date, auth.region, auth.service), canonical
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
