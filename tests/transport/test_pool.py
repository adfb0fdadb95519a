"""The pool reuses connections, never queues a stream behind a full one, and drops dead ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from polly_pipeline.errors import ConnectionClosedError
from polly_pipeline.local.http import Request, RequestBody, Responder
from polly_pipeline.transport import ConnectionPool, Endpoint, Http2Stream, TLSConfig

from .conftest import FAST, StartServer, endpoint, eventually, queue_body

pytestmark = pytest.mark.timeout(20)


async def echo(request: Request, body: RequestBody, responder: Responder) -> None:
    await responder.send_headers(200)
    async for chunk in body:
        await responder.send_data(chunk)


async def one_shot(pool: ConnectionPool, where: Endpoint, **kwargs: object) -> int:
    """Send one small request, read the answer; returns the connection id used."""

    async def body() -> AsyncIterator[bytes]:
        yield b"ping"

    stream = await pool.open_stream(
        where,
        method="POST",
        path="/",
        headers=[],
        body=body(),
        **kwargs,  # type: ignore[arg-type]
    )
    async with stream:
        await stream.response()
        assert b"".join([c async for c in stream]) == b"ping"
    return stream.connection_id


async def test_sequential_streams_reuse_one_connection(
    serve: StartServer, pool: ConnectionPool
) -> None:
    server = await serve(echo)
    first = await one_shot(pool, endpoint(server))
    second = await one_shot(pool, endpoint(server))
    assert first == second
    assert pool.stats().connections_created == 1  # the server also counts TLS probes
    assert pool.stats().connections_open == 1
    assert pool.stats().streams_active == 0


async def _concurrent(pool: ConnectionPool, where: Endpoint, count: int) -> list[int]:
    """Open ``count`` streams that all stay open until every one of them is open."""
    queues = [asyncio.Queue[bytes | None]() for _ in range(count)]
    streams: list[Http2Stream] = []
    for queue in queues:
        stream = await pool.open_stream(
            where, method="POST", path="/", headers=[], body=queue_body(queue)
        )
        streams.append(stream)
    # all open at once; now every stream does a round trip and ends
    for index, (queue, stream) in enumerate(zip(queues, streams, strict=True)):
        await queue.put(b"%d" % index)
        assert await anext(stream.__aiter__()) == b"%d" % index
    for queue in queues:
        await queue.put(None)
    for stream in streams:
        assert [c async for c in stream] == []
        await stream.aclose()
    return [s.connection_id for s in streams]


async def test_a_full_connection_is_never_queued_on(
    serve: StartServer, pool: ConnectionPool
) -> None:
    server = await serve(echo, max_concurrent_streams=1)
    async with asyncio.timeout(8):
        ids = await _concurrent(pool, endpoint(server), 3)
    assert len(set(ids)) == 3
    assert pool.stats().connections_created == 3  # the server also counts TLS probes


async def test_streams_fill_connections_up_to_the_server_limit(
    serve: StartServer, pool: ConnectionPool
) -> None:
    server = await serve(echo, max_concurrent_streams=2)
    async with asyncio.timeout(8):
        ids = await asyncio.gather(
            *(one_shot_held(pool, endpoint(server), gate) for gate in _gates(4))
        )
    assert len(set(ids)) == 2
    assert pool.stats().connections_created == 2  # the server also counts TLS probes


def _gates(count: int) -> list[asyncio.Barrier]:
    barrier = asyncio.Barrier(count)
    return [barrier] * count


async def one_shot_held(pool: ConnectionPool, where: Endpoint, gate: asyncio.Barrier) -> int:
    """A stream opened concurrently with others and held open until all are open."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    stream = await pool.open_stream(
        where, method="POST", path="/", headers=[], body=queue_body(queue)
    )
    async with stream:
        await gate.wait()
        await queue.put(b"x")
        assert await anext(stream.__aiter__()) == b"x"
        await queue.put(None)
        assert [c async for c in stream] == []
    return stream.connection_id


async def test_a_connection_that_got_goaway_is_not_reused(
    serve: StartServer, pool: ConnectionPool
) -> None:
    async def answer_then_goaway(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_data(await body.read_all(100))
        await responder.end()
        responder.connection.goaway()

    server = await serve(answer_then_goaway)
    first = await one_shot(pool, endpoint(server))
    await asyncio.sleep(0.1)  # the GOAWAY arrives (the server closes a little later)
    second = await one_shot(pool, endpoint(server))
    assert first != second
    assert pool.stats().connections_created == 2  # the server also counts TLS probes


async def test_goaway_mid_stream_then_a_new_stream_gets_a_new_connection(
    serve: StartServer, pool: ConnectionPool
) -> None:
    calls = 0

    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await responder.send_headers(200)
            responder.connection.goaway()
            return
        await echo(request, body, responder)

    server = await serve(handler)
    async with await pool.open_stream(endpoint(server), method="POST", path="/", headers=[]) as s:
        await s.response()
        with pytest.raises(ConnectionClosedError):
            await anext(s.__aiter__())
    await one_shot(pool, endpoint(server))
    assert pool.stats().connections_created == 2  # the server also counts TLS probes


async def test_dedicated_connection_closes_with_its_stream(
    serve: StartServer, pool: ConnectionPool
) -> None:
    server = await serve(echo)
    pooled = await one_shot(pool, endpoint(server))
    dedicated = await one_shot(pool, endpoint(server), use_pool=False)
    assert dedicated != pooled
    await eventually(lambda: server.active_connections == 1)
    assert pool.stats().connections_open == 1
    assert await one_shot(pool, endpoint(server)) == pooled


async def test_pool_size_bounds_idle_connections(serve: StartServer, ca_file: str) -> None:
    server = await serve(echo, max_concurrent_streams=1)
    async with ConnectionPool(pool_size=1, timeouts=FAST, tls=TLSConfig(ca_file=ca_file)) as pool:
        ids = await asyncio.gather(
            *(one_shot_held(pool, endpoint(server), gate) for gate in _gates(3))
        )
        assert len(set(ids)) == 3
        await eventually(lambda: pool.stats().connections_open == 1)
        await eventually(lambda: server.active_connections == 1)
        assert pool.stats().connections_created == 3


async def test_abandoning_a_stream_retires_a_shared_connection(
    serve: StartServer, pool: ConnectionPool
) -> None:
    server = await serve(echo, max_concurrent_streams=10)
    keep_q: asyncio.Queue[bytes | None] = asyncio.Queue()
    drop_q: asyncio.Queue[bytes | None] = asyncio.Queue()
    where = endpoint(server)
    keep = await pool.open_stream(
        where, method="POST", path="/", headers=[], body=queue_body(keep_q)
    )
    drop = await pool.open_stream(
        where, method="POST", path="/", headers=[], body=queue_body(drop_q)
    )
    assert keep.connection_id == drop.connection_id
    await drop.aclose()  # unfinished: cannot be reset, so its connection takes no new streams
    other = await one_shot(pool, where)
    assert other != keep.connection_id
    await keep_q.put(b"still here")
    assert await anext(keep.__aiter__()) == b"still here"  # the other stream is unharmed
    await keep_q.put(None)
    assert [c async for c in keep] == []
    await keep.aclose()
    await eventually(lambda: server.active_connections == 1)  # retired one closed when done


async def test_stats_and_close(serve: StartServer, ca_file: str) -> None:
    server = await serve(echo)
    pool = ConnectionPool(timeouts=FAST, tls=TLSConfig(ca_file=ca_file))
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    stream = await pool.open_stream(
        endpoint(server), method="POST", path="/", headers=[], body=queue_body(queue)
    )
    await stream.response()
    stats = pool.stats()
    assert (stats.connections_open, stats.streams_active, stats.connections_created) == (1, 1, 1)
    await pool.aclose()
    await pool.aclose()  # idempotent
    assert pool.stats().connections_open == 0
    with pytest.raises(Exception, match="closed"):
        await anext(stream.__aiter__())
    with pytest.raises(Exception, match="closed"):
        await pool.open_stream(endpoint(server), method="GET", path="/", headers=[])
    await eventually(lambda: server.active_connections == 0)
