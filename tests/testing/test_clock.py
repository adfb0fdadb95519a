"""The virtual clock: timers jump, work outside the loop takes no virtual time."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from polly_pipeline.local.render import render_pcm
from polly_pipeline.local.voices import get_voice
from polly_pipeline.testing import VirtualTimeExceeded, run_virtual, virtual_clock


@virtual_clock
async def test_timers_fire_in_order_at_their_virtual_times() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    fired: list[tuple[str, float]] = []

    async def after(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        fired.append((name, loop.time() - start))

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(after("keep-alive", 5.0))
        tasks.create_task(after("rollover", 300.0))
        tasks.create_task(after("backoff", 0.25))
    assert fired == [("backoff", 0.25), ("keep-alive", 5.0), ("rollover", 300.0)]


@virtual_clock
async def test_a_deadline_expires_at_its_virtual_time() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(2.0):
            await asyncio.Event().wait()
    assert loop.time() - start == 2.0


@virtual_clock
async def test_executor_work_takes_no_virtual_time() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.timeout(0.001):  # would expire at once if the clock jumped
        await asyncio.to_thread(time.sleep, 0.05)
    assert loop.time() == start


@virtual_clock
async def test_offline_voice_rendering_takes_no_virtual_time() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    text = f"A sentence rendered while a deadline waits, {time.time_ns()}."  # not cached
    async with asyncio.timeout(0.001):
        pcm = await render_pcm(text, get_voice("Joanna"), ssml=False, sample_rate=16000)
    assert len(pcm) > 16000  # over half a second of speech
    assert loop.time() == start


def test_a_loop_that_waits_on_timers_forever_is_stopped() -> None:
    async def keep_alive_forever() -> None:
        while True:  # noqa: ASYNC110 - a timer loop with nothing to end it is the point
            await asyncio.sleep(1.0)

    with pytest.raises(VirtualTimeExceeded, match="passed 60 s"):
        run_virtual(keep_alive_forever(), limit=60.0)


@virtual_clock
async def test_sync_fixtures_reach_the_test(tmp_path: Path) -> None:
    await asyncio.sleep(10.0)
    assert tmp_path.name  # a real tmp_path, given to the wrapped test
