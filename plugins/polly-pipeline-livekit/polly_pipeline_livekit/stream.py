"""LiveKit bridge (a plugin): one LiveKit ``SynthesizeStream`` is one SpeechSession turn.

Text pushed with ``push_text`` runs through polly-pipeline's own stages (markdown cleaning,
segmentation at the earliest settled boundary, the flush policy) into the turn's warm Polly
stream; its PCM audio goes to LiveKit's ``AudioEmitter`` chunk by chunk, long before
``end_input``. ``flush()`` ends LiveKit's segment (LiveKit accepts no text after it), so it ends
the turn: the rest is synthesized at once. ``aclose()`` (LiveKit's barge-in) interrupts the
turn: no audio after it, the session's spare stream is warm for the next one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from livekit.agents import APIConnectOptions, tts, utils

from polly_pipeline.audio import AudioChunk
from polly_pipeline.errors import PollyPipelineError
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.sinks import CallbackSink
from polly_pipeline_livekit.errors import to_api_error

if TYPE_CHECKING:
    from polly_pipeline_livekit.tts import TTS

__all__ = ["SynthesizeStream"]


class SynthesizeStream(tts.SynthesizeStream):
    """A streaming synthesis on one turn of the TTS's SpeechSession."""

    def __init__(self, *, tts: TTS, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, conn_options=conn_options)
        self._polly = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=self._polly.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
            stream=True,
        )
        output_emitter.start_segment(segment_id=utils.shortuuid())
        texts = self._texts()
        first = await anext(texts, None)
        if first is None:
            return  # no text: no turn, and the warm stream stays unused

        async def source() -> AsyncIterator[str]:
            self._mark_started()
            yield first
            async for text in texts:
                yield text

        def push(chunk: AudioChunk) -> None:
            output_emitter.push(chunk.data)

        options = self._polly.options
        session = await self._polly.acquire_session()
        healthy = True  # also when interrupted: the session's spare is warm for the next turn
        try:
            pipeline = Pipeline(session, clean=options.clean, flush=options.flush)
            await pipeline.run(source(), CallbackSink(push))
        except PollyPipelineError as exc:
            healthy = False
            raise to_api_error(exc) from exc
        except Exception:
            healthy = False
            raise
        finally:
            self._polly.release_session(session, healthy=healthy)

    async def _texts(self) -> AsyncIterator[str]:
        """The pushed text up to LiveKit's flush or end of input."""
        async for data in self._input_ch:
            if isinstance(data, self._FlushSentinel):
                return
            if data:
                yield data
