"""Shared fixtures: the plugin's TTS on a real local Polly service, and audio helpers."""

from __future__ import annotations

import array
import asyncio
import math
from collections.abc import AsyncIterator, Iterable

import pytest
from livekit import rtc
from polly_pipeline_livekit import TTS

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local import LocalPollyService, StreamRecord
from polly_pipeline.session import RetryPolicy

#: A short backoff so that tests of failures end quickly.
FAST_RETRY = RetryPolicy(max_attempts=2, base_delay=0.05, max_delay=0.1)


@pytest.fixture(autouse=True)
def _isolated(no_ambient_aws: None) -> None:
    """Tests never see the developer's AWS configuration or reach instance metadata."""


@pytest.fixture
async def client(local_polly: LocalPollyService) -> AsyncIterator[PollyStreamingClient]:
    """A real client for the local service (TLS, SigV4, HTTP/2)."""
    async with local_polly.client() as polly:
        yield polly


@pytest.fixture
async def polly_tts(client: PollyStreamingClient) -> AsyncIterator[TTS]:
    """The plugin's TTS on that client, closed after the test."""
    tts = TTS(client=client, voice="Joanna", retry=FAST_RETRY)
    yield tts
    await tts.aclose()


async def settled(record: StreamRecord, within: float = 10.0) -> StreamRecord:
    """``record`` once the service is done with its stream: the service runs on its own thread
    and lets go of a stream a moment after the client saw the end (poll, with a deadline)."""
    async with asyncio.timeout(within):
        while record.outcome == "open":  # noqa: ASYNC110 - a record has no event to wait on
            await asyncio.sleep(0.01)
    return record


def spoken_streams(service: LocalPollyService) -> list[StreamRecord]:
    """The service's streams that were given text to speak, in the order they opened."""
    return [r for r in service.streams if "".join(r.texts).strip()]


def pcm_bytes(frames: Iterable[rtc.AudioFrame]) -> bytes:
    """The 16-bit mono PCM of ``frames``, checking that each frame is what it says it is."""
    data = b""
    for frame in frames:
        assert frame.num_channels == 1
        chunk = bytes(frame.data.cast("B"))
        assert len(chunk) == frame.samples_per_channel * 2
        data += chunk
    return data


def rms(pcm: bytes) -> float:
    """Root mean square of 16-bit little-endian samples (0 for silence)."""
    samples = array.array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def assert_service_audio(pcm: bytes, record: StreamRecord, sample_rate: int = 16000) -> None:
    """``pcm`` is all of the audio the service sent for ``record``, each byte once.

    LiveKit's ``AudioEmitter`` may end a segment with a 10 ms silent marker frame (when its
    last frame was already released early); that marker is the only audio allowed beyond it.
    """
    assert len(pcm) >= record.audio_bytes > 0
    marker = pcm[record.audio_bytes :]
    assert len(marker) <= sample_rate // 100 * 2
    assert marker == bytes(len(marker))
