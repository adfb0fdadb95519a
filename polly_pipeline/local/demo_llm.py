"""Local service layer: an offline demo LLM behind OpenAI's chat completions API.

``POST /v1/chat/completions`` and ``GET /v1/models`` speak OpenAI's wire format (Server-Sent
Events of ``chat.completion.chunk`` objects, ``data: [DONE]``, OpenAI's error JSON), so the real
``openai`` client runs against it. It is a **stand-in**, not a model: the answers are canned and
deterministic, chosen by keywords in the last user message (see :data:`CANNED_ANSWERS`), and cut
into word-piece-sized tokens paced like a real model (:class:`DemoLLMConfig`). The model it lists
is ``polly-pipeline-demo``; a request may name any model and gets that name echoed back.

What it imitates beyond plain text: ``delta.refusal`` (ask it to "refuse"), tool calls (when
the request offers ``tools`` and the last message is the user's, it calls the first function
once; after the tool's answer it answers in text), ``max_tokens`` / ``max_completion_tokens``
(finish_reason ``length``) and ``stream_options.include_usage``. Any bearer token is accepted,
but the ``Authorization`` header is required, as OpenAI requires it.

For tests it can be scripted (:class:`DemoLLMConfig`): a fixed ``answer`` text or exact
``answer_tokens`` instead of the canned answers, a failure after N tokens, and an
``on_request`` hook that sees every request (the ``fake_llm`` pytest fixture builds on these).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from polly_pipeline.local.config import DemoLLMConfig
from polly_pipeline.local.demo_answers import (
    CANNED_ANSWERS,
    REFERENCE_ANSWER,
    CannedAnswer,
    canned_answer,
    message_text,
    tokenize,
)
from polly_pipeline.local.demo_request import (
    ChatRequest,
    OpenAIError,
    check_auth,
    parse_chat_request,
    read_json,
)
from polly_pipeline.local.http import Request, RequestBody, Responder

__all__ = [
    "CANNED_ANSWERS",
    "DEMO_MODEL",
    "REFERENCE_ANSWER",
    "CannedAnswer",
    "DemoLLMConfig",
    "canned_answer",
    "chat_completions",
    "list_models",
    "message_text",
    "tokenize",
]

#: The model id the demo lists; answers echo whatever model the request names.
DEMO_MODEL = "polly-pipeline-demo"

_CREATED = 1_735_689_600  # 2025-01-01: the demo model's fixed "created" time
_FINGERPRINT = "fp_polly_pipeline_demo"
_DEMO_HEADER = ("x-polly-pipeline-demo", "offline stand-in LLM; canned answers")


async def chat_completions(
    request: Request, body: RequestBody, responder: Responder, config: DemoLLMConfig
) -> None:
    """Serve ``POST /v1/chat/completions`` with a canned answer (streamed or whole)."""
    started = asyncio.get_running_loop().time()
    try:
        check_auth(request)
        doc = await read_json(body)
        chat = parse_chat_request(doc)
    except OpenAIError as exc:
        await _send_json(responder, exc.status, exc.payload)
        return
    if config.on_request is not None:
        config.on_request(doc)
    prompt_tokens = sum(
        len(tokenize(message_text(m.get("content")), config.seed)) + 3 for m in chat.messages
    )
    reply = _Reply.build(chat, config)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(reply.tokens),
        "total_tokens": prompt_tokens + len(reply.tokens),
    }
    send = _stream if chat.stream else _whole
    await send(responder, chat=chat, reply=reply, usage=usage, config=config, started=started)


async def list_models(request: Request, body: RequestBody, responder: Responder) -> None:
    """Serve ``GET /v1/models``: the demo model only."""
    try:
        check_auth(request)
    except OpenAIError as exc:
        await _send_json(responder, exc.status, exc.payload)
        return
    model = {
        "id": DEMO_MODEL,
        "object": "model",
        "created": _CREATED,
        "owned_by": "polly-pipeline (offline demo, canned answers)",
    }
    await _send_json(responder, 200, {"object": "list", "data": [model]})


# --- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    """What the demo answers: tokens of content, refusal or tool-call arguments."""

    kind: Literal["content", "refusal", "tool_call"]
    tokens: tuple[str, ...]
    finish_reason: str
    tool: str | None = None
    call_id: str | None = None

    @classmethod
    def build(cls, chat: ChatRequest, config: DemoLLMConfig) -> _Reply:
        if chat.tool is not None:
            arguments = json.dumps({"query": message_text(chat.messages[-1].get("content"))[:200]})
            tokens = tokenize(arguments, config.seed)
            kind: Literal["content", "refusal", "tool_call"] = "tool_call"
            finish = "tool_calls"
        else:
            answer = _answer_for(chat, config)
            tokens = (
                list(config.answer_tokens)
                if config.answer_tokens is not None
                else tokenize(answer.text, config.seed)
            )
            kind = answer.kind
            finish = "stop"
        if chat.max_tokens is not None and len(tokens) > chat.max_tokens:
            tokens = tokens[: chat.max_tokens]
            finish = "length"
        call_id = f"call_{uuid.uuid4().hex[:24]}" if kind == "tool_call" else None
        return cls(kind, tuple(tokens), finish, chat.tool, call_id)

    def delta(self, token: str, first: bool) -> dict[str, Any]:
        """The ``delta`` of the chunk carrying ``token``."""
        if self.kind == "content":
            return {"content": token}
        if self.kind == "refusal":
            return {"refusal": token}
        call: dict[str, Any] = {"index": 0, "function": {"arguments": token}}
        if first:
            call.update(id=self.call_id, type="function")
            call["function"] = {"name": self.tool, "arguments": token}
        return {"tool_calls": [call]}

    def message(self) -> dict[str, Any]:
        """The whole answer as a ``chat.completion`` message."""
        text = "".join(self.tokens)
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if self.kind == "content":
            message["content"] = text
        elif self.kind == "refusal":
            message["refusal"] = text
        else:
            message["tool_calls"] = [
                {
                    "id": self.call_id,
                    "type": "function",
                    "function": {"name": self.tool, "arguments": text},
                }
            ]
        return message


def _answer_for(chat: ChatRequest, config: DemoLLMConfig) -> CannedAnswer:
    """The scripted answer when there is one, else the canned answer for the conversation."""
    if config.answer_tokens is not None:
        return CannedAnswer("".join(config.answer_tokens))
    if config.answer is not None:
        return CannedAnswer(config.answer)
    return canned_answer(chat.messages)


class _Pacer:
    """Sleeps until each token is due: the first after the delay, then at the token rate."""

    def __init__(self, config: DemoLLMConfig, started: float) -> None:
        self._first = started + config.first_token_delay
        self._interval = 1.0 / config.tokens_per_second if config.tokens_per_second else 0.0

    async def wait(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        delay = self._first + index * self._interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


async def _stream(
    responder: Responder,
    *,
    chat: ChatRequest,
    reply: _Reply,
    usage: Mapping[str, int],
    config: DemoLLMConfig,
    started: float,
) -> None:
    head = {
        "id": f"chatcmpl-demo{uuid.uuid4().hex[:20]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": chat.model,
        "system_fingerprint": _FINGERPRINT,
    }

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        doc = {**head, "choices": choices, **extra}
        if chat.include_usage:
            doc.setdefault("usage", None)
        return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"

    def choice(delta: Mapping[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    await responder.send_headers(
        200,
        [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            ("x-request-id", _request_id()),
            _DEMO_HEADER,
        ],
    )
    pacer = _Pacer(config, started)
    await pacer.wait(0)
    role: dict[str, Any] = {
        "role": "assistant",
        "content": "" if reply.kind != "tool_call" else None,
    }
    if reply.kind != "tool_call":
        role["refusal"] = None
    await responder.send_data(event(choice(role)))
    for index, token in enumerate(reply.tokens):
        if config.fail_after_tokens is not None and index >= config.fail_after_tokens:
            responder.reset()  # HTTP/1.1: the connection drops mid-body
            return
        await pacer.wait(index)
        await responder.send_data(event(choice(reply.delta(token, index == 0))))
    await responder.send_data(event(choice({}, reply.finish_reason)))
    if chat.include_usage:
        await responder.send_data(event([], usage=dict(usage)))
    await responder.send_data(b"data: [DONE]\n\n")
    await responder.end()


async def _whole(
    responder: Responder,
    *,
    chat: ChatRequest,
    reply: _Reply,
    usage: Mapping[str, int],
    config: DemoLLMConfig,
    started: float,
) -> None:
    pacer = _Pacer(config, started)
    limit = config.fail_after_tokens
    if limit is not None and limit < len(reply.tokens):
        await pacer.wait(limit)
        responder.reset()
        return
    await pacer.wait(max(len(reply.tokens) - 1, 0))
    completion = {
        "id": f"chatcmpl-demo{uuid.uuid4().hex[:20]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model,
        "system_fingerprint": _FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": reply.message(),
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": dict(usage),
    }
    await _send_json(responder, 200, completion)


def _request_id() -> str:
    return f"req_demo{uuid.uuid4().hex[:24]}"


async def _send_json(responder: Responder, status: int, payload: Mapping[str, Any]) -> None:
    data = json.dumps(payload).encode()
    await responder.send_headers(
        status,
        [
            ("content-type", "application/json"),
            ("content-length", str(len(data))),
            ("x-request-id", _request_id()),
            _DEMO_HEADER,
        ],
    )
    await responder.send_data(data)
    await responder.end()
