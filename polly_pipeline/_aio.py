"""Shared by every layer with resources: ``async with`` that closes what it opened, and the
owners of the tasks a layer starts.

The task rule (ARCHITECTURE.md, "Owned tasks"): a task whose lifetime is one call lives in
:func:`task_group` (an :class:`asyncio.TaskGroup` that raises a single failure as itself); a
task that outlives the call that starts it (a server's handler, a pool's connection attempt)
belongs to one :class:`TaskSet`, which its owner closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = ["AsyncResource", "TaskSet", "task_group"]

T = TypeVar("T")

log = logging.getLogger("polly_pipeline")


class AsyncResource:
    """Mixin: ``async with obj:`` runs :meth:`_enter` (a no-op unless overridden), then
    returns ``obj``; leaving the block always awaits ``obj.aclose()``."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Release everything (subclasses implement it, idempotently)."""
        raise NotImplementedError

    async def _enter(self) -> None:
        """Work done on entering the block (e.g. starting a server or pre-warming)."""

    async def __aenter__(self) -> Self:
        await self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@contextlib.asynccontextmanager
async def task_group() -> AsyncIterator[asyncio.TaskGroup]:
    """An :class:`asyncio.TaskGroup` whose one failure is raised as itself.

    As with the group: leaving the block waits for its tasks; the first failure (of the body
    or a task) cancels the rest. That failure comes out as the same exception, not as an
    ``ExceptionGroup`` (callers catch ``ConnectError``, not ``except*``); others that ended
    the same way meanwhile (two tasks seeing one connection close) are logged at debug level.

    In an async generator, let no task fail into the group while the generator is suspended
    at a ``yield``: the group would cancel whatever its consumer is doing. Such tasks hand
    their failure to the body (a queue, a returned value), which raises it.
    """
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failed:
        error, *others = failed.exceptions
        for other in others:
            log.debug("also failed in the task group: %r", other, exc_info=other)
        context = error.__context__
    else:
        return
    try:
        raise error
    finally:
        error.__context__ = context  # as it was, not the group we unwrapped
        del error, context


class TaskSet:
    """The one owner of tasks that outlive the call that starts them.

    A server's per-request handler or a pool's background connection attempt runs past the
    call that started it, so no ``async with`` can hold it; this set does. It keeps each task
    until it ends, and :meth:`aclose` cancels and awaits every one left, so nothing started
    here is pending once the owner closed. An outcome is never lost: ``on_done`` (given to
    :meth:`start`) collects it, or a failure is logged to ``log``.
    """

    def __init__(self, log: logging.Logger) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._log = log

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks))

    def start(
        self,
        work: Coroutine[Any, Any, T],
        *,
        name: str | None = None,
        on_done: Callable[[asyncio.Task[T]], None] | None = None,
    ) -> asyncio.Task[T]:
        """Run ``work`` in a task this set owns; ``on_done(task)`` when it has ended."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._ended, on_done))
        return task

    def _ended(
        self, on_done: Callable[[asyncio.Task[Any]], None] | None, task: asyncio.Task[Any]
    ) -> None:
        self._tasks.discard(task)
        if on_done is not None:
            on_done(task)
        elif not task.cancelled() and (error := task.exception()) is not None:
            self._log.error("task %s failed", task.get_name(), exc_info=error)

    async def aclose(self) -> None:
        """Cancel every task and wait until each has ended (also those started meanwhile)."""
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
