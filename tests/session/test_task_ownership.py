"""No task of a session outlives its close, and no task's error is lost.

Every task whose coroutine is session code is recorded as it is created (the loop's task
factory); after ``aclose()`` none may still be pending, whether the last turn finished, was
interrupted or failed, and the loop must never report "Task exception was never retrieved".
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from polly_pipeline.errors import SessionError
from polly_pipeline.local.config import Fault
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.events import RetryPolicy
from polly_pipeline.session.session import SpeechSession
from polly_pipeline.session.tasks import SessionTasks
from tests.conftest import TEST_TIMEOUTS
from tests.session.recording import service_with_faults

TEXTS = ["Hello there. ", "This turn has a few sentences to say. ", "And one more. "]


@contextmanager
def watched_tasks() -> Iterator[tuple[list[asyncio.Task[Any]], list[dict[str, Any]]]]:
    """Record the session's tasks as they are created, and what the loop reports."""
    loop = asyncio.get_running_loop()
    created: list[asyncio.Task[Any]] = []
    reported: list[dict[str, Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kw: Any) -> Any:
        task = asyncio.Task(coro, loop=loop, **kw)
        code = getattr(coro, "cr_code", None)
        if code is not None and "polly_pipeline/session/" in code.co_filename:
            created.append(task)
        return task

    previous_factory, previous_handler = loop.get_task_factory(), loop.get_exception_handler()
    loop.set_task_factory(factory)
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        yield created, reported
    finally:
        loop.set_task_factory(previous_factory)
        loop.set_exception_handler(previous_handler)


def assert_none_left(created: list[asyncio.Task[Any]], reported: list[dict[str, Any]]) -> None:
    assert created, "no session task was seen: the test watches nothing"
    pending = [task.get_name() for task in created if not task.done()]
    assert not pending, f"still running after close(): {pending}"
    created.clear()  # drop the references so that unretrieved errors are reported now
    gc.collect()
    assert not [c["message"] for c in reported], reported


async def speak(service: LocalPollyService, how: str) -> None:
    retry = RetryPolicy(max_attempts=2, base_delay=0.01)
    async with (
        memory_client(service, timeouts=TEST_TIMEOUTS) as client,
        SpeechSession(client, voice_id="Joanna", retry=retry) as session,
    ):
        turn = await session.begin_turn()
        for text in TEXTS:
            await turn.send(text, flush=True)
        if how == "interrupt":
            await anext(turn.audio())
            await turn.interrupt()
            return
        await turn.finish()
        async with asyncio.timeout(20):
            chunks = [chunk async for chunk in turn.audio()]
        assert chunks


async def test_after_a_turn_is_heard_no_session_task_is_left() -> None:
    with watched_tasks() as (created, reported):
        await speak(LocalPollyService(), "finish")
        assert_none_left(created, reported)


async def test_after_an_interrupt_no_session_task_is_left() -> None:
    with watched_tasks() as (created, reported):
        await speak(LocalPollyService(), "interrupt")
        assert_none_left(created, reported)


async def test_after_a_failing_turn_no_session_task_is_left() -> None:
    faults = [Fault("service_failure", "first_event")] * 20  # no stream ever makes progress
    with watched_tasks() as (created, reported):
        with pytest.raises(SessionError):
            await speak(service_with_faults(*faults), "finish")
        assert_none_left(created, reported)


async def test_a_failing_background_task_is_logged_and_none_outlives_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = SessionTasks()
    started = asyncio.Event()

    async def fails() -> None:
        raise RuntimeError("the keeper broke")

    async def waits() -> None:
        started.set()
        await asyncio.Event().wait()

    with watched_tasks() as (_, reported), caplog.at_level(logging.ERROR):
        failing = tasks.spawn(fails(), name="polly-failing")
        waiting = tasks.spawn(waits(), name="polly-waiting")
        await started.wait()
        await asyncio.sleep(0)
        assert failing.done()
        assert "polly-failing failed" in caplog.text
        assert "the keeper broke" in caplog.text
        await tasks.aclose()
        assert waiting.cancelled()
        assert len(tasks) == 0
        del failing, waiting
        gc.collect()
        assert not reported, reported
    coro = waits()
    with pytest.raises(Exception, match="session is closed"):
        tasks.spawn(coro, name="polly-late")
