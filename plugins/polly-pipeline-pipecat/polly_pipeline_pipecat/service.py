"""Pipecat plugin: ``PollyStreamingTTSService``, a TTS service on Polly's bidirectional stream.

Pipecat's own ``AWSPollyTTSService`` calls ``SynthesizeSpeech`` once per sentence with a new
client and reads each sentence's whole audio before yielding it. This service speaks each of
Pipecat's audio contexts (an LLM reply, a ``TTSSpeakFrame``) as one turn of a
:class:`~polly_pipeline.SpeechSession`: the text streams into one warm Polly stream while the
model writes, and audio frames are pushed as Polly sends them. An ``InterruptionFrame`` cuts
the turn at once and the next turn starts on the session's warm spare stream.

Pipecat's machinery does the rest as for any TTS service: audio contexts and their order,
``TTSStartedFrame`` / ``TTSStoppedFrame``, text frames for the context aggregator, TTFB (first
text to first audio) and usage metrics.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    StartFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.tts_service import TextAggregationMode, TTSService
from pipecat.transcriptions.language import Language
from pipecat.utils.types import is_given
from polly_pipeline import Credentials, PollyPipelineError, SpeechSession
from polly_pipeline.backends import PollyBackend, PollyOptions
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.pipeline import FlushPolicy
from polly_pipeline.session import TurnMetrics
from polly_pipeline.text import CleanOptions, SegmenterOptions

from polly_pipeline_pipecat.audio import polly_pcm_rate
from polly_pipeline_pipecat.backend import Backend
from polly_pipeline_pipecat.sessions import SessionSettings, SessionSlot
from polly_pipeline_pipecat.settings import PollyStreamingTTSSettings, polly_language
from polly_pipeline_pipecat.text import TextPlan
from polly_pipeline_pipecat.utterance import Utterance

__all__ = ["PollyStreamingTTSService"]

#: Settings whose change needs a new session (a Polly stream speaks in one voice).
_SESSION_FIELDS = frozenset({"voice", "language", "engine", "lexicon_names"})
#: How many turns' metrics :attr:`PollyStreamingTTSService.turns` keeps.
_TURNS_KEPT = 1000


def _credentials(
    secret_key: str | None, access_key: str | None, session_token: str | None
) -> Credentials | None:
    """Explicit AWS credentials, as ``AWSPollyTTSService`` takes them (None: the usual chain)."""
    if secret_key is None and access_key is None:
        if session_token is not None:
            raise ConfigurationError("aws_session_token needs api_key and aws_access_key_id")
        return None
    if not secret_key or not access_key:
        raise ConfigurationError(
            "give both api_key (the secret access key) and aws_access_key_id, or neither "
            "(then the usual AWS credential chain is used)"
        )
    return Credentials(access_key, secret_key, session_token)


class PollyStreamingTTSService(TTSService):
    """Amazon Polly's bidirectional stream as a Pipecat TTS service.

    A drop-in for ``AWSPollyTTSService``: the same credentials, region and settings; speech
    starts while the LLM is still writing, on a stream that is already open.

    Args:
        client: a :class:`~polly_pipeline.PollyStreamingClient` to use (you close it). Without
            one the service opens its own, as ``polly-pipeline`` does: Amazon Polly when AWS
            credentials are configured (or given here), else the embedded local service.
        region: the AWS region (default: from the AWS configuration).
        api_key: the AWS secret access key (with ``aws_access_key_id``; default: the usual
            credential chain), as ``AWSPollyTTSService`` takes it.
        aws_access_key_id: the AWS access key id.
        aws_session_token: the session token of temporary credentials.
        backend: ``auto``, ``aws`` or ``local`` (see :class:`polly_pipeline.backends.PollyOptions`).
        endpoint_url: a Polly endpoint instead of Amazon's.
        ca_file: an extra CA bundle to trust (for ``endpoint_url``).
        text_aggregation_mode: None (the default) cuts the text with this project's cleaner
            and segmenter; ``TextAggregationMode.SENTENCE`` or ``TOKEN`` uses Pipecat's
            aggregator instead.
        clean: markdown cleaning options, or False to send the text unchanged (this project's
            aggregation only).
        segmenter: this project's segmentation options (language: the service's, else the
            voice's).
        flush: when to Force synthesis (see :class:`polly_pipeline.pipeline.FlushPolicy`).
        sample_rate: the output sample rate (default: the pipeline's). Polly makes PCM at
            8 or 16 kHz; other rates are resampled.
        settings: voice, language, engine, lexicons (``PollyStreamingTTSService.Settings``).
        session_options: more :class:`~polly_pipeline.SpeechSession` keywords
            (``keepalive_interval``, ``pacing``, ``retry``...).
        **kwargs: passed on to Pipecat's ``TTSService``.

    Attributes:
        turns: the :class:`~polly_pipeline.session.TurnMetrics` of the latest turns (time to
            first audio, characters sent and billed, audio seconds, retries), oldest first.
    """

    Settings = PollyStreamingTTSSettings
    _settings: PollyStreamingTTSSettings

    def __init__(
        self,
        *,
        client: PollyStreamingClient | None = None,
        region: str | None = None,
        api_key: str | None = None,
        aws_access_key_id: str | None = None,
        aws_session_token: str | None = None,
        backend: PollyBackend = "auto",
        endpoint_url: str | None = None,
        ca_file: str | None = None,
        text_aggregation_mode: TextAggregationMode | None = None,
        clean: CleanOptions | bool = True,
        segmenter: SegmenterOptions | None = None,
        flush: FlushPolicy | None = None,
        sample_rate: int | None = None,
        settings: PollyStreamingTTSSettings | None = None,
        session_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        defaults = PollyStreamingTTSSettings(
            model=None, voice="Joanna", language=None, engine="generative", lexicon_names=None
        )
        if settings is not None:
            defaults.apply_update(settings)
        plan = TextPlan(
            mode=text_aggregation_mode,
            clean=CleanOptions() if clean is True else clean or None,
            segmenter=segmenter or SegmenterOptions(),
            flush=flush,
        )
        super().__init__(
            text_aggregation_mode=plan.pipecat_mode,
            push_start_frame=True,
            push_stop_frames=True,
            sample_rate=sample_rate,
            settings=defaults,
            **kwargs,
        )
        self._plan = plan
        self._backend = Backend(
            client,
            PollyOptions(
                backend=backend, region=region, endpoint_url=endpoint_url, ca_file=ca_file
            ),
            _credentials(api_key, aws_access_key_id, aws_session_token),
        )
        self._session_options = dict(session_options or {})
        self._slot = SessionSlot(self._open_session)
        self._open: dict[str, Utterance] = {}  # context id -> the utterance taking its text
        self._live: list[Utterance] = []  # every utterance not over yet, in order
        self._last: Utterance | None = None
        self.turns: deque[TurnMetrics] = deque(maxlen=_TURNS_KEPT)

    # -- Pipecat's service interface ---------------------------------------------------------

    def can_generate_metrics(self) -> bool:
        """TTFB, TTFA and usage metrics are reported."""
        return True

    @property
    def supports_processing_metrics(self) -> bool:
        """No: text is handed to the stream and audio comes back elsewhere (TTFB says it)."""
        return False

    def language_to_service_language(self, language: Language) -> str | None:
        """The Polly language code for a Pipecat language (``Language.DE`` -> ``de-DE``)."""
        return polly_language(language)

    async def start(self, frame: StartFrame) -> None:
        """Open the backend and pre-warm the session (errors are reported, not raised)."""
        await super().start(frame)
        self._slot.configure(self._session_settings())

    async def stop(self, frame: EndFrame) -> None:
        """Speak what was sent, then close the session and the backend."""
        for context_id in list(self._open):
            self._finish(context_id)
        await super().stop(frame)
        await self._close()

    async def cancel(self, frame: CancelFrame) -> None:
        """Stop speaking now and close everything."""
        await super().cancel(frame)
        await self._close()

    async def cleanup(self) -> None:
        """Release everything (also when the pipeline ended without a stop)."""
        await super().cleanup()  # type: ignore[no-untyped-call]
        await self._close()

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Queue ``text`` for the turn of ``context_id``; its audio arrives from the turn."""
        utterance = self._open.get(context_id)
        if utterance is None:
            utterance = self._begin(context_id)
        utterance.add(text)
        await self.start_tts_usage_metrics(text)  # per sentence (Pipecat counts tokens itself)
        yield None

    async def flush_audio(self, context_id: str | None = None) -> None:
        """The context's text is complete: speak the rest and close its stream."""
        context_id = context_id or self.get_active_audio_context_id()
        if context_id:
            self._finish(context_id)

    async def on_turn_context_completed(self) -> None:
        """End of a reply: its turn ends too (also if Pipecat dropped an idle audio context)."""
        context_id = self._turn_context_id
        await super().on_turn_context_completed()  # type: ignore[no-untyped-call]
        if context_id:
            self._finish(context_id)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Pipecat's handling, then: an interruption also cuts turns whose context had gone.

        Pipecat ends an audio context that stays silent for ``stop_frame_timeout_s`` (a model
        thinking mid-reply); a turn whose context is gone when the interruption comes gets no
        :meth:`on_audio_context_interrupted` call, but must stop too. Contexts Pipecat keeps
        (uninterruptible speech) keep their turns.
        """
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            for utterance in list(self._live):
                if not self.audio_context_available(utterance.context_id):
                    self._open.pop(utterance.context_id, None)
                    await utterance.interrupt()
                    self._retire(utterance)

    async def on_audio_context_interrupted(self, context_id: str) -> None:
        """Barge-in: cut the context's turn now (the next turn starts on the warm spare)."""
        for utterance in [u for u in self._live if u.context_id == context_id]:
            self._open.pop(context_id, None)
            await utterance.interrupt()
            self._retire(utterance)
        await super().on_audio_context_interrupted(context_id)

    async def _update_settings(self, delta: Any) -> dict[str, Any]:
        """Apply a settings delta; a new voice or language speaks from the next text on."""
        changed = await super()._update_settings(delta)
        if changed.keys() & _SESSION_FIELDS and self._slot.settings is not None:
            for context_id in list(self._open):
                # the text so far is spoken in the old voice; the rest starts a new turn
                self._open.pop(context_id).finish()
            self._slot.configure(self._session_settings())
        return changed

    # -- turns --------------------------------------------------------------------------------

    def _begin(self, context_id: str) -> Utterance:
        if self._slot.settings is None:
            self._slot.configure(self._session_settings())
        utterance = Utterance(
            context_id,
            previous=self._last,
            slot=self._slot,
            plan=self._plan,
            out_rate=self.sample_rate,
            deliver=self._deliver,
            ended=self._ended,
            failed=self._failed,
        )
        self._open[context_id] = utterance
        self._live.append(utterance)
        self._last = utterance
        return utterance

    def _finish(self, context_id: str) -> None:
        """No more text for ``context_id``: its last turn ends the audio context when done."""
        utterance = self._open.pop(context_id, None)
        if utterance is not None:
            utterance.close_context = True
            utterance.finish()
            return
        pending = [u for u in self._live if u.context_id == context_id]
        if pending:
            pending[-1].close_context = True

    async def _deliver(self, utterance: Utterance, audio: bytes) -> None:
        frame = TTSAudioRawFrame(audio, self.sample_rate, 1, context_id=utterance.context_id)
        await self.append_to_audio_context(utterance.context_id, frame)

    async def _ended(self, utterance: Utterance) -> None:
        self._retire(utterance)
        if utterance.close_context and self.audio_context_available(utterance.context_id):
            await self.remove_audio_context(utterance.context_id)

    async def _failed(self, utterance: Utterance, error: Exception) -> None:
        self._open.pop(utterance.context_id, None)
        message = f"{self}: Polly could not speak the turn: {error}"
        await self.push_error(error_msg=message, exception=error)

    def _retire(self, utterance: Utterance) -> None:
        if utterance in self._live:
            self._live.remove(utterance)
        if utterance.metrics is not None:
            self.turns.append(utterance.metrics)

    # -- sessions -----------------------------------------------------------------------------

    def _session_settings(self) -> SessionSettings:
        s = self._settings
        voice = s.voice if is_given(s.voice) and s.voice else "Joanna"
        engine = s.engine if is_given(s.engine) and s.engine else "generative"
        language = s.language if is_given(s.language) and s.language else None
        lexicons = s.lexicon_names if is_given(s.lexicon_names) and s.lexicon_names else ()
        return SessionSettings(
            voice_id=str(voice),
            engine=str(engine),
            sample_rate=polly_pcm_rate(self.sample_rate),
            language_code=str(language) if language is not None else None,
            lexicon_names=tuple(lexicons),
        )

    async def _open_session(self, settings: SessionSettings) -> SpeechSession:
        try:
            client = await self._backend.client()
            session = SpeechSession(
                client,
                voice_id=settings.voice_id,
                engine=settings.engine,
                output_format="pcm",
                sample_rate=settings.sample_rate,
                language_code=settings.language_code,
                lexicon_names=settings.lexicon_names or None,
                **self._session_options,
            )
        except PollyPipelineError as exc:
            await self.push_error(error_msg=f"{self}: no speech session: {exc}", exception=exc)
            raise
        try:
            await session.start()
        except BaseException as exc:
            await session.aclose()
            if isinstance(exc, PollyPipelineError):
                await self.push_error(error_msg=f"{self}: no speech session: {exc}", exception=exc)
            raise
        logger.debug(f"{self}: speech session ready ({settings.voice_id})")
        return session

    async def _close(self) -> None:
        self._open.clear()
        for utterance in list(self._live):
            await utterance.interrupt()
            self._retire(utterance)
        await self._slot.aclose()
        await self._backend.aclose()
