"""The official ``aws-sdk-polly`` client streams through the local service unchanged.

An independent implementation of the protocol (Smithy-generated, with awscrt underneath) is the
best check that the local service speaks Polly's real wire format and verifies signatures the way
Polly does. Only the endpoint, the credentials and the CA trust (``SSL_CERT_FILE``) are changed.
The SDK needs Python >= 3.12 (see ``interpreters.py`` for how one is found, and when the test
fails instead of skipping).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polly_pipeline.audio import decode_audio, duration_seconds
from polly_pipeline.local.service import LocalPollyService
from tests.interop.interpreters import client_python, run_client

SDK = "aws-sdk-polly==0.12.0"
SCRIPT = Path(__file__).with_name("official_sdk_stream.py")


@pytest.fixture(scope="session")
def sdk_python() -> str:
    """A Python with aws-sdk-polly installed (a cached venv)."""
    return client_python(SDK, (3, 12), "aws_sdk_polly, smithy_http.aio.crt")


@pytest.mark.slow
def test_official_sdk_streams_through_the_local_service(
    sdk_python: str, local_polly: LocalPollyService, tmp_path: Path
) -> None:
    out = tmp_path / "official.mp3"
    creds = local_polly.credentials
    env = {**os.environ, "SSL_CERT_FILE": str(local_polly.ca_file)}
    args = [local_polly.endpoint_url, creds.access_key, creds.secret_key, str(out)]
    report = run_client(sdk_python, SCRIPT, args, env)
    assert report["last"].endswith("StreamClosedEvent")
    assert report["billed"] == report["sent_chars"]
    seconds = duration_seconds(decode_audio(out.read_bytes(), "mp3", 24000), 24000)
    assert 2.5 < seconds < 9.0
    record = local_polly.streams[-1]
    assert record.outcome == "completed"
    assert "".join(record.texts) == (
        "Hello from the official SDK. This audio came through the local service."
    )
    assert record.flushes == 1
