"""Shared fixtures: no ambient AWS configuration; a Polly client for the local service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local import LocalPollyService


@pytest.fixture(autouse=True)
def _isolated(no_ambient_aws: None) -> None:
    """Tests never see the developer's AWS configuration or reach instance metadata."""


@pytest.fixture
async def polly(local_polly: LocalPollyService) -> AsyncIterator[PollyStreamingClient]:
    """A client for the local service (real awscrt HTTP/2 over TLS), closed after the test."""
    async with local_polly.client() as client:
        yield client
