"""Temporary credentials from the local service (``credentials_ttl``), refreshed by the client."""

from __future__ import annotations

from typing import Any

from polly_pipeline.client.refreshable import RefreshingCredentials
from polly_pipeline.local.service import LocalPollyService


def refreshing(service: LocalPollyService, issued: list[str]) -> RefreshingCredentials:
    """Credentials issued by ``service``, refreshed before expiry; each new key id in ``issued``.

    botocore's windows are scaled to a TTL of a few seconds: a refresh is tried 1.5 s before
    expiry and must succeed 1 s before it.
    """

    def fetch() -> dict[str, Any]:
        document = service.issue_credentials()
        issued.append(document["AccessKeyId"])
        return document

    return RefreshingCredentials(fetch, advisory_timeout=1.5, mandatory_timeout=1.0)
