"""Local service layer: temporary credentials that expire (``--credentials-ttl``).

Like STS, the service issues an access key id (``ASIA...``), a secret and a session token
with an expiry; a request signed with a set past its expiry is answered 403
``ExpiredTokenException`` "The security token included in the request is expired", as AWS
answers. Sets are handed out in ``credential_process`` JSON, the shape botocore turns into
refreshable credentials.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from polly_pipeline.protocol.credentials import Credentials

__all__ = [
    "EXPIRED_TOKEN_MESSAGE",
    "TemporaryCredentialIssuer",
    "keep_credentials_written",
    "write_credentials",
]

EXPIRED_TOKEN_MESSAGE = "The security token included in the request is expired"
#: Issued sets remembered (older ones are answered as unknown keys).
_REMEMBERED = 1024


class TemporaryCredentialIssuer:
    """Issues expiring credentials and tells whether a set is still valid.

    Args:
        ttl: seconds each set is valid for.
        clock: the service's clock (timezone-aware UTC).
    """

    def __init__(self, ttl: float, clock: Callable[[], datetime]) -> None:
        self._ttl = timedelta(seconds=ttl)
        self._clock = clock
        self._issued: OrderedDict[str, tuple[Credentials, datetime]] = OrderedDict()

    def __repr__(self) -> str:
        ttl = self._ttl.total_seconds()
        return f"TemporaryCredentialIssuer(ttl={ttl:g}s, issued={len(self._issued)})"

    def issue(self) -> dict[str, Any]:
        """A new set, as ``credential_process`` prints it (Version 1, ISO 8601 Expiration)."""
        creds = Credentials(
            "ASIA" + secrets.token_hex(8).upper(),
            secrets.token_urlsafe(30),
            secrets.token_urlsafe(48),
        )
        expires = self._clock() + self._ttl
        self._issued[creds.access_key] = (creds, expires)
        while len(self._issued) > _REMEMBERED:
            self._issued.popitem(last=False)
        return {
            "Version": 1,
            "AccessKeyId": creds.access_key,
            "SecretAccessKey": creds.secret_key,
            "SessionToken": creds.session_token,
            "Expiration": expires.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }

    def lookup(self, access_key: str) -> Credentials | None:
        """The issued set with this access key id, expired or not."""
        found = self._issued.get(access_key)
        return found[0] if found else None

    def expired(self, access_key: str) -> bool:
        """True when ``access_key`` names an issued set past its expiry."""
        found = self._issued.get(access_key)
        return found is not None and self._clock() >= found[1]


def write_credentials(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` (``credential_process`` JSON) to ``path``, readable by its owner only.

    A profile with ``credential_process = cat <path>`` then gives botocore refreshable
    credentials that follow the file.
    """
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out)
    os.replace(tmp, path)


async def keep_credentials_written(
    issue: Callable[[], dict[str, Any]], path: Path, ttl: float
) -> None:
    """Write a fresh set to ``path`` every half ``ttl`` until cancelled."""
    while True:
        write_credentials(path, issue())
        await asyncio.sleep(ttl / 2)
