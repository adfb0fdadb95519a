"""CLI layer: a spoken conversation: prompts one per line, answers on one warm session.

An empty line while an answer is spoken interrupts it (barge-in): delivery stops at once and
the history keeps only the part of the answer that was heard, so the model knows what the
listener actually heard. A prompt typed (or piped) while an answer is spoken waits its turn.
End of input (Ctrl-D) ends the conversation after the answer being spoken.

With ``-o answer.wav`` each turn is written to its own file (``answer-1.wav``,
``answer-2.wav``...); with ``--one-file`` the whole conversation goes into ``answer.wav``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from collections.abc import Iterator

from polly_pipeline._aio import task_group
from polly_pipeline.backends import Backends
from polly_pipeline.cli.display import Display
from polly_pipeline.cli.inputs import decode
from polly_pipeline.cli.options import turn_outputs
from polly_pipeline.cli.outputs import CountedFile, Outputs, open_sinks
from polly_pipeline.cli.running import Context
from polly_pipeline.errors import ConfigurationError, PollyPipelineError
from polly_pipeline.pipeline import PipelineReport
from polly_pipeline.session import AudioChunk, InterruptReport, SpeechSession
from polly_pipeline.sinks import AudioSink

__all__ = ["Conversation", "StdinLines"]


class StdinLines:
    """Lines of standard input as they arrive (None at its end), read on a daemon thread.

    A line that is not UTF-8 is reported (naming the byte offset) and skipped.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, name="stdin-lines", daemon=True).start()

    def _read(self) -> None:
        for number, raw in enumerate(_lines_of(sys.stdin.fileno()), 1):
            try:
                line = decode(raw, f"input line {number}")
            except ConfigurationError as exc:
                print(f"polly-pipeline: {exc}; line skipped", file=sys.stderr, flush=True)
                continue
            if not self._put(line.rstrip("\r\n")):
                return
        self._put(None)

    def _put(self, line: str | None) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
        except RuntimeError:  # the loop is closed: the program is ending
            return False
        return True

    async def get(self) -> str | None:
        """The next line, or None once input has ended."""
        return await self._queue.get()


def _lines_of(fd: int) -> Iterator[bytes]:
    """The lines read from ``fd``, each with its newline (the last may lack one).

    Read with ``os.read``, not through ``sys.stdin``: a thread blocked in a read of
    ``sys.stdin.buffer`` holds its lock, and an interpreter that exits meanwhile (Ctrl-C while
    standard input is still open) aborts with "could not acquire lock" instead of exiting 130.
    """
    held = b""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            break
        held += data
        while (end := held.find(b"\n")) >= 0:
            yield held[: end + 1]
            held = held[end + 1 :]
    if held:
        yield held


class _KeptOpen:
    """A file that outlives each turn's run: ``close()`` waits for the conversation's end."""

    def __init__(self, file: CountedFile) -> None:
        self.file = file

    async def write(self, chunk: AudioChunk) -> None:
        await self.file.write(chunk)

    async def close(self) -> None:
        pass


class Conversation:
    """The turns of one ``polly-pipeline chat`` conversation."""

    def __init__(
        self,
        args: argparse.Namespace,
        backends: Backends,
        session: SpeechSession,
        ctx: Context,
        display: Display,
    ) -> None:
        from polly_pipeline.cli.chat import first_messages  # noqa: PLC0415

        self.args = args
        self.backends = backends
        self.session = session
        self.ctx = ctx
        self.outputs = ctx.outputs
        self.display = display
        self.messages = first_messages(args)
        self.turns = 0
        self._whole: CountedFile | None = None
        self._tty = sys.stdin.isatty()

    def _sinks(self) -> list[AudioSink]:
        if not self.args.one_file or self.args.output is None:
            return turn_outputs(self.args, self.outputs, self.turns)
        if self._whole is None:
            self._whole = self.outputs.add(self.args.output)
        return [_KeptOpen(self._whole), *open_sinks(self.args)]

    async def run(self, first: str | None) -> int:
        """Converse until input ends; the exit status."""
        lines = StdinLines()
        pending: list[str] = [first] if first is not None else []
        ended = False
        try:
            while True:
                if not pending:
                    if ended:
                        break
                    if self._tty:
                        self.display.prompt("you> ")
                    line = await lines.get()
                    if line is None:
                        break
                    if line.strip():
                        pending.append(line.strip())
                    continue
                ended = await self._turn(pending.pop(0), lines, pending) or ended
        finally:
            if self._whole is not None:
                await self._whole.close()
        if self._whole is not None or len(self.outputs.files) > 1:
            self.display.line(f"conversation: {self.turns} turns, {self.outputs.describe()}")
        return 0

    async def _turn(self, prompt: str, lines: StdinLines, pending: list[str]) -> bool:
        """One question and its answer; True when input ended meanwhile."""
        from polly_pipeline.cli.chat import answer, summary  # noqa: PLC0415

        self.turns += 1
        self.messages.append({"role": "user", "content": prompt})
        kept: list[str] = []
        self.display.begin()
        before = Outputs(list(self.outputs.files))

        async def speak() -> PipelineReport | PollyPipelineError:
            # a failure is handed over, not raised into the group: the turn reports it
            try:
                return await answer(
                    self.backends,
                    self.session,
                    self.messages,
                    sinks=self._sinks(),
                    display=self.display,
                    kept=kept,
                    ctx=self.ctx,
                )
            except PollyPipelineError as exc:
                return exc

        interrupted = False
        heard: InterruptReport | None = None
        ended = False
        try:
            async with task_group() as tasks:
                speaking = tasks.create_task(speak())
                while not speaking.done():
                    typed = tasks.create_task(lines.get())
                    await asyncio.wait({speaking, typed}, return_when=asyncio.FIRST_COMPLETED)
                    if not typed.done():
                        typed.cancel()  # an asyncio.Queue loses no line to a cancelled get()
                        break
                    line = typed.result()
                    if line is None:  # end of input: let the answer finish, then stop
                        ended = True
                        await asyncio.wait({speaking})
                    elif line.strip():
                        pending.append(line.strip())  # asked while it speaks: next in line
                    else:
                        interrupted = True
                        heard = await self.session.interrupt()  # barge-in: audio stops now
                        speaking.cancel()
        finally:
            self.display.end()
        files = Outputs([f for f in self.outputs.files if f not in before.files])
        if interrupted:
            text = heard.text_heard if heard is not None else ""
            if text.strip():  # the model is told what was heard, and only that
                self.messages.append({"role": "assistant", "content": text})
            seconds = heard.seconds_heard if heard is not None else 0.0
            chars = heard.characters_heard if heard is not None else 0
            self.display.line(
                f"[turn {self.turns} interrupted after {seconds:.1f} s; {chars} characters heard]"
            )
            return ended
        report = speaking.result()
        if isinstance(report, PollyPipelineError):
            if isinstance(report, ConfigurationError):
                raise report  # a bad option or no sound device: no turn will work
            self.display.line(f"[turn {self.turns} failed: {report}]")
            if kept:
                self.messages.append({"role": "assistant", "content": "".join(kept)})
            return ended
        self.messages.append({"role": "assistant", "content": "".join(kept)})
        self.display.line(f"[turn {self.turns}] {summary(files, report)}")
        return ended
