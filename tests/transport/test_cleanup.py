"""After closing the pool and the server nothing is left running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.http import HttpServer, Request, RequestBody, Responder
from polly_pipeline.transport import ConnectionPool, TLSConfig

from .conftest import FAST, endpoint, queue_body

pytestmark = pytest.mark.timeout(20)


async def test_nothing_is_left_running(tls: TLSMaterial, ca_file: str) -> None:
    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        async for chunk in body:
            await responder.send_data(chunk)
        await asyncio.Event().wait()  # never ends on its own

    server = HttpServer(handler, tls=tls, max_concurrent_streams=2)
    await server.start()
    pool = ConnectionPool(timeouts=FAST, tls=TLSConfig(ca_file=ca_file))
    queues = [asyncio.Queue[bytes | None]() for _ in range(3)]
    streams = [
        await pool.open_stream(
            endpoint(server), method="POST", path="/", headers=[], body=queue_body(q)
        )
        for q in queues
    ]
    for queue, stream in zip(queues, streams, strict=True):
        await queue.put(b"x")
        assert await anext(stream.__aiter__()) == b"x"

    async def idle_body() -> AsyncIterator[bytes]:
        await asyncio.Event().wait()
        yield b""

    await pool.open_stream(endpoint(server), method="POST", path="/", headers=[], body=idle_body())
    assert server.active_connections == 2

    await pool.aclose()
    await server.aclose()
    await server.aclose()  # idempotent
    assert server.active_connections == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}
