"""Transport options are checked up front, with messages that say what to change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.transport import ConnectionPool, Endpoint, Timeouts, TLSConfig, is_loopback


@pytest.mark.parametrize(
    ("url", "host", "port", "authority"),
    [
        ("https://polly.us-east-1.amazonaws.com", "polly.us-east-1.amazonaws.com", 443, None),
        ("https://127.0.0.1:8443/", "127.0.0.1", 8443, "127.0.0.1:8443"),
        ("https://[::1]:9000", "::1", 9000, "[::1]:9000"),
        ("HTTPS://Example.COM:443", "example.com", 443, "example.com"),
    ],
)
def test_endpoint_from_url(url: str, host: str, port: int, authority: str | None) -> None:
    endpoint = Endpoint.from_url(url)
    assert (endpoint.host, endpoint.port) == (host, port)
    assert endpoint.authority == (authority or host)
    assert Endpoint.from_url(endpoint.url) == endpoint


def test_plain_http_is_refused_with_a_reason() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Endpoint.from_url("http://127.0.0.1:8080")
    assert str(caught.value) == (
        "HTTP/2 event streams need https:// (TLS + ALPN h2); got 'http://127.0.0.1:8080'"
    )


@pytest.mark.parametrize(
    "url",
    ["https://host/v1/synthesisStream", "https://host?x=1", "https://", "https://h:99999"],
)
def test_bad_endpoint_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Endpoint.from_url(url)


def test_endpoint_rejects_bad_ports() -> None:
    with pytest.raises(ConfigurationError):
        Endpoint("localhost", 0)


def test_ca_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigurationError, match=re.escape(str(missing))):
        TLSConfig(ca_file=str(missing))


def test_ca_file_must_be_pem(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match=r"junk\.pem"):
        TLSConfig(ca_file=str(junk))
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigurationError, match=r"broken\.pem"):
        TLSConfig(ca_file=str(broken))


def test_tls_config_has_no_insecure_switch() -> None:
    assert list(TLSConfig.__dataclass_fields__) == ["ca_file"]


@pytest.mark.parametrize("field", ["connect", "response_headers", "read", "write", "close"])
@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan")])
def test_timeouts_must_be_positive(field: str, value: float) -> None:
    with pytest.raises(ConfigurationError, match=field):
        Timeouts(**{field: value})


def test_pool_size_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="pool_size"):
        ConnectionPool(pool_size=-1)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_is_loopback_only_for_addresses_of_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
