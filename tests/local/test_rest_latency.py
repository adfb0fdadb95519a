"""SynthesizeSpeech on the local service answers under the same latency model as the stream."""

from __future__ import annotations

import time

import pytest

from polly_pipeline.local.config import LatencyModel, LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService

PCM_BYTES_PER_SECOND = 16000 * 2


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    return LocalServiceConfig(latency=LatencyModel.realistic())


def test_synthesize_speech_takes_the_first_audio_latency_then_paces_the_audio(
    local_polly: LocalPollyService,
) -> None:
    latency = local_polly.config.latency
    polly = local_polly.botocore_client()
    polly.synthesize_speech(Text="Warm up.", VoiceId="Joanna", OutputFormat="pcm")
    text = (
        "A client that asks for one sentence at a time hears nothing before the service's "
        "first audio, and then the audio arrives no faster than the service makes it."
    )
    started = time.monotonic()
    reply = polly.synthesize_speech(Text=text, VoiceId="Joanna", OutputFormat="pcm")
    answered = time.monotonic() - started
    pcm = reply["AudioStream"].read()
    finished = time.monotonic() - started

    first_audio = latency.first_audio + latency.network_delay
    assert answered >= first_audio
    # the last 8 KiB piece leaves no earlier than its share of the real-time pacing
    pieces = -(-len(pcm) // local_polly.config.audio_event_bytes)
    seconds = len(pcm) / PCM_BYTES_PER_SECOND
    paced = seconds * latency.real_time_factor * (pieces - 1) / pieces
    assert seconds > 3.0
    assert finished >= first_audio + paced
