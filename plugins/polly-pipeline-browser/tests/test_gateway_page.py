"""The page in its gateway mode, served by ``polly-pipeline serve``'s app, in headless Chromium.

Chromium runs as a plain subprocess with its DevTools port open; the test reads what the page
did (``window.pollyGateway``: the turns it scheduled on its AudioContext, errors) over the
DevTools protocol with the ``websockets`` client, and clicks its buttons the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.gateway import create_app
from polly_pipeline.gateway.embedded import Serving, serving
from tests.conftest import CHROMIUM_FLAGS, chromium_executable

FLAGS = (*CHROMIUM_FLAGS, "--remote-debugging-port=0")
LONG = "This answer goes on for a long time, one sentence after another. " * 10

pytestmark = pytest.mark.browser


@pytest.fixture
async def gateway(polly: PollyStreamingClient) -> AsyncIterator[Serving]:
    async with serving(create_app(polly=polly)) as served:
        yield served


def _chromium() -> str:
    found = chromium_executable()
    if found is None:
        reason = "Chromium is not installed (apt-get install chromium, or set POLLY_CHROMIUM)"
        if os.environ.get("POLLY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"POLLY_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return found


class Page:
    """One page in its own headless Chromium, driven over the DevTools protocol."""

    def __init__(self, devtools: ClientConnection) -> None:
        self._devtools = devtools
        self._ids = 0

    async def evaluate(self, expression: str) -> Any:
        self._ids += 1
        await self._devtools.send(
            json.dumps(
                {
                    "id": self._ids,
                    "method": "Runtime.evaluate",
                    "params": {"expression": expression, "returnByValue": True},
                }
            )
        )
        async with asyncio.timeout(10):
            while True:
                reply = json.loads(await self._devtools.recv())
                if reply.get("id") == self._ids:
                    return reply["result"]["result"].get("value")

    async def state(self) -> dict[str, Any]:
        value = await self.evaluate("JSON.stringify(window.pollyGateway || null)")
        return json.loads(value) if value else {}

    async def until(self, what: str, check: Any, seconds: float = 30.0) -> dict[str, Any]:
        for _ in range(int(seconds / 0.1)):
            state = await self.state()
            if state and check(state):
                return state
            await asyncio.sleep(0.1)
        pytest.fail(f"the page never got to: {what} (last state: {await self.state()})")


@contextlib.asynccontextmanager
async def open_page(url: str, workdir: Path) -> AsyncIterator[Page]:
    profile = workdir / "profile"
    profile.mkdir()
    with (workdir / "chromium.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            _chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            url,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
                pages = [t for t in targets if t["type"] == "page" and "index.html" in t["url"]]
                if pages:
                    break
                await asyncio.sleep(0.1)
        async with connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as devtools:
            yield Page(devtools)
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await process.wait()
                    break


async def test_the_page_speaks_through_the_gateway_and_plays_every_second(
    gateway: Serving, tmp_path: Path
) -> None:
    url = f"{gateway.url}/?autoplay=1&voice=Matthew&say={quote('Hello from the gateway page.')}"
    async with open_page(url, tmp_path) as page:
        state = await page.until("turn 0 done", lambda s: s["turns"].get("0", {}).get("done"))
        assert state["ready"]["voice"] == "Matthew"
        assert state["errors"] == []
        turn = state["turns"]["0"]
        # every second the gateway sent was put on the page's AudioContext clock
        assert turn["seconds"] == pytest.approx(turn["metrics"]["audio_seconds"], abs=0.01)
        assert turn["seconds"] > 1.0
        assert turn["chunks"] >= 1


async def test_the_page_interrupts_a_long_answer(gateway: Serving, tmp_path: Path) -> None:
    url = f"{gateway.url}/?autoplay=1&say={quote(LONG)}"
    async with open_page(url, tmp_path) as page:
        await page.until("audio playing", lambda s: s["turns"].get("0", {}).get("chunks", 0) > 0)
        await page.evaluate("document.getElementById('interrupt').click()")
        state = await page.until(
            "interrupted", lambda s: s["turns"]["0"]["interrupted"], seconds=10
        )
        assert not state["turns"]["0"]["done"]
        # the page goes on: a typed question is a new turn
        await page.evaluate(
            "document.getElementById('text').value = 'And a new one.';"
            "document.querySelector('#ask button[type=submit]').click()"
        )
        state = await page.until("turn 1 done", lambda s: s["turns"].get("1", {}).get("done"))
        assert state["turns"]["1"]["seconds"] > 0.5
