"""Local service layer: the local Polly service (routing, authentication, REST operations).

``LocalPollyService`` is an async context manager that generates a CA and a certificate, starts
a real HTTP/2 + HTTP/1.1 server over TLS on loopback, and serves:

- ``POST /v1/synthesisStream``: StartSpeechSynthesisStream (HTTP/2 only);
- ``POST /v1/speech``: SynthesizeSpeech, so botocore's ordinary Polly client works;
- ``GET /v1/voices``: DescribeVoices;
- ``POST /v1/chat/completions`` and ``GET /v1/models``: the offline demo LLM (OpenAI's API,
  bearer token; see :mod:`.demo_llm`).

Every Polly request must carry a valid SigV4 signature for one of the configured credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
import weakref
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from polly_pipeline._aio import AsyncResource
from polly_pipeline.errors import (
    FieldProblem,
    ServiceException,
    SignatureError,
    ValidationException,
    ValidationExceptionField,
)
from polly_pipeline.local import demo_llm
from polly_pipeline.local.audio import CONTENT_TYPES, StreamEncoder
from polly_pipeline.local.budget import ByteBudget
from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.config import Fault, LocalServiceConfig
from polly_pipeline.local.http import (
    ConnectionControl,
    HttpServer,
    Request,
    RequestBody,
    Responder,
)
from polly_pipeline.local.render import render_pcm
from polly_pipeline.local.speech_marks import SUPPORTED_MARK_TYPES, speech_marks
from polly_pipeline.local.synthesis_stream import (
    StreamRecord,
    SynthesisSession,
    apply_fault,
    check_ssml,
    new_request_id,
)
from polly_pipeline.local.voices import VoiceInfo, describe_voices_payload, get_voice
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.protocol.sigv4 import STREAMING_PAYLOAD, VerifiedRequest, verify_request

if TYPE_CHECKING:
    from polly_pipeline.client.client import PollyStreamingClient

__all__ = ["LocalPollyService"]

log = logging.getLogger("polly_pipeline.local")

_JSON = "application/x-amz-json-1.1"
_SPEECH_MARKS = "application/x-json-stream"
_MAX_REST_BODY = 256 * 1024
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: What an event-stream request may sign as its payload: the streaming marker (AWS SDKs built on
#: Smithy), UNSIGNED-PAYLOAD, or no header at all with the empty body's hash signed (clients built
#: on botocore-style signing, such as amazon-polly-streaming).
_STREAM_PAYLOAD_HASHES = frozenset({STREAMING_PAYLOAD, "UNSIGNED-PAYLOAD", _EMPTY_SHA256, None})
#: How many stream records the service keeps for inspection.
STREAM_RECORDS = 10_000


class _HttpError(Exception):
    """An error answered at the HTTP level (before any stream starts)."""

    def __init__(self, status: int, code: str, payload: dict[str, Any]) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.payload = payload

    @classmethod
    def of(cls, exc: ServiceException) -> _HttpError:
        return cls(exc.status or 400, exc.error_code, exc.to_payload())


def _field_errors(problems: list[FieldProblem]) -> _HttpError:
    """The HTTP-level ValidationException naming every rejected field."""
    return _HttpError.of(
        ValidationException(
            "; ".join(f"{p.name}: {p.message}" for p in problems),
            reason="fieldValidationFailed",
            fields=[ValidationExceptionField(p.name, p.message) for p in problems],
        )
    )


def _auth_error(message: str, code: str = "InvalidSignatureException") -> _HttpError:
    return _HttpError(403, code, {"message": message})


class LocalPollyService(AsyncResource):
    """The local Polly service; use ``async with LocalPollyService() as service:``.

    Args:
        config: limits, credentials, latency and faults (defaults: Polly's limits).
        ca_file: where to write the CA certificate clients must trust (the server's certificate
            and key are kept beside it, and reused on the next start while valid); a fresh
            temporary directory when None.
        clock: the service's clock for signature checks (for tests).
    """

    def __init__(
        self,
        config: LocalServiceConfig | None = None,
        *,
        ca_file: str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config or LocalServiceConfig()
        self._ca_target = Path(ca_file) if ca_file is not None else None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._server: HttpServer | None = None
        self.ca_file: Path | None = None
        #: the most recent streams' records (bounded, so a long-running service stays flat)
        self.streams: deque[StreamRecord] = deque(maxlen=STREAM_RECORDS)
        self.rest_requests = 0
        self._budgets: weakref.WeakKeyDictionary[ConnectionControl, ByteBudget] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        where = self.endpoint_url if self._server else "not started"
        return f"<LocalPollyService {where}>"

    # -- lifetime ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Generate certificates, write the CA file and start listening."""
        if self._server is not None:
            return
        if self._ca_target is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="polly-local-")
            self._ca_target = Path(self._tmpdir.name) / "ca.pem"
            tls = await asyncio.to_thread(TLSMaterial.generate)
            self.ca_file = tls.write_ca(self._ca_target)
        else:
            # a restart with the same CA file presents the same chain: running clients that
            # trust it reconnect, as they would to a real service coming back
            kept = await asyncio.to_thread(TLSMaterial.load, self._ca_target)
            if kept is None:
                tls = await asyncio.to_thread(TLSMaterial.generate)
                self.ca_file = tls.save(self._ca_target)
            else:
                tls, self.ca_file = kept, self._ca_target
        server = HttpServer(
            self._handle,
            tls=tls,
            host=self.config.host,
            port=self.config.port,
            max_concurrent_streams=self.config.max_concurrent_streams,
            header_timeout=self.config.header_timeout,
            max_connections=self.config.max_connections,
        )
        await server.start()
        self._server = server

    async def aclose(self) -> None:
        """Stop the server and every stream; remove a temporary CA file. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            await server.aclose()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    async def _enter(self) -> None:
        await self.start()

    # -- what clients need ------------------------------------------------------------------

    @property
    def server(self) -> HttpServer:
        """The HTTP server (connection counts, port)."""
        if self._server is None:
            raise RuntimeError("the local Polly service is not started")
        return self._server

    @property
    def endpoint_url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return self.server.url

    @property
    def credentials(self) -> Credentials:
        """The (first) credentials the service accepts."""
        return self.config.credentials[0]

    @property
    def region(self) -> str:
        """The region clients should sign for."""
        return self.config.region or "us-east-1"

    def inject(self, fault: Fault | None, times: int = 1) -> None:
        """Give the next ``times`` streams this fault."""
        self.config.faults.inject(fault, times)

    def client(self, **kwargs: Any) -> PollyStreamingClient:
        """A ``PollyStreamingClient`` pointed at this service (keyword arguments override)."""
        from polly_pipeline.client.client import PollyStreamingClient  # noqa: PLC0415

        kwargs.setdefault("region", self.region)
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        kwargs.setdefault("credentials", self.credentials)
        kwargs.setdefault("ca_file", str(self.ca_file))
        return PollyStreamingClient(**kwargs)

    def botocore_client(self) -> Any:
        """botocore's own Polly client, pointed at this service."""
        import botocore.session  # noqa: PLC0415

        creds = self.credentials
        return botocore.session.get_session().create_client(
            "polly",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=creds.access_key,
            aws_secret_access_key=creds.secret_key,
            aws_session_token=creds.session_token,
            verify=str(self.ca_file),
        )

    # -- request handling -------------------------------------------------------------------

    async def _handle(self, request: Request, body: RequestBody, responder: Responder) -> None:
        route = (request.method, request.path.rstrip("/"))
        try:
            if route == ("POST", "/v1/synthesisStream"):
                await self._stream(request, body, responder)
            elif route == ("POST", "/v1/speech"):
                await self._synthesize_speech(request, body, responder)
            elif route == ("GET", "/v1/voices"):
                await self._describe_voices(request, body, responder)
            elif route == ("POST", "/v1/chat/completions"):
                await demo_llm.chat_completions(request, body, responder, self.config.demo_llm)
            elif route == ("GET", "/v1/models"):
                await demo_llm.list_models(request, body, responder)
            else:
                raise _HttpError(
                    404,
                    "UnknownOperationException",
                    {"message": f"no operation at {request.method} {request.path}"},
                )
        except _HttpError as exc:
            if not responder.headers_sent:
                await _send_json(responder, exc.status, exc.payload, error_type=exc.code)

    def _authenticate(self, request: Request, *payload_hashes: str) -> VerifiedRequest:
        """Verify the request's signature; without ``x-amz-content-sha256`` the client may have
        signed any of ``payload_hashes`` (each is tried in turn)."""
        headers = list(request.headers)
        if request.http_version == "2":
            # clients that put ':authority' among the headers they sign (awscrt signing a
            # request built with one) sign it as a header; the engine checked host matches it
            headers.append((":authority", request.header("host") or ""))
        candidates: tuple[str | None, ...] = (None,)
        if request.header("x-amz-content-sha256") is None and payload_hashes:
            candidates = payload_hashes
        for n, candidate in enumerate(candidates, 1):
            extra = [] if candidate is None else [("x-amz-content-sha256", candidate)]
            try:
                verified = verify_request(
                    method=request.method,
                    path=request.path,
                    query=request.query,
                    headers=headers + extra,
                    lookup=self.config.lookup_credentials,
                    now=self._clock(),
                    max_skew=self.config.max_clock_skew,
                )
                break
            except SignatureError as exc:
                text = str(exc)
                if n < len(candidates) and "does not match" in text:
                    continue  # the client may have signed the next candidate
                code = (
                    "UnrecognizedClientException"
                    if "security token" in text.lower()
                    else "InvalidSignatureException"
                )
                raise _auth_error(text, code) from None
        if self.config.region and verified.region != self.config.region:
            raise _auth_error(
                f"Credential should be scoped to a valid region, not '{verified.region}'; "
                f"this service is '{self.config.region}'"
            )
        return verified

    async def _stream(self, request: Request, body: RequestBody, responder: Responder) -> None:
        if request.http_version != "2":
            raise _HttpError.of(
                ValidationException(
                    "StartSpeechSynthesisStream is only available over HTTP/2",
                    reason="unsupportedOperation",
                )
            )
        sha = request.header("x-amz-content-sha256")
        if sha not in _STREAM_PAYLOAD_HASHES:
            raise _auth_error(
                f"x-amz-content-sha256 must be {STREAMING_PAYLOAD} for an event stream (or "
                f"UNSIGNED-PAYLOAD, or absent with the empty body's hash signed), got {sha!r}"
            )
        # without the header, the empty body's hash (botocore-style clients) or UNSIGNED-PAYLOAD
        # was signed; either way the event chain starts from the request's signature
        verified = self._authenticate(request, _EMPTY_SHA256, "UNSIGNED-PAYLOAD")
        content_type = (request.header("content-type") or "").split(";")[0].strip()
        if content_type not in ("", "application/vnd.amazon.eventstream", "application/json"):
            raise _HttpError.of(
                ValidationException(
                    f"unsupported content-type {content_type!r}; "
                    "send application/vnd.amazon.eventstream",
                    reason="other",
                )
            )
        params, voice = self._params(dict(request.headers))
        fault = self.config.faults.next_fault()
        record = StreamRecord(new_request_id(), params, fault=fault)
        self.streams.append(record)
        if fault is not None and fault.at == "before_headers":
            record.outcome = f"fault:{fault.kind}@before_headers"
            try:
                await apply_fault(fault, responder)
            except ServiceException as exc:
                raise _HttpError.of(exc) from None
            except Exception:
                return
        await responder.send_headers(
            200,
            [
                ("content-type", "application/vnd.amazon.eventstream"),
                ("x-amzn-requestid", record.request_id),
            ],
        )
        session = SynthesisSession(
            request=request,
            body=body,
            responder=responder,
            config=self.config,
            verified=verified,
            params=params,
            voice=voice,
            fault=fault,
            record=record,
            clock=self._clock,
            connection_budget=self._connection_budget(responder.connection),
        )
        await session.run()

    def _connection_budget(self, connection: ConnectionControl) -> ByteBudget:
        """The render-ahead budget all streams of ``connection`` share."""
        budget = self._budgets.get(connection)
        if budget is None:
            budget = ByteBudget(self.config.connection_render_ahead_bytes)
            self._budgets[connection] = budget
        return budget

    def _params(self, headers: dict[str, str]) -> tuple[SynthesisParams, VoiceInfo]:
        params, problems = SynthesisParams.from_headers(headers)
        voice: VoiceInfo | None = None
        if params is not None and not any(p.name == "VoiceId" for p in problems):
            voice = get_voice(params.voice_id)
            if params.engine not in voice.supported_engines and not any(
                p.name == "Engine" for p in problems
            ):
                problems.append(
                    FieldProblem(
                        "VoiceId",
                        f"voice {params.voice_id} does not support the {params.engine} engine",
                    )
                )
        if problems or params is None or voice is None:
            raise _field_errors(problems)
        return params, voice

    async def _synthesize_speech(
        self, request: Request, body: RequestBody, responder: Responder
    ) -> None:
        raw = await body.read_all(_MAX_REST_BODY)
        self._authenticate(request, hashlib.sha256(raw).hexdigest())
        self.rest_requests += 1
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            raise _HttpError(
                400, "SerializationException", {"message": "body is not JSON"}
            ) from None
        if not isinstance(doc, dict):
            raise _HttpError(400, "SerializationException", {"message": "body is not an object"})
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
            raise _HttpError.of(
                ValidationException("Text is required", reason="fieldValidationFailed")
            )
        if len(text) > 6000:
            raise _HttpError(
                400, "TextLengthExceededException", {"message": "Text exceeds 6000 characters"}
            )
        if text_type == "ssml":
            try:
                check_ssml(text)
            except ServiceException as exc:
                raise _HttpError(400, "InvalidSsmlException", {"message": exc.message}) from None
        if marks:
            audio = await asyncio.to_thread(speech_marks, text, voice, marks)
            content_type = _SPEECH_MARKS
        else:
            rate = params.effective_sample_rate
            pcm = await render_pcm(text, voice, ssml=text_type == "ssml", sample_rate=rate)
            encoder = StreamEncoder(params.output_format, rate)  # type: ignore[arg-type]
            audio = encoder.encode(pcm) + encoder.flush()
            content_type = CONTENT_TYPES[params.output_format]
        await responder.send_headers(
            200,
            [
                ("content-type", content_type),
                ("content-length", str(len(audio))),
                ("x-amzn-requestcharacters", str(len(text))),
                ("x-amzn-requestid", new_request_id()),
            ],
        )
        await responder.send_data(audio)
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
            raise _field_errors(problems)
        voice = get_voice(params.voice_id)
        if params.engine not in voice.supported_engines:
            raise _HttpError(
                400,
                "EngineNotSupportedException",
                {"message": f"voice {voice.id} does not support the {params.engine} engine"},
            )
        return params, voice

    async def _describe_voices(
        self, request: Request, body: RequestBody, responder: Responder
    ) -> None:
        await body.read_all(_MAX_REST_BODY)
        self._authenticate(request, _EMPTY_SHA256)
        self.rest_requests += 1
        query = dict(parse_qsl(request.query))
        payload = describe_voices_payload(
            engine=query.get("Engine"),
            language_code=query.get("LanguageCode"),
            include_additional_language_codes=query.get("IncludeAdditionalLanguageCodes") == "true",
        )
        await _send_json(responder, 200, payload)


def _mark_types(doc: dict[str, Any], text_type: object) -> frozenset[str]:
    """The speech mark types a SynthesizeSpeech request asks for (empty: it asks for audio)."""
    requested = doc.get("SpeechMarkTypes") or []
    if doc.get("OutputFormat") != "json":
        if requested:
            raise _HttpError(
                400,
                "MarksNotSupportedForFormatException",
                {
                    "message": "Speech marks are only available for content in json format; "
                    f"OutputFormat is {doc.get('OutputFormat')!r}"
                },
            )
        return frozenset()
    if not isinstance(requested, list) or not requested:
        raise _field_errors(
            [FieldProblem("SpeechMarkTypes", "give at least one speech mark type with json")]
        )
    types = frozenset(map(str, requested))
    unknown = types - {"sentence", "ssml", "viseme", "word"}
    if unknown:
        raise _field_errors(
            [FieldProblem("SpeechMarkTypes", f"unknown speech mark types {sorted(unknown)}")]
        )
    if "ssml" in types and text_type != "ssml":
        raise _HttpError(
            400,
            "SsmlMarksNotSupportedForTextTypeException",
            {"message": "SSML speech marks are not supported for plain text-type input"},
        )
    if text_type == "ssml" or not types <= SUPPORTED_MARK_TYPES:
        raise _HttpError.of(
            ValidationException(
                "the local service produces sentence and word speech marks for plain text "
                f"only; asked for {sorted(types)} with TextType {text_type!r}",
                reason="unsupportedOperation",
            )
        )
    return types


async def _send_json(
    responder: Responder, status: int, payload: dict[str, Any], *, error_type: str | None = None
) -> None:
    data = json.dumps(payload).encode()
    headers = [
        ("content-type", _JSON if error_type else "application/json"),
        ("content-length", str(len(data))),
        ("x-amzn-requestid", new_request_id()),
    ]
    if error_type:
        headers.append(("x-amzn-errortype", error_type))
    with contextlib.suppress(Exception):
        await responder.send_headers(status, headers)
        await responder.send_data(data)
        await responder.end()
