"""Test helpers: an event loop on a virtual clock, for tests about timing.

Keep-alives every few seconds, a stream's maximum age, a stall flush, pacing and retry
backoff all wait on the event loop's timers. On :class:`VirtualClockLoop` the loop's clock
(``loop.time()``, so ``asyncio.sleep``, ``asyncio.timeout``, ``call_later``) stands still while
anything can run, and jumps straight to the next timer when every task waits on one: a test of
a minute of keep-alives runs in milliseconds, and the same test always sees the same times.

Work outside the loop takes no virtual time and is waited for in real time: executor jobs
(``run_in_executor``, ``asyncio.to_thread``) and the local service's offline voice rendering
on its worker threads. So a render that takes 50 ms of real CPU never lets a 1 s deadline
expire. Code under test must read time from the loop (``asyncio.get_running_loop().time()``),
not from ``time.monotonic()``.

Use it for tests on the in-memory transport (:func:`polly_pipeline.local.in_memory.memory_client`);
real sockets, TLS (awscrt's threads) and subprocesses need real time::

    from polly_pipeline.testing import virtual_clock

    @virtual_clock
    async def test_keep_alive_every_five_seconds() -> None:
        ...  # an async test (any sync fixtures), run on a fresh VirtualClockLoop

:func:`run_virtual` runs a coroutine on one outside pytest.

Why not a library: ``looptime`` (the well-kept one) fast-forwards the same way but only knows
executor jobs started with ``run_in_executor``; while those run it moves its clock in real-time
steps, and it cannot see the service's render threads, so a render would let deadlines expire.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, ParamSpec, TypeVar, TypeVarTuple

__all__ = ["VirtualClockLoop", "VirtualTimeExceeded", "run_virtual", "virtual_clock"]

_T = TypeVar("_T")
_P = ParamSpec("_P")
_Ts = TypeVarTuple("_Ts")

#: Longest real wait before the loop looks again at work outside it (seconds).
REAL_POLL = 0.01
#: Virtual seconds after which a test is taken to wait on timers forever.
DEFAULT_LIMIT = 3600.0


class VirtualTimeExceeded(RuntimeError):
    """The virtual clock ran past its limit: something keeps waiting on timers forever."""


def _renders_in_flight() -> int:
    from polly_pipeline.local.render import CACHE  # noqa: PLC0415 - loaded only when used

    return CACHE.in_flight


class _Selector(selectors.DefaultSelector):
    """The real selector, except that a wait for a timer moves the virtual clock instead."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        # Asked before looking: work that ends after this has woken the loop before it ends
        # (a render posts its result, then stops counting), so the look below sees it.
        outside = self._loop.waiting_outside()
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if outside:  # virtual time stands still while threads work for us
            wait = REAL_POLL if timeout is None else min(timeout, REAL_POLL)
            return super().select(wait)
        if timeout is None:  # no timer at all: only another thread can wake the loop
            return super().select(None)
        self._loop.advance(timeout)
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer when every task waits on one.

    Args:
        limit: virtual seconds after which the loop raises :class:`VirtualTimeExceeded`
            (a task that waits on timers forever would otherwise spin).
        outside: more probes of work running outside the loop for it (each returns how many
            jobs are running); the loop's executor jobs and the offline voice's renders are
            always counted.
    """

    def __init__(
        self, *, limit: float = DEFAULT_LIMIT, outside: tuple[Callable[[], int], ...] = ()
    ) -> None:
        super().__init__(_Selector(self))
        self._now = 0.0
        self._limit = limit
        self._probes = (_renders_in_flight, *outside)
        self._jobs: set[asyncio.Future[Any]] = set()

    def time(self) -> float:
        """The virtual time: seconds since the loop was made, moved only by waiting."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward (the selector does this when every task waits on a timer)."""
        self._now += max(0.0, seconds)
        if self._now > self._limit:
            raise VirtualTimeExceeded(
                f"the virtual clock passed {self._limit:g} s: a task keeps waiting on timers "
                "(a keep-alive or retry loop with nothing to end it?); raise limit= if meant"
            )

    def waiting_outside(self) -> bool:
        """Whether a thread is doing work the loop waits for (the clock must not jump)."""
        return bool(self._jobs) or any(probe() for probe in self._probes)

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*_Ts], _T], *args: *_Ts
    ) -> asyncio.Future[_T]:
        """Run ``func`` on ``executor``; the clock waits for it."""
        job = super().run_in_executor(executor, func, *args)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        return job


def run_virtual(main: Awaitable[_T], *, limit: float = DEFAULT_LIMIT) -> _T:
    """Run ``main`` to completion on a fresh :class:`VirtualClockLoop` (then close it)."""

    async def body() -> _T:
        return await main

    with asyncio.Runner(loop_factory=lambda: VirtualClockLoop(limit=limit)) as runner:
        return runner.run(body())


def virtual_clock(
    test: Callable[_P, Coroutine[Any, Any, None]],
) -> Callable[_P, None]:
    """Make an async test a plain one that runs on its own :class:`VirtualClockLoop`.

    Fixtures still arrive as arguments (sync fixtures only: async ones belong to another loop).
    """

    @functools.wraps(test)
    def run_test(*args: _P.args, **kwargs: _P.kwargs) -> None:
        run_virtual(test(*args, **kwargs))

    return run_test
