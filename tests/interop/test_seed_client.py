"""The seed's own client, ``amazon-polly-streaming`` 1.1.0, gets audio from the local service.

The package (Python >= 3.13) hard-codes ``https://polly.<region>.amazonaws.com`` and the system
trust store; its driver script only redirects awscrt's connection to the local port with the
local CA trusted (see ``seed_client_stream.py``). Everything on the wire is the package's own:
a duplicated ``:authority``, the empty body's hash signed without ``x-amz-content-sha256``, and
a request body left open when the service answers with an error. The same shapes are replayed
on a raw HTTP/2 connection in ``tests/local/test_seed_client_shape.py`` on every interpreter.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from polly_pipeline.audio import decode_audio, duration_seconds
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.credentials import Credentials
from tests.interop.interpreters import client_python, run_client

PACKAGE = "amazon-polly-streaming==1.1.0"
SCRIPT = Path(__file__).with_name("seed_client_stream.py")
TEXT = "Hello from the seed client. It streams through the local service."


@pytest.fixture(scope="session")
def seed_python() -> str:
    """A Python with amazon-polly-streaming installed (a cached venv)."""
    return client_python(PACKAGE, (3, 13), "amazon_polly_streaming")


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    return LocalServiceConfig(region="us-east-1")


def run_seed(
    python: str, service: LocalPollyService, credentials: Credentials, out: Path
) -> dict[str, Any]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    args = [str(service.server.port), str(service.ca_file), service.region, TEXT, str(out)]
    return run_client(python, SCRIPT, args, env)


@pytest.mark.slow
def test_the_seed_client_gets_audio(
    seed_python: str, local_polly: LocalPollyService, tmp_path: Path
) -> None:
    out = tmp_path / "seed.mp3"
    report = run_seed(seed_python, local_polly, local_polly.credentials, out)
    assert "error" not in report, report
    seconds = duration_seconds(decode_audio(out.read_bytes(), "mp3", 24000), 24000)
    assert 2.5 < seconds < 9.0
    record = local_polly.streams[-1]
    assert record.outcome == "completed"
    assert "".join(record.texts) == TEXT
    assert record.request_characters == len(TEXT)


@pytest.mark.slow
def test_the_seed_client_hears_an_early_error_instead_of_hanging(
    seed_python: str, local_polly: LocalPollyService, tmp_path: Path
) -> None:
    wrong = Credentials(local_polly.credentials.access_key, "not-the-secret-key")
    report = run_seed(seed_python, local_polly, wrong, tmp_path / "none.mp3")
    assert report["error"] == "RuntimeError"
    assert "status 403" in str(report["message"])
    assert "signature" in str(report["message"]).lower()
