"""``read_deadline=False``: a duplex exchange whose response is silent while its request side
is idle is not cut by ``Timeouts.read`` (real awscrt client, real server, TLS on loopback)."""

from __future__ import annotations

import asyncio

import pytest

from polly_pipeline.errors import ReadTimeout
from polly_pipeline.transport import ConnectionPool

from .conftest import FAST, StartServer, echo, endpoint, queue_body

pytestmark = pytest.mark.timeout(20)

#: Silence on the response, several times FAST.read (0.8 s).
SILENCE = 3 * FAST.read


async def exchange_after_silence(
    serve: StartServer, pool: ConnectionPool, *, read_deadline: bool
) -> list[bytes]:
    server = await serve(echo)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    stream = await pool.open_stream(
        endpoint(server),
        method="POST",
        path="/echo",
        headers=[],
        body=queue_body(queue),
        read_deadline=read_deadline,
    )
    async with stream:
        await stream.response()
        chunks = stream.__aiter__()
        await queue.put(b"before")
        received = [await anext(chunks)]
        waiting = asyncio.ensure_future(anext(chunks))  # the reader waits through the silence
        await asyncio.sleep(SILENCE)
        await queue.put(b"after")
        received.append(await waiting)
        await queue.put(None)
        received.extend([chunk async for chunk in chunks])
    return received


async def test_without_a_read_deadline_a_silent_response_waits_for_the_next_chunk(
    serve: StartServer, pool: ConnectionPool
) -> None:
    received = await exchange_after_silence(serve, pool, read_deadline=False)
    assert received == [b"before", b"after"]


async def test_by_default_a_silent_response_is_a_read_timeout(
    serve: StartServer, pool: ConnectionPool
) -> None:
    with pytest.raises(ReadTimeout) as caught:
        await exchange_after_silence(serve, pool, read_deadline=True)
    assert caught.value.phase == "read"
