"""Client layer: temporary credentials refreshed before a stream starts (botocore's machinery).

Each new stream freezes the current set with botocore's ``RefreshableCredentials.
get_frozen_credentials()``: inside the advisory window before expiry a refresh is tried, inside
the mandatory window it must succeed, so no stream starts with credentials about to expire.
The source speaks ``credential_process`` JSON (``AccessKeyId``, ``SecretAccessKey``,
``SessionToken``, ``Expiration``), as STS and ``polly-pipeline local --credentials-ttl`` hand out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.credentials import RefreshableCredentials

from polly_pipeline.errors import CredentialsError
from polly_pipeline.protocol.credentials import Credentials

__all__ = ["RefreshingCredentials"]


def _metadata(document: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return {
            "access_key": str(document["AccessKeyId"]),
            "secret_key": str(document["SecretAccessKey"]),
            "token": str(document["SessionToken"]),
            "expiry_time": str(document["Expiration"]),
        }
    except KeyError as exc:
        raise CredentialsError(
            f"temporary credentials lack {exc.args[0]}: the source must give AccessKeyId, "
            "SecretAccessKey, SessionToken and Expiration"
        ) from None


class RefreshingCredentials:
    """A credentials provider for ``PollyStreamingClient(credentials=...)`` that refreshes.

    Args:
        fetch: returns a new set in ``credential_process`` JSON shape.
        advisory_timeout: seconds before expiry a refresh is tried (botocore: 15 min).
        mandatory_timeout: seconds before expiry a refresh must succeed (botocore: 10 min).
    """

    def __init__(
        self,
        fetch: Callable[[], Mapping[str, Any]],
        *,
        advisory_timeout: float = 15 * 60,
        mandatory_timeout: float = 10 * 60,
    ) -> None:
        self._fetch = fetch
        self._source = RefreshableCredentials.create_from_metadata(
            _metadata(fetch()),
            refresh_using=lambda: _metadata(self._fetch()),
            method="polly-pipeline-refresh",
            advisory_timeout=advisory_timeout,
            mandatory_timeout=mandatory_timeout,
        )

    def __repr__(self) -> str:
        return f"RefreshingCredentials(expires={self._source._expiry_time.isoformat()})"

    def __call__(self) -> Credentials:
        """Freeze the current set, refreshed first when it is about to expire.

        Raises:
            CredentialsError: the set expired (or is about to) and could not be refreshed.
        """
        stale = Credentials(self._source._access_key, "")
        try:
            frozen = self._source.get_frozen_credentials()
        except Exception as exc:  # botocore re-raises what the refresh raised
            reason = type(exc).__name__
            raise CredentialsError(
                f"temporary AWS credentials {stale.redacted_access_key} expire at "
                f"{self._source._expiry_time.isoformat()} and could not be refreshed "
                f"({reason}); renew them (aws sso login, a new session token) and retry"
            ) from None
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)
