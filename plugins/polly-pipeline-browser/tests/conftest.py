"""Shared fixtures: a client of the local Polly service, paced tokens, and headless Chromium.

Chromium runs as a plain subprocess (no browser automation library): it opens the sink's
page, and the page itself reports what it did over the sink's WebSocket. Without Chromium
the browser tests skip, unless ``POLLY_REQUIRE_BROWSER=1`` makes them fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local import DemoLLMConfig, LocalPollyService
from polly_pipeline.session import SpeechSession
from polly_pipeline.testing import split_tokens
from polly_pipeline.transport import Timeouts

TEST_TIMEOUTS = Timeouts(connect=3.0, response_headers=2.0, read=2.0, write=2.0, close=1.0)

#: The flags a headless test browser needs: no sandbox (containers), no first-run or
#: background traffic, and audio allowed to start without a click.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
)


@pytest.fixture(autouse=True)
def _isolated(no_ambient_aws: None) -> None:
    """Tests never see the developer's AWS configuration or reach instance metadata."""


@pytest.fixture
async def polly(local_polly: LocalPollyService) -> AsyncIterator[PollyStreamingClient]:
    """A client pointed at the local service, closed after the test."""
    client = local_polly.client(timeouts=TEST_TIMEOUTS)
    try:
        yield client
    finally:
        await client.aclose()


def pcm_session(client: PollyStreamingClient) -> SpeechSession:
    """A session that delivers 16 kHz pcm."""
    return SpeechSession(client, voice_id="Joanna", output_format="pcm")


async def paced_tokens(text: str, pace: DemoLLMConfig | None = None) -> AsyncIterator[str]:
    """``text`` in word-piece tokens at the demo model's pace (first-token delay, then rate)."""
    pace = pace or DemoLLMConfig()
    await asyncio.sleep(pace.first_token_delay)
    for token in split_tokens(text, pace.seed):
        yield token
        await asyncio.sleep(1 / pace.tokens_per_second)


def _log_file(path: Path) -> BinaryIO:
    return path.open("wb")


class Chromium:
    """Opens pages in headless Chromium processes and kills them all at the end."""

    def __init__(self, executable: str, workdir: Path) -> None:
        self.executable = executable
        self.workdir = workdir
        self.processes: list[asyncio.subprocess.Process] = []

    async def open(self, url: str) -> asyncio.subprocess.Process:
        """Open ``url`` in a new browser (its own profile, its own process group)."""
        n = len(self.processes)
        profile = self.workdir / f"chromium-profile-{n}"
        profile.mkdir()
        with _log_file(self.workdir / f"chromium-{n}.log") as log:
            process = await asyncio.create_subprocess_exec(
                self.executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                url,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # a group of its own: its helpers die with it
            )
        self.processes.append(process)
        return process

    async def close(self, process: asyncio.subprocess.Process) -> None:
        """Stop one browser and every process it started; waits at most a few seconds."""
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                async with asyncio.timeout(grace):
                    await process.wait()
                break
            except TimeoutError:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # helpers that outlived the main process

    async def close_all(self) -> None:
        """Stop every browser opened."""
        for process in self.processes:
            await self.close(process)


def chromium_executable() -> str | None:
    """Chromium's path: ``POLLY_CHROMIUM`` if set, else ``chromium`` on the PATH."""
    configured = os.environ.get("POLLY_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Chromium]:
    """Headless Chromium; skips when it is not installed (fails with POLLY_REQUIRE_BROWSER=1)."""
    executable = chromium_executable()
    if executable is None:
        reason = (
            "Chromium is not installed (Debian/Ubuntu: apt-get install chromium; or set "
            "POLLY_CHROMIUM to its path)"
        )
        if os.environ.get("POLLY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"POLLY_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    browser = Chromium(executable, tmp_path)
    try:
        yield browser
    finally:
        await browser.close_all()
