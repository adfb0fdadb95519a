"""Local service layer: the demo LLM's request checks, in OpenAI's words.

Authentication, body size, JSON and the chat completions parameters the demo understands,
each refused with the status, message, ``param`` and ``code`` OpenAI's API answers with
(:class:`OpenAIError`), so clients see the errors they would see from OpenAI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from polly_pipeline.local.http import BodyTooLarge, Request, RequestBody

__all__ = ["ChatRequest", "OpenAIError", "check_auth", "parse_chat_request", "read_json"]

_MAX_BODY = 4 * 1024 * 1024


class OpenAIError(Exception):
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
class ChatRequest:
    """The parts of a chat completions request the demo uses."""

    model: str
    messages: tuple[Mapping[str, Any], ...]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    tool: str | None  # the function to call, if the demo answers with a tool call


def check_auth(request: Request) -> None:
    scheme, _, token = (request.header("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise OpenAIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). "
            "The polly-pipeline demo LLM accepts any key.",
        )


async def read_json(body: RequestBody) -> Any:
    try:
        raw = await body.read_all(_MAX_BODY)
    except BodyTooLarge:
        raise OpenAIError(413, f"Request body is larger than {_MAX_BODY} bytes.") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise OpenAIError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON.)",
        ) from None


def parse_chat_request(doc: Any) -> ChatRequest:
    if not isinstance(doc, dict):
        raise OpenAIError(400, "The request body must be a JSON object.")
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise OpenAIError(400, "you must provide a model parameter")
    messages = doc.get("messages")
    if messages is None:
        raise OpenAIError(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not messages:
        raise OpenAIError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("system", "developer", "user", "assistant", "tool", "function"):
            raise OpenAIError(
                400,
                f"Invalid value for 'messages[{index}].role': expected one of 'system', "
                "'developer', 'user', 'assistant', 'tool' or 'function'.",
                param=f"messages[{index}].role",
                code="invalid_value",
            )
    stream = doc.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise OpenAIError(400, "Invalid type for 'stream': expected a boolean.", param="stream")
    options = doc.get("stream_options")
    if options is not None and not stream:
        raise OpenAIError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    n = doc.get("n")
    if n not in (None, 1):
        raise OpenAIError(
            400, "The polly-pipeline demo LLM gives one choice only (n=1).", param="n"
        )
    max_tokens = doc.get("max_completion_tokens", doc.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise OpenAIError(
            400, "Invalid 'max_tokens': expected an integer >= 1.", param="max_tokens"
        )
    return ChatRequest(
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
