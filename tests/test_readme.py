"""The README's library example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
import wave
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_library_example_runs_as_written(tmp_path: Path) -> None:
    text = README.read_text()
    section = text[text.index("## Library example") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the README has no library example"
    script = tmp_path / "example.py"
    script.write_text(code.group(1))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "tokens in" in result.stdout
    with wave.open(str(tmp_path / "hello.wav")) as wav:
        assert wav.getnframes() / wav.getframerate() > 1.5
