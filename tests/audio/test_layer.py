"""The audio layer stands alone: no import from a layer above it, PyAV loaded on demand."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import polly_pipeline.audio

AUDIO = Path(polly_pipeline.audio.__file__).parent


def test_audio_modules_import_only_the_layer_and_the_errors() -> None:
    for path in sorted(AUDIO.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("polly_pipeline"):
                    assert name == "polly_pipeline.errors" or name.startswith(
                        "polly_pipeline.audio"
                    ), f"{path.name} imports {name}"


def test_importing_the_layer_does_not_load_pyav() -> None:
    code = (
        "import sys, polly_pipeline.audio, polly_pipeline.protocol.params; "
        "print('av' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"
