"""The player's JavaScript in a real browser (headless Chromium): pushed chunks are scheduled.

The page is what a notebook front end builds from the sink's outputs: the player, then each
push rendered in turn (one of them twice, as a re-render would), then the recording. Skipped
when Chromium is not installed.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import subprocess
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nbaudio import meta
from polly_pipeline_notebook import NotebookSink

from polly_pipeline.session import AudioChunk, AudioFormat

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed"),
]

RATE = 16000


def tone(seconds: float, hz: float = 440.0) -> bytes:
    """A sine tone as 16-bit mono PCM."""
    n = round(seconds * RATE)
    samples = (int(8000 * math.sin(2 * math.pi * hz * i / RATE)) for i in range(n))
    return array("h", samples).tobytes()


def render(outputs: list[dict[str, Any]], tmp_path: Path, probe_after_ms: int) -> dict[str, Any]:
    """Load the outputs as a page in headless Chromium; what the probe script found."""
    player_id = meta(outputs[0])["player"]
    parts = [o["data"]["text/html"] for o in outputs]
    probe = f"""
<pre id="result"></pre>
<script>
setTimeout(function () {{
  var p = window.__pollyPipelinePlayers[{json.dumps(player_id)}];
  var audio = document.querySelector("audio");
  document.getElementById("result").textContent = JSON.stringify({{
    state: p.ctx ? p.ctx.state : null,
    scheduled: p.scheduled,
    received: p.received,
    ended: p.ended,
    status: document.querySelector(".polly-status").textContent,
    recording: audio ? audio.duration : null
  }});
}}, {probe_after_ms});
</script>"""
    page = tmp_path / "player.html"
    page.write_text("<!doctype html><html><body>" + "\n".join(parts) + probe + "</body></html>")
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--autoplay-policy=no-user-gesture-required",
            "--virtual-time-budget=4000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    start = result.stdout.find('<pre id="result">')
    assert start >= 0, result.stderr[-2000:]
    body = result.stdout[start + len('<pre id="result">') :]
    text = body[: body.index("</pre>")]
    assert text, f"the probe did not run: {result.stderr[-2000:]}"
    found: dict[str, Any] = json.loads(text.replace("&amp;", "&").replace("&quot;", '"'))
    return found


async def test_pushed_chunks_play_back_to_back_in_chromium(
    displayed: Callable[[], list[dict[str, Any]]], tmp_path: Path
) -> None:
    pieces = [tone(0.25), tone(0.5, 660), tone(0.125, 330)]
    sink = NotebookSink()
    for seq, pcm in enumerate(pieces):
        await sink.write(AudioChunk(pcm, AudioFormat("pcm", RATE), turn_id=0, sequence=seq))
    await sink.close()
    outputs = displayed()
    kinds = [meta(o)["kind"] for o in outputs]
    assert kinds == ["player", "chunk", "chunk", "chunk", "end", "answer"]
    outputs.insert(3, outputs[2])  # the second push rendered twice is played once

    found = render(outputs, tmp_path, probe_after_ms=1000)
    assert found["state"] == "running"
    scheduled = found["scheduled"]
    assert [s["seq"] for s in scheduled] == [0, 1, 2]
    assert [s["duration"] for s in scheduled] == pytest.approx([0.25, 0.5, 0.125], abs=1e-6)
    for before, after in itertools.pairwise(scheduled):
        assert after["start"] == pytest.approx(before["start"] + before["duration"], abs=1e-6)
    assert found["received"] == pytest.approx(0.875, abs=1e-6)
    assert found["ended"] is True
    assert found["status"].startswith("answer complete: 0.9 s received")
    # the browser decodes the recording's WAV to the whole answer's length
    assert found["recording"] == pytest.approx(0.875, abs=0.01)


async def test_stop_silences_the_player_and_ignores_later_chunks(
    displayed: Callable[[], list[dict[str, Any]]], tmp_path: Path
) -> None:
    sink = NotebookSink()
    fmt = AudioFormat("pcm", RATE)
    await sink.write(AudioChunk(tone(0.5), fmt, turn_id=0, sequence=0))
    await sink.interrupt()
    await sink.close()
    outputs = displayed()
    assert [meta(o)["kind"] for o in outputs] == ["player", "chunk", "stop", "answer"]
    late = dict(outputs[1])
    late["data"] = {"text/html": outputs[1]["data"]["text/html"].replace("push(0,", "push(1,")}
    found = render([*outputs[:3], late], tmp_path, probe_after_ms=500)
    assert [s["seq"] for s in found["scheduled"]] == [0]
    assert found["status"].startswith("stopped after")
