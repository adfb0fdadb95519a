"""OpenAI-compatible speech, driven by the official ``openai`` client."""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator

import openai
import pytest

from polly_pipeline.audio import decode_audio
from polly_pipeline.client import PollyStreamingClient
from tests.gateway.conftest import Gateway

TEXT = "The gateway speaks this sentence. And then a second one."


@pytest.fixture
async def oai(gateway: Gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    try:
        yield client
    finally:
        await client.close()


async def _reference_seconds(polly: PollyStreamingClient, voice: str) -> float:
    """The same text spoken straight from Polly as pcm: the length the gateway must match."""
    pcm = b"".join(
        [
            chunk
            async for chunk in polly.start_speech_synthesis_stream(
                text=TEXT, voice_id=voice, output_format="pcm"
            )
        ]
    )
    return len(pcm) / 2 / 16000


async def _speech(oai: openai.AsyncOpenAI, **kwargs: object) -> tuple[bytes, str, int]:
    chunks = []
    async with oai.audio.speech.with_streaming_response.create(
        model="tts-1", input=TEXT, **kwargs
    ) as response:
        async for chunk in response.iter_bytes():
            chunks.append(chunk)
        content_type = response.headers["content-type"]
    return b"".join(chunks), content_type, len(chunks)


@pytest.mark.parametrize(
    ("response_format", "content_type"),
    [("mp3", "audio/mpeg"), ("opus", "audio/ogg"), ("wav", "audio/wav"), ("pcm", "audio/pcm")],
)
async def test_the_openai_client_streams_audio_of_the_right_length(
    oai: openai.AsyncOpenAI, polly: PollyStreamingClient, response_format: str, content_type: str
) -> None:
    expected = await _reference_seconds(polly, "Joanna")
    audio, got_type, _ = await _speech(oai, voice="alloy", response_format=response_format)
    assert got_type.startswith(content_type)
    if response_format == "mp3":
        seconds = len(decode_audio(audio, "mp3", 24000)) / 2 / 24000
    elif response_format == "opus":
        assert audio[:4] == b"OggS"
        seconds = len(decode_audio(audio, "ogg_opus", 48000)) / 2 / 48000
    elif response_format == "wav":
        with wave.open(io.BytesIO(audio)) as wav:
            assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (16000, 2, 1)
        seconds = (len(audio) - 44) / 2 / 16000
    else:  # OpenAI's pcm: 24 kHz 16-bit mono
        seconds = len(audio) / 2 / 24000
    assert seconds == pytest.approx(expected, abs=0.08)


async def test_polly_voice_ids_and_openai_names_choose_the_voice(gateway: Gateway) -> None:
    import httpx2 as httpx  # the HTTP client under ``openai``

    async with httpx.AsyncClient(base_url=gateway.url) as http:
        for voice, polly_voice in (("nova", "Danielle"), ("Vicki", "Vicki"), ("ALLOY", "Joanna")):
            body = {"model": "polly-generative", "input": "Hallo.", "voice": voice}
            response = await http.post("/v1/audio/speech", json=body)
            assert response.status_code == 200
            assert response.headers["x-polly-voice"] == polly_voice
            assert len(response.content) > 1000


async def test_models_are_listed(oai: openai.AsyncOpenAI) -> None:
    ids = [m.id async for m in oai.models.list()]
    assert "polly-generative" in ids
    assert "tts-1" in ids


async def test_bad_requests_get_openai_shaped_errors(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad_voice:
        await oai.audio.speech.create(model="tts-1", input="Hi.", voice="Jonana")
    assert "Jonana" in str(bad_voice.value)
    with pytest.raises(openai.BadRequestError) as bad_format:
        await oai.audio.speech.create(
            model="tts-1", input="Hi.", voice="alloy", response_format="flac"
        )
    assert "mp3, opus, wav, pcm" in str(bad_format.value)
    with pytest.raises(openai.NotFoundError):
        await oai.audio.speech.create(model="whisper-1", input="Hi.", voice="alloy")
    with pytest.raises(openai.BadRequestError):
        await oai.audio.speech.create(model="tts-1", input="  ", voice="alloy")


def test_every_openai_voice_maps_to_a_generative_polly_voice() -> None:
    from polly_pipeline.gateway.openai_speech import OPENAI_VOICES
    from polly_pipeline.protocol.voices import ENGINE_SETS, VOICE_TABLE

    for voice in OPENAI_VOICES.values():
        engines = ENGINE_SETS[VOICE_TABLE[voice][2]]
        assert "generative" in engines, voice
