"""Session layer: the one owner of a session's background tasks.

A task that outlives the call starting it (a turn's driver, a link's pump, a retirement, the
spare keeper) is spawned here; the session closes this registry last, which cancels and awaits
whatever still runs, so no task of a session is left running after ``aclose()``. A task that
ends with an exception has it logged at once (never "Task exception was never retrieved").
Tasks scoped to one call live in an :class:`asyncio.TaskGroup` instead (the driver's chain).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

from polly_pipeline._aio import TaskSet
from polly_pipeline.errors import StreamStateError

__all__ = ["SessionTasks"]

log = logging.getLogger("polly_pipeline.session")


class SessionTasks(TaskSet):
    """Tracks the background tasks of one session and ends them on :meth:`aclose`; once the
    session is closed it starts no more."""

    def __init__(self) -> None:
        super().__init__(log)
        self._closed = False

    def spawn(self, coro: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
        """Run ``coro`` as a task owned by the session.

        Raises:
            StreamStateError: the session is closed (the coroutine is not run).
        """
        if self._closed:
            coro.close()
            raise StreamStateError(f"the speech session is closed; {name} was not started")
        return self.start(coro, name=name)

    async def aclose(self) -> None:
        """Start no more tasks; cancel and await every one still running. Idempotent."""
        self._closed = True
        await super().aclose()
