"""The service's record of a stream is final by the time its client sees the stream end."""

from __future__ import annotations

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import AudioEvent, StreamClosedEvent


async def test_the_record_is_final_when_the_client_sees_the_stream_closed(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    seen = []
    for n in range(6):
        async with polly.open_stream(voice_id="Joanna", output_format="pcm") as stream:
            await stream.send_text(f"Sentence number {n}.")
            await stream.end_input()
            audio = 0
            async for event in stream:
                if isinstance(event, AudioEvent):
                    audio += len(event.audio_chunk)
                if isinstance(event, StreamClosedEvent):  # read the record at once, no wait
                    record = local_polly.streams[-1]
                    seen.append((record.outcome, record.audio_bytes == audio, record.spoken))
    assert seen == [("completed", True, [f"Sentence number {n}."]) for n in range(6)]
