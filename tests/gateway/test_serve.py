"""``polly-pipeline serve``: uvicorn with worker processes, each with its own backend."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
import sys

import httpx2 as httpx
import pytest
from websockets.asyncio.client import connect

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.gateway import create_app
from polly_pipeline.gateway.embedded import serving
from polly_pipeline.gateway.server import app_from_environment
from tests.gateway.client import SpeakClient


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
async def test_serve_runs_two_workers_that_each_speak_and_stop_on_sigterm() -> None:
    port = _free_port()
    env = {**os.environ, "POLLY_PIPELINE_GATEWAY_TOKEN": ""}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polly_pipeline.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        "--backend",
        "local",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        pids: set[int] = set()
        async with asyncio.timeout(60):
            while len(pids) < 2:
                with contextlib.suppress(httpx.TransportError):
                    async with httpx.AsyncClient() as http:
                        health = (await http.get(f"http://127.0.0.1:{port}/health")).json()
                    assert health["status"] == "ok"
                    assert health["backend"] == "local"
                    pids.add(health["pid"])
                await asyncio.sleep(0.1)
        assert process.pid not in pids  # the workers answer, not the supervisor
        async with connect(f"ws://127.0.0.1:{port}/v1/speak") as ws:
            speak = SpeakClient(ws)
            assert (await speak.start(voice="Joanna", format="pcm"))["type"] == "ready"
            turn = await speak.say("Served by a worker process.")
            assert len(turn.audio) > 16000
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    log = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    paths = {entry["path"] for entry in log}
    assert {"/health", "/v1/speak"} <= paths
    speak_entry = next(e for e in log if e["path"] == "/v1/speak")
    assert speak_entry["status"] == 101
    assert speak_entry["conversation"]["turns"] == 1


async def test_on_started_runs_once_with_the_backend_open_before_the_first_conversation(
    polly: PollyStreamingClient,
) -> None:
    calls: list[object] = []
    app = create_app(polly=polly, on_started=lambda: calls.append(app.state.polly))
    async with serving(app) as served, connect(served.speak_url) as ws:
        assert calls == [polly]  # the worker's start-up is done before anyone is served
        speak = SpeakClient(ws)
        assert (await speak.start(voice="Joanna", format="pcm"))["type"] == "ready"
    assert calls == [polly]


def test_a_serve_worker_freezes_its_start_up_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its full garbage collections then leave the objects it keeps for life alone."""
    seen: list[object] = []
    monkeypatch.setattr(
        "polly_pipeline.gateway.server.create_app",
        lambda config, on_started: seen.append(on_started),
    )
    app_from_environment()
    assert seen == [gc.freeze]
