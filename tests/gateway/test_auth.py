"""Loopback by default; anywhere else a bearer token on every route but /health."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2 as httpx
import openai
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.gateway import GatewayConfig, create_app
from polly_pipeline.gateway.config import TOKEN_VARIABLE
from tests.gateway.client import SpeakClient
from tests.gateway.conftest import running_gateway

TOKEN = "s3cret-token_for.tests"


@pytest.fixture(autouse=True)
def _no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)


def test_binding_beyond_loopback_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="--token-file"):
        create_app(GatewayConfig(host="0.0.0.0"))
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    create_app(GatewayConfig(host="0.0.0.0"))  # the variable is enough


def test_an_empty_or_missing_token_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "token"
    empty.write_text("\n")
    with pytest.raises(ConfigurationError, match="empty"):
        GatewayConfig(token_file=str(empty)).token()
    with pytest.raises(ConfigurationError, match="cannot read"):
        GatewayConfig(token_file=str(tmp_path / "missing")).token()


def test_serve_refuses_a_public_address_without_a_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from polly_pipeline.cli import main

    assert main(["serve", "--host", "0.0.0.0", "--backend", "local"]) == 2
    err = capsys.readouterr().err
    assert "bearer token" in err
    assert "--token-file" in err


async def test_every_route_but_health_needs_the_token(
    polly: PollyStreamingClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    config = GatewayConfig(host="0.0.0.0", token_file=str(token_file))
    caplog.set_level("INFO", logger="polly_pipeline.gateway.access")
    async with running_gateway(polly, config, host="0.0.0.0") as gw:
        base = f"http://127.0.0.1:{gw.port}"
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/health")).status_code == 200
            assert (await http.get("/v1/models")).status_code == 401
            wrong = {"Authorization": "Bearer wrong"}
            assert (await http.get("/v1/models", headers=wrong)).status_code == 401
        denied = openai.AsyncOpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0)
        allowed = openai.AsyncOpenAI(base_url=base + "/v1", api_key=TOKEN, max_retries=0)
        try:
            with pytest.raises(openai.AuthenticationError):
                await denied.audio.speech.create(model="tts-1", input="Hi.", voice="alloy")
            speech = await allowed.audio.speech.create(model="tts-1", input="Hi.", voice="alloy")
            assert len(speech.content) > 1000
        finally:
            await denied.close()
            await allowed.close()

        ws_url = f"ws://127.0.0.1:{gw.port}/v1/speak"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url):
                pass
        assert refused.value.response.status_code == 401
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with connect(ws_url, additional_headers=headers) as ws:
            assert (await SpeakClient(ws).start(voice="Joanna"))["type"] == "ready"
        # a browser cannot set headers: the token travels as a subprotocol
        protocols = ["polly-pipeline", f"bearer.{TOKEN}"]
        async with connect(ws_url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
            assert ws.subprotocol == "polly-pipeline"
            assert (await SpeakClient(ws).start(voice="Joanna"))["type"] == "ready"
    entries = [json.loads(r.getMessage()) for r in caplog.records]
    assert {e["status"] for e in entries} >= {200, 401, 101}
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert {"client", "method", "path", "ms", "bytes", "pid"} <= set(entries[0])


async def test_pages_from_other_origins_cannot_open_a_conversation(
    polly: PollyStreamingClient,
) -> None:
    config = GatewayConfig(allowed_origins=("https://app.example",))
    async with running_gateway(polly, config) as gw:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(gw.speak_url, origin="https://evil.example"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        for origin in (gw.url, "https://app.example"):
            async with connect(gw.speak_url, origin=origin) as ws:  # type: ignore[arg-type]
                assert (await SpeakClient(ws).start())["type"] == "ready"
