"""The gateway does not compress WebSocket frames (audio barely shrinks; zlib costs CPU)."""

from __future__ import annotations

import json

from websockets.asyncio.client import connect

from polly_pipeline.gateway.embedded import Serving


async def test_a_client_offering_permessage_deflate_gets_uncompressed_frames(
    gateway: Serving,
) -> None:
    async with connect(gateway.speak_url, compression="deflate") as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert ws.protocol.extensions == []
        await ws.send(json.dumps({"type": "start", "voice": "Joanna"}))
        assert json.loads(await ws.recv())["type"] == "ready"
