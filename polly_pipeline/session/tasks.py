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

from polly_pipeline.errors import StreamStateError

__all__ = ["SessionTasks"]

log = logging.getLogger("polly_pipeline.session")


class SessionTasks:
    """Tracks the background tasks of one session and ends them on :meth:`aclose`."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[object, object, None], name: str) -> asyncio.Task[None]:
        """Run ``coro`` as a task owned by the session.

        Raises:
            StreamStateError: the session is closed (the coroutine is not run).
        """
        if self._closed:
            coro.close()
            raise StreamStateError(f"the speech session is closed; {name} was not started")
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("session task %s failed", task.get_name(), exc_info=error)

    async def aclose(self) -> None:
        """Start no more tasks; cancel and await every one still running. Idempotent."""
        self._closed = True
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
