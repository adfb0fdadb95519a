"""Fixtures: the gateway served by uvicorn on an ephemeral loopback port, over the local service."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import uvicorn
from starlette.applications import Starlette

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.gateway import GatewayConfig, create_app
from polly_pipeline.gateway.server import WS_MAX_SIZE


@dataclass
class Gateway:
    """A running gateway: its base URLs and its app."""

    host: str
    port: int
    app: Starlette

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/speak"


@asynccontextmanager
async def running_gateway(
    client: PollyStreamingClient, config: GatewayConfig | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[Gateway]:
    """Serve ``create_app(config, polly=client)`` with uvicorn until the block ends."""
    app = create_app(config or GatewayConfig(), polly=client)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    server = uvicorn.Server(
        uvicorn.Config(
            app, ws="websockets-sansio", ws_max_size=WS_MAX_SIZE, lifespan="on", log_level="warning"
        )
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield Gateway(host, sock.getsockname()[1], app)
    finally:
        server.should_exit = True
        async with asyncio.timeout(15):
            await task
        sock.close()


GatewayFactory = Callable[..., "AsyncIterator[Gateway]"]


@pytest.fixture
async def gateway(polly: PollyStreamingClient) -> AsyncIterator[Gateway]:
    """The gateway with default limits, on loopback, without a token."""
    async with running_gateway(polly) as gw:
        yield gw
