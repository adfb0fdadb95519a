"""Read back what the notebook outputs carried: pushed chunks, the recording, the report."""

from __future__ import annotations

import base64
import io
import math
import re
import wave
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from polly_pipeline_notebook.player import METADATA_KEY

_PUSH = re.compile(r'\.push\((\d+), (\d+), "([A-Za-z0-9+/=]*)"\)')
_WAV = re.compile(r'src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"')


@dataclass(frozen=True)
class Push:
    """One chunk as the player's script received it."""

    seq: int
    sample_rate: int
    pcm: bytes
    meta: Mapping[str, Any]

    @property
    def seconds(self) -> float:
        return len(self.pcm) // 2 / self.sample_rate


def meta(output: Mapping[str, Any]) -> Mapping[str, Any]:
    """This plugin's metadata of an output ({} for other outputs)."""
    metadata = output.get("metadata") or {}
    found: Mapping[str, Any] = metadata.get(METADATA_KEY, {})
    return found


def decode_push(output: Mapping[str, Any]) -> Push:
    """The chunk a push output carries, decoded from its script (not from its metadata)."""
    html = output["data"]["text/html"]
    match = _PUSH.search(html)
    assert match, f"no push call in {html[:200]!r}"
    seq, rate, encoded = match.groups()
    return Push(int(seq), int(rate), base64.b64decode(encoded), meta(output))


def pushes(outputs: Iterable[Mapping[str, Any]]) -> list[Push]:
    """Every chunk push among ``outputs``, in the order they were published."""
    return [decode_push(o) for o in outputs if meta(o).get("kind") == "chunk"]


def recording(output: Mapping[str, Any]) -> tuple[bytes, int]:
    """The PCM and sample rate of the WAV in an answer output's ``<audio>`` element."""
    html = output["data"]["text/html"]
    assert "<audio controls" in html
    match = _WAV.search(html)
    assert match, "no WAV data URI in the <audio> element"
    with wave.open(io.BytesIO(base64.b64decode(match.group(1)))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return wav.readframes(wav.getnframes()), wav.getframerate()


def rms(pcm: bytes) -> float:
    """Root mean square level of 16-bit PCM (0 for silence)."""
    samples = array("h", pcm)
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))
