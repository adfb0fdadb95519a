"""Local service layer: SigV4 verification of requests, as Polly accepts them."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime

from polly_pipeline.errors import SignatureError
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.http import Request
from polly_pipeline.local.operation_errors import auth_error
from polly_pipeline.local.temporary_credentials import (
    EXPIRED_TOKEN_MESSAGE,
    TemporaryCredentialIssuer,
)
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.sigv4 import VerifiedRequest, verify_request

__all__ = ["Authenticator"]


class Authenticator:
    """Checks a request's signature against the service's credentials, region and clock."""

    def __init__(self, config: LocalServiceConfig, clock: Callable[[], datetime]) -> None:
        self._config = config
        self._clock = clock
        #: issues expiring credentials when the service has a credentials TTL
        self.temporary: TemporaryCredentialIssuer | None = (
            TemporaryCredentialIssuer(config.credentials_ttl, clock)
            if config.credentials_ttl is not None
            else None
        )
        #: the error codes of the most recent requests refused (bounded), for inspection
        self.refused: deque[str] = deque(maxlen=256)

    def authenticate(self, request: Request, *payload_hashes: str) -> VerifiedRequest:
        """Verify the request's signature; without ``x-amz-content-sha256`` the client may have
        signed any of ``payload_hashes`` (each is tried in turn)."""
        headers = list(request.headers)
        if request.http_version == "2":
            # clients that put ':authority' among the headers they sign (awscrt signing a
            # request built with one) sign it as a header; the engine checked host matches it
            headers.append((":authority", request.header("host") or ""))
        candidates: tuple[str | None, ...] = (None,)
        if request.header("x-amz-content-sha256") is None and payload_hashes:
            candidates = payload_hashes
        for n, candidate in enumerate(candidates, 1):
            extra = [] if candidate is None else [("x-amz-content-sha256", candidate)]
            try:
                verified = verify_request(
                    method=request.method,
                    path=request.path,
                    query=request.query,
                    headers=headers + extra,
                    lookup=self._lookup,
                    now=self._clock(),
                    max_skew=self._config.max_clock_skew,
                )
                break
            except SignatureError as exc:
                text = str(exc)
                if n < len(candidates) and "does not match" in text:
                    continue  # the client may have signed the next candidate
                code = (
                    "UnrecognizedClientException"
                    if "security token" in text.lower()
                    else "InvalidSignatureException"
                )
                self.refused.append(code)
                raise auth_error(text, code) from None
        if self.temporary is not None and self.temporary.expired(verified.credentials.access_key):
            self.refused.append("ExpiredTokenException")
            raise auth_error(EXPIRED_TOKEN_MESSAGE, "ExpiredTokenException")
        if self._config.region and verified.region != self._config.region:
            self.refused.append("InvalidSignatureException")
            raise auth_error(
                f"Credential should be scoped to a valid region, not '{verified.region}'; "
                f"this service is '{self._config.region}'"
            )
        return verified

    def _lookup(self, access_key: str) -> Credentials | None:
        issued = self.temporary.lookup(access_key) if self.temporary is not None else None
        return issued or self._config.lookup_credentials(access_key)
