"""examples/voice_assistant.py end to end: a real subprocess, the null audio backend, the local
service and its demo model; questions and a barge-in typed on standard input."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "voice_assistant.py"

pytestmark = pytest.mark.skipif(
    not EXAMPLE.exists(), reason="the example lives in the polly-pipeline repository"
)


class Conversation:
    """The example running as a subprocess; its merged output, read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output = ""

    async def type(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        await self.process.stdin.drain()

    async def wait_for(self, marker: str, deadline: float) -> None:
        """Read output until ``marker`` shows up (after what was read before)."""
        assert self.process.stdout is not None
        start = len(self.output)
        async with asyncio.timeout(deadline):
            while marker not in self.output[start:]:
                data = await self.process.stdout.read(4096)
                if not data:
                    raise AssertionError(f"the example ended before {marker!r}:\n{self.output}")
                self.output += data.decode(errors="replace")

    async def finish(self, deadline: float) -> int:
        assert self.process.stdout is not None
        async with asyncio.timeout(deadline):
            self.output += (await self.process.stdout.read()).decode(errors="replace")
            return await self.process.wait()


async def test_an_answer_is_interrupted_and_the_next_question_is_answered() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--audio-backend",
        "null",
        "--voice",
        "Matthew",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    chat = Conversation(process)
    try:
        await chat.type("How does streaming speech work?\n")
        await chat.wait_for("[speaking]", deadline=30)
        await asyncio.sleep(1.0)  # let it speak a little
        await chat.type("\n")  # barge-in
        await chat.wait_for("[interrupted after", deadline=10)
        await chat.type("Give me a short answer\n")
        assert process.stdin is not None
        process.stdin.close()  # end of input: the answer plays out, then the program ends
        returncode = await chat.finish(deadline=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = chat.output
    assert returncode == 0, output
    first, _, second = output.partition("[interrupted after")
    # the long first answer was cut: neither its text nor its speech got to the end
    assert "Streaming speech, step by step" in first
    assert "written by the polly-pipeline demo model" not in output
    played = float(second.split(" s of speech")[0])
    assert played > 0.5
    # the second question was answered and heard to the end
    assert "you> Give me a short answer" in second
    assert "assistant> OK." in second
    done = second.split("[done: ")[1]
    assert float(done.split(" s played")[0]) > 0.2
    assert "0 underruns" in done
    assert output.rstrip().endswith("bye")
