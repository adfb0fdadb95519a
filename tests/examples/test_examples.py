"""The examples, run as examples/README.md says: subprocesses, no AWS credentials, real files."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from polly_pipeline.audio import decode_audio, duration_seconds
from polly_pipeline.text.clean import clean_markdown

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def readme_command(script: str) -> list[str]:
    """The command examples/README.md gives for ``script`` (``python`` -> this interpreter)."""
    readme = (EXAMPLES / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines()]
    [line] = [line for line in lines if line.startswith(f"python examples/{script} ")]
    argv = shlex.split(line)
    return [sys.executable, *argv[1:]]


def run_example(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the README's command in ``cwd`` (where ``examples/`` is linked), AWS-free."""
    (cwd / "examples").symlink_to(EXAMPLES, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENAI_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return subprocess.run(
        readme_command(script),
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_narrate_markdown_writes_the_whole_document(tmp_path: Path) -> None:
    result = run_example("narrate_markdown.py", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "local service" in result.stderr  # no credentials: the local stand-in, announced
    output = tmp_path / "sample.mp3"
    pcm = decode_audio(output.read_bytes(), "mp3", 24000)
    seconds = duration_seconds(pcm, 24000)
    # a plausible length for the words of the document at a speaking pace (90-300 a minute)
    words = len(clean_markdown((EXAMPLES / "sample.md").read_text()).split())
    assert words > 80
    assert words / 300 * 60 < seconds < words / 90 * 60
    # progress: a line per sentence sent, then the total, which matches the file
    sent = re.findall(r"sentence (\d+) sent", result.stdout)
    assert [int(n) for n in sent] == list(range(1, len(sent) + 1))
    assert len(sent) >= 8
    [reported] = re.findall(r"wrote \S*sample\.mp3: ([\d.]+) s of audio", result.stdout)
    assert float(reported) == pytest.approx(seconds, abs=0.2)


def test_custom_sink_prints_a_timeline_that_matches_the_audio(tmp_path: Path) -> None:
    result = run_example("custom_sink.py", tmp_path)
    assert result.returncode == 0, result.stderr
    rows = re.findall(
        r"^chunk +(\d+) +([\d.]+) s -> +([\d.]+) s +(\d+) bytes +(-?[\d.]+) dBFS",
        result.stdout,
        re.MULTILINE,
    )
    assert len(rows) > 3
    sequences = [int(r[0]) for r in rows]
    assert sequences == list(range(sequences[0], sequences[0] + len(rows)))
    for (_, _, end, *_), (_, start, *_) in itertools.pairwise(rows):
        assert start == end  # each chunk starts where the one before ended
    assert any(float(r[4]) > -40 for r in rows)  # speech, not silence
    with wave.open(str(tmp_path / "timeline.wav")) as wav:
        frames, rate = wav.getnframes(), wav.getframerate()
    total_bytes = sum(int(r[3]) for r in rows)
    assert total_bytes == frames * 2  # the printed chunks are exactly the audio in the file
    assert float(rows[-1][2]) == pytest.approx(frames / rate, abs=0.002)
    total = re.search(r"^total: (\d+) chunks, (\d+) bytes, ([\d.]+) s$", result.stdout, re.M)
    assert total is not None
    assert (int(total[1]), int(total[2])) == (len(rows), total_bytes)


def test_voice_assistant_without_a_sound_device_says_so_before_the_first_question(
    tmp_path: Path,
) -> None:
    pytest.importorskip("polly_pipeline_speaker")
    # a machine with no sound card: the audio library lists devices but cannot open one
    code = (
        "import runpy, sys, miniaudio\n"
        "def refuse(*args, **kwargs):\n"
        "    raise miniaudio.MiniaudioError('failed to init device', -401)\n"
        "miniaudio.PlaybackDevice = refuse\n"
        "sys.argv = ['voice_assistant.py']\n"
        f"runpy.run_path({str(EXAMPLES / 'voice_assistant.py')!r}, run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        input="Give me a short answer\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "assistant>" not in result.stdout  # no question was taken, no answer started
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--audio-backend null" in lines[0]
    assert "backends=" not in lines[0]  # the example's options, not the library's
