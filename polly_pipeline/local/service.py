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
import logging
import os
import tempfile
import weakref
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polly_pipeline._aio import AsyncResource
from polly_pipeline.errors import (
    ConfigurationError,
    FieldProblem,
    ServiceException,
    ValidationException,
)
from polly_pipeline.local import demo_llm
from polly_pipeline.local.admission import StreamAdmission
from polly_pipeline.local.auth import Authenticator
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
from polly_pipeline.local.operation_errors import (
    OperationError,
    answers_errors,
    auth_error,
    field_errors,
)
from polly_pipeline.local.rest import EMPTY_SHA256, RestOperations
from polly_pipeline.local.router import Router
from polly_pipeline.local.stream_checks import apply_fault
from polly_pipeline.local.stream_record import StreamRecord, new_request_id
from polly_pipeline.local.synthesis_stream import SynthesisSession
from polly_pipeline.local.voices import VoiceInfo, get_voice
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.protocol.sigv4 import STREAMING_PAYLOAD

if TYPE_CHECKING:
    from polly_pipeline.client.client import PollyStreamingClient

__all__ = ["LocalPollyService"]

log = logging.getLogger("polly_pipeline.local")

#: What an event-stream request may sign as its payload: the streaming marker (AWS SDKs built on
#: Smithy), UNSIGNED-PAYLOAD, or no header at all with the empty body's hash signed (clients built
#: on botocore-style signing, such as amazon-polly-streaming).
_STREAM_PAYLOAD_HASHES = frozenset({STREAMING_PAYLOAD, "UNSIGNED-PAYLOAD", EMPTY_SHA256, None})
#: How many stream records the service keeps for inspection.
STREAM_RECORDS = 10_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _offset_clock(clock: Callable[[], datetime], seconds: float) -> Callable[[], datetime]:
    """``clock`` moved by ``seconds`` (the service's own clock, skewed on purpose)."""
    if not seconds:
        return clock
    offset = timedelta(seconds=seconds)
    return lambda: clock() + offset


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
        self._clock = _offset_clock(clock or _utcnow, self.config.clock_offset)
        self._server: HttpServer | None = None
        self.ca_file: Path | None = None
        #: the most recent streams' records (bounded, so a long-running service stays flat)
        self.streams: deque[StreamRecord] = deque(maxlen=STREAM_RECORDS)
        self._auth = Authenticator(self.config, self._clock)
        self._rest = RestOperations(self._auth, self.config)
        self._router = self._mount()
        #: the account's synthesis streams in progress, over all connections (``max_streams``)
        self.admission = StreamAdmission(self.config.max_streams)
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

    @property
    def refused_requests(self) -> list[str]:
        """Error codes of the most recent requests refused by signature checks, oldest first."""
        return list(self._auth.refused)

    def issue_credentials(self) -> dict[str, Any]:
        """A new set of temporary credentials, as ``credential_process`` prints it.

        Raises:
            ConfigurationError: the service was not given a ``credentials_ttl``.
        """
        if self._auth.temporary is None:
            raise ConfigurationError(
                "this local service issues no temporary credentials; give it credentials_ttl "
                "(polly-pipeline local --credentials-ttl SECONDS)"
            )
        return self._auth.temporary.issue()

    @property
    def rest_requests(self) -> int:
        """SynthesizeSpeech and DescribeVoices requests served."""
        return self._rest.requests

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
        """Serve one request (the HTTP server's handler, and the in-memory transport's)."""
        # like Amazon's endpoints, every answer carries the service's Date (clients measure
        # their clock skew with it)
        responder.default_headers = (("date", format_datetime(self._clock(), usegmt=True)),)
        await self._router(request, body, responder)

    def _mount(self) -> Router:
        """Polly's operations, and the demo LLM beside them (OpenAI's API, bearer token)."""
        router = Router(answers_errors(self._unknown_operation))
        router.mount("POST", "/v1/synthesisStream", answers_errors(self._stream))
        router.mount("POST", "/v1/speech", answers_errors(self._rest.synthesize_speech))
        router.mount("GET", "/v1/voices", answers_errors(self._rest.describe_voices))

        async def chat(request: Request, body: RequestBody, responder: Responder) -> None:
            # the demo LLM's settings are read per request: tests change them on the fly
            await demo_llm.chat_completions(request, body, responder, self.config.demo_llm)

        router.mount("POST", "/v1/chat/completions", chat)
        router.mount("GET", "/v1/models", demo_llm.list_models)
        return router

    async def _unknown_operation(
        self, request: Request, body: RequestBody, responder: Responder
    ) -> None:
        raise OperationError(
            404,
            "UnknownOperationException",
            {"message": f"no operation at {request.method} {request.path}"},
        )

    async def _stream(self, request: Request, body: RequestBody, responder: Responder) -> None:
        if request.http_version != "2":
            raise OperationError.of(
                ValidationException(
                    "StartSpeechSynthesisStream is only available over HTTP/2",
                    reason="unsupportedOperation",
                )
            )
        sha = request.header("x-amz-content-sha256")
        if sha not in _STREAM_PAYLOAD_HASHES:
            raise auth_error(
                f"x-amz-content-sha256 must be {STREAMING_PAYLOAD} for an event stream (or "
                f"UNSIGNED-PAYLOAD, or absent with the empty body's hash signed), got {sha!r}"
            )
        # without the header, the empty body's hash (botocore-style clients) or UNSIGNED-PAYLOAD
        # was signed; either way the event chain starts from the request's signature
        verified = self._auth.authenticate(request, EMPTY_SHA256, "UNSIGNED-PAYLOAD")
        offered = self.config.stream_regions
        if offered is not None and verified.region not in offered:
            raise OperationError(
                404,
                "UnknownOperationException",
                {"message": f"StartSpeechSynthesisStream is not offered in {verified.region}"},
            )
        content_type = (request.header("content-type") or "").split(";")[0].strip()
        if content_type not in ("", "application/vnd.amazon.eventstream", "application/json"):
            raise OperationError.of(
                ValidationException(
                    f"unsupported content-type {content_type!r}; "
                    "send application/vnd.amazon.eventstream",
                    reason="other",
                )
            )
        params, voice = self._params(dict(request.headers))
        with self.admission.slot():  # ThrottlingException beyond the account's limit
            fault = self.config.faults.next_fault()
            record = StreamRecord(new_request_id(), params, fault=fault)
            self.streams.append(record)
            if fault is not None and fault.at == "before_headers":
                record.outcome = f"fault:{fault.kind}@before_headers"
                try:
                    await apply_fault(fault, responder)
                except ServiceException as exc:
                    raise OperationError.of(exc) from None
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
            raise field_errors(problems)
        return params, voice
