"""Fixtures: the gateway served by uvicorn on an ephemeral loopback port, over the local service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.gateway import GatewayConfig, create_app
from polly_pipeline.gateway.embedded import Serving, serving
from polly_pipeline.local.config import LocalServiceConfig

Gateway = Serving


@asynccontextmanager
async def running_gateway(
    client: PollyStreamingClient, config: GatewayConfig | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[Serving]:
    """Serve ``create_app(config, polly=client)`` with uvicorn until the block ends."""
    async with serving(create_app(config or GatewayConfig(), polly=client), host) as served:
        yield served


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    """Polly's own limits (a paced conversation waits longer than the scaled-down 1 s)."""
    return LocalServiceConfig()


@pytest.fixture
async def gateway(polly: PollyStreamingClient) -> AsyncIterator[Serving]:
    """The gateway with default limits, on loopback, without a token."""
    async with running_gateway(polly) as gw:
        yield gw
