"""Gateway layer: OpenAI-compatible speech (``POST /v1/audio/speech``, ``GET /v1/models``).

The official ``openai`` client's ``audio.speech.with_streaming_response.create(...)`` streams
audio from here while Polly synthesizes it. ``voice`` is a Polly voice id (``Joanna``) or an
OpenAI voice name mapped to a Polly generative voice (:data:`OPENAI_VOICES`).
``response_format``: ``mp3`` (Polly mp3, 24 kHz), ``opus`` (Ogg Opus, 48 kHz), ``wav``
(16-bit PCM at 16 kHz in a WAV header whose sizes say "unknown length", as for any live
stream) and ``pcm`` (raw 16-bit little-endian at 24 kHz, as OpenAI documents it: Polly's mp3
at 24 kHz, decoded on the way). Errors have OpenAI's shape: ``{"error": {"message", "type",
"param", "code"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from polly_pipeline.audio import AudioFormat, StreamDecoder
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.client.stream import SpeechSynthesisStream
from polly_pipeline.errors import (
    ConfigurationError,
    ParameterValidationError,
    PollyPipelineError,
    ServiceException,
    ThrottlingException,
)
from polly_pipeline.protocol.voices import voice_language
from polly_pipeline.text.segment import Segmenter, SegmenterOptions

__all__ = ["MODELS", "OPENAI_VOICES", "RESPONSE_FORMATS", "models", "speech"]

#: The models this gateway answers to: its own, and OpenAI's speech models as aliases (so
#: code written for OpenAI works unchanged). All speak with Polly's generative engine.
MODELS = ("polly-generative", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")

#: OpenAI voice name -> the Polly generative voice that speaks for it.
OPENAI_VOICES = {
    "alloy": "Joanna",
    "ash": "Matthew",
    "ballad": "Brian",
    "coral": "Ruth",
    "echo": "Stephen",
    "fable": "Amy",
    "nova": "Danielle",
    "onyx": "Leo",
    "sage": "Salli",
    "shimmer": "Olivia",
    "verse": "Kenneth",
    "marin": "Tiffany",
    "cedar": "Nate",
}


@dataclass(frozen=True)
class _Format:
    polly_format: str
    sample_rate: int
    content_type: str


#: OpenAI ``response_format`` -> what Polly makes and what the response says it is.
RESPONSE_FORMATS = {
    "mp3": _Format("mp3", 24000, "audio/mpeg"),
    "opus": _Format("ogg_opus", 48000, "audio/ogg"),
    "wav": _Format("pcm", 16000, "audio/wav"),
    "pcm": _Format("mp3", 24000, "audio/pcm"),
}
_FIELDS = {"model", "input", "voice", "response_format", "speed", "instructions", "stream_format"}


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.status = message, param, status


def _error(message: str, param: str | None, status: int, code: str | None = None) -> Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


async def models(request: Request) -> Response:
    """``GET /v1/models``: the speech models, in OpenAI's list shape."""
    created = int(time.time())
    data = [
        {"id": m, "object": "model", "created": created, "owned_by": "polly-pipeline"}
        for m in MODELS
    ]
    return JSONResponse({"object": "list", "data": data})


def _voice(value: object) -> str:
    if isinstance(value, dict):  # newer clients may send {"id": "..."}
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise _BadRequest("voice must be a Polly voice id or an OpenAI voice name", "voice")
    return OPENAI_VOICES.get(value.lower(), value)


def _parse(body: bytes, max_chars: int) -> tuple[str, str, str]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _BadRequest(f"the body is not JSON: {exc}", None) from None
    if not isinstance(data, dict):
        raise _BadRequest("the body must be a JSON object", None)
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise _BadRequest(f"unknown parameter(s): {', '.join(unknown)}", unknown[0])
    model = data.get("model")
    if model not in MODELS:
        raise _BadRequest(
            f"model {model!r} does not exist; use one of {', '.join(MODELS)}", "model", 404
        )
    text = data.get("input")
    if not isinstance(text, str) or not text.strip():
        raise _BadRequest("input must be a non-empty string", "input")
    if len(text) > max_chars:
        raise _BadRequest(f"input holds at most {max_chars} characters, got {len(text)}", "input")
    fmt = data.get("response_format", "mp3")
    if fmt not in RESPONSE_FORMATS:
        raise _BadRequest(
            f"response_format {fmt!r} is not available here; use one of "
            f"{', '.join(RESPONSE_FORMATS)}",
            "response_format",
        )
    speed = data.get("speed", 1.0)
    if speed not in (None, 1, 1.0):
        raise _BadRequest("speed other than 1.0 is not supported by Polly's stream", "speed")
    if data.get("stream_format", "audio") != "audio":
        raise _BadRequest(
            'stream_format must be "audio" (server-sent events are not offered)', "stream_format"
        )
    return text, _voice(data.get("voice")), fmt


def _wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono PCM WAV header for a stream of unknown length (sizes 0xFFFFFFFF)."""
    unknown = 0xFFFF_FFFF
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", unknown)
    )


async def _send(stream: SpeechSynthesisStream, text: str, voice: str) -> None:
    """The input cut by the segmenter, the first piece flushed so speech starts at once."""
    segmenter = Segmenter(SegmenterOptions(language=voice_language(voice) or "en"))
    pieces = [s.text for s in segmenter.feed(text) + segmenter.flush()]
    for n, piece in enumerate(pieces):
        await stream.send_text(piece, flush=n == 0)
    await stream.end_input()


async def _audio(
    stream: SpeechSynthesisStream, text: str, voice: str, fmt: str
) -> AsyncIterator[bytes]:
    """The audio as Polly makes it, while the text is still being sent."""
    spec = RESPONSE_FORMATS[fmt]
    sender = asyncio.create_task(_send(stream, text, voice), name="gateway-speech-send")
    try:
        if fmt == "wav":
            yield _wav_header(spec.sample_rate)
        decoder = StreamDecoder(AudioFormat("mp3", spec.sample_rate)) if fmt == "pcm" else None
        async for chunk in stream.audio():
            data = decoder.feed(chunk) if decoder is not None else chunk
            if data:
                yield data
        if decoder is not None:
            rest = decoder.flush()
            if rest:
                yield rest
        await sender
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        with contextlib.suppress(PollyPipelineError):
            await stream.aclose()


async def speech(request: Request) -> Response:
    """``POST /v1/audio/speech``: the input spoken, streamed as Polly makes it."""
    client: PollyStreamingClient = request.app.state.polly
    limits = request.app.state.config.limits
    body = await request.body()
    try:
        text, voice, fmt = _parse(body, limits.max_speech_chars)
    except _BadRequest as bad:
        return _error(
            bad.message, bad.param, bad.status, "model_not_found" if bad.status == 404 else None
        )
    spec = RESPONSE_FORMATS[fmt]
    try:
        stream = await client.open_stream(
            voice_id=voice, output_format=spec.polly_format, sample_rate=spec.sample_rate
        )
    except ParameterValidationError as exc:
        return _error(str(exc), "voice", 400)
    except ThrottlingException as exc:
        return _error(str(exc), None, 429, "rate_limit_exceeded")
    except (ServiceException, ConfigurationError) as exc:
        return _error(str(exc), None, 502)
    except PollyPipelineError as exc:
        return _error(f"speech is unavailable: {exc}", None, 503)
    headers: dict[str, Any] = {"x-polly-voice": voice}
    return StreamingResponse(
        _audio(stream, text, voice, fmt), media_type=spec.content_type, headers=headers
    )
