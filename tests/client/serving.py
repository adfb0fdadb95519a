"""A client of a one-handler HTTP/2 server over real TLS (a server that misbehaves on purpose)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.http import Handler, HttpServer
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.transport import Timeouts


@asynccontextmanager
async def client_of(
    handler: Handler, tmp_path: Path, *, timeouts: Timeouts, credentials: Credentials
) -> AsyncIterator[PollyStreamingClient]:
    """A client trusting a fresh CA, streaming to an ``HttpServer`` that runs ``handler``."""
    tls = await asyncio.to_thread(TLSMaterial.generate)
    ca = tls.write_ca(tmp_path / "ca.pem")
    async with HttpServer(handler, tls=tls) as server:
        client = PollyStreamingClient(
            region="us-east-1",
            endpoint_url=server.url,
            credentials=credentials,
            ca_file=str(ca),
            timeouts=timeouts,
        )
        try:
            yield client
        finally:
            await client.aclose()
