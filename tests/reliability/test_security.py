"""Secrets stay secret, TLS is always verified, the local service is closed to strangers."""

from __future__ import annotations

import http.client
import logging
import re
import ssl
import time
from pathlib import Path

import pytest

import polly_pipeline
from polly_pipeline.errors import ConnectError, PollyPipelineError, ServiceException
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.session.session import SpeechSession
from polly_pipeline.sinks.memory import MemorySink
from tests.conftest import TEST_TIMEOUTS

SECRET = "sEcReT-Zq9Xv7Lm3Kp1Wb8Nd5Rt2Yh6Gf4Jc0"
TOKEN = "T0kEn-Pw8Qz3Mx6Ln1Vb4Ck7Hs2Dj5Fg9Ra0"
CREDS = Credentials("AKIDSECURITYTEST", SECRET, TOKEN)
PACKAGE = Path(polly_pipeline.__file__).parent


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    return LocalServiceConfig(
        inbound_event_timeout=1.0, max_stream_duration=30.0, credentials=(CREDS,)
    )


def secrets_in(text: str) -> list[str]:
    return [s for s in (SECRET, TOKEN, SECRET[:12], TOKEN[:12]) if s in text]


async def test_credentials_never_appear_in_logs_reprs_errors_or_reports(
    local_polly: LocalPollyService,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger propagates here
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)

    def restore() -> None:
        for logger, level in levels:
            logger.setLevel(level)

    request.addfinalizer(restore)
    seen: list[str] = [repr(local_polly), str(local_polly), repr(CREDS), str(CREDS)]

    async with (
        local_polly.client(credentials=CREDS, timeouts=TEST_TIMEOUTS) as client,
        SpeechSession(client, voice_id="Joanna", keepalive_interval=0.3) as session,
    ):
        report = await Pipeline(session).run(["A secret-free answer."], MemorySink())
        async with client.open_stream(voice_id="Joanna") as stream:
            seen.append(repr(stream))
            await stream.send_text("Hi.")
            await stream.end_input()
            seen += [repr(e) for e in [event async for event in stream]]
        seen += [repr(client), str(client), repr(session), repr(report), report.summary()]
        seen += [repr(t) for t in session.turns] + [repr(e) for e in session.history]
    assert report.audio_seconds > 0

    # a failing turn: the right access key, a wrong secret (and the real token)
    wrong = Credentials("AKIDSECURITYTEST", SECRET[::-1], TOKEN)
    errors: list[BaseException] = []
    async with local_polly.client(credentials=wrong, timeouts=TEST_TIMEOUTS) as bad:
        seen.append(repr(bad))
        with pytest.raises(PollyPipelineError) as exc:
            async with SpeechSession(bad, voice_id="Joanna") as failing:
                seen.append(repr(failing))
        errors.append(exc.value)
    assert isinstance(exc.value, ServiceException)
    while errors:  # the whole chain: causes and contexts
        error = errors.pop()
        seen += [str(error), repr(error), *map(str, error.args)]
        errors += [e for e in (error.__cause__, error.__context__) if e is not None]

    captured = capsys.readouterr()
    seen += [captured.out, captured.err, caplog.text]
    seen += [r.getMessage() for r in caplog.records]
    assert caplog.records, "DEBUG logging captured nothing"
    leaks = [
        (text[max(0, text.find(s) - 300) : text.find(s) + 60], s)
        for text in seen
        for s in secrets_in(text)
    ]
    assert leaks == []


def test_tls_verification_cannot_be_turned_off_anywhere_in_the_package() -> None:
    insecure = re.compile(
        r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|verify_peer\s*=\s*False"
        r"|_create_unverified_context"
    )
    hits = [
        f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if insecure.search(line)
    ]
    assert hits == []
    # the one standard-library TLS context (the handshake probe) verifies with the same trust
    probe = (PACKAGE / "transport" / "probe.py").read_text()
    assert "ssl.create_default_context(cafile=tls.ca_file)" in probe


async def test_a_client_without_the_local_ca_fails_with_connect_error(
    local_polly: LocalPollyService,
) -> None:
    from polly_pipeline.client import PollyStreamingClient

    started = time.monotonic()
    async with PollyStreamingClient(
        region=local_polly.region,
        endpoint_url=local_polly.endpoint_url,
        credentials=CREDS,
        timeouts=TEST_TIMEOUTS,
    ) as client:
        with pytest.raises(ConnectError) as exc:
            async for _ in client.start_speech_synthesis_stream(text="Hi.", voice_id="Joanna"):
                pass
    assert "certificate" in str(exc.value).lower() or "tls" in str(exc.value).lower()
    assert time.monotonic() - started < 15


def test_the_local_service_binds_to_loopback_by_default(local_polly: LocalPollyService) -> None:
    assert LocalServiceConfig().host == "127.0.0.1"
    assert local_polly.endpoint_url.startswith("https://127.0.0.1:")


def test_the_local_service_rejects_an_unsigned_request(local_polly: LocalPollyService) -> None:
    host, port = local_polly.endpoint_url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(local_polly.ca_file))
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
    try:
        conn.request(
            "POST",
            "/v1/speech",
            body=b'{"Text": "Hi.", "VoiceId": "Joanna", "OutputFormat": "mp3"}',
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 403, (response.status, body[:200])
    assert not body.startswith(b"ID3")  # no audio
