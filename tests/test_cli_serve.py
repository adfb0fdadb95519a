"""``serve`` and ``local`` as a user starts them: an address they cannot have is one clear line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import quiet_env


@pytest.mark.parametrize("command", ["serve", "local"])
def test_a_port_in_use_names_the_option_to_change(tmp_path: Path, command: str) -> None:
    if command == "serve":
        pytest.importorskip("uvicorn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            # -v after the command, as after every other one
            [sys.executable, "-m", "polly_pipeline.cli", command, "--port", str(port), "-v"],
            capture_output=True,
            text=True,
            env=quiet_env(tmp_path),
            timeout=60,
            check=False,
        )
    assert result.returncode == 2  # an error, as every other command's
    assert result.stderr.startswith("polly-pipeline: error: ")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no server started, no backend announced
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0]
    assert "--port" in lines[0]
    assert not list((tmp_path / "tmp").iterdir())  # no local service was started
