"""Every failure of a ConverseStream answer is an LLMError that names the problem and keeps the
text that came before it; bad arguments are ConfigurationErrors at once."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import botocore.exceptions
import pytest
from conftest import MODEL
from polly_pipeline_bedrock import bedrock_converse_source
from polly_pipeline_bedrock.testing import BedrockFault, LocalBedrock, LocalBedrockConfig

from polly_pipeline.errors import ConfigurationError, LLMError
from polly_pipeline.protocol import Credentials
from polly_pipeline.testing import REFERENCE_ANSWER, split_tokens

QUESTION = "How does streaming speech work?"
TOKENS = split_tokens(REFERENCE_ANSWER)


async def collect(source: AsyncIterator[str], into: list[str]) -> None:
    async for text in source:
        into.append(text)


async def fails(source: AsyncIterator[str]) -> tuple[LLMError, str]:
    """The LLMError the source raises, and the text it yielded first."""
    pieces: list[str] = []
    with pytest.raises(LLMError) as caught:
        await collect(source, pieces)
    return caught.value, "".join(pieces)


# --- in the stream -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("modelStreamErrorException", "the model failed while streaming"),
        ("throttlingException", "throttled"),
        ("validationException", "the model rejected the conversation"),
        ("serviceUnavailableException", "the service is unavailable"),
        ("internalServerException", "internal error in Bedrock"),
    ],
)
async def test_an_in_stream_exception_keeps_the_text_so_far(
    bedrock: Any, local_bedrock: LocalBedrock, code: str, hint: str
) -> None:
    local_bedrock.inject(BedrockFault("exception", after_tokens=25, code=code, message="boom now"))
    source = bedrock_converse_source(MODEL, prompt=QUESTION, client=bedrock)
    error, text = await fails(source)
    assert text == "".join(TOKENS[:25])  # nothing lost before the failure
    assert error.chars_received == len(text)
    assert code in str(error)
    assert hint in str(error)
    assert "boom now" in str(error)  # the service's own words
    assert f"after {len(text)} characters" in str(error)
    assert MODEL in str(error)
    assert isinstance(error.__cause__, botocore.exceptions.EventStreamError)
    assert source.result is None
    assert source.progress.text_chars == len(text)


async def test_http_throttling_is_an_llm_error_with_the_status(
    bedrock: Any, local_bedrock: LocalBedrock
) -> None:
    local_bedrock.inject(BedrockFault("http_error"))
    error, text = await fails(bedrock_converse_source(MODEL, prompt=QUESTION, client=bedrock))
    assert text == ""
    assert error.status == 429
    assert "HTTP 429 ThrottlingException" in str(error)
    assert "retry later" in str(error)
    assert "Too many requests" in str(error)
    assert isinstance(error.__cause__, botocore.exceptions.ClientError)


async def test_botocore_retries_http_throttling_before_the_stream(
    local_bedrock: LocalBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in local_bedrock.environment().items():
        monkeypatch.setenv(name, value)
    local_bedrock.inject(BedrockFault("http_error", times=1))
    pieces: list[str] = []
    await collect(bedrock_converse_source(MODEL, prompt=QUESTION, max_attempts=2), pieces)
    assert "".join(pieces) == REFERENCE_ANSWER
    assert [r.outcome for r in local_bedrock.requests] == [
        "http_error:ThrottlingException",
        "completed",
    ]


async def test_a_dropped_connection_keeps_the_text_so_far(
    bedrock: Any, local_bedrock: LocalBedrock
) -> None:
    local_bedrock.inject(BedrockFault("drop", after_tokens=40))
    error, text = await fails(bedrock_converse_source(MODEL, prompt=QUESTION, client=bedrock))
    assert text == "".join(TOKENS[:40])
    assert error.chars_received == len(text)
    assert "the answer stream from Bedrock (https://127.0.0.1:" in str(error)
    assert f"broke after {len(text)} characters" in str(error)


async def test_a_silent_stream_times_out_at_the_read_deadline(
    local_bedrock: LocalBedrock,
) -> None:
    local_bedrock.inject(BedrockFault("stall", after_tokens=10))
    client = local_bedrock.client(read_timeout=0.5)
    try:
        started = time.monotonic()
        error, text = await fails(bedrock_converse_source(MODEL, prompt=QUESTION, client=client))
    finally:
        client.close()
    assert time.monotonic() - started < 4.0
    assert text == "".join(TOKENS[:10])
    assert "timed out after" in str(error)
    assert "waiting for the next part of the answer" in str(error)


async def test_a_slow_first_token_times_out(local_bedrock: LocalBedrock) -> None:
    local_bedrock.config = LocalBedrockConfig(first_token_delay=3.0)
    client = local_bedrock.client(read_timeout=0.4)
    try:
        error, text = await fails(bedrock_converse_source(MODEL, prompt=QUESTION, client=client))
    finally:
        client.close()
    assert text == ""
    assert "timed out" in str(error)


async def test_an_unknown_model_is_a_validation_error(
    bedrock: Any, local_bedrock: LocalBedrock
) -> None:
    local_bedrock.config = LocalBedrockConfig(models=frozenset({"amazon.nova-lite-v1:0"}))
    error, _ = await fails(bedrock_converse_source(MODEL, prompt=QUESTION, client=bedrock))
    assert error.status == 400
    assert "ValidationException" in str(error)
    assert "check the model id" in str(error)
    assert "The provided model identifier is invalid." in str(error)


# --- credentials and TLS -------------------------------------------------------------------------


async def test_a_wrong_secret_is_a_clear_error_without_the_secret(
    local_bedrock: LocalBedrock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "wRoNgSeCrEt/abcdefghijklmnopqrstuvwxyz0123"
    for name, value in local_bedrock.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    source = bedrock_converse_source(MODEL, prompt=QUESTION)
    error, _ = await fails(source)
    assert error.status == 403
    assert "InvalidSignatureException" in str(error)
    assert "check the AWS secret access key" in str(error)
    for shown in (str(error), repr(error), str(error.__cause__), repr(source), caplog.text):
        assert secret not in shown
        assert local_bedrock.credentials.secret_key not in shown
    assert local_bedrock.requests == []  # rejected before the operation


async def test_an_unknown_access_key_is_a_clear_error(local_bedrock: LocalBedrock) -> None:
    stranger = Credentials("AKIDSTRANGER0000", "s" * 40)
    client = local_bedrock.client(credentials=stranger)
    try:
        error, _ = await fails(bedrock_converse_source(MODEL, prompt=QUESTION, client=client))
    finally:
        client.close()
    assert error.status == 403
    assert "UnrecognizedClientException" in str(error)
    assert "access key id is not valid" in str(error)
    assert "s" * 40 not in str(error)


async def test_no_credentials_at_all_is_a_clear_error(local_bedrock: LocalBedrock) -> None:
    source = bedrock_converse_source(
        MODEL,
        prompt=QUESTION,
        region=local_bedrock.region,
        endpoint_url=local_bedrock.endpoint_url,
        ca_file=local_bedrock.ca_file,
    )
    error, _ = await fails(source)
    assert "no usable AWS credentials" in str(error)
    assert "Unable to locate credentials" in str(error)


async def test_an_untrusted_certificate_is_a_tls_error(
    local_bedrock: LocalBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", local_bedrock.credentials.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", local_bedrock.credentials.secret_key)
    source = bedrock_converse_source(
        MODEL,
        prompt=QUESTION,
        region=local_bedrock.region,
        endpoint_url=local_bedrock.endpoint_url,
        max_attempts=1,
    )
    error, _ = await fails(source)
    assert "TLS verification of Bedrock" in str(error)
    assert "ca_file=" in str(error)
    assert local_bedrock.requests == []


async def test_no_server_is_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    source = bedrock_converse_source(
        MODEL,
        prompt=QUESTION,
        region="us-east-1",
        endpoint_url=f"https://127.0.0.1:{port}",
        max_attempts=1,
        connect_timeout=1,
    )
    error, _ = await fails(source)
    assert f"could not reach Bedrock (https://127.0.0.1:{port})" in str(error)


# --- arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("",), {"prompt": "hi"}, "needs a model_id"),
        ((MODEL,), {}, "either messages or prompt"),
        ((MODEL, [{"role": "user", "content": "hi"}]), {"prompt": "hi"}, "either messages"),
        ((MODEL, "hi"), {"prompt": "hi"}, "not both"),
        ((MODEL,), {"prompt": "  "}, "non-empty string"),
        ((MODEL, []), {}, "non-empty list"),
        ((MODEL, {"role": "user", "content": "hi"}), {}, "non-empty list"),
        ((MODEL, [{"role": "system", "content": "be brief"}]), {}, "system="),
        ((MODEL, [{"role": "robot", "content": "beep"}]), {}, r"messages\[0\]\.role"),
        ((MODEL, [{"role": "user", "content": []}]), {}, r"messages\[0\]\.content"),
        ((MODEL, [{"role": "assistant", "content": "hi"}]), {}, "start with a user message"),
        ((MODEL,), {"prompt": "hi", "system": ""}, "system must not be empty"),
        ((MODEL,), {"prompt": "hi", "inference_config": 5}, "inference_config must be"),
        ((MODEL,), {"prompt": "hi", "inferenceConfig": {}}, "named arguments"),
        ((MODEL,), {"prompt": "hi", "read_timeout": 0}, "read_timeout must be a positive number"),
        ((MODEL,), {"prompt": "hi", "max_attempts": 0}, "max_attempts must be at least 1"),
        ((MODEL,), {"prompt": "hi", "ca_file": "/nonexistent/ca.pem"}, "does not exist"),
        ((MODEL,), {"prompt": "hi", "client": object()}, "bedrock-runtime"),
    ],
)
def test_bad_arguments_fail_at_once(
    args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        bedrock_converse_source(*args, **kwargs)


def test_client_and_connection_options_exclude_each_other(bedrock: Any) -> None:
    with pytest.raises(ConfigurationError, match="either client= or region"):
        bedrock_converse_source(MODEL, prompt="hi", client=bedrock, region="us-west-2")


async def test_botocore_parameter_validation_is_a_configuration_error(bedrock: Any) -> None:
    source = bedrock_converse_source(
        MODEL, prompt="hi", inference_config={"maxTokens": "many"}, client=bedrock
    )
    with pytest.raises(ConfigurationError, match="maxTokens"):
        await anext(source)


async def test_no_region_is_a_configuration_error() -> None:
    source = bedrock_converse_source(MODEL, prompt="hi")
    with pytest.raises(ConfigurationError, match="no AWS region"):
        await anext(source)


async def test_an_unknown_profile_is_a_configuration_error() -> None:
    source = bedrock_converse_source(MODEL, prompt="hi", profile="nope", region="us-east-1")
    with pytest.raises(ConfigurationError, match="nope"):
        await anext(source)
