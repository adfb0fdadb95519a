"""Requests and responses flow at the same time, intact, in both directions."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from polly_pipeline.local.http import Request, RequestBody, Responder
from polly_pipeline.transport import ConnectionPool, Timeouts, TLSConfig

from .conftest import StartServer, echo, endpoint, queue_body

pytestmark = pytest.mark.timeout(20)


async def test_echo_of_each_chunk_arrives_before_the_next_is_sent(
    serve: StartServer, pool: ConnectionPool
) -> None:
    server = await serve(echo)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    async with asyncio.timeout(5):
        stream = await pool.open_stream(
            endpoint(server), method="POST", path="/echo", headers=[], body=queue_body(queue)
        )
        async with stream:
            assert (await stream.response()).status == 200
            chunks = stream.__aiter__()
            for word in (b"one", b"two", b"three"):
                await queue.put(word)  # the next word does not exist until this echo is back
                assert await anext(chunks) == word
            await queue.put(None)
            with pytest.raises(StopAsyncIteration):
                await anext(chunks)


async def test_request_head_reaches_the_handler(serve: StartServer, pool: ConnectionPool) -> None:
    seen: list[Request] = []

    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        seen.append(request)
        await responder.send_headers(201, [("X-Reply", "yes"), ("content-type", "text/plain")])
        await responder.send_data(await body.read_all(1000))

    server = await serve(handler)

    async def body() -> AsyncIterator[bytes]:
        yield b"payload"

    stream = await pool.open_stream(
        endpoint(server),
        method="POST",
        path="/v1/thing?a=1&b=two",
        headers=[("X-Custom", "Value"), ("content-type", "application/x-test")],
        body=body(),
    )
    async with stream:
        response = await stream.response()
        assert response.status == 201
        assert response.header("x-reply") == "yes"
        assert response.header("X-REPLY") == "yes"
        assert all(not name.startswith(":") for name, _ in response.headers)
        assert b"".join([c async for c in stream]) == b"payload"
    [request] = seen
    assert (request.method, request.path, request.query) == ("POST", "/v1/thing", "a=1&b=two")
    assert request.http_version == "2"
    assert request.stream_id == 1
    assert request.header("host") == f"127.0.0.1:{server.port}"
    assert request.header("x-custom") == "Value"
    assert request.header("Content-Type") == "application/x-test"
    assert all(not name.startswith(":") for name, _ in request.headers)


async def test_request_without_body(serve: StartServer, pool: ConnectionPool) -> None:
    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        data = await body.read_all(10)
        await responder.send_data(b"got %d bytes" % len(data))

    server = await serve(handler)
    stream = await pool.open_stream(endpoint(server), method="GET", path="/", headers=[])
    async with stream:
        assert (await stream.response()).status == 200
        assert b"".join([c async for c in stream]) == b"got 0 bytes"


@pytest.mark.parametrize("size", [6 * 1024 * 1024])
async def test_large_bodies_arrive_intact_both_ways(
    serve: StartServer, ca_file: str, size: int
) -> None:
    # Client and server share one process here, so they fight over the GIL: give the
    # transfer generous deadlines; this test is about integrity.
    pool = ConnectionPool(timeouts=Timeouts(read=10, write=10), tls=TLSConfig(ca_file=ca_file))
    payload = os.urandom(size)
    received = hashlib.sha256()

    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        async for chunk in body:
            received.update(chunk)
        blob = os.urandom(size)
        await responder.send_data(hashlib.sha256(blob).digest())
        for start in range(0, size, 100_000):
            await responder.send_data(blob[start : start + 100_000])

    server = await serve(handler)

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, size, 250_000):
            yield payload[start : start + 250_000]

    try:
        async with asyncio.timeout(15):
            stream = await pool.open_stream(
                endpoint(server), method="PUT", path="/blob", headers=[], body=body()
            )
            async with stream:
                await stream.response()
                data = b"".join([c async for c in stream])
    finally:
        await pool.aclose()
    assert received.digest() == hashlib.sha256(payload).digest()
    digest, blob = data[:32], data[32:]
    assert len(blob) == size
    assert hashlib.sha256(blob).digest() == digest
