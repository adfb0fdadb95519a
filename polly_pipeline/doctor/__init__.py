"""Entry-point layer: ``polly-pipeline doctor``, a first contact with Amazon Polly diagnosed.

:func:`run_doctor` checks, in order: credentials (which provider, when they expire), region and
endpoint, verified TLS and the round trip, this machine's clock against the service's, the
voice (it exists and speaks with the generative engine; a signed request), a stream (time to
first audio), an idle stream kept alive past Polly's 5-second inbound timeout, and how many
streams one connection carries. Each result is a :class:`~polly_pipeline.doctor.check.Check`;
a failure names its fix, and the checks that need what failed are skipped.

::

    from polly_pipeline.doctor import DoctorOptions, run_doctor

    checks = await run_doctor(DoctorOptions(backend="aws", region="us-east-1"))
    ok = all(c.status != "fail" for c in checks)

Nothing secret is reported: the access key id is masked, the secret never leaves botocore.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from polly_pipeline.doctor.check import STREAM_REGIONS, Check, Target, first_failure
from polly_pipeline.doctor.connection import check_clock, check_connection
from polly_pipeline.doctor.stream import check_concurrency, check_keepalive, check_stream
from polly_pipeline.doctor.voice import check_voice
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.protocol.credentials import Credentials

__all__ = ["STREAM_REGIONS", "Check", "DoctorOptions", "run_doctor"]

#: botocore's names for where credentials came from, as a user would say them.
_PROVIDERS = {
    "env": "environment variables",
    "shared-credentials-file": "the shared credentials file",
    "config-file": "the AWS config file",
    "sso": "AWS SSO (IAM Identity Center)",
    "custom-process": "a credential_process",
    "iam-role": "the EC2 instance role",
    "container-role": "the container role",
    "assume-role": "an assumed role",
    "assume-role-with-web-identity": "a web identity role",
    "explicit": "explicit keys",
}


@dataclass(frozen=True)
class DoctorOptions:
    """What to check.

    Attributes:
        backend: ``aws`` (Amazon Polly, or ``endpoint_url``) or ``local`` (the embedded
            service, started for the check).
        region: AWS region (default: from the AWS configuration).
        profile: AWS profile.
        voice: the voice to try (it must support the generative engine).
        endpoint_url: a Polly endpoint instead of Amazon's.
        ca_file: an extra CA bundle to trust.
        idle: seconds the keep-alive check leaves a stream idle (Polly closes a stream after
            5 s without input; the session must keep it alive).
    """

    backend: Literal["aws", "local"] = "aws"
    region: str | None = None
    profile: str | None = None
    voice: str = "Joanna"
    endpoint_url: str | None = None
    ca_file: str | None = None
    idle: float = 7.0


def _botocore_credentials(profile: str | None) -> tuple[Check, Credentials | None]:
    import botocore.exceptions  # noqa: PLC0415  (slow to import)
    import botocore.session  # noqa: PLC0415

    fix = (
        "configure credentials: `aws configure` (or `aws sso login --profile NAME`), or set "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; `--backend local` needs none"
    )
    try:
        source = botocore.session.Session(profile=profile).get_credentials()
        frozen = source.get_frozen_credentials() if source is not None else None
    except botocore.exceptions.ProfileNotFound:
        return Check(
            "credentials",
            "fail",
            f"no profile {profile!r} in the AWS config files",
            fix="check the profile name (`aws configure list-profiles`) or set AWS_PROFILE",
        ), None
    except botocore.exceptions.BotoCoreError as exc:
        return Check("credentials", "fail", f"loading them failed: {exc}", fix=fix), None
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        return Check("credentials", "fail", "no AWS credentials found", fix=fix), None
    creds = Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)
    where = _PROVIDERS.get(str(getattr(source, "method", "")), str(getattr(source, "method", "")))
    summary = f"{creds.redacted_access_key} from {where}"
    # botocore keeps a refreshable set's expiry on a private attribute; it has no public one
    expiry: datetime | None = getattr(source, "_expiry_time", None)
    figure = None
    if expiry is not None:
        left = (expiry - datetime.now(UTC)).total_seconds()
        figure = f"expire in {left / 60:.0f} min" if left > 0 else "expired"
        if left <= 0:
            return Check(
                "credentials",
                "fail",
                summary + ", expired",
                figure=figure,
                fix="renew them (e.g. `aws sso login`)",
            ), None
    return Check("credentials", "pass", summary, figure=figure), creds


@contextlib.asynccontextmanager
async def _aws_target(options: DoctorOptions, found: list[Check]) -> AsyncIterator[Target | None]:
    from polly_pipeline.client.config import NoRegionError, resolve_endpoint  # noqa: PLC0415

    check, creds = _botocore_credentials(options.profile)
    found.append(check)
    try:
        endpoint = resolve_endpoint(
            region=options.region, endpoint_url=options.endpoint_url, profile=options.profile
        )
    except ConfigurationError as exc:
        fix = str(exc)
        if isinstance(exc, NoRegionError):
            fix = (
                "set a region: --region us-east-1 on the command line (region= in DoctorOptions), "
                "AWS_REGION, or a region in your AWS profile; the bidirectional stream runs in "
                + ", ".join(sorted(STREAM_REGIONS))
            )
        found.append(Check("region", "fail", "no region or endpoint", fix=fix))
        yield None
        return
    note = (
        ""
        if endpoint.region in STREAM_REGIONS or endpoint.overridden
        else ("; not among the regions known to offer bidirectional streaming")
    )
    found.append(Check("region", "pass", f"{endpoint.region} at {endpoint.url}{note}"))
    if creds is None:
        yield None
        return
    yield Target(
        region=endpoint.region,
        endpoint_url=endpoint.url,
        voice=options.voice,
        credentials=creds,
        ca_file=options.ca_file or endpoint.ca_bundle,
        profile=options.profile,
    )


@contextlib.asynccontextmanager
async def _local_target(options: DoctorOptions, found: list[Check]) -> AsyncIterator[Target]:
    from polly_pipeline.local.service import LocalPollyService  # noqa: PLC0415

    async with LocalPollyService() as service:
        creds = service.credentials
        found.append(
            Check("credentials", "pass", f"{creds.redacted_access_key}, the local service's own")
        )
        found.append(Check("region", "pass", f"{service.region} at {service.endpoint_url}"))
        yield Target(
            region=service.region,
            endpoint_url=service.endpoint_url,
            voice=options.voice,
            credentials=creds,
            ca_file=str(service.ca_file),
        )


async def run_doctor(
    options: DoctorOptions | None = None, *, report: Callable[[Check], Any] | None = None
) -> list[Check]:
    """Run every check in order; ``report`` sees each as it completes (progress).

    Returns:
        The checks, in order; a failure's dependents are there as ``skip``.
    """
    options = options or DoctorOptions()
    found: list[Check] = []
    told = 0

    def tell() -> None:
        nonlocal told
        for check in found[told:]:
            if report is not None:
                report(check)
        told = len(found)

    opener = _local_target if options.backend == "local" else _aws_target
    async with opener(options, found) as target:
        tell()
        steps: list[tuple[str, Callable[[Target], Any]]] = [
            ("tls", check_connection),
            ("clock", check_clock),
            ("voice", check_voice),
            ("stream", check_stream),
            ("keepalive", lambda t: check_keepalive(t, options.idle)),
            ("concurrency", check_concurrency),
        ]
        for name, step in steps:
            failed = first_failure(found)
            if target is None or failed is not None:
                why = failed.name if failed is not None else "credentials"
                found.append(Check(name, "skip", f"skipped: {why} failed"))
            else:
                result = step(target)
                found.append(result if isinstance(result, Check) else await result)
            tell()
    return found
