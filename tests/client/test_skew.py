"""A client whose clock is 20 minutes off works: refused once, corrected by the service's Date."""

from __future__ import annotations

import logging
import re

import pytest

from polly_pipeline.audio import decode_audio, duration_seconds
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ServiceException
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.credentials import Credentials
from tests.conftest import TEST_TIMEOUTS

SENTENCE = "The clocks disagree, and the speech is heard anyway."


@pytest.fixture(params=[1200.0, -1200.0], ids=["service-ahead", "service-behind"])
def local_polly_config(request: pytest.FixtureRequest) -> LocalServiceConfig:
    return LocalServiceConfig(inbound_event_timeout=1.0, clock_offset=request.param)


async def speak(client: PollyStreamingClient, text: str) -> bytes:
    out = bytearray()
    async for chunk in client.start_speech_synthesis_stream(
        text=text, voice_id="Joanna", output_format="pcm", sample_rate=16000
    ):
        out += chunk
    return bytes(out)


async def test_skewed_client_is_corrected_once_and_remembers_the_offset(
    local_polly: LocalPollyService, caplog: pytest.LogCaptureFixture
) -> None:
    offset = local_polly.config.clock_offset
    client = local_polly.client(timeouts=TEST_TIMEOUTS)
    try:
        with caplog.at_level(logging.INFO, logger="polly_pipeline.client"):
            audio = await speak(client, SENTENCE)
        assert duration_seconds(decode_audio(audio, "pcm", 16000), 16000) > 1.0
        # the service refused the first request for its date, then accepted the retry
        assert local_polly.refused_requests == ["InvalidSignatureException"]
        assert len(local_polly.streams) == 1
        assert "".join(local_polly.streams[0].texts) == SENTENCE
        assert abs(client.clock_offset - offset) < 5
        logged = [r.getMessage() for r in caplog.records if "clock skew" in r.getMessage()]
        assert len(logged) == 1
        reported = re.search(r"clock is ([+-]\d+) s", logged[0])
        assert reported is not None
        assert abs(int(reported.group(1)) - offset) < 5
        secret = local_polly.credentials.secret_key
        assert secret not in caplog.text
        assert local_polly.credentials.access_key not in caplog.text

        # a second stream on the same client is signed right the first time
        async with client.open_stream(voice_id="Joanna", output_format="pcm") as stream:
            await stream.send_text("A second turn. ", flush=True)
            await stream.send_text("And more text later.")
            await stream.end_input()
            heard = b"".join([chunk async for chunk in stream.audio()])
        assert heard
        assert local_polly.refused_requests == ["InvalidSignatureException"]
        assert len(local_polly.streams) == 2
        assert "".join(local_polly.streams[1].texts) == "A second turn. And more text later."
    finally:
        await client.aclose()


async def test_a_refusal_for_another_reason_is_not_retried(
    local_polly: LocalPollyService,
) -> None:
    wrong = Credentials(local_polly.credentials.access_key, "not-the-secret-key")
    client = local_polly.client(timeouts=TEST_TIMEOUTS, credentials=wrong)
    try:
        with pytest.raises(ServiceException) as caught:
            await speak(client, SENTENCE)
        assert caught.value.error_code == "InvalidSignatureException"
        assert "not-the-secret-key" not in str(caught.value)
        # one refusal for the date, one retry refused for the key; never a third request
        assert local_polly.refused_requests == ["InvalidSignatureException"] * 2
        assert local_polly.streams == type(local_polly.streams)()
    finally:
        await client.aclose()
