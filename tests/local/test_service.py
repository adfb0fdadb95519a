"""The local Polly service as botocore and a user at a terminal see it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polly_pipeline.audio import decode_audio, duration_seconds
from polly_pipeline.local.service import LocalPollyService


def test_botocore_synthesize_speech(local_polly: LocalPollyService) -> None:
    polly = local_polly.botocore_client()
    text = "Botocore's own client works against the local service."
    resp = polly.synthesize_speech(
        Text=text, VoiceId="Matthew", OutputFormat="ogg_vorbis", Engine="neural"
    )
    assert resp["ContentType"] == "audio/ogg"
    assert resp["RequestCharacters"] == len(text)
    pcm = decode_audio(resp["AudioStream"].read(), "ogg_vorbis", 24000)
    assert 2.0 < duration_seconds(pcm, 24000) < 7.0
    assert local_polly.rest_requests == 1


def test_botocore_synthesize_speech_errors_are_modelled(local_polly: LocalPollyService) -> None:
    polly = local_polly.botocore_client()
    with pytest.raises(polly.exceptions.TextLengthExceededException):
        polly.synthesize_speech(Text="x" * 6001, VoiceId="Joanna", OutputFormat="mp3")
    with pytest.raises(polly.exceptions.InvalidSsmlException):
        polly.synthesize_speech(
            Text="<speak>open", TextType="ssml", VoiceId="Joanna", OutputFormat="mp3"
        )


def test_botocore_describe_voices_filters(local_polly: LocalPollyService) -> None:
    polly = local_polly.botocore_client()
    everything = polly.describe_voices()["Voices"]
    generative = polly.describe_voices(Engine="generative")["Voices"]
    british = polly.describe_voices(LanguageCode="en-GB")["Voices"]
    assert len(everything) > len(generative) > 0
    assert all("generative" in v["SupportedEngines"] for v in generative)
    assert {v["Id"] for v in british} >= {"Amy", "Brian"}
    assert all(v["LanguageCode"] == "en-GB" for v in british)


def test_botocore_with_a_wrong_secret_is_refused(local_polly: LocalPollyService) -> None:
    import botocore.exceptions
    import botocore.session

    polly = botocore.session.get_session().create_client(
        "polly",
        region_name=local_polly.region,
        endpoint_url=local_polly.endpoint_url,
        aws_access_key_id=local_polly.credentials.access_key,
        aws_secret_access_key="wrong",
        verify=str(local_polly.ca_file),
    )
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        polly.describe_voices()
    assert exc.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_stream_operation_over_http11_is_refused(local_polly: LocalPollyService) -> None:
    import http.client
    import ssl

    ctx = ssl.create_default_context(cafile=str(local_polly.ca_file))
    conn = http.client.HTTPSConnection("127.0.0.1", local_polly.server.port, context=ctx)
    try:
        conn.request("POST", "/v1/synthesisStream", body=b"")
        resp = conn.getresponse()
        body = resp.read().decode()
    finally:
        conn.close()
    # every request is authenticated first; an unsigned one is refused as such
    assert resp.status in (400, 403)
    assert resp.getheader("x-amzn-errortype") in (
        "ValidationException",
        "InvalidSignatureException",
    )
    assert "message" in body


def test_unknown_path_is_a_404(local_polly: LocalPollyService) -> None:
    import http.client
    import ssl

    ctx = ssl.create_default_context(cafile=str(local_polly.ca_file))
    conn = http.client.HTTPSConnection("localhost", local_polly.server.port, context=ctx)
    try:
        conn.request("GET", "/v2/nothing")
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    assert resp.status == 404
    assert resp.getheader("x-amzn-errortype") == "UnknownOperationException"


def test_service_binds_to_loopback_by_default(local_polly: LocalPollyService) -> None:
    assert local_polly.server.host == "127.0.0.1"
    assert local_polly.endpoint_url.startswith("https://127.0.0.1:")


@pytest.mark.slow
def test_cli_local_serves_until_ctrl_c(tmp_path: Path) -> None:
    """``polly-pipeline local`` prints what a client needs, serves it, and stops on Ctrl-C."""
    ca = tmp_path / "ca.pem"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "polly_pipeline.cli", "local", "--port", "0", "--ca-file", str(ca)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        out = "".join(lines)
        match = re.search(r"endpoint\s+(https://127\.0\.0\.1:\d+)", out)
        assert match, out
        assert f"CA file      {ca}" in out
        assert "AWS_ACCESS_KEY_ID=" in out
        assert ca.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")

        import botocore.session

        creds = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", out)
        assert creds
        polly = botocore.session.get_session().create_client(
            "polly",
            region_name="us-east-1",
            endpoint_url=match.group(1),
            aws_access_key_id=creds.group(1),
            aws_secret_access_key=creds.group(2),
            verify=str(ca),
        )
        audio = polly.synthesize_speech(Text="Hi there.", VoiceId="Joanna", OutputFormat="mp3")
        assert len(audio["AudioStream"].read()) > 1000
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    assert "Traceback" not in err
