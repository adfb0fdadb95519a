"""Client layer: where a stream goes and whose credentials sign it, resolved through botocore.

Region, endpoint and credentials come from botocore's own machinery, so everything a botocore or
boto3 user has configured works unchanged: ``AWS_REGION``/``AWS_DEFAULT_REGION``, profiles, SSO,
``credential_process``, container and instance metadata, and the standard endpoint overrides
``AWS_ENDPOINT_URL_POLLY`` / ``AWS_ENDPOINT_URL`` (and ``endpoint_url`` in a profile's
``services`` section). An explicit ``endpoint_url=`` wins over all of them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from polly_pipeline.errors import ConfigurationError, CredentialsError
from polly_pipeline.protocol.credentials import Credentials

__all__ = [
    "STREAM_REGIONS",
    "ChainCredentials",
    "CredentialsProvider",
    "NoRegionError",
    "ResolvedEndpoint",
    "credentials_provider",
    "resolve_endpoint",
]

log = logging.getLogger("polly_pipeline.client")

#: Regions known to offer StartSpeechSynthesisStream.
STREAM_REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-central-1",
    "ap-southeast-1",
    "eu-west-2",
    "ca-central-1",
)


class NoRegionError(ConfigurationError):
    """No region was given or configured (callers name their own way to give one)."""


#: Returns a fresh, frozen set of credentials; called once per new stream.
CredentialsProvider = Callable[[], Credentials]


@dataclass(frozen=True)
class ResolvedEndpoint:
    """The region and endpoint a client talks to."""

    region: str
    url: str
    #: True when the endpoint came from an explicit option or an override variable.
    overridden: bool
    #: Extra CA bundle configured for botocore (``AWS_CA_BUNDLE`` or a profile's ``ca_bundle``).
    ca_bundle: str | None = None

    @property
    def host(self) -> str:
        """Host name of the endpoint."""
        return urlsplit(self.url).hostname or ""


def _session(profile: str | None) -> Any:
    import botocore.exceptions  # noqa: PLC0415  (botocore is slow to import)
    import botocore.session  # noqa: PLC0415

    try:
        session = botocore.session.Session(profile=profile)
        session.get_scoped_config()  # raises now for a profile that does not exist
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigurationError(
            f"AWS profile {profile!r} is not in your AWS config files; "
            "check the name or set AWS_PROFILE"
        ) from exc
    return session


def resolve_endpoint(
    *, region: str | None = None, endpoint_url: str | None = None, profile: str | None = None
) -> ResolvedEndpoint:
    """Resolve region and endpoint URL the way botocore does for a Polly client."""
    import botocore.exceptions  # noqa: PLC0415

    session = _session(profile)
    # botocore reads AWS_DEFAULT_REGION and profiles; the other SDKs' AWS_REGION comes first
    region = region or os.environ.get("AWS_REGION") or session.get_config_variable("region")
    if not region:
        raise NoRegionError(
            "no AWS region configured: pass region=..., set AWS_REGION, or add a region to "
            f"your AWS profile (StartSpeechSynthesisStream runs in {', '.join(STREAM_REGIONS)})"
        )
    try:
        polly = session.create_client(
            "polly",
            region_name=region,
            endpoint_url=endpoint_url,
            # no credentials are needed to resolve an endpoint
            config=_unsigned_config(),
        )
    except botocore.exceptions.InvalidRegionError as exc:
        raise ConfigurationError(f"{region!r} is not a valid AWS region name") from exc
    except ValueError as exc:  # botocore rejects malformed endpoint URLs with ValueError
        raise ConfigurationError(f"invalid endpoint URL {endpoint_url!r}: {exc}") from exc
    url = str(polly.meta.endpoint_url)
    default = f"https://polly.{region}.amazonaws.com"
    return ResolvedEndpoint(
        region=region,
        url=url,
        overridden=url.rstrip("/") != default,
        ca_bundle=session.get_config_variable("ca_bundle") or None,
    )


def _unsigned_config() -> Any:
    import botocore  # noqa: PLC0415
    import botocore.config  # noqa: PLC0415

    return botocore.config.Config(signature_version=botocore.UNSIGNED)


class ChainCredentials:
    """Credentials from botocore's full chain, resolved once and frozen anew for each stream.

    botocore's refreshable credentials renew themselves before they expire, so each new stream
    signs with current keys while one stream keeps the set it started with.
    """

    def __init__(self, profile: str | None = None) -> None:
        self._profile = profile
        self._source: Any = None

    def __repr__(self) -> str:
        return f"ChainCredentials(profile={self._profile!r})"

    def __call__(self) -> Credentials:
        """Freeze the current credentials.

        Raises:
            CredentialsError: no credentials are configured, or loading them failed.
        """
        import botocore.exceptions  # noqa: PLC0415

        try:
            if self._source is None:
                self._source = _session(self._profile).get_credentials()
            frozen = self._source.get_frozen_credentials() if self._source else None
        except botocore.exceptions.BotoCoreError as exc:
            # botocore's messages name the failing provider and never include secrets
            raise CredentialsError(f"could not load AWS credentials: {exc}") from exc
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            self._source = None  # look again next time: the user may configure them meanwhile
            raise CredentialsError(
                "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "choose a profile with AWS_PROFILE, or use the local service "
                "(polly-pipeline local) which needs none"
            )
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)


def credentials_provider(
    credentials: Credentials | None = None, profile: str | None = None
) -> CredentialsProvider:
    """A provider returning fixed credentials, or fresh ones from botocore's chain each call."""
    if credentials is not None:
        fixed = credentials
        return lambda: fixed
    return ChainCredentials(profile)
