"""Client layer: a callback-style handler for a stream's output, in the Transcribe SDK's style.

Subclass it and override what you need::

    class Saver(SpeechSynthesisStreamHandler):
        async def handle_audio_event(self, event: AudioEvent) -> None:
            out.write(event.audio_chunk)

    await Saver(stream).handle_events()
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from polly_pipeline.protocol.events import (
    AudioEvent,
    OutputEvent,
    StreamClosedEvent,
    UnknownEvent,
)

__all__ = ["SpeechSynthesisStreamHandler"]


class SpeechSynthesisStreamHandler:
    """Dispatches each output event of a stream to a ``handle_*`` method."""

    def __init__(self, output_stream: AsyncIterable[OutputEvent]) -> None:
        self._output_stream = output_stream

    async def handle_events(self) -> None:
        """Consume the stream to its end, dispatching every event; service errors propagate."""
        async for event in self._output_stream:
            if isinstance(event, AudioEvent):
                await self.handle_audio_event(event)
            elif isinstance(event, StreamClosedEvent):
                await self.handle_stream_closed_event(event)
            else:
                await self.handle_unknown_event(event)

    async def handle_audio_event(self, event: AudioEvent) -> None:
        """Called for each chunk of audio, in order."""

    async def handle_stream_closed_event(self, event: StreamClosedEvent) -> None:
        """Called once at the end, with the billed character count."""

    async def handle_unknown_event(self, event: UnknownEvent) -> None:
        """Called for event types this version does not know (ignored by default)."""
