"""PollyStreamingClient against the local Polly service: real awscrt over real TLS, real audio."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from polly_pipeline.audio import SAMPLE_RATES, decode_audio, duration_seconds
from polly_pipeline.client import PollyStreamingClient, SpeechSynthesisStreamHandler, split_text
from polly_pipeline.errors import (
    ParameterValidationError,
    StreamStateError,
    UnmodeledServiceError,
    ValidationException,
)
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import AudioEvent, StreamClosedEvent
from tests.conftest import TEST_TIMEOUTS

SENTENCE = "The quick brown fox jumps over the lazy dog."


async def collect(client: PollyStreamingClient, text: str, **kw: object) -> bytes:
    out = bytearray()
    async for chunk in client.start_speech_synthesis_stream(text=text, voice_id="Joanna", **kw):  # type: ignore[arg-type]
        out += chunk
    return bytes(out)


async def test_one_shot_mp3_decodes_to_speech_of_plausible_length(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    audio = await collect(polly, SENTENCE)
    pcm = decode_audio(audio, "mp3", 24000)
    assert 1.5 < duration_seconds(pcm, 24000) < 5.0
    record = local_polly.streams[-1]
    # the service (its own thread) lets go of the stream a moment after the client saw the end
    async with asyncio.timeout(10):
        while record.outcome == "open":  # noqa: ASYNC110 - a record has no event to wait on
            await asyncio.sleep(0.01)
    assert record.outcome == "completed"
    assert record.request_characters == len(SENTENCE)
    assert "".join(record.texts) == SENTENCE


@pytest.mark.parametrize("fmt", list(SAMPLE_RATES))
async def test_every_format_decodes(polly: PollyStreamingClient, fmt: str) -> None:
    audio = await collect(polly, "Hello there. How are you?", output_format=fmt)
    rate = SAMPLE_RATES[fmt][1]
    seconds = duration_seconds(decode_audio(audio, fmt, rate), rate)  # type: ignore[arg-type]
    assert 0.8 < seconds < 4.0


async def test_duplex_audio_arrives_before_the_input_ends(polly: PollyStreamingClient) -> None:
    async with polly.open_stream(voice_id="Matthew", output_format="pcm") as stream:
        await stream.send_text("Speech should start ")
        await stream.send_text("before the text is complete. ", flush=True)
        events = stream.__aiter__()
        first = await asyncio.wait_for(anext(events), 5)
        assert isinstance(first, AudioEvent)
        assert not stream.input_closed  # audio came while we could still send
        await stream.send_text("And this is the second sentence.")
        await stream.end_input()
        rest = [e async for e in events]
    closed = rest[-1]
    assert isinstance(closed, StreamClosedEvent)
    sent = "Speech should start before the text is complete. And this is the second sentence."
    assert closed.request_characters == len(sent)
    pcm = first.audio_chunk + b"".join(e.audio_chunk for e in rest if isinstance(e, AudioEvent))
    assert 3.0 < duration_seconds(pcm, 16000) < 9.0
    assert stream.stats.time_to_first_audio is not None
    assert stream.stats.request_characters == len(sent)


async def test_ssml_and_text_events_mix(polly: PollyStreamingClient) -> None:
    async with polly.open_stream(voice_id="Joanna", output_format="pcm") as stream:
        await stream.send_ssml('<speak>Hello <break time="300ms"/> world.</speak>')
        await stream.send_text(" Plain text follows.")
        await stream.end_input()
        events = [e async for e in stream]
    assert isinstance(events[-1], StreamClosedEvent)
    assert events[-1].request_characters == len("Hello  world.") + len(" Plain text follows.")


async def test_handler_dispatches_events(polly: PollyStreamingClient) -> None:
    class Collect(SpeechSynthesisStreamHandler):
        audio = bytearray()
        billed: int | None = None

        async def handle_audio_event(self, event: AudioEvent) -> None:
            self.audio += event.audio_chunk

        async def handle_stream_closed_event(self, event: StreamClosedEvent) -> None:
            self.billed = event.request_characters

    async with polly.open_stream(voice_id="Joanna", output_format="pcm") as stream:
        await stream.send_text("Handled.")
        await stream.end_input()
        handler = Collect(stream)
        await handler.handle_events()
    assert handler.billed == len("Handled.")
    assert duration_seconds(bytes(handler.audio), 16000) > 0.3


#: Reading 7,500 characters without a flush, the offline voice renders them in one go after
#: the close: about 2 s of CPU before the first AudioEvent on an idle machine, more on a loaded
#: one. The suite's 2 s read deadline is for faults, not for this much synthesis.
_LONG_SYNTHESIS_TIMEOUTS = replace(TEST_TIMEOUTS, read=30.0)


async def test_long_text_is_split_into_events_without_losing_a_character(
    local_polly: LocalPollyService,
) -> None:
    text = ("word " * 1500).strip() + "."  # 7,500 characters: more than one event holds
    async with (
        local_polly.client(timeouts=_LONG_SYNTHESIS_TIMEOUTS) as polly,
        polly.open_stream(voice_id="Joanna", output_format="pcm") as stream,
    ):
        parts = split_text(text)
        assert len(parts) == 2
        assert all(len(p) <= 6000 for p in parts)
        for part in parts:
            await stream.send_text(part)
        await stream.end_input()
        async for _ in stream:
            pass
    assert "".join(local_polly.streams[-1].texts) == text
    assert local_polly.streams[-1].request_characters == len(text)


async def test_bad_parameters_fail_before_any_network_call(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    with pytest.raises(ParameterValidationError) as exc:
        await collect(polly, "hi", output_format="wav", sample_rate=7)
    assert [p.name for p in exc.value.problems] == ["output_format"]
    with pytest.raises(ParameterValidationError, match="voice_id"):
        polly.open_stream(voice_id="Nobody")
    assert not local_polly.streams
    assert local_polly.server.connections_total == 0


async def test_send_too_long_text_or_after_close_is_refused(polly: PollyStreamingClient) -> None:
    async with polly.open_stream(voice_id="Joanna") as stream:
        with pytest.raises(ParameterValidationError, match="6001 characters"):
            await stream.send_text("x" * 6001)
        await stream.end_input()
        with pytest.raises(StreamStateError, match="input is ended"):
            await stream.send_text("late")


async def test_service_validation_at_http_level_names_the_field(
    polly: PollyStreamingClient,
) -> None:
    # the model knows the voice, the service knows it has no generative engine
    from polly_pipeline.local.voices import all_voices

    standard_only = next(
        v.id for v in all_voices().values() if "generative" not in v.supported_engines
    )
    with pytest.raises(ValidationException) as exc:
        async with polly.open_stream(voice_id=standard_only):
            pass
    assert exc.value.reason == "fieldValidationFailed"
    assert [f.name for f in exc.value.fields] == ["VoiceId"]
    assert exc.value.status == 400


async def test_malformed_ssml_is_an_in_stream_validation_error(polly: PollyStreamingClient) -> None:
    async with polly.open_stream(voice_id="Joanna") as stream:
        await stream.send_ssml("<speak>unclosed")
        with pytest.raises(ValidationException, match="SSML"):
            async for _ in stream:
                pass


async def test_wrong_secret_is_rejected_and_never_echoed(
    local_polly: LocalPollyService,
) -> None:
    from polly_pipeline.protocol.credentials import Credentials

    bad = Credentials(local_polly.credentials.access_key, "not-the-secret-key-XYZ")
    async with local_polly.client(credentials=bad) as client:
        with pytest.raises(UnmodeledServiceError) as exc:
            await collect(client, "hi")
    assert exc.value.status == 403
    assert exc.value.code == "InvalidSignatureException"
    assert "not-the-secret-key-XYZ" not in str(exc.value)


async def test_unknown_access_key_is_rejected(local_polly: LocalPollyService) -> None:
    from polly_pipeline.protocol.credentials import Credentials

    async with local_polly.client(credentials=Credentials("AKIDUNKNOWN", "x")) as client:
        with pytest.raises(UnmodeledServiceError) as exc:
            await collect(client, "hi")
    assert exc.value.code == "UnrecognizedClientException"


async def test_stale_request_date_is_refused_then_corrected(local_polly: LocalPollyService) -> None:
    from datetime import UTC, datetime, timedelta

    def slow_clock() -> datetime:
        return datetime.now(UTC) - timedelta(minutes=20)

    async with local_polly.client(clock=slow_clock) as client:
        assert await collect(client, "hi")
        assert abs(client.clock_offset - 1200) < 5
    # the service refused the stale date once; the retry carried the corrected one
    assert local_polly.refused_requests == ["InvalidSignatureException"]


async def test_many_streams_share_warm_connections(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    for _ in range(3):
        await collect(polly, "One.", output_format="pcm")
    # the pool's own count: the server's also includes TLS diagnosis probes on slow starts
    assert polly.pool.stats().connections_created == 1
    results = await asyncio.gather(
        *(collect(polly, f"Stream {i}.", output_format="pcm") for i in range(5))
    )
    assert all(len(r) > 1000 for r in results)


async def test_idle_stream_is_closed_by_the_inbound_timeout(polly: PollyStreamingClient) -> None:
    from polly_pipeline.errors import ServiceQuotaExceededException

    started = time.monotonic()
    async with polly.open_stream(voice_id="Joanna") as stream:
        with pytest.raises(ServiceQuotaExceededException) as exc:
            async for _ in stream:
                pass
    assert exc.value.quota_code == "input-stream-inbound-event-timeout"
    assert time.monotonic() - started < 3.0
