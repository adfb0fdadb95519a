"""Pipecat plugin: the speech session for the current settings, kept warm.

A :class:`~polly_pipeline.SpeechSession` speaks in one voice, language and format. The slot
holds the session for the service's current settings; a change of settings opens the next
session at once (pre-warmed, so the next turn starts on an open stream) and closes the
superseded one as soon as no turn uses it any more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field

from polly_pipeline import SpeechSession

__all__ = ["SessionSettings", "SessionSlot"]


@dataclass(frozen=True)
class SessionSettings:
    """What a session speaks with (a change needs a new session)."""

    voice_id: str
    engine: str
    sample_rate: int
    language_code: str | None = None
    lexicon_names: tuple[str, ...] = ()


@dataclass(eq=False)
class _Entry:
    settings: SessionSettings
    opening: asyncio.Task[SpeechSession]
    users: int = 0
    retired: bool = False
    closing: asyncio.Task[None] | None = field(default=None, repr=False)


OpenSession = Callable[[SessionSettings], Coroutine[object, object, SpeechSession]]


class SessionSlot:
    """The session for the latest settings; superseded sessions close when their turn is done.

    Args:
        open_session: opens and starts (pre-warms) a session for given settings.
    """

    def __init__(self, open_session: OpenSession) -> None:
        self._open_session = open_session
        self._current: _Entry | None = None
        self._retiring: set[_Entry] = set()

    @property
    def settings(self) -> SessionSettings | None:
        """The settings the next turn speaks with."""
        return None if self._current is None else self._current.settings

    def configure(self, settings: SessionSettings) -> None:
        """Speak with ``settings`` from the next turn on (its session opens now, in background)."""
        current = self._current
        if current is not None and current.settings == settings and not _failed(current):
            return
        self._current = _Entry(settings, asyncio.create_task(self._open_session(settings)))
        if current is not None:
            current.retired = True
            self._retiring.add(current)
            self._close_if_unused(current)

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[SpeechSession]:
        """The current session, for one turn (it stays open until the turn is done).

        Raises:
            PollyPipelineError: the session could not be opened (a session that failed to
                open is opened again by the next turn).
        """
        entry = self._current
        if entry is None:
            raise RuntimeError("SessionSlot.use() before configure()")
        if _failed(entry):
            self.configure(entry.settings)
            entry = self._current
            assert entry is not None
        entry.users += 1
        try:
            yield await asyncio.shield(entry.opening)
        finally:
            entry.users -= 1
            self._close_if_unused(entry)

    def _close_if_unused(self, entry: _Entry) -> None:
        if entry.retired and entry.users == 0 and entry.closing is None:
            entry.closing = asyncio.create_task(_close(entry))

    async def aclose(self) -> None:
        """Close every session (a turn still speaking is interrupted). Idempotent."""
        entries = list(self._retiring)
        if self._current is not None:
            entries.append(self._current)
        self._current = None
        self._retiring.clear()
        for entry in entries:
            entry.opening.cancel()
        await asyncio.gather(
            *(entry.closing or _close(entry) for entry in entries), return_exceptions=True
        )


def _failed(entry: _Entry) -> bool:
    return entry.opening.done() and (
        entry.opening.cancelled() or entry.opening.exception() is not None
    )


async def _close(entry: _Entry) -> None:
    await asyncio.wait([entry.opening])
    if _failed(entry):  # never opened: nothing to close (the error reached its turn)
        return
    await entry.opening.result().aclose()
