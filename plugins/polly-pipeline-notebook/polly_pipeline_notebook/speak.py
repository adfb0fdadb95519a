"""Notebook plugin: speak a source in one notebook cell, with the local service when needed.

::

    report = await speak_in_notebook(["Hello ", "from a ", "notebook."])

IPython kernels run top-level ``await`` on their own event loop, so this is the whole cell.
With no ``session`` and no ``client``, speech comes from the local Polly service, started
once per kernel on a background thread (:func:`local_service`) and stopped when the kernel
exits; :func:`demo_llm` is an ``openai`` client for its offline demo model.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.local import BackgroundService
from polly_pipeline.pipeline import FlushPolicy, Pipeline, Source
from polly_pipeline.session import SpeechSession
from polly_pipeline.sinks import AudioSink
from polly_pipeline_notebook.report import NotebookReport
from polly_pipeline_notebook.sink import NotebookSink

if TYPE_CHECKING:
    import openai

    from polly_pipeline.client import PollyStreamingClient
    from polly_pipeline.local import LocalPollyService

__all__ = ["demo_llm", "local_service", "speak_in_notebook", "stop_local_service"]

_lock = threading.Lock()
_background: BackgroundService | None = None
_stop_at_exit = False


def local_service() -> LocalPollyService:
    """The kernel's local Polly service, started on first use (on its own thread)."""
    global _background, _stop_at_exit  # noqa: PLW0603 - one service per kernel, for every cell
    with _lock:
        if _background is None:
            background = BackgroundService()
            background.start()
            _background = background
            if not _stop_at_exit:
                atexit.register(stop_local_service)
                _stop_at_exit = True
        return _background.service


def stop_local_service() -> None:
    """Stop the kernel's local Polly service, if it runs (the next use starts a new one)."""
    global _background
    with _lock:
        background, _background = _background, None
    if background is not None:
        background.stop()


def demo_llm() -> openai.AsyncOpenAI:
    """An ``openai`` client for the local service's offline demo model (canned answers).

    Use it as ``async with demo_llm() as llm:`` (or ``await llm.close()``), with
    ``model=polly_pipeline.local.DEMO_MODEL``.
    """
    from polly_pipeline.backends import demo_llm_client  # noqa: PLC0415 - imports openai

    return demo_llm_client(local_service())


async def speak_in_notebook(
    source: Source,
    *,
    session: SpeechSession | None = None,
    client: PollyStreamingClient | None = None,
    voice_id: str | None = None,
    output_format: str | None = None,
    sample_rate: int | str | None = None,
    title: str = "Spoken answer",
    autoplay: bool = True,
    sinks: Sequence[AudioSink] = (),
    flush: FlushPolicy | None = None,
) -> NotebookReport:
    """Speak ``source`` with the player streaming inline; returns the run's report.

    The returned :class:`NotebookReport` shows itself as a table when it ends a cell.

    Args:
        source: the text: a string, or pieces as they come (e.g. ``openai_chat_source``).
        session: the speech session to use (its voice and format apply).
        client: a Polly client to open a session on; with neither, the local service.
        voice_id: the voice of a new session (default Joanna).
        output_format: the format of a new session (default pcm; others need the shared
            decoder, see :class:`NotebookSink`).
        sample_rate: the sample rate of a new session (the format's default if None).
        title: the player's label.
        autoplay: start playing at once (see :class:`NotebookSink`).
        sinks: more sinks that receive the same audio, e.g. a ``WavFileSink``.
        flush: the pipeline's flush policy (adaptive by default).

    Raises:
        ConfigurationError: voice or format options were given together with ``session``.
    """
    if session is not None and (voice_id or output_format or sample_rate):
        raise ConfigurationError(
            "speak_in_notebook: voice_id, output_format and sample_rate configure a new "
            "session; a given session keeps its own"
        )
    sink = NotebookSink(title=title, autoplay=autoplay)
    async with contextlib.AsyncExitStack() as stack:
        if session is None:
            if client is None:
                client = local_service().client()
                await stack.enter_async_context(client)
            session = SpeechSession(
                client,
                voice_id=voice_id or "Joanna",
                output_format=output_format or "pcm",
                sample_rate=sample_rate,
            )
            await stack.enter_async_context(session)
        pipeline = Pipeline(session, flush=flush, on_progress=sink.on_progress)
        report = await pipeline.run(source, sink, *sinks)
    return NotebookReport(report)
