"""The local server's tasks end with it: a handler still running after its client went away is
cancelled and awaited when the server closes, so nothing of the server is left pending."""

from __future__ import annotations

import asyncio

import pytest

from polly_pipeline.local import HttpServer, Request, RequestBody, Responder, TLSMaterial
from tests.local.rawh2 import RawH2

pytestmark = pytest.mark.timeout(20)


async def test_a_handler_outliving_its_client_is_cancelled_when_the_server_closes() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stubborn(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        started.set()
        try:
            await asyncio.Event().wait()  # pays no attention to its client leaving
        except asyncio.CancelledError:
            cancelled.set()
            raise

    tls = TLSMaterial.generate()
    server = HttpServer(stubborn, tls=tls)
    await server.start()
    try:
        client = await RawH2.connect(server, tls)
        client.request("/")
        await asyncio.wait_for(started.wait(), 5)
        await client.close()
        async with asyncio.timeout(5):
            while server.active_connections:  # noqa: ASYNC110  # a counter, no event to await
                await asyncio.sleep(0.01)
        assert not cancelled.is_set()  # its connection is gone, the handler is not
    finally:
        await server.aclose()
    assert cancelled.is_set()
    assert asyncio.all_tasks() == {asyncio.current_task()}
