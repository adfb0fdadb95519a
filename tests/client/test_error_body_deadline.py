"""A refusal whose body never comes must not hold the caller: reading it has a deadline.

The synthesis stream is opened without the transport's read deadline (the stream bounds its
own reads while output is due); the body of an HTTP error answer is read before any stream
exists, so that read must keep ``Timeouts.read``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import NetworkTimeout
from polly_pipeline.local.http import Request, RequestBody, Responder
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.transport import Timeouts
from tests.client.serving import client_of

READ = 0.5
TIMEOUTS = Timeouts(connect=2.0, response_headers=1.0, read=READ, write=1.0, close=0.5)
CREDS = Credentials("AKIDSTALL", "secret-stall")


async def refuse_and_stall(request: Request, body: RequestBody, responder: Responder) -> None:
    """Answer 500 with the start of a JSON error body, then send nothing more."""
    await responder.send_headers(
        500,
        [("content-type", "application/json"), ("x-amzn-errortype", "ServiceFailureException")],
    )
    await responder.send_data(b'{"message": "the serv')
    await asyncio.Event().wait()  # the rest never comes (cancelled when the server closes)


@pytest.fixture
async def refusing(tmp_path: Path) -> AsyncIterator[PollyStreamingClient]:
    async with client_of(refuse_and_stall, tmp_path, timeouts=TIMEOUTS, credentials=CREDS) as c:
        yield c


async def test_an_error_body_that_stalls_times_out_on_the_read_deadline(
    refusing: PollyStreamingClient,
) -> None:
    # the outer bound only stops a hang; the client's own read deadline must fire first
    with pytest.raises(NetworkTimeout) as caught:
        async with asyncio.timeout(20 * READ):
            await refusing.open_stream(voice_id="Joanna", output_format="pcm")
    assert caught.value.phase == "read"
    assert refusing.streams_open == 0
