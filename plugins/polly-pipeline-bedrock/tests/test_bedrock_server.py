"""The local Bedrock speaks the service's wire format: botocore's own client and event-stream
parser read its answers, and requests that fail authentication get the service's errors."""

from __future__ import annotations

import datetime
import http.client
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions
import pytest
from botocore.session import Session
from conftest import MODEL
from polly_pipeline_bedrock.testing import (
    BackgroundBedrock,
    BedrockFault,
    LocalBedrock,
    LocalBedrockConfig,
)

from polly_pipeline.testing import split_tokens

PROMPT = [{"role": "user", "content": [{"text": "Tell me a joke."}]}]


def test_botocore_parses_every_event(bedrock: Any, local_bedrock: LocalBedrock) -> None:
    local_bedrock.config = LocalBedrockConfig(
        answer="Hello there.", reasoning="Greet.", tool_use="lookup", first_token_delay=0
    )
    response = bedrock.converse_stream(modelId=MODEL, messages=PROMPT)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == (
        "application/vnd.amazon.eventstream"
    )
    try:
        events = list(response["stream"])
    finally:
        response["stream"].close()
    kinds = [next(iter(event)) for event in events]
    text = split_tokens("Hello there.")
    assert kinds == [
        "messageStart",
        *["contentBlockDelta"] * len(split_tokens("Greet.")),  # reasoning text
        "contentBlockDelta",  # reasoning signature
        "contentBlockStop",
        *["contentBlockDelta"] * len(text),
        "contentBlockStop",
        "contentBlockStart",  # the tool call
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[0] == {"messageStart": {"role": "assistant"}}  # the padding is not modelled
    assert events[1]["contentBlockDelta"] == {
        "contentBlockIndex": 0,
        "delta": {"reasoningContent": {"text": split_tokens("Greet.")[0]}},
    }
    first_text = 3 + len(split_tokens("Greet."))
    assert events[first_text]["contentBlockDelta"] == {
        "contentBlockIndex": 1,
        "delta": {"text": text[0]},
    }
    tool = events[-6]["contentBlockStart"]
    assert tool["start"]["toolUse"]["name"] == "lookup"
    assert tool["contentBlockIndex"] == 2
    tool_input = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events[-5:-3])
    assert json.loads(tool_input) == {"query": "the weather"}
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}
    metadata = events[-1]["metadata"]
    assert set(metadata["usage"]) == {"inputTokens", "outputTokens", "totalTokens"}
    assert isinstance(metadata["metrics"]["latencyMs"], int)


def test_botocore_raises_modelled_stream_exceptions(
    bedrock: Any, local_bedrock: LocalBedrock
) -> None:
    local_bedrock.inject(BedrockFault("exception", after_tokens=2, code="throttlingException"))
    response = bedrock.converse_stream(modelId=MODEL, messages=PROMPT)
    received: list[dict[str, Any]] = []
    try:
        with pytest.raises(botocore.exceptions.EventStreamError) as caught:
            received.extend(response["stream"])
    finally:
        response["stream"].close()
    assert caught.value.response["Error"]["Code"] == "throttlingException"
    assert "Too many tokens" in caught.value.response["Error"]["Message"]
    assert len(received) == 3  # messageStart and two deltas
    assert local_bedrock.requests[-1].outcome == "exception:throttlingException"


@pytest.mark.parametrize(
    ("code", "status"), [("ThrottlingException", 429), ("ServiceUnavailableException", 503)]
)
def test_http_errors_are_modelled(
    bedrock: Any, local_bedrock: LocalBedrock, code: str, status: int
) -> None:
    local_bedrock.inject(BedrockFault("http_error", code=code))
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        bedrock.converse_stream(modelId=MODEL, messages=PROMPT)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert type(caught.value).__name__ == code  # botocore maps it to its modelled class


def _raw_post(bedrock: LocalBedrock, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    url = urlsplit(bedrock.endpoint_url)
    tls = ssl.create_default_context(cafile=str(bedrock.ca_file))
    conn = http.client.HTTPSConnection(url.hostname or "", url.port, context=tls, timeout=5)
    try:
        conn.request("POST", "/model/m.x/converse-stream", body=b"{}", headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        conn.close()


def test_an_unsigned_request_is_refused(local_bedrock: LocalBedrock) -> None:
    status, headers, body = _raw_post(local_bedrock, {"content-type": "application/json"})
    assert status == 403
    assert headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException:")
    assert body == {"message": "Missing Authentication Token"}
    assert local_bedrock.requests == []


def test_an_expired_signature_is_refused(tmp_path: Any) -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    with BackgroundBedrock(ca_file=tmp_path / "ca.pem", clock=lambda: later) as server:
        client = server.client()
        try:
            with pytest.raises(botocore.exceptions.ClientError) as caught:
                client.converse_stream(modelId=MODEL, messages=PROMPT)
        finally:
            client.close()
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "Signature expired" in caught.value.response["Error"]["Message"]


def test_a_request_signed_for_another_region_is_refused(local_bedrock: LocalBedrock) -> None:
    client = Session().create_client(
        "bedrock-runtime",
        region_name="eu-west-3",
        endpoint_url=local_bedrock.endpoint_url,
        verify=str(local_bedrock.ca_file),
        aws_access_key_id=local_bedrock.credentials.access_key,
        aws_secret_access_key=local_bedrock.credentials.secret_key,
    )
    try:
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            client.converse_stream(modelId=MODEL, messages=PROMPT)
    finally:
        client.close()
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "eu-west-3" in caught.value.response["Error"]["Message"]


def test_the_server_repr_and_environment_hide_nothing_secret_in_repr(
    local_bedrock: LocalBedrock,
) -> None:
    assert local_bedrock.credentials.secret_key not in repr(local_bedrock)
    assert local_bedrock.credentials.secret_key not in repr(local_bedrock.credentials)
    env = local_bedrock.environment()
    assert env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] == local_bedrock.endpoint_url


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="not a ConverseStream exception"):
        BedrockFault("exception", code="ThrottlingException")
    with pytest.raises(ValueError, match="unknown fault kind"):
        BedrockFault("explode")  # type: ignore[arg-type]
