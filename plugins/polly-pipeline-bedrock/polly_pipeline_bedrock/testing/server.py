"""Testing layer: a local Amazon Bedrock Runtime that serves ConverseStream over verified TLS.

``POST /model/{modelId}/converse-stream`` answers the way Bedrock does: SigV4 (service
``bedrock``) is verified with the core's :func:`~polly_pipeline.protocol.verify_request`,
bad signatures and unknown keys get the service's 403 errors, and an accepted request gets an
``application/vnd.amazon.eventstream`` body (``messageStart``, ``contentBlockDelta``...,
``contentBlockStop``, ``messageStop``, ``metadata``) paced like a model. The answers are
scripted (:class:`~polly_pipeline_bedrock.testing.config.LocalBedrockConfig`) and failures are
staged with :meth:`LocalBedrock.inject`. It runs on the core's HTTP/1.1 + HTTP/2 server, so
the real botocore client talks to it as it would to ``bedrock-runtime.<region>.amazonaws.com``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import json
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote

from polly_pipeline.errors import SignatureError
from polly_pipeline.local import (
    BodyTooLarge,
    HttpServer,
    Request,
    RequestBody,
    Responder,
    StreamClosed,
    TLSMaterial,
)
from polly_pipeline.protocol import Credentials, verify_request
from polly_pipeline.testing import canned_answer, split_tokens
from polly_pipeline_bedrock.testing.config import BedrockFault, LocalBedrockConfig, RecordedRequest
from polly_pipeline_bedrock.testing.wire import (
    EVENTSTREAM_CONTENT_TYPE,
    HTTP_ERROR_STATUS,
    error_body,
    event_frame,
    exception_frame,
)

__all__ = ["LocalBedrock"]

_PATH = re.compile(r"/model/([^/]+)/converse-stream")
_MAX_BODY = 2 * 1024 * 1024
_BODY_TIMEOUT = 10.0
_CORAL = ":http://internal.amazon.com/coral/com.amazon.coral.service/"
_DEFAULT_MESSAGES = {
    "modelStreamErrorException": "The model failed while streaming its response.",
    "throttlingException": "Too many tokens, please wait before trying again.",
    "validationException": "The model rejected the conversation.",
    "serviceUnavailableException": "The service is unavailable. Please try again later.",
    "internalServerException": "The server encountered an internal error.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
}


class LocalBedrock:
    """A local Bedrock Runtime: ``async with LocalBedrock() as bedrock: bedrock.client()``.

    Args:
        config: the scripted model (``self.config`` may be replaced between requests).
        credentials: the only credentials accepted (fresh random ones by default).
        ca_file: where to write the CA certificate clients must trust (a private temporary
            file, removed on close, by default).
        host: address to listen on (loopback).
        port: port to listen on (0 picks a free one).
        clock: the server's clock for signature expiry (``datetime.now(UTC)`` by default).
    """

    def __init__(
        self,
        config: LocalBedrockConfig | None = None,
        *,
        credentials: Credentials | None = None,
        ca_file: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        self.config = config or LocalBedrockConfig()
        self.credentials = credentials or Credentials(
            "AKIDLOCALBEDROCK" + secrets.token_hex(2).upper(), secrets.token_urlsafe(30)
        )
        self._tls = TLSMaterial.generate()
        self._tmp: str | None = None
        if ca_file is None:
            self._tmp = tempfile.mkdtemp(prefix="bedrock-local-")
            ca_file = Path(self._tmp) / "ca.pem"
        self.ca_file = self._tls.write_ca(ca_file)
        self._clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
        self._server = HttpServer(self._handle, tls=self._tls, host=host, port=port)
        self._cond = threading.Condition()
        self._faults: list[BedrockFault] = []
        #: Every ConverseStream request that passed authentication, in order.
        self.requests: list[RecordedRequest] = []

    def __repr__(self) -> str:
        return f"<LocalBedrock {self._server.url} region={self.config.region}>"

    @property
    def endpoint_url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return self._server.url

    @property
    def region(self) -> str:
        """The region requests must be signed for."""
        return self.config.region

    @property
    def active_connections(self) -> int:
        """TCP connections open right now."""
        return self._server.active_connections

    def environment(self) -> dict[str, str]:
        """Environment variables that point botocore's default chain at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.endpoint_url,
            "AWS_CA_BUNDLE": str(self.ca_file),
        }

    def client(self, *, credentials: Credentials | None = None, **config: Any) -> Any:
        """A botocore ``bedrock-runtime`` client for this server (no retries unless asked).

        ``credentials`` signs instead of the server's own (to test rejections); ``config``
        goes to ``botocore.config.Config`` (``read_timeout=``...).
        """
        signer = credentials or self.credentials
        from botocore.config import Config  # noqa: PLC0415
        from botocore.session import Session  # noqa: PLC0415

        options: dict[str, Any] = {"retries": {"total_max_attempts": 1}, **config}
        return Session().create_client(
            "bedrock-runtime",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            verify=str(self.ca_file),
            aws_access_key_id=signer.access_key,
            aws_secret_access_key=signer.secret_key,
            config=Config(**options),
        )

    # -- faults and records (safe to call from any thread) ----------------------------------

    def inject(self, fault: BedrockFault) -> None:
        """Stage ``fault`` for the next ``fault.times`` requests (after those already staged)."""
        with self._cond:
            self._faults.append(fault)

    def wait_for(self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float) -> None:
        """Wait until ``predicate(self.requests)`` holds; TimeoutError after ``timeout``."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.requests), timeout):
                outcomes = [r.outcome for r in self.requests]
                raise TimeoutError(f"condition not met within {timeout}s; requests: {outcomes}")

    def _take_fault(self) -> BedrockFault | None:
        with self._cond:
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault.times > 1:
                self._faults[0] = replace(fault, times=fault.times - 1)
            else:
                self._faults.pop(0)
            return fault

    def _update(self, record: RecordedRequest, **changes: Any) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(record, name, value)
            self._cond.notify_all()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening."""
        await self._server.start()

    async def aclose(self) -> None:
        """Stop serving, close every connection and remove the temporary CA file. Idempotent."""
        await self._server.aclose()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the operation ----------------------------------------------------------------------

    def _lookup(self, access_key: str) -> Credentials | None:
        return self.credentials if access_key == self.credentials.access_key else None

    async def _handle(self, request: Request, body: RequestBody, responder: Responder) -> None:
        try:
            raw = await asyncio.wait_for(body.read_all(_MAX_BODY), _BODY_TIMEOUT)
        except BodyTooLarge:
            await _error(responder, "ValidationException", "Input is too long for the model.")
            return
        match = _PATH.fullmatch(request.path)
        if request.method != "POST" or match is None:
            await _error(responder, "UnknownOperationException", "")
            return
        try:
            verified = verify_request(
                method=request.method,
                path=request.path,
                query=request.query,
                headers=request.headers,
                lookup=self._lookup,
                now=self._clock(),
                service="bedrock",
                payload_hash=hashlib.sha256(raw).hexdigest(),
            )
        except SignatureError as exc:
            await _error(responder, *_signature_error(str(exc)))
            return
        config = self.config
        if verified.region != config.region:
            await _error(
                responder,
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region, not '{verified.region}'.",
            )
            return
        model_id = unquote(match[1])
        try:
            document = json.loads(raw or b"{}")
        except ValueError:
            await _error(responder, "SerializationException", "Request body is not valid JSON.")
            return
        problem = _validate(model_id, document, config)
        if problem:
            await _error(responder, "ValidationException", problem)
            return
        record = RecordedRequest(model_id, document, verified.credentials.redacted_access_key)
        with self._cond:
            self.requests.append(record)
            self._cond.notify_all()
        fault = self._take_fault()
        if fault is not None and fault.kind == "http_error":
            code = fault.code or "ThrottlingException"
            self._update(record, outcome=f"http_error:{code}")
            await _error(responder, code, fault.message or _DEFAULT_MESSAGES.get(code, code))
            return
        await responder.send_headers(
            200,
            [
                ("content-type", EVENTSTREAM_CONTENT_TYPE),
                ("x-amzn-requestid", str(uuid.uuid4())),
            ],
        )
        try:
            await self._stream(responder, record, document, config, fault)
        except StreamClosed:
            self._update(record, outcome="client_gone")
            raise

    async def _stream(
        self,
        responder: Responder,
        record: RecordedRequest,
        document: Mapping[str, Any],
        config: LocalBedrockConfig,
        fault: BedrockFault | None,
    ) -> None:
        started = time.monotonic()
        messages = document.get("messages") or []
        answer = config.answer
        if answer is None:
            answer = canned_answer([_as_chat(m) for m in messages]).text
        tokens = split_tokens(answer)
        stop_reason = "tool_use" if config.tool_use else "end_turn"
        max_tokens = (document.get("inferenceConfig") or {}).get("maxTokens")
        if isinstance(max_tokens, int) and max_tokens < len(tokens):
            tokens, stop_reason = tokens[:max_tokens], "max_tokens"
        pacer = _Pacer(config)
        await responder.send_data(event_frame("messageStart", {"role": "assistant"}))
        block = 0
        if config.reasoning:
            for piece in split_tokens(config.reasoning):
                await pacer.wait()
                delta = {"reasoningContent": {"text": piece}}
                await responder.send_data(_delta(block, delta))
            signature = {"reasoningContent": {"signature": secrets.token_hex(16)}}
            await responder.send_data(_delta(block, signature))
            await responder.send_data(event_frame("contentBlockStop", {"contentBlockIndex": block}))
            block += 1
        for index, token in enumerate(tokens):
            if fault is not None and index == fault.after_tokens:
                await self._fail(responder, record, fault, config)
                return
            await pacer.wait()
            await responder.send_data(_delta(block, {"text": token}))
            self._update(record, tokens_sent=index + 1)
        if fault is not None:  # staged after the last token: fail before the stop
            await self._fail(responder, record, fault, config)
            return
        await responder.send_data(event_frame("contentBlockStop", {"contentBlockIndex": block}))
        if config.tool_use:
            block += 1
            tool_id = f"tooluse_{secrets.token_hex(8)}"
            start = {"toolUse": {"toolUseId": tool_id, "name": config.tool_use}}
            await responder.send_data(
                event_frame("contentBlockStart", {"start": start, "contentBlockIndex": block})
            )
            for piece in ('{"query": ', '"the weather"}'):
                await responder.send_data(_delta(block, {"toolUse": {"input": piece}}))
            await responder.send_data(event_frame("contentBlockStop", {"contentBlockIndex": block}))
        await responder.send_data(event_frame("messageStop", {"stopReason": stop_reason}))
        input_tokens = sum(len(json.dumps(m).split()) for m in messages)
        usage = {
            "inputTokens": input_tokens,
            "outputTokens": len(tokens),
            "totalTokens": input_tokens + len(tokens),
        }
        latency = {"latencyMs": round((time.monotonic() - started) * 1000)}
        await responder.send_data(event_frame("metadata", {"usage": usage, "metrics": latency}))
        await responder.end()
        self._update(record, outcome="completed")

    async def _fail(
        self,
        responder: Responder,
        record: RecordedRequest,
        fault: BedrockFault,
        config: LocalBedrockConfig,
    ) -> None:
        if fault.kind == "exception":
            code = fault.code or "modelStreamErrorException"
            message = fault.message or _DEFAULT_MESSAGES[code]
            members: dict[str, Any] = {}
            if code == "modelStreamErrorException":
                members = {"originalStatusCode": 500, "originalMessage": "model worker failed"}
            self._update(record, outcome=f"exception:{code}")
            await responder.send_data(exception_frame(code, message, **members))
            await responder.end()
        elif fault.kind == "drop":
            self._update(record, outcome="dropped")
            responder.connection.drop()
        else:  # stall
            self._update(record, outcome="stalled")
            await asyncio.sleep(config.stall_seconds)


class _Pacer:
    """Waits for each token's turn: the first after the first-token delay, then the rate."""

    def __init__(self, config: LocalBedrockConfig) -> None:
        self._interval = 1.0 / config.tokens_per_second
        self._next = time.monotonic() + config.first_token_delay

    async def wait(self) -> None:
        delay = self._next - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self._next = max(self._next, time.monotonic() - self._interval) + self._interval


def _delta(block: int, delta: Mapping[str, Any]) -> bytes:
    return event_frame("contentBlockDelta", {"contentBlockIndex": block, "delta": delta})


def _as_chat(message: Any) -> dict[str, Any]:
    """A Bedrock message as the demo model's chat message (role and text)."""
    if not isinstance(message, Mapping):
        return {}
    texts = [
        str(block["text"])
        for block in message.get("content") or ()
        if isinstance(block, Mapping) and "text" in block
    ]
    return {"role": message.get("role"), "content": " ".join(texts)}


def _validate(model_id: str, document: Any, config: LocalBedrockConfig) -> str:
    """The ValidationException message for a bad request, or ``""``."""
    if config.models is not None and model_id not in config.models:
        return "The provided model identifier is invalid."
    if not isinstance(document, dict):
        return "Request body must be a JSON object."
    messages = document.get("messages")
    if not isinstance(messages, list) or not messages:
        return "A conversation must start with a user message. Try again with a conversation"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"1 validation error detected: Value at 'messages.{i + 1}.member.role' failed"
        content = message.get("content")
        if not isinstance(content, list) or not content:
            return f"The content field in the Message object at messages.{i} is empty."
    if messages[0].get("role") != "user":
        return "A conversation must start with a user message. Try again with a conversation"
    return ""


def _signature_error(message: str) -> tuple[str, str]:
    """The service's error code (and message) for a request whose signature failed."""
    if message.startswith("Missing Authentication Token"):
        return "MissingAuthenticationTokenException", "Missing Authentication Token"
    if message.startswith("The security token included in the request is invalid"):
        return (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    if message.startswith(("Signature expired", "Signature not yet current", "The request sig")):
        return "InvalidSignatureException", message
    return "IncompleteSignatureException", message


async def _error(responder: Responder, code: str, message: str) -> None:
    """An HTTP-level error in rest-json form (status from the error shape)."""
    body = error_body(message) if message else b"{}"
    errortype = code + (_CORAL if HTTP_ERROR_STATUS[code] == 403 else "")
    headers: Sequence[tuple[str, str]] = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("x-amzn-requestid", str(uuid.uuid4())),
        ("x-amzn-errortype", errortype),
    ]
    await responder.send_headers(HTTP_ERROR_STATUS[code], headers)
    await responder.send_data(body)
    with contextlib.suppress(StreamClosed):
        await responder.end()
