"""CLI layer: run a command's coroutine so that Ctrl-C and SIGTERM end it cleanly.

Either signal cancels the command: the speech turn is interrupted, files are closed (valid as
far as they were written), the local service stops and removes its temporary CA directory.
Then one line says so, with what the files asked for hold, and the exit status is 128 + the
signal number (130 for Ctrl-C, 143 for SIGTERM), as shells expect.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from polly_pipeline.cli.outputs import Outputs
from polly_pipeline.cli.trace import Trace

__all__ = ["Context", "notice", "run_command"]


def notice(message: str) -> None:
    """A one-line notice on standard error (which backend is used, and so on)."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class Context:
    """What a command reports through: the files it writes, notices, the ``-v`` trace."""

    outputs: Outputs = field(default_factory=Outputs)
    trace: Trace = field(default_factory=Trace)
    notice: Callable[[str], None] = notice


async def _guarded(command: Coroutine[Any, Any, int], received: list[int]) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def on_signal(signum: int) -> None:
        received.append(signum)
        task.cancel()  # again on a second signal: cleanup that waits is cut short too

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        return await command
    except asyncio.CancelledError:
        if not received:
            raise
        return 128 + received[0]
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def run_command(command: Coroutine[Any, Any, int], outputs: Outputs) -> int:
    """Run ``command``; on SIGINT or SIGTERM clean up, report what was kept, 130 or 143."""
    received: list[int] = []
    try:
        status = asyncio.run(_guarded(command, received))
    except KeyboardInterrupt:  # a Ctrl-C before the handlers were installed
        received.append(signal.SIGINT)
        status = 128 + signal.SIGINT
    if received:
        sys.stdout.flush()
        # no file asked for (--play, --sink): nothing to report but the stop itself
        kept = f"; {outputs.describe()}" if outputs.files else ""
        print(f"\ninterrupted{kept}", file=sys.stderr, flush=True)
    return status
