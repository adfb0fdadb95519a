"""A service killed mid-turn and restarted on the same port and CA file: the session recovers.

The restarted service presents the same certificate chain (kept beside the CA file), so the
running client, which trusted the CA when it started, reconnects as it would to a real service
coming back; the turn then completes within its retry policy with every sentence spoken, at
most the one in flight twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.config import DEFAULT_CREDENTIALS
from polly_pipeline.session.events import RetryPolicy, StreamRetry
from polly_pipeline.session.session import SpeechSession
from tests.conftest import TEST_TIMEOUTS

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

DRIVER = Path(__file__).with_name("restart_service.py")
TEXTS = [f"Restart sentence number {i} is spoken here. " for i in range(6)]
RETRY = RetryPolicy(max_attempts=8, base_delay=0.2, max_delay=1.0, jitter=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServiceProcess:
    """The driver in a subprocess; ``spoken`` collects what every run of it spoke."""

    def __init__(self, port: int, ca_file: Path, spoken: list[str]) -> None:
        self.port, self.ca_file, self.spoken = port, ca_file, spoken
        self.ready = asyncio.Event()
        self.first_spoken = asyncio.Event()
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.ready.clear()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(DRIVER),
            str(self.port),
            str(self.ca_file),
            stdout=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read(self.proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode().rstrip("\n")
            if line == "ready":
                self.ready.set()
            elif line.startswith("spoken "):
                self.spoken.append(line.removeprefix("spoken ").strip('"'))
                self.first_spoken.set()

    async def kill(self) -> None:
        assert self.proc is not None
        assert self._reader is not None
        self.proc.kill()  # SIGKILL: no GOAWAY, no close_notify
        await self.proc.wait()
        await self._reader

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    proc = ServiceProcess(free_port(), tmp_path / "ca.pem", [])
    await proc.start()
    await asyncio.wait_for(proc.ready.wait(), 30)
    try:
        yield proc
    finally:
        await proc.stop()


async def test_a_session_mid_turn_survives_a_kill_and_restart(service: ServiceProcess) -> None:
    ca_before = service.ca_file.read_bytes()
    client = PollyStreamingClient(
        region="us-east-1",
        endpoint_url=f"https://127.0.0.1:{service.port}",
        credentials=DEFAULT_CREDENTIALS,
        ca_file=str(service.ca_file),
        timeouts=TEST_TIMEOUTS,
    )
    session = SpeechSession(client, voice_id="Joanna", retry=RETRY, seed=3)
    try:
        turn = await session.begin_turn()

        async def feed() -> None:
            for i, text in enumerate(TEXTS):
                await turn.send(text, flush=i == 0)
            await turn.finish()

        async def restart_once_one_sentence_is_spoken() -> None:
            await service.first_spoken.wait()
            await service.kill()
            await service.start()

        feeder = asyncio.create_task(feed())
        restarter = asyncio.create_task(restart_once_one_sentence_is_spoken())
        chunks = [chunk async for chunk in turn.audio()]
        await feeder
        await restarter
    finally:
        await session.aclose()
        await client.aclose()

    assert service.ca_file.read_bytes() == ca_before  # the restart kept the CA
    assert any(isinstance(e, StreamRetry) for e in session.history)  # the kill was felt
    assert sum(c.seconds for c in chunks) > 10  # six sentences of speech
    spoken = "".join(service.spoken)
    counts = [spoken.count(text.strip()) for text in TEXTS]
    assert all(n >= 1 for n in counts), counts  # every sentence spoken
    assert sum(counts) <= len(TEXTS) + 1, counts  # at most the one in flight twice


async def test_a_restart_reuses_the_ca_and_the_server_key(service: ServiceProcess) -> None:
    state = service.ca_file.with_name("ca.pem.server.pem")
    before = service.ca_file.read_bytes(), state.read_bytes()
    assert state.stat().st_mode & 0o077 == 0  # the key is the owner's alone
    await service.kill()
    await service.start()
    await asyncio.wait_for(service.ready.wait(), 30)
    assert (service.ca_file.read_bytes(), state.read_bytes()) == before
    with contextlib.suppress(FileNotFoundError):
        state.unlink()  # without the kept key a new CA is made (and kept)
    await service.kill()
    await service.start()
    await asyncio.wait_for(service.ready.wait(), 30)
    assert service.ca_file.read_bytes() != before[0]
    assert state.exists()
