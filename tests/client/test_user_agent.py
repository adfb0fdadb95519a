"""Every request names the client and its versions in ``user-agent``, as AWS SDKs do."""

from __future__ import annotations

import asyncio
import platform
import re
from importlib import metadata
from pathlib import Path

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.http import HttpServer, Request, RequestBody, Responder
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.events import StreamClosedEvent, encode_output_event
from tests.conftest import TEST_TIMEOUTS


async def test_the_user_agent_on_the_wire_names_client_python_and_awscrt(tmp_path: Path) -> None:
    seen: list[Request] = []

    async def record(request: Request, body: RequestBody, responder: Responder) -> None:
        seen.append(request)
        await responder.send_headers(200, [("content-type", "application/vnd.amazon.eventstream")])
        async for _ in body:
            pass
        await responder.send_data(encode_output_event(StreamClosedEvent(0)))
        await responder.end()

    tls = await asyncio.to_thread(TLSMaterial.generate)
    ca = tls.write_ca(tmp_path / "ca.pem")
    async with (
        HttpServer(record, tls=tls) as server,
        PollyStreamingClient(
            region="us-east-1",
            endpoint_url=server.url,
            credentials=Credentials("AKIDUSERAGENT", "secret"),
            ca_file=str(ca),
            timeouts=TEST_TIMEOUTS,
        ) as client,
    ):
        async for _ in client.start_speech_synthesis_stream(text="", voice_id="Joanna"):
            pass
    (request,) = seen
    agents = [value for name, value in request.headers if name == "user-agent"]
    assert len(agents) == 1
    expected = (
        f"polly-pipeline/{metadata.version('polly-pipeline')} ua/2.0 "
        f"lang/python#{platform.python_version()} md/awscrt#{metadata.version('awscrt')}"
    )
    assert agents[0] == expected
    # not signed, as in the AWS SDKs: a proxy that rewrites it cannot break the signature
    signed = re.search(r"SignedHeaders=([^,]+)", request.header("authorization") or "")
    assert signed is not None
    assert "user-agent" not in signed.group(1).split(";")


async def test_the_local_service_accepts_the_user_agent(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    audio = b"".join(
        [c async for c in polly.start_speech_synthesis_stream(text="Hi.", voice_id="Joanna")]
    )
    assert len(audio) > 1000  # signature verified, text spoken
    assert "".join(local_polly.streams[-1].texts) == "Hi."
