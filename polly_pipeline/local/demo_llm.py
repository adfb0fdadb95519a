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
import random
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from polly_pipeline.local.config import DemoLLMConfig
from polly_pipeline.local.http import BodyTooLarge, Request, RequestBody, Responder

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

_MAX_BODY = 4 * 1024 * 1024
_CREATED = 1_735_689_600  # 2025-01-01: the demo model's fixed "created" time
_FINGERPRINT = "fp_polly_pipeline_demo"
_DEMO_HEADER = ("x-polly-pipeline-demo", "offline stand-in LLM; canned answers")

#: The default answer and the benchmark's reference workload: markdown (headings, a numbered
#: and a bulleted list, bold and italics), abbreviations, decimals, money, a date and a URL.
REFERENCE_ANSWER = """\
# Streaming speech, step by step

Streaming text-to-speech lets an assistant start talking **before** the language model has \
finished writing. Instead of waiting for the whole reply, the pipeline hands each finished \
sentence to the speech service at once, so the first words play within a second or so.

## How it works

1. **Generate**: the model writes its answer a few characters at a time.
2. **Clean**: markdown, e.g. headings, bullet points and *emphasis*, is removed, because none \
of it should be read aloud.
3. **Segment**: the text is cut at sentence boundaries, but never inside abbreviations such as \
"Dr." or "e.g.", decimals such as 3.14, or dates such as March 14, 2025.
4. **Speak**: each segment goes to Amazon Polly over one persistent bidirectional stream, and \
the audio comes back in small chunks.

## Why it matters

Dr. Rivera, who studies conversational interfaces, puts it simply: people judge an assistant \
by how soon it answers, not by how soon it finishes. A long answer may take 8.5 seconds to \
generate, yet its first sentence is ready after about 0.4 seconds. Speaking that sentence \
right away cuts the silence by more than 90%.

The savings add up at scale. A support line that handles 20,000 calls a day could spend \
$1.5 million a year on callers waiting in silence, and a faster voice shortens every one of \
those calls.

## Things to watch

- Keep the spaces between pieces of text, or "12345." and "Let" run together.
- Flush early for the first sentence, then let Polly wait for natural boundaries.
- Stop the audio at once when the user interrupts.

You can read more about the service at https://docs.aws.amazon.com/polly/latest/dg/what-is.html. \
This answer was written by the polly-pipeline demo model, an offline stand-in for a real LLM.
"""


@dataclass(frozen=True)
class CannedAnswer:
    """One canned answer: its text, and whether it comes as content or as a refusal."""

    text: str
    kind: Literal["content", "refusal"] = "content"


#: Keyword patterns (matched against the last user message, first match wins) and answers.
CANNED_ANSWERS: tuple[tuple[str, CannedAnswer], ...] = (
    (r"\brefuse\b", CannedAnswer("I'm sorry, but I can't help with that request.", "refusal")),
    (r"\b(short|one word)\b", CannedAnswer("OK.")),
    (  # a question in German (for a German voice such as Vicki)
        r"\b(warum|wieso|weshalb|deutsch)\b",
        CannedAnswer(
            "Gern. Der Himmel ist blau, weil die Luft das Sonnenlicht streut: kurze, blaue "
            "Wellen werden etwa 5,5-mal stärker gestreut als rote. Das hat z. B. Lord Rayleigh "
            "schon im 19. Jh. beschrieben.\n\n## Warum nicht violett?\n\n- Die Sonne sendet "
            "weniger violettes Licht.\n- Unsere Augen sind für Blau empfindlicher.\n\nAbends "
            "wird der Himmel rot, weil das Licht einen längeren Weg durch die Luft nimmt. Ich "
            "bin übrigens das Demo-Modell von polly-pipeline, ein Offline-Ersatz für ein echtes "
            "Sprachmodell."
        ),
    ),
    (  # a question in Japanese (for a Japanese voice such as Kazuha)
        r"[\u3040-\u30ff\u4e00-\u9fff]",
        CannedAnswer(
            "はい、お答えします。空が青いのは、空気が太陽の光を散乱させるからです。青い光は波長が"
            "短いので、赤い光より約5.5倍も強く散乱されます。\n\n## 夕焼けが赤い理由\n\n"
            "夕方は光が空気の中を長く進むため、青い光が先に散ってしまい、赤い光が残ります。"
            "「なるほど！」と思っていただけたでしょうか。"
            "ちなみに、私はpolly-pipelineのデモ用モデルで、本物の言語モデルの代わりです。"
        ),
    ),
    (
        r"\bcode\b",
        CannedAnswer(
            'Here is a tiny example in Python:\n\n```python\nprint("Hello, world!")\n```\n\n'
            "It prints a greeting. A voice assistant should describe code like this rather "
            "than read it out symbol by symbol."
        ),
    ),
    (
        r"\bjokes?\b",
        CannedAnswer(
            "I asked my assistant to speak faster. Now it finishes my sentences before I've "
            "even started them. That's streaming for you! (I'm the offline demo model, so my "
            "jokes are canned, too.)"
        ),
    ),
    (
        r"\bweather\b",
        CannedAnswer(
            "I'm an offline demo model, so I can't look up the weather. If I could, I might "
            "say: sunny, with a high of 21°C (70°F), a light breeze of 15 km/h, and a 10% "
            "chance of rain after 6 p.m."
        ),
    ),
    (
        r"\b(hello|hi|hey)\b",
        CannedAnswer(
            "Hello! I'm the polly-pipeline demo model, an offline stand-in for a real language "
            "model. Ask me how streaming speech works, for a joke, or about the weather, and "
            "I'll answer with canned text that is spoken while it streams."
        ),
    ),
)

# Like GPT's pre-tokenizers, in Python's re: contractions, words and numbers with their
# leading space, punctuation runs, line breaks, and whitespace (which leaves its last space
# for the next word).
_PRETOKEN = re.compile(
    r"'(?:s|t|re|ve|m|ll|d)\b| ?[^\W\d_]+| ?\d{1,3}| ?(?:[^\w\s]|_)+|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def tokenize(text: str, seed: int = 0) -> list[str]:
    """Cut ``text`` into 1-4 character tokens, spaces attached to the word after them.

    The pieces join back to ``text`` exactly; the same seed gives the same pieces.
    """
    rng = random.Random(seed)
    tokens: list[str] = []
    for match in _PRETOKEN.finditer(text):
        piece = match.group()
        while len(piece) > 4:
            size = rng.choice((2, 3, 3, 4, 4, 4))
            if len(piece) - size < 1:
                size = len(piece) - 1
            tokens.append(piece[:size])
            piece = piece[size:]
        tokens.append(piece)
    return tokens


def canned_answer(messages: Sequence[Mapping[str, Any]]) -> CannedAnswer:
    """The answer to a conversation: picked by keywords in its last user message."""
    wanted = ""
    for message in reversed(messages):
        if message.get("role") == "user":
            wanted = message_text(message.get("content")).lower()
            break
    for pattern, answer in CANNED_ANSWERS:
        if re.search(pattern, wanted):
            return answer
    return CannedAnswer(REFERENCE_ANSWER)


# --- requests --------------------------------------------------------------------------------


class _APIError(Exception):
    """An error answered in OpenAI's format."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.payload = {"error": {"message": message, "type": type_, "param": param, "code": code}}


@dataclass(frozen=True)
class _ChatRequest:
    """The parts of a chat completions request the demo uses."""

    model: str
    messages: tuple[Mapping[str, Any], ...]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    tool: str | None  # the function to call, if the demo answers with a tool call


async def chat_completions(
    request: Request, body: RequestBody, responder: Responder, config: DemoLLMConfig
) -> None:
    """Serve ``POST /v1/chat/completions`` with a canned answer (streamed or whole)."""
    started = asyncio.get_running_loop().time()
    try:
        _check_auth(request)
        doc = await _read_json(body)
        chat = _parse(doc)
    except _APIError as exc:
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
        _check_auth(request)
    except _APIError as exc:
        await _send_json(responder, exc.status, exc.payload)
        return
    model = {
        "id": DEMO_MODEL,
        "object": "model",
        "created": _CREATED,
        "owned_by": "polly-pipeline (offline demo, canned answers)",
    }
    await _send_json(responder, 200, {"object": "list", "data": [model]})


def _check_auth(request: Request) -> None:
    scheme, _, token = (request.header("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _APIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). "
            "The polly-pipeline demo LLM accepts any key.",
        )


async def _read_json(body: RequestBody) -> Any:
    try:
        raw = await body.read_all(_MAX_BODY)
    except BodyTooLarge:
        raise _APIError(413, f"Request body is larger than {_MAX_BODY} bytes.") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise _APIError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON.)",
        ) from None


def _parse(doc: Any) -> _ChatRequest:
    if not isinstance(doc, dict):
        raise _APIError(400, "The request body must be a JSON object.")
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise _APIError(400, "you must provide a model parameter")
    messages = doc.get("messages")
    if messages is None:
        raise _APIError(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not messages:
        raise _APIError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("system", "developer", "user", "assistant", "tool", "function"):
            raise _APIError(
                400,
                f"Invalid value for 'messages[{index}].role': expected one of 'system', "
                "'developer', 'user', 'assistant', 'tool' or 'function'.",
                param=f"messages[{index}].role",
                code="invalid_value",
            )
    stream = doc.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise _APIError(400, "Invalid type for 'stream': expected a boolean.", param="stream")
    options = doc.get("stream_options")
    if options is not None and not stream:
        raise _APIError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    n = doc.get("n")
    if n not in (None, 1):
        raise _APIError(400, "The polly-pipeline demo LLM gives one choice only (n=1).", param="n")
    max_tokens = doc.get("max_completion_tokens", doc.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise _APIError(400, "Invalid 'max_tokens': expected an integer >= 1.", param="max_tokens")
    return _ChatRequest(
        model=model,
        messages=tuple(messages),
        stream=bool(stream),
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        max_tokens=max_tokens,
        tool=_tool_to_call(doc, messages),
    )


def _tool_to_call(doc: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The function the demo calls: the chosen one (or the first offered) on a user turn."""
    tools = doc.get("tools")
    choice = doc.get("tool_choice", "auto")
    if not isinstance(tools, list) or not tools or choice == "none":
        return None
    if messages[-1].get("role") != "user":
        return None  # the tool answered already: reply in text
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str):
            return name
    for tool in tools:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            name = tool["function"].get("name")
            if isinstance(name, str):
                return name
    return None


def message_text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


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
    def build(cls, chat: _ChatRequest, config: DemoLLMConfig) -> _Reply:
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


def _answer_for(chat: _ChatRequest, config: DemoLLMConfig) -> CannedAnswer:
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
    chat: _ChatRequest,
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
    chat: _ChatRequest,
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
