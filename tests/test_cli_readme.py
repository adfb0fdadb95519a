"""The README's command-line examples run as written (in a shell, on the embedded defaults)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import quiet_env

README = Path(__file__).parents[1] / "README.md"


def command_line_examples() -> list[str]:
    """The shell lines of the README's "The command line" section, comments dropped."""
    text = README.read_text()
    section = text[text.index("## The command line") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the command line section shows no commands"
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


@pytest.mark.parametrize(
    "line",
    # --play needs the speaker plugin and a sound card (tests/test_cli_talks.py plays on null)
    [line for line in command_line_examples() if "--play" not in line],
)
def test_the_readme_command_runs_as_written(tmp_path: Path, line: str) -> None:
    env = quiet_env(tmp_path)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if shutil.which("polly-pipeline", path=env["PATH"]) is None:
        pytest.skip("the polly-pipeline command is not installed beside this Python")
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line],
        cwd=work,
        input="Give me a short answer\n",  # a conversation reads prompts from here
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 141), result.stderr  # 141: `| head` closed the pipe
    assert "error" not in result.stderr.lower(), result.stderr
    words = shlex.split(line)
    for name in (words[i + 1] for i, word in enumerate(words) if word == "-o"):
        path = Path(name)
        made = [work / name, work / f"{path.stem}-1{path.suffix}"]  # a conversation numbers
        assert any(p.is_file() and p.stat().st_size > 1000 for p in made), name
    if "voices" in words:
        assert " en-GB " in result.stdout
