"""``polly-pipeline local`` with an account's limits: ``--max-streams`` and ``--credentials-ttl``.

The command runs as a user runs it (a subprocess); a real client talks to it over TLS.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.client.refreshable import RefreshingCredentials
from polly_pipeline.errors import ThrottlingException
from polly_pipeline.local.admission import CONCURRENCY_REASON
from polly_pipeline.local.config import DEFAULT_CREDENTIALS
from tests.client.counting import RELAXED

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

#: long enough that the file, rewritten every half TTL, never holds a set inside the
#: mandatory refresh window, even when a loaded machine rewrites it late
TTL = 6.0


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "polly_pipeline.cli", "local", *args]


@asynccontextmanager
async def local_command(*args: str) -> AsyncIterator[str]:
    """Run ``polly-pipeline local ARGS`` until the block ends; yields its endpoint."""
    proc = await asyncio.create_subprocess_exec(
        *command("--port", "0", *args), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        endpoint = ""
        async with asyncio.timeout(30):
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, "the service exited before it was ready"
                if line.split()[:1] == ["endpoint"]:
                    endpoint = line.split()[1]
                if line.startswith("Press Ctrl-C"):
                    break
        yield endpoint
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                await proc.wait()
    assert proc.returncode == 0


def read_json(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def written_yet(path: Path) -> bool:
    return path.exists()


async def wait_for(path: Path) -> None:
    """The service writes the credentials file just after it says it is ready."""
    async with asyncio.timeout(10):
        while True:
            if written_yet(path):
                return
            await asyncio.sleep(0.05)


def from_file(path: Path, fetched: list[str]) -> RefreshingCredentials:
    """Temporary credentials read from the file the service rewrites every half TTL."""

    def fetch() -> dict[str, Any]:
        document = read_json(path)
        fetched.append(document["AccessKeyId"])
        return document

    # botocore's windows scaled to the TTL: refresh 3 s before expiry, must refresh at 2 s
    return RefreshingCredentials(fetch, advisory_timeout=3.0, mandatory_timeout=2.0)


async def speak(client: PollyStreamingClient, text: str) -> bytes:
    out = bytearray()
    async for chunk in client.start_speech_synthesis_stream(text=text, voice_id="Joanna"):
        out += chunk
    return bytes(out)


async def speak_when_free(client: PollyStreamingClient, text: str) -> bytes:
    """Speak once the service has let go of the stream that just ended (it may take a moment
    after the client saw the end: poll, with a deadline)."""
    async with asyncio.timeout(10):
        while True:
            try:
                return await speak(client, text)
            except ThrottlingException:
                await asyncio.sleep(0.05)


async def test_max_streams_refuses_the_stream_over_the_limit(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    async with local_command("--ca-file", str(ca_file), "--max-streams", "1") as endpoint:
        clients = [
            PollyStreamingClient(
                region="us-east-1",
                endpoint_url=endpoint,
                ca_file=str(ca_file),
                credentials=DEFAULT_CREDENTIALS,
                timeouts=RELAXED,
            )
            for _ in range(2)
        ]
        try:
            held = await clients[0].open_stream(voice_id="Joanna")
            with pytest.raises(ThrottlingException) as refused:
                await clients[1].open_stream(voice_id="Joanna")  # another connection
            assert refused.value.throttling_reasons == (CONCURRENCY_REASON,)
            await held.end_input()
            async for _ in held:
                pass
            await held.aclose()
            assert await speak_when_free(clients[1], "The slot came free.")
        finally:
            for client in clients:
                await client.aclose()


async def test_credentials_ttl_hands_out_expiring_sets_a_client_refreshes(
    tmp_path: Path,
) -> None:
    ca_file = tmp_path / "ca.pem"
    written = Path(f"{ca_file}.credentials.json")
    fetched: list[str] = []
    async with local_command("--ca-file", str(ca_file), "--credentials-ttl", str(TTL)) as endpoint:
        await wait_for(written)
        document = read_json(written)
        assert set(document) >= {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
        client = PollyStreamingClient(
            region="us-east-1",
            endpoint_url=endpoint,
            ca_file=str(ca_file),
            credentials=from_file(written, fetched),
            timeouts=RELAXED,
        )
        try:
            for n in range(2):
                if n:
                    await asyncio.sleep(TTL)  # the set the last stream used has expired
                assert await speak(client, f"Turn {n} with temporary keys.")
        finally:
            await client.aclose()
    assert len(set(fetched)) >= 2  # the sets rotated, and every stream was accepted


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_max_streams_must_be_a_whole_number_of_at_least_one(value: str) -> None:
    result = subprocess.run(
        command("--max-streams", value), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "--max-streams" in result.stderr
    assert "whole number >= 1" in result.stderr
    assert "Traceback" not in result.stderr
