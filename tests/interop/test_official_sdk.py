"""The official ``aws-sdk-polly`` client streams through the local service unchanged.

An independent implementation of the protocol (Smithy-generated, with awscrt underneath) is the
best check that the local service speaks Polly's real wire format and verifies signatures the way
Polly does. Only the endpoint, the credentials and the CA trust (``SSL_CERT_FILE``) are changed.
The SDK needs Python >= 3.12; the test skips, saying why, where none can be found or installed.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from polly_pipeline.local.audio import decode_audio, duration_seconds
from polly_pipeline.local.service import LocalPollyService

SDK = "aws-sdk-polly==0.12.0"
SCRIPT = Path(__file__).with_name("official_sdk_stream.py")


def _python312() -> str | None:
    """A working interpreter >= 3.12 (pyenv installs first: its shims may be disabled)."""
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(f"{pyenv}/versions/3.1[2-9]*/bin/python"))
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in (12, 13, 14)]
    probe = "import sys; sys.exit(sys.version_info < (3, 12))"
    for candidate in filter(None, candidates):
        ok = subprocess.run([candidate, "-c", probe], check=False, capture_output=True)
        if ok.returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="session")
def sdk_python() -> str:
    """A Python with aws-sdk-polly installed (a cached venv)."""
    base = _python312()
    if base is None:
        pytest.skip("aws-sdk-polly needs Python >= 3.12 and none was found")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = cache / "polly-pipeline" / "interop" / SDK.replace("==", "-")
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import aws_sdk_polly, smithy_http.aio.crt"]
    if not python.exists() or subprocess.run(check, check=False, capture_output=True).returncode:
        subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", SDK, "awscrt"],
            check=False,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if pip.returncode:
            pytest.skip(f"could not install {SDK}: {pip.stderr.strip().splitlines()[-1:]}")
    return str(python)


@pytest.mark.slow
def test_official_sdk_streams_through_the_local_service(
    sdk_python: str, local_polly: LocalPollyService, tmp_path: Path
) -> None:
    out = tmp_path / "official.mp3"
    creds = local_polly.credentials
    env = {**os.environ, "SSL_CERT_FILE": str(local_polly.ca_file)}
    run = subprocess.run(
        [
            sdk_python,
            str(SCRIPT),
            local_polly.endpoint_url,
            creds.access_key,
            creds.secret_key,
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
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
