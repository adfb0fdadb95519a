"""A body that says when it has data (ReadyBody) is written at once, in order, and bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Self

import pytest

from polly_pipeline.local.http import HttpServer
from polly_pipeline.transport import ConnectionPool, Http2Stream, ReadyBody, Timeouts, TLSConfig
from polly_pipeline.transport.writes import AHEAD

from .conftest import SlowReader, StartServer, endpoint
from .test_echo import echo

pytestmark = pytest.mark.timeout(30)


class Body:
    """A ReadyBody fed by ``put``; ``end()`` finishes it. Records what the transport took."""

    def __init__(self) -> None:
        self.queued: list[bytes] = []
        self.taken: list[bytes] = []
        self.ended = False
        self.complete = False
        self.listener: Callable[[], None] | None = None
        self.fail_with: Exception | None = None

    def put(self, data: bytes) -> None:
        self.queued.append(data)
        if self.listener is not None:
            self.listener()

    def end(self) -> None:
        self.ended = True
        if self.listener is not None:
            self.listener()

    def take(self) -> bytes:
        if self.fail_with is not None:
            raise self.fail_with
        data = b"".join(self.queued)
        self.queued.clear()
        if data:
            self.taken.append(data)
        self.complete = self.ended
        return data

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        self.listener = listener

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:  # only used by transports that pull
        raise AssertionError("the awscrt transport does not pull a ReadyBody")


async def open_with(pool: ConnectionPool, server: HttpServer, body: Body) -> Http2Stream:
    return await pool.open_stream(endpoint(server), method="POST", path="/", headers=[], body=body)


@pytest.fixture
async def echoing(serve: StartServer, pool: ConnectionPool) -> tuple[Body, Http2Stream]:
    """A Body and the stream it feeds, to a server that echoes it."""
    body = Body()
    return body, await open_with(pool, await serve(echo), body)


async def test_each_chunk_is_taken_when_it_is_put_and_echoed_in_order(
    echoing: tuple[Body, Http2Stream],
) -> None:
    body, stream = echoing
    assert isinstance(body, ReadyBody)
    async with stream:
        assert (await stream.response()).status == 200
        chunks = stream.__aiter__()
        for word in (b"one", b"two", b"three"):
            body.put(word)
            assert body.queued == []  # taken at once: no task had to run for it
            assert await anext(chunks) == word
        body.end()
        with pytest.raises(StopAsyncIteration):
            await anext(chunks)
    assert body.taken == [b"one", b"two", b"three"]
    assert body.listener is None  # the stream let go of the body


async def test_what_is_put_while_a_write_is_pending_goes_out_in_one_write(
    echoing: tuple[Body, Http2Stream],
) -> None:
    body, stream = echoing
    async with stream:
        body.put(b"first ")  # written at once
        for word in (b"a ", b"b ", b"c"):  # a write is pending: these wait for the loop
            body.put(word)
        body.end()
        echoed = b"".join([chunk async for chunk in stream])
    assert echoed == b"first a b c"
    assert body.taken == [b"first ", b"a b c"]


async def test_a_body_that_raises_fails_the_stream_with_its_error(
    echoing: tuple[Body, Http2Stream],
) -> None:
    body, stream = echoing
    async with stream:
        body.fail_with = ValueError("cannot sign")
        body.put(b"x")
        with pytest.raises(ValueError, match="cannot sign"):
            async for _ in stream:
                pass
    assert body.listener is None


async def test_closing_the_stream_stops_taking_from_the_body(
    echoing: tuple[Body, Http2Stream],
) -> None:
    body, stream = echoing
    body.put(b"x")
    await stream.aclose()
    body.put(b"late")
    assert body.taken == [b"x"]
    assert body.queued == [b"late"]


async def test_the_body_is_not_taken_while_the_connection_is_behind(
    serve: StartServer, ca_file: str
) -> None:
    chunk = 32 * 1024
    most_waiting = 0

    server = await serve(SlowReader())
    body = Body()
    pool = ConnectionPool(timeouts=Timeouts(read=10, write=10), tls=TLSConfig(ca_file=ca_file))
    async with pool:
        stream = await open_with(pool, server, body)
        async with stream:
            for _ in range(64):  # 2 MiB, put as fast as the producer can
                body.put(b"x" * chunk)
                await asyncio.sleep(0)
                most_waiting = max(most_waiting, len(body.queued))
            body.end()
            await stream.response()
            assert b"".join([c async for c in stream]) == b"%d" % (64 * chunk)
    assert most_waiting * chunk > AHEAD  # the transport stopped taking while it was behind
    assert len(body.taken) < 64  # and then took what had waited in one go
