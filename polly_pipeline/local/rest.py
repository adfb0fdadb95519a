"""Local service layer: Polly's REST operations, SynthesizeSpeech and DescribeVoices.

Both speak AWS's REST-JSON protocol over HTTP/1.1 or HTTP/2, so botocore's own Polly client
works against the local service. SynthesizeSpeech renders audio with the offline voice, or
speech marks for ``OutputFormat=json``, and answers under the same latency model as the
bidirectional stream: the response starts no earlier than the first-audio latency (plus the
network delay) after the request, and the audio goes out at the real-time factor's pace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qsl

from polly_pipeline.audio import CONTENT_TYPES, StreamEncoder
from polly_pipeline.errors import FieldProblem, ServiceException, ValidationException
from polly_pipeline.local.auth import Authenticator
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.http import Request, RequestBody, Responder
from polly_pipeline.local.operation_errors import OperationError, field_errors, send_json
from polly_pipeline.local.pacing import paced_pieces, release_window
from polly_pipeline.local.render import render_pcm
from polly_pipeline.local.speech_marks import SUPPORTED_MARK_TYPES, speech_marks
from polly_pipeline.local.stream_checks import check_ssml
from polly_pipeline.local.stream_record import new_request_id
from polly_pipeline.local.voices import VoiceInfo, describe_voices_payload, get_voice
from polly_pipeline.protocol.params import SynthesisParams

__all__ = ["EMPTY_SHA256", "RestOperations"]

_SPEECH_MARKS = "application/x-json-stream"
_MAX_REST_BODY = 256 * 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class RestOperations:
    """SynthesizeSpeech and DescribeVoices; counts the requests it served.

    Args:
        auth: checks every request's signature.
        config: the service's configuration; its latency model is read per request.
    """

    def __init__(self, auth: Authenticator, config: LocalServiceConfig) -> None:
        self._auth = auth
        self._config = config
        self.requests = 0

    async def synthesize_speech(
        self, request: Request, body: RequestBody, responder: Responder
    ) -> None:
        raw = await body.read_all(_MAX_REST_BODY)
        requested = time.monotonic()
        self._auth.authenticate(request, hashlib.sha256(raw).hexdigest())
        self.requests += 1
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            raise OperationError(
                400, "SerializationException", {"message": "body is not JSON"}
            ) from None
        if not isinstance(doc, dict):
            raise OperationError(
                400, "SerializationException", {"message": "body is not an object"}
            )
        text, text_type = doc.get("Text"), doc.get("TextType", "text")
        marks = _mark_types(doc, text_type)
        headers = {
            "x-amzn-engine": str(doc.get("Engine") or "standard"),
            "x-amzn-voiceid": str(doc.get("VoiceId") or ""),
            # speech marks: the rest of the request is checked as for audio
            "x-amzn-outputformat": "pcm" if marks else str(doc.get("OutputFormat") or ""),
        }
        if doc.get("LanguageCode"):
            headers["x-amzn-languagecode"] = str(doc["LanguageCode"])
        if doc.get("SampleRate"):
            headers["x-amzn-samplerate"] = str(doc["SampleRate"])
        if doc.get("LexiconNames"):
            headers["x-amzn-lexiconnames"] = ",".join(map(str, doc["LexiconNames"]))
        params, voice = self._params_rest(headers)
        if not isinstance(text, str) or not text.strip():
            raise OperationError.of(
                ValidationException("Text is required", reason="fieldValidationFailed")
            )
        if len(text) > 6000:
            raise OperationError(
                400, "TextLengthExceededException", {"message": "Text exceeds 6000 characters"}
            )
        if text_type == "ssml":
            try:
                check_ssml(text)
            except ServiceException as exc:
                raise OperationError(
                    400, "InvalidSsmlException", {"message": exc.message}
                ) from None
        seconds = 0.0
        if marks:
            audio = await asyncio.to_thread(speech_marks, text, voice, marks)
            content_type = _SPEECH_MARKS
        else:
            rate = params.effective_sample_rate
            pcm = await render_pcm(text, voice, ssml=text_type == "ssml", sample_rate=rate)
            seconds = len(pcm) / 2 / rate
            encoder = StreamEncoder(params.output_format, rate)  # type: ignore[arg-type]
            audio = encoder.encode(pcm) + encoder.flush()
            content_type = CONTENT_TYPES[params.output_format]
        reply = [
            ("content-type", content_type),
            ("content-length", str(len(audio))),
            ("x-amzn-requestcharacters", str(len(text))),
            ("x-amzn-requestid", new_request_id()),
        ]
        await self._send_paced(responder, reply, audio, requested, seconds)

    async def _send_paced(
        self,
        responder: Responder,
        headers: list[tuple[str, str]],
        audio: bytes,
        requested: float,
        seconds: float,
    ) -> None:
        """Answer under the latency model: headers with the first audio, then audio at pace."""
        latency = self._config.latency
        start, end = release_window(latency, requested, 0.0, seconds)
        pieces = paced_pieces(audio, self._config.audio_event_bytes, start, end)
        for n, (at, piece) in enumerate(pieces):
            wait = at + latency.network_delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if n == 0:
                await responder.send_headers(200, headers)
            if piece:
                await responder.send_data(piece)
        await responder.end()

    def _params_rest(self, headers: dict[str, str]) -> tuple[SynthesisParams, VoiceInfo]:
        # SynthesizeSpeech accepts every engine the voice supports, unlike the stream
        params, problems = SynthesisParams.from_headers(headers)
        problems = [
            p
            for p in problems
            if not (p.name == "Engine" and "StartSpeechSynthesisStream" in p.message)
        ]
        if params is None or problems:
            raise field_errors(problems)
        voice = get_voice(params.voice_id)
        if params.engine not in voice.supported_engines:
            raise OperationError(
                400,
                "EngineNotSupportedException",
                {"message": f"voice {voice.id} does not support the {params.engine} engine"},
            )
        return params, voice

    async def describe_voices(
        self, request: Request, body: RequestBody, responder: Responder
    ) -> None:
        await body.read_all(_MAX_REST_BODY)
        self._auth.authenticate(request, EMPTY_SHA256)
        self.requests += 1
        query = dict(parse_qsl(request.query))
        payload = describe_voices_payload(
            engine=query.get("Engine"),
            language_code=query.get("LanguageCode"),
            include_additional_language_codes=query.get("IncludeAdditionalLanguageCodes") == "true",
        )
        await send_json(responder, 200, payload)


def _mark_types(doc: dict[str, Any], text_type: object) -> frozenset[str]:
    """The speech mark types a SynthesizeSpeech request asks for (empty: it asks for audio)."""
    requested = doc.get("SpeechMarkTypes") or []
    if doc.get("OutputFormat") != "json":
        if requested:
            raise OperationError(
                400,
                "MarksNotSupportedForFormatException",
                {
                    "message": "Speech marks are only available for content in json format; "
                    f"OutputFormat is {doc.get('OutputFormat')!r}"
                },
            )
        return frozenset()
    if not isinstance(requested, list) or not requested:
        raise field_errors(
            [FieldProblem("SpeechMarkTypes", "give at least one speech mark type with json")]
        )
    types = frozenset(map(str, requested))
    unknown = types - {"sentence", "ssml", "viseme", "word"}
    if unknown:
        raise field_errors(
            [FieldProblem("SpeechMarkTypes", f"unknown speech mark types {sorted(unknown)}")]
        )
    if "ssml" in types and text_type != "ssml":
        raise OperationError(
            400,
            "SsmlMarksNotSupportedForTextTypeException",
            {"message": "SSML speech marks are not supported for plain text-type input"},
        )
    if text_type == "ssml" or not types <= SUPPORTED_MARK_TYPES:
        raise OperationError.of(
            ValidationException(
                "the local service produces sentence and word speech marks for plain text "
                f"only; asked for {sorted(types)} with TextType {text_type!r}",
                reason="unsupportedOperation",
            )
        )
    return types
