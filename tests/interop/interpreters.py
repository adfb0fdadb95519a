"""Other Polly clients, each in its own virtual environment on an interpreter new enough for it.

The interpreter is ``POLLY_INTEROP_PYTHON`` when set, else the newest suitable one found among
pyenv's versions or on PATH. Where none is found or the client cannot be installed the test
skips and says why, unless ``POLLY_REQUIRE_INTEROP=1`` (CI sets it when it found an
interpreter): then it fails, so an interop test never goes quietly missing from a CI run.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["client_python", "run_client"]


def _candidates() -> list[str]:
    chosen = os.environ.get("POLLY_INTEROP_PYTHON")
    if chosen:
        return [chosen]
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    found = sorted(glob.glob(f"{pyenv}/versions/3.*/bin/python"), reverse=True)
    return found + [shutil.which(f"python3.{minor}") or "" for minor in (15, 14, 13, 12)]


def find_python(minimum: tuple[int, int]) -> str | None:
    """A working interpreter at least ``minimum`` (major, minor), or None."""
    probe = f"import sys; sys.exit(sys.version_info < {minimum!r})"
    for candidate in filter(None, _candidates()):
        ok = subprocess.run([candidate, "-c", probe], check=False, capture_output=True)
        if ok.returncode == 0:
            return candidate
    return None


def _unavailable(why: str) -> None:
    if os.environ.get("POLLY_REQUIRE_INTEROP") == "1":
        pytest.fail(f"{why} (POLLY_REQUIRE_INTEROP=1: interop tests must run)", pytrace=False)
    pytest.skip(why)


def client_python(requirement: str, minimum: tuple[int, int], probe_import: str) -> str:
    """A Python with ``requirement`` installed (a venv cached under ~/.cache), or skip/fail."""
    base = find_python(minimum)
    if base is None:
        _unavailable(f"{requirement} needs Python >= {minimum[0]}.{minimum[1]} and none was found")
        raise AssertionError("unreachable")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = cache / "polly-pipeline" / "interop" / requirement.replace("==", "-")
    python = venv / "bin" / "python"
    check = [str(python), "-c", f"import {probe_import}"]
    if not python.exists() or subprocess.run(check, check=False, capture_output=True).returncode:
        subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", requirement, "awscrt"],
            check=False,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if pip.returncode:
            _unavailable(f"could not install {requirement}: {pip.stderr.strip()[-500:]}")
    return str(python)


def run_client(python: str, script: Path, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a client script; its last stdout line is a JSON report."""
    run = subprocess.run(
        [python, str(script), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return report
