"""Region, endpoint and credentials come from botocore's configuration chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from polly_pipeline.client.config import ChainCredentials, resolve_endpoint
from polly_pipeline.errors import ConfigurationError, CredentialsError

_AWS_VARS = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_POLLY",
    "AWS_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in _AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    # no real config files, no instance metadata lookups
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_default_endpoint_for_region() -> None:
    ep = resolve_endpoint(region="eu-central-1")
    assert ep.url == "https://polly.eu-central-1.amazonaws.com"
    assert ep.region == "eu-central-1"
    assert not ep.overridden


def test_region_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert resolve_endpoint().region == "us-west-2"
    monkeypatch.setenv("AWS_REGION", "ca-central-1")  # AWS_REGION wins, as in the other SDKs
    assert resolve_endpoint().url == "https://polly.ca-central-1.amazonaws.com"


def test_no_region_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match=r"no AWS region configured.*AWS_REGION"):
        resolve_endpoint()


def test_endpoint_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://all.example:1")
    assert resolve_endpoint(region="us-east-1").url == "https://all.example:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_POLLY", "https://127.0.0.1:8443")
    ep = resolve_endpoint(region="us-east-1")
    assert (ep.url, ep.overridden) == ("https://127.0.0.1:8443", True)
    explicit = resolve_endpoint(region="us-east-1", endpoint_url="https://localhost:9")
    assert explicit.url == "https://localhost:9"


def test_profile_region_endpoint_and_ca_bundle(tmp_path: Path) -> None:
    (tmp_path / "config").write_text(
        "[profile dev]\nregion = ap-southeast-1\nca_bundle = /etc/dev-ca.pem\n"
        "services = dev-services\n\n[services dev-services]\npolly =\n"
        "  endpoint_url = https://polly.dev.internal\n"
    )
    ep = resolve_endpoint(profile="dev")
    assert ep.region == "ap-southeast-1"
    assert ep.url == "https://polly.dev.internal"
    assert ep.ca_bundle == "/etc/dev-ca.pem"


def test_unknown_profile_names_it() -> None:
    with pytest.raises(ConfigurationError, match="'nope'"):
        resolve_endpoint(region="us-east-1", profile="nope")


def test_credentials_from_env_are_frozen_and_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-abc")
    provider = ChainCredentials()
    creds = provider()
    assert (creds.access_key, creds.session_token) == ("AKIAIOSFODNN7EXAMPLE", "token-abc")
    for shown in (repr(creds), str(creds), repr(provider)):
        assert "wJalr" not in shown
        assert "token-abc" not in shown
        assert "FODNN7EXAMPLE" not in shown


def test_credentials_from_profile_file(tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text(
        "[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = s3cr3t\n"
    )
    assert ChainCredentials("work")().access_key == "AKIDWORK"


def test_missing_credentials_say_what_to_do() -> None:
    with pytest.raises(CredentialsError, match=r"AWS_ACCESS_KEY_ID.*polly-pipeline local"):
        ChainCredentials()()
