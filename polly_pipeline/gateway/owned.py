"""Gateway layer: a conversation's tasks, in one task group that ends together.

The first of the main tasks to end (the client left, the writer gave up, a task failed) ends
the others; tasks spawned while they run (a stall flush) are cancelled and awaited with them.
When :meth:`OwnedTasks.run` returns, none of them is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["OwnedTasks"]

log = logging.getLogger("polly_pipeline.gateway")

Work = Coroutine[Any, Any, None]


class _Ended(Exception):
    """One of the main tasks ended: the others end with it."""


async def _ends_all(work: Work) -> None:
    try:
        await work
    except Exception:
        log.exception("conversation task failed")
    raise _Ended


class OwnedTasks:
    """The tasks of one conversation."""

    def __init__(self) -> None:
        self._group: asyncio.TaskGroup | None = None

    async def run(self, *main: tuple[str, Work]) -> None:
        """Run the ``(name, coroutine)`` tasks until the first ends; then end every task.

        A failure is logged, not raised (the client has seen its error event already, or
        has gone); cancelling the caller cancels them all.
        """
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                for name, work in main:
                    group.create_task(_ends_all(work), name=name)
        except* _Ended:
            pass
        except* Exception as failed:  # a spawned task failed
            log.error("conversation task failed", exc_info=failed)
        finally:
            self._group = None

    def spawn(self, work: Work, name: str) -> asyncio.Task[None] | None:
        """Run ``work`` beside the main tasks, ended with them (None once they are ending)."""
        group = self._group
        if group is not None:
            try:
                return group.create_task(work, name=name)
            except RuntimeError:  # the group is shutting down
                pass
        work.close()
        return None
