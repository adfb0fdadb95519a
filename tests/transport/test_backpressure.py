"""Backpressure: nothing is pulled or buffered far ahead, and waiting costs no CPU."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from polly_pipeline.local.http import Request, RequestBody, Responder
from polly_pipeline.local.http.http2 import STREAM_WINDOW
from polly_pipeline.transport import ConnectionPool, Timeouts, TLSConfig
from polly_pipeline.transport.connection import RECEIVE_WINDOW

from .conftest import SlowReader, StartServer, endpoint, queue_body

pytestmark = pytest.mark.timeout(30)

CHUNK = 32 * 1024


@pytest.fixture
async def patient_pool(ca_file: str) -> AsyncIterator[ConnectionPool]:
    pool = ConnectionPool(timeouts=Timeouts(read=10, write=10), tls=TLSConfig(ca_file=ca_file))
    yield pool
    await pool.aclose()


async def test_request_body_is_pulled_only_as_the_server_consumes(
    serve: StartServer, patient_pool: ConnectionPool
) -> None:
    pulled = 0
    worst_lead = 0

    reader = SlowReader()
    server = await serve(reader)

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled, worst_lead
        for _ in range(64):  # 2 MiB
            worst_lead = max(worst_lead, pulled - reader.consumed)
            pulled += CHUNK
            yield b"x" * CHUNK

    stream = await patient_pool.open_stream(
        endpoint(server), method="POST", path="/", headers=[], body=body()
    )
    async with stream:
        await stream.response()
        assert b"".join([c async for c in stream]) == b"%d" % (64 * CHUNK)
    # in flight at most: the server's stream window plus the chunk being written
    assert worst_lead <= STREAM_WINDOW + 2 * CHUNK
    assert worst_lead >= STREAM_WINDOW // 2  # and the window was actually used


async def test_response_is_sent_only_as_the_client_consumes(
    serve: StartServer, patient_pool: ConnectionPool
) -> None:
    sent = 0
    received = 0
    worst_lead = 0

    async def fast_writer(request: Request, body: RequestBody, responder: Responder) -> None:
        nonlocal sent, worst_lead
        await responder.send_headers(200)
        for _ in range(128):  # 4 MiB
            await responder.send_data(b"y" * CHUNK)  # returns once the client has room
            sent += CHUNK
            worst_lead = max(worst_lead, sent - received)

    server = await serve(fast_writer)
    stream = await patient_pool.open_stream(endpoint(server), method="GET", path="/", headers=[])
    async with stream:
        await stream.response()
        async for chunk in stream:
            received += len(chunk)
            await asyncio.sleep(0.002)
    assert received == 128 * CHUNK
    assert worst_lead <= RECEIVE_WINDOW + 2 * CHUNK


async def test_an_idle_open_stream_burns_no_cpu(serve: StartServer, pool: ConnectionPool) -> None:
    async def waits(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        async for chunk in body:
            await responder.send_data(chunk)

    server = await serve(waits)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    stream = await pool.open_stream(
        endpoint(server), method="POST", path="/", headers=[], body=queue_body(queue)
    )
    async with stream:
        await stream.response()
        await queue.put(b"hi")
        assert await anext(stream.__aiter__()) == b"hi"
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(1.0)  # body generator waiting, response waiting, nothing to do
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        await queue.put(None)
        assert [c async for c in stream] == []
    assert cpu < 0.3 * wall
