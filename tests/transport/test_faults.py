"""Every fault ends in its own error, within its deadline, instead of a hang."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import AsyncIterator

import pytest

from polly_pipeline.errors import (
    ConnectError,
    ConnectionClosedError,
    NetworkTimeout,
    StreamResetError,
)
from polly_pipeline.local.http import Request, RequestBody, Responder
from polly_pipeline.transport import ConnectionPool, Endpoint, TLSConfig

from .conftest import FAST, StartServer, endpoint, eventually

pytestmark = pytest.mark.timeout(20)

#: Scheduling slack on top of a deadline.
MARGIN = 0.6


async def _forever() -> None:
    await asyncio.Event().wait()


async def reset_before_headers(request: Request, body: RequestBody, responder: Responder) -> None:
    responder.reset()


async def reset_mid_stream(request: Request, body: RequestBody, responder: Responder) -> None:
    await responder.send_headers(200)
    await responder.send_data(b"first")
    await asyncio.sleep(0.05)
    responder.reset()


async def goaway_mid_stream(request: Request, body: RequestBody, responder: Responder) -> None:
    await responder.send_headers(200)
    await responder.send_data(b"first")
    await asyncio.sleep(0.05)
    responder.connection.goaway()
    await _forever()


async def drop_before_headers(request: Request, body: RequestBody, responder: Responder) -> None:
    responder.connection.drop()


async def drop_mid_stream(request: Request, body: RequestBody, responder: Responder) -> None:
    await responder.send_headers(200)
    await responder.send_data(b"first")
    await asyncio.sleep(0.05)
    responder.connection.drop()


async def stall_before_headers(request: Request, body: RequestBody, responder: Responder) -> None:
    await _forever()


async def stall_mid_body(request: Request, body: RequestBody, responder: Responder) -> None:
    await responder.send_headers(200)
    await responder.send_data(b"first")
    await _forever()


async def test_reset_before_headers(serve: StartServer, pool: ConnectionPool) -> None:
    server = await serve(reset_before_headers)
    async with await pool.open_stream(endpoint(server), method="POST", path="/", headers=[]) as s:
        started = time.monotonic()
        with pytest.raises(StreamResetError) as caught:
            await s.response()
    assert caught.value.before_headers is True
    assert time.monotonic() - started < MARGIN  # promptly: not the response_headers deadline
    with pytest.raises(StreamResetError):  # and it stays failed
        await anext(s.__aiter__())


async def test_reset_mid_stream(serve: StartServer, pool: ConnectionPool) -> None:
    server = await serve(reset_mid_stream)
    async with await pool.open_stream(endpoint(server), method="POST", path="/", headers=[]) as s:
        assert (await s.response()).status == 200
        chunks = s.__aiter__()
        assert await anext(chunks) == b"first"
        started = time.monotonic()
        with pytest.raises(StreamResetError) as caught:
            await anext(chunks)
    assert caught.value.before_headers is False
    assert time.monotonic() - started < MARGIN


async def test_goaway_mid_stream(serve: StartServer, pool: ConnectionPool) -> None:
    server = await serve(goaway_mid_stream)
    async with await pool.open_stream(endpoint(server), method="POST", path="/", headers=[]) as s:
        await s.response()
        chunks = s.__aiter__()
        assert await anext(chunks) == b"first"
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError):
            await anext(chunks)
    assert time.monotonic() - started < FAST.read + MARGIN


@pytest.mark.parametrize("handler", [drop_before_headers, stall_before_headers])
async def test_before_headers_faults(
    serve: StartServer, pool: ConnectionPool, handler: object
) -> None:
    server = await serve(handler)
    async with await pool.open_stream(endpoint(server), method="POST", path="/", headers=[]) as s:
        started = time.monotonic()
        if handler is drop_before_headers:
            with pytest.raises(ConnectionClosedError):
                await s.response()
            assert time.monotonic() - started < MARGIN
        else:
            with pytest.raises(NetworkTimeout) as caught:
                await s.response()
            assert caught.value.phase == "response_headers"
            elapsed = time.monotonic() - started
            assert FAST.response_headers - 0.05 <= elapsed < FAST.response_headers + MARGIN


async def test_drop_mid_stream(serve: StartServer, pool: ConnectionPool) -> None:
    server = await serve(drop_mid_stream)
    async with await pool.open_stream(endpoint(server), method="POST", path="/", headers=[]) as s:
        await s.response()
        chunks = s.__aiter__()
        assert await anext(chunks) == b"first"
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError):
            await anext(chunks)
    assert time.monotonic() - started < MARGIN


async def test_stall_mid_body(serve: StartServer, pool: ConnectionPool) -> None:
    server = await serve(stall_mid_body)
    async with await pool.open_stream(endpoint(server), method="POST", path="/", headers=[]) as s:
        await s.response()
        chunks = s.__aiter__()
        assert await anext(chunks) == b"first"
        started = time.monotonic()
        with pytest.raises(NetworkTimeout) as caught:
            await anext(chunks)
    assert caught.value.phase == "read"
    assert FAST.read - 0.05 <= time.monotonic() - started < FAST.read + MARGIN


async def test_server_not_reading_the_body_hits_the_write_deadline(
    serve: StartServer, ca_file: str
) -> None:
    timeouts = dataclasses.replace(FAST, read=5.0, write=0.5)
    pool = ConnectionPool(timeouts=timeouts, tls=TLSConfig(ca_file=ca_file))

    async def never_reads(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        await _forever()

    server = await serve(never_reads)

    async def body() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536

    started = time.monotonic()
    try:
        stream = await pool.open_stream(
            endpoint(server), method="POST", path="/", headers=[], body=body()
        )
        async with stream:
            await stream.response()
            with pytest.raises(NetworkTimeout) as caught:
                async for _ in stream:
                    pass
    finally:
        await pool.aclose()
    assert caught.value.phase == "write"
    assert time.monotonic() - started < timeouts.write + 2 * MARGIN


async def test_body_iterator_error_propagates_from_the_response_side(
    serve: StartServer, pool: ConnectionPool
) -> None:
    closed_on_server = asyncio.Event()

    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        try:
            async for chunk in body:
                await responder.send_data(chunk)
        finally:
            closed_on_server.set()

    server = await serve(handler)

    class BodyBroke(Exception):
        pass

    headers_seen = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"fine"
        await headers_seen.wait()  # fail mid-body, after the response began (not a timing guess)
        raise BodyBroke("the text source failed")

    stream = await pool.open_stream(
        endpoint(server), method="POST", path="/", headers=[], body=body()
    )
    async with stream:
        await stream.response()
        headers_seen.set()
        with pytest.raises(BodyBroke):
            async for _ in stream:
                pass
    async with asyncio.timeout(2):
        await closed_on_server.wait()  # the server learned the stream is gone


async def test_body_iterator_error_before_the_response_is_raised_by_response(
    serve: StartServer, pool: ConnectionPool
) -> None:
    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        async for _ in body:  # answers only once the whole body is in, which never happens
            pass
        await responder.send_headers(200)

    server = await serve(handler)

    class BodyBroke(Exception):
        pass

    async def body() -> AsyncIterator[bytes]:
        yield b"fine"
        raise BodyBroke("the text source failed")

    stream = await pool.open_stream(
        endpoint(server), method="POST", path="/", headers=[], body=body()
    )
    async with stream:
        with pytest.raises(BodyBroke, match="the text source failed"):
            await stream.response()


async def test_connection_refused(pool: ConnectionPool) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ConnectError, match=rf"127\.0\.0\.1:{port}.*refused"):
        await pool.open_stream(Endpoint("127.0.0.1", port), method="GET", path="/", headers=[])
    assert time.monotonic() - started < MARGIN


async def test_server_that_never_completes_the_handshake(ca_file: str) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = ConnectionPool(timeouts=FAST, tls=TLSConfig(ca_file=ca_file))
    try:
        started = time.monotonic()
        with pytest.raises(NetworkTimeout) as caught:
            await pool.open_stream(Endpoint("127.0.0.1", port), method="GET", path="/", headers=[])
        assert caught.value.phase == "connect"
        assert FAST.connect - 0.05 <= time.monotonic() - started < FAST.connect + MARGIN
    finally:
        await pool.aclose()
        server.close()
        for writer in accepted:
            writer.close()
        await server.wait_closed()
    assert accepted  # the TCP connection was made; only TLS never happened


async def test_closing_an_unfinished_stream_tells_the_server(
    serve: StartServer, pool: ConnectionPool
) -> None:
    outcome: list[str] = []

    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        try:
            async for _ in body:
                pass
            outcome.append("ended")
        except Exception as exc:
            outcome.append(type(exc).__name__)

    server = await serve(handler)

    async def body() -> AsyncIterator[bytes]:
        yield b"hello"
        await asyncio.Event().wait()

    stream = await pool.open_stream(
        endpoint(server), method="POST", path="/", headers=[], body=body()
    )
    await stream.response()
    started = time.monotonic()
    await stream.aclose()
    assert time.monotonic() - started < FAST.close
    await eventually(lambda: bool(outcome))
    assert outcome == ["StreamClosed"]
    assert pool.stats().streams_active == 0
