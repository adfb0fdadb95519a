"""``polly-pipeline doctor``: every check passes on the local service, and each first-contact
failure (no credentials, a wrong key, a voice without the generative engine, a region without
the operation) is named with its fix, against a real local service over TLS."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from polly_pipeline.doctor import STREAM_REGIONS, Check, DoctorOptions, run_doctor
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    """A service that offers the stream only where Amazon Polly does."""
    return LocalServiceConfig(stream_regions=STREAM_REGIONS)


def _aws_options(service: LocalPollyService, **overrides: object) -> DoctorOptions:
    values: dict[str, object] = {
        "backend": "aws",
        "region": "us-east-1",
        "endpoint_url": service.endpoint_url,
        "ca_file": str(service.ca_file),
        "idle": 6.0,
    }
    values.update(overrides)
    return DoctorOptions(**values)  # type: ignore[arg-type]


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def _use_keys(monkeypatch: pytest.MonkeyPatch, key: str, secret: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)


def test_the_command_passes_every_check_on_the_local_service() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "polly_pipeline.cli", "doctor", "--backend", "local", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    checks = json.loads(done.stdout)
    assert [c["name"] for c in checks] == [
        "credentials",
        "region",
        "tls",
        "clock",
        "voice",
        "stream",
        "keepalive",
        "concurrency",
    ]
    assert {c["status"] for c in checks} == {"pass"}
    figures = {c["name"]: c["figure"] for c in checks}
    assert figures["stream"].startswith("first audio ")
    assert figures["clock"] in ("+0 s", "-0 s", "+1 s", "-1 s")


async def test_aws_path_against_the_service_with_its_keys(
    local_polly: LocalPollyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = local_polly.credentials
    _use_keys(monkeypatch, creds.access_key, creds.secret_key)
    seen: list[str] = []
    checks = await run_doctor(_aws_options(local_polly), report=lambda c: seen.append(c.name))
    found = _by_name(checks)
    assert all(c.status == "pass" for c in checks), checks
    assert seen == [c.name for c in checks]  # progress: each check reported as it completes
    credentials = found["credentials"]
    assert "environment variables" in credentials.summary
    assert creds.secret_key not in repr(checks)  # nothing secret in the report
    assert creds.access_key not in credentials.summary  # the key id is masked
    assert creds.access_key[:4] in credentials.summary


async def test_no_credentials_fails_with_the_fix_and_skips_the_rest(
    local_polly: LocalPollyService,
) -> None:
    checks = await run_doctor(_aws_options(local_polly))
    found = _by_name(checks)
    assert found["credentials"].status == "fail"
    assert "aws configure" in (found["credentials"].fix or "")
    assert "AWS_ACCESS_KEY_ID" in (found["credentials"].fix or "")
    for name in ("voice", "stream", "keepalive", "concurrency"):
        assert found[name].status == "skip", found[name]


async def test_a_wrong_secret_is_named(
    local_polly: LocalPollyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_keys(monkeypatch, local_polly.credentials.access_key, "not-the-secret-key-at-all")
    found = _by_name(await run_doctor(_aws_options(local_polly)))
    assert found["credentials"].status == "pass"
    assert found["signature"].status == "fail"
    assert "AWS_SECRET_ACCESS_KEY" in (found["signature"].fix or "")
    assert "not-the-secret" not in repr(found)
    assert found["stream"].status == "skip"


async def test_an_unknown_key_id_is_named(
    local_polly: LocalPollyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_keys(monkeypatch, "AKIAUNKNOWNKEY000000", "whatever-secret")
    found = _by_name(await run_doctor(_aws_options(local_polly)))
    assert found["signature"].status == "fail"
    assert "AWS_ACCESS_KEY_ID" in (found["signature"].fix or "")


async def test_a_voice_without_the_generative_engine_gets_voices_of_its_language(
    local_polly: LocalPollyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = local_polly.credentials
    _use_keys(monkeypatch, creds.access_key, creds.secret_key)
    voices = local_polly.botocore_client().describe_voices()["Voices"]
    old = next(
        v
        for v in voices
        if "generative" not in v["SupportedEngines"]
        and any(
            "generative" in w["SupportedEngines"] and w["LanguageCode"] == v["LanguageCode"]
            for w in voices
        )
    )
    same_language = sorted(
        w["Id"]
        for w in voices
        if "generative" in w["SupportedEngines"] and w["LanguageCode"] == old["LanguageCode"]
    )
    found = _by_name(await run_doctor(_aws_options(local_polly, voice=old["Id"])))
    assert found["voice"].status == "fail"
    assert "generative" in found["voice"].summary
    assert all(name in (found["voice"].fix or "") for name in same_language)
    assert found["stream"].status == "skip"


async def test_a_region_without_the_operation_names_the_regions_that_offer_it(
    local_polly: LocalPollyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = local_polly.credentials
    _use_keys(monkeypatch, creds.access_key, creds.secret_key)
    found = _by_name(await run_doctor(_aws_options(local_polly, region="eu-north-1")))
    assert found["voice"].status == "pass"  # DescribeVoices works there; the stream does not
    assert found["stream"].status == "fail"
    fix = found["stream"].fix or ""
    assert "eu-north-1 does not offer bidirectional streaming" in fix
    assert all(region in fix for region in STREAM_REGIONS)


async def test_a_skewed_service_clock_is_measured_and_refused_beyond_five_minutes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = LocalServiceConfig(clock_offset=1200.0)
    async with LocalPollyService(config) as service:
        creds = service.credentials
        _use_keys(monkeypatch, creds.access_key, creds.secret_key)
        found = _by_name(await run_doctor(_aws_options(service)))
    assert found["clock"].status == "fail"
    assert found["clock"].figure in ("-1200 s", "-1199 s", "-1201 s")
    assert "behind" in found["clock"].summary
    assert "timedatectl" in (found["clock"].fix or "")


async def test_a_service_that_refuses_empty_keepalives_passes_with_a_space(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = LocalServiceConfig(stream_regions=STREAM_REGIONS, reject_empty_text=True)
    async with LocalPollyService(config) as service:
        creds = service.credentials
        _use_keys(monkeypatch, creds.access_key, creds.secret_key)
        found = _by_name(await run_doctor(_aws_options(service)))
    keepalive = found["keepalive"]
    assert keepalive.status == "pass", keepalive
    assert "a space" in (keepalive.figure or "")


async def test_the_keepalive_check_names_a_fractional_idle_time(
    local_polly: LocalPollyService, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = local_polly.credentials
    _use_keys(monkeypatch, creds.access_key, creds.secret_key)
    found = _by_name(await run_doctor(_aws_options(local_polly, idle=1.5)))
    assert found["keepalive"].status == "pass", found["keepalive"]
    assert "idle for 1.5 s" in found["keepalive"].summary  # it said "idle for 2 s"


async def test_no_region_names_the_option_and_the_regions_with_the_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    _use_keys(monkeypatch, "AKIAEXAMPLEEXAMPLE12", "not-a-secret")
    found = _by_name(await run_doctor(DoctorOptions(backend="aws")))
    region = found["region"]
    assert region.status == "fail"
    assert "--region us-east-1" in (region.fix or "")
    assert "region=..." not in (region.fix or "")  # the library's wording, not a command's
    assert all(r in (region.fix or "") for r in STREAM_REGIONS)
    assert found["stream"].status == "skip"
