"""Fixtures for transport tests: a real HttpServer over TLS on loopback and a pool trusting it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.http import Handler, HttpServer, Request, RequestBody, Responder
from polly_pipeline.transport import ConnectionPool, Endpoint, Timeouts, TLSConfig

#: Short deadlines so every fault surfaces in about a second.
FAST = Timeouts(connect=2.0, response_headers=0.8, read=0.8, write=0.8, close=1.0)

StartServer = Callable[..., Awaitable[HttpServer]]


@pytest.fixture(scope="session")
def tls() -> TLSMaterial:
    """One CA + server certificate for the whole session (key generation is the slow part)."""
    return TLSMaterial.generate()


@pytest.fixture
def ca_file(tls: TLSMaterial, tmp_path: Path) -> str:
    """The CA written where a client can load it."""
    return str(tls.write_ca(tmp_path / "ca" / "ca.pem"))


@pytest.fixture
async def serve(tls: TLSMaterial) -> AsyncIterator[StartServer]:
    """Start HttpServers with a handler; all are closed after the test."""
    servers: list[HttpServer] = []

    async def start(handler: Handler, **kwargs: Any) -> HttpServer:
        kwargs.setdefault("tls", tls)
        server = HttpServer(handler, **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.aclose()


@pytest.fixture
async def pool(ca_file: str) -> AsyncIterator[ConnectionPool]:
    """A pool with short deadlines that trusts the test CA."""
    pool = ConnectionPool(timeouts=FAST, tls=TLSConfig(ca_file=ca_file))
    yield pool
    await pool.aclose()


def endpoint(server: HttpServer) -> Endpoint:
    """The server's endpoint."""
    return Endpoint.from_url(server.url)


async def echo(request: Request, body: RequestBody, responder: Responder) -> None:
    """A handler that sends each request body chunk back as it arrives."""
    await responder.send_headers(200, [("content-type", "application/octet-stream")])
    async for chunk in body:
        await responder.send_data(chunk)
    await responder.end()


async def queue_body(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    """A request body fed from a queue; None ends it."""
    while (item := await queue.get()) is not None:
        yield item


async def eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    """Poll ``check`` until it holds (fails the test after ``within`` seconds)."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110  # polls counters that have no event to await
            await asyncio.sleep(0.01)


class SlowReader:
    """A handler that reads the request body slowly (5 ms per chunk) and answers with the
    number of bytes it read; :attr:`consumed` is what it has read so far."""

    def __init__(self) -> None:
        self.consumed = 0

    async def __call__(self, request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        async for data in body:
            self.consumed += len(data)
            await asyncio.sleep(0.005)
        await responder.send_data(b"%d" % self.consumed)
