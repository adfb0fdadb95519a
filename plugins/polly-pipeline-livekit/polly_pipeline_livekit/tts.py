"""LiveKit bridge (a plugin): a LiveKit Agents ``tts.TTS`` backed by polly-pipeline's SpeechSession.

Switching from LiveKit's own Polly TTS is one line::

    session = AgentSession(llm=..., stt=..., tts=polly_pipeline_livekit.TTS(voice="Joanna"))

LiveKit wraps its AWS TTS in a sentence ``StreamAdapter``: one ``SynthesizeSpeech`` request per
sentence, each on a new client. This TTS streams instead: every ``stream()`` is one turn of a
:class:`~polly_pipeline.session.SpeechSession`, whose text goes into one bidirectional Polly
stream that was opened (and kept alive) before the turn began, and whose audio is pushed to
LiveKit's ``AudioEmitter`` chunk by chunk as it arrives.

The TTS keeps one idle session (with its warm spare stream) between turns; a second turn that
overlaps the first (a ``synthesize()`` while the agent speaks) gets a session of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass

from livekit.agents import APIConnectOptions, APIError, tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

from polly_pipeline.backends import PollyOptions
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import PollyPipelineError
from polly_pipeline.pipeline import FlushPolicy
from polly_pipeline.protocol import SynthesisParams
from polly_pipeline.session import RetryPolicy, SpeechSession
from polly_pipeline_livekit._backend import Backend
from polly_pipeline_livekit.errors import to_api_error
from polly_pipeline_livekit.stream import SynthesizeStream

__all__ = ["TTS"]

log = logging.getLogger("polly_pipeline_livekit")


@dataclass(frozen=True)
class _Options:
    params: SynthesisParams
    flush: FlushPolicy
    clean: bool
    pacing: float | None
    retry: RetryPolicy | None


class TTS(tts.TTS[None]):
    """Amazon Polly's bidirectional stream as a streaming LiveKit TTS.

    Args:
        voice: a Polly voice id (a generative voice for Amazon Polly).
        language: a Polly language code, for bilingual voices (default: the voice's own).
        speech_engine: the Polly engine (the stream serves ``generative``).
        sample_rate: 16000 or 8000 (the audio is 16-bit PCM, mono).
        region: the AWS region, when this TTS opens its own client.
        client: a :class:`~polly_pipeline.client.PollyStreamingClient` to use (it stays
            open after :meth:`aclose`). Without it the TTS opens one as ``polly-pipeline``
            does: Amazon Polly when AWS credentials are configured, else the embedded local
            Polly service (offline voice).
        polly: how to open that client (backend, endpoint, profile, CA file), when no
            ``client`` is given; ``region`` fills in its region.
        flush: when Polly is forced to synthesize (default: the first sentence at once, the
            rest at Polly's own boundaries, and whatever waits when the LLM stalls).
        clean: turn markdown into speakable text before it is spoken.
        pacing: keep at most this many seconds of speech ahead of real time (fewer billed
            characters wasted on barge-in); None sends text as fast as it comes.
        retry: the session's backoff for failed streams (LiveKit's ``conn_options`` then
            decide whether a turn that still failed is tried again).

    Raises:
        ParameterValidationError: a bad voice, engine, language or sample rate (a
            ``ValueError``), naming every bad field.
    """

    def __init__(
        self,
        *,
        voice: str = "Joanna",
        language: str | None = None,
        speech_engine: str = "generative",
        sample_rate: int = 16000,
        region: str | None = None,
        client: PollyStreamingClient | None = None,
        polly: PollyOptions | None = None,
        flush: FlushPolicy | None = None,
        clean: bool = True,
        pacing: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        params = SynthesisParams.create(
            voice_id=voice,
            engine=speech_engine,
            output_format="pcm",
            sample_rate=sample_rate,
            language_code=language,
        )
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=True),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self._opts = _Options(params, flush or FlushPolicy(), clean, pacing, retry)
        options = polly or PollyOptions()
        if region is not None:
            options = dataclasses.replace(options, region=region)
        self._backend = Backend(client, options)
        self._idle: list[SpeechSession] = []
        self._open: set[SpeechSession] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __repr__(self) -> str:
        p = self._opts.params
        return f"<polly_pipeline_livekit.TTS voice={p.voice_id} rate={p.sample_rate}>"

    @property
    def model(self) -> str:
        """The Polly engine."""
        return self._opts.params.engine

    @property
    def provider(self) -> str:
        """The provider's name, as LiveKit's own AWS plugin reports it."""
        return "Amazon Polly"

    @property
    def options(self) -> _Options:
        """The current synthesis parameters and speaking options."""
        return self._opts

    def update_options(
        self,
        *,
        voice: str | None = None,
        language: str | None = None,
        speech_engine: str | None = None,
    ) -> None:
        """Change the voice, language or engine; the next turn uses them.

        Raises:
            ParameterValidationError: the new parameters are not valid (nothing changes).
        """
        p = self._opts.params
        params = SynthesisParams.create(
            voice_id=voice or p.voice_id,
            engine=speech_engine or p.engine,
            output_format=p.output_format,
            sample_rate=p.sample_rate,
            language_code=language or (p.language_code if voice is None else None),
        )
        self._opts = dataclasses.replace(self._opts, params=params)
        stale, self._idle = self._idle, []
        for session in stale:
            self._close_later(session)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> SynthesizeStream:
        """A streaming synthesis: ``push_text`` / ``flush`` / ``end_input``, audio as it comes."""
        return SynthesizeStream(tts=self, conn_options=conn_options)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        """One text, spoken on the same stream machinery as :meth:`stream`."""
        return self._synthesize_with_stream(text, conn_options=conn_options)

    def prewarm(self) -> None:
        """Open the backend and a session's warm stream now (LiveKit calls this at start)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the first turn warms up instead
        if self._closed or self._idle or self._open:
            return
        self._track(asyncio.create_task(self._prewarm(), name="polly-tts-prewarm"))

    async def _prewarm(self) -> None:
        try:
            session = await self.acquire_session()
        except APIError as exc:
            log.warning("could not pre-warm the Polly stream: %s", exc)
            return
        self.release_session(session)

    async def acquire_session(self) -> SpeechSession:
        """An idle, warm session for one turn (opened here when none is idle).

        Raises:
            APIError: the backend or the session's first stream could not be opened (the
                LiveKit error for the polly-pipeline error, kept as ``__cause__``).
        """
        if self._closed:
            raise APIError("this TTS is closed; create a new one", retryable=False)
        if self._idle:
            return self._idle.pop()
        params = self._opts.params
        try:
            client = await self._backend.client()
            session = SpeechSession(
                client,
                voice_id=params.voice_id,
                engine=params.engine,
                output_format=params.output_format,
                sample_rate=params.sample_rate,
                language_code=params.language_code,
                pacing=self._opts.pacing,
                retry=self._opts.retry,
            )
        except PollyPipelineError as exc:
            raise to_api_error(exc) from exc
        self._open.add(session)
        try:
            await session.start()
        except BaseException as exc:
            self._open.discard(session)
            await session.aclose()
            if isinstance(exc, PollyPipelineError):
                raise to_api_error(exc) from exc
            raise
        return session

    def release_session(self, session: SpeechSession, *, healthy: bool = True) -> None:
        """Give a session back after its turn: kept warm for the next turn, or closed."""
        if healthy and not self._closed and not self._idle and session.params == self._opts.params:
            self._idle.append(session)
        else:
            self._close_later(session)

    def _close_later(self, session: SpeechSession) -> None:
        async def close() -> None:
            await session.aclose()
            self._open.discard(session)

        self._track(asyncio.create_task(close(), name="polly-tts-close"))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Close every session and stream, and the backend this TTS opened. Idempotent."""
        self._closed = True
        self._idle.clear()
        sessions, self._open = list(self._open), set()
        await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._backend.aclose()
