"""Errors reach LiveKit as its API errors, with the retry semantics LiveKit acts on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import FAST_RETRY, spoken_streams
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
)
from livekit.agents.tts import TTSError
from polly_pipeline_livekit import TTS, to_api_error

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import (
    ConnectError,
    CredentialsError,
    ParameterValidationError,
    ReadTimeout,
    ServiceFailureException,
    ServiceQuotaExceededException,
    SessionError,
    ThrottlingException,
    UnmodeledServiceError,
    ValidationException,
)
from polly_pipeline.local import BackgroundService, Fault, LocalPollyService, LocalServiceConfig
from polly_pipeline.transport import Timeouts

NO_RETRY = APIConnectOptions(max_retry=0)


async def speak(tts: TTS, text: str, conn_options: APIConnectOptions) -> None:
    """Speak ``text`` through ``tts.stream()`` to the end (raising what the stream raises)."""
    async with tts.stream(conn_options=conn_options) as stream:
        stream.push_text(text)
        stream.end_input()
        async with asyncio.timeout(30):
            async for _ in stream:
                pass


def test_an_unknown_voice_is_refused_when_the_tts_is_built() -> None:
    with pytest.raises(ParameterValidationError, match="did you mean 'Joanna'"):
        TTS(voice="Jonna")
    with pytest.raises(ValueError, match="sample_rate"):
        TTS(sample_rate=24000)  # PCM comes at 8000 or 16000 Hz


def test_a_bad_option_update_changes_nothing() -> None:
    tts = TTS(voice="Joanna")
    with pytest.raises(ParameterValidationError, match="Mathew"):
        tts.update_options(voice="Mathew")
    assert tts.options.params.voice_id == "Joanna"


async def test_a_voice_the_service_refuses_is_a_400_that_is_not_retried(
    client: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    tts = TTS(client=client, voice="Aditi")  # a real voice, but not a generative one
    errors: list[TTSError] = []
    tts.on("error", errors.append)
    try:
        with pytest.raises(APIStatusError) as info:
            await speak(tts, "Hello.", APIConnectOptions(max_retry=2, retry_interval=0.0))
    finally:
        await tts.aclose()
    assert info.value.status_code == 400
    assert not info.value.retryable
    assert "does not support the generative engine" in info.value.message
    assert isinstance(info.value.__cause__, ValidationException)
    assert [e.recoverable for e in errors] == [False]  # LiveKit did not try again


async def test_a_stopped_service_is_a_connection_error_that_livekit_retries(
    tmp_path: Path,
) -> None:
    background = BackgroundService(LocalServiceConfig(), ca_file=tmp_path / "ca.pem")
    service = background.start()
    try:
        async with service.client() as client:
            tts = TTS(client=client, retry=FAST_RETRY)
            errors: list[TTSError] = []
            tts.on("error", errors.append)
            try:
                warm = await asyncio.wait_for(tts.synthesize("Warm up.").collect(), 20)
                assert warm.duration > 0
                background.stop()
                retry_once = APIConnectOptions(max_retry=1, retry_interval=0.0)
                with pytest.raises(APIConnectionError) as info:
                    await speak(tts, "Anyone there?", retry_once)
            finally:
                await tts.aclose()
    finally:
        background.stop()
    assert info.value.retryable
    assert not isinstance(info.value, APITimeoutError)
    assert [e.recoverable for e in errors] == [True, False]  # tried again once, then gave up


async def test_a_service_that_stops_answering_is_a_timeout(
    local_polly: LocalPollyService,
) -> None:
    local_polly.inject(Fault("stall", at="mid_stream", after_audio_events=0), times=100)
    async with local_polly.client(timeouts=Timeouts(read=0.5)) as client:
        tts = TTS(client=client, retry=FAST_RETRY)
        try:
            with pytest.raises(APITimeoutError) as info:
                await asyncio.wait_for(
                    tts.synthesize("Hello?", conn_options=NO_RETRY).collect(), 20
                )
        finally:
            await tts.aclose()
    assert info.value.retryable
    assert isinstance(info.value.__cause__, SessionError)
    assert spoken_streams(local_polly)  # the text did reach the service


@pytest.mark.parametrize(
    ("error", "expected", "status", "retryable"),
    [
        (ConnectError("refused"), APIConnectionError, None, True),
        (ReadTimeout(1.0), APITimeoutError, None, True),
        (ThrottlingException("slow down"), APIStatusError, 429, True),
        (ServiceFailureException("oops"), APIStatusError, 500, True),
        (ValidationException("bad"), APIStatusError, 400, False),
        (ServiceQuotaExceededException("quota"), APIStatusError, 402, False),
        (UnmodeledServiceError("odd", status=503), APIStatusError, 503, True),
        (CredentialsError("no credentials"), APIError, None, False),
    ],
)
def test_each_error_maps_to_the_livekit_error_with_its_retry_semantics(
    error: Exception, expected: type[APIError], status: int | None, retryable: bool
) -> None:
    mapped = to_api_error(error)  # type: ignore[arg-type]
    assert type(mapped) is expected
    assert mapped.retryable is retryable
    if status is not None:
        assert isinstance(mapped, APIStatusError)
        assert mapped.status_code == status


def test_a_session_that_gave_up_maps_as_its_last_error() -> None:
    try:
        try:
            raise ThrottlingException("slow down")
        except ThrottlingException as last:
            raise SessionError("turn 0 failed 5 times", attempts=5) from last
    except SessionError as gave_up:
        mapped = to_api_error(gave_up)
    assert isinstance(mapped, APIStatusError)
    assert mapped.status_code == 429
    assert "failed 5 times" in mapped.message
