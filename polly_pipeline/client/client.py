"""Client layer: ``PollyStreamingClient``, one request = one duplex speech synthesis stream.

The shape follows ``amazon-polly-streaming`` (and the Transcribe streaming SDK it mirrors):
create one client per region and call :meth:`PollyStreamingClient.start_speech_synthesis_stream`
per utterance. :meth:`PollyStreamingClient.open_stream` gives the duplex form that lets speech
start before all the text exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from polly_pipeline._aio import AsyncResource, task_group
from polly_pipeline.client.clock_skew import SkewCorrectedClock
from polly_pipeline.client.coalesce import DEFAULT_LINGER, check_linger, split_text
from polly_pipeline.client.config import (
    CredentialsProvider,
    ResolvedEndpoint,
    credentials_provider,
    resolve_endpoint,
)
from polly_pipeline.client.refusal import Refused, refusal
from polly_pipeline.client.slots import StreamSlots
from polly_pipeline.client.stream import SpeechSynthesisStream
from polly_pipeline.client.user_agent import user_agent
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.protocol.sigv4 import EventSigner, sign_request
from polly_pipeline.transport import ConnectionPool, Endpoint, Timeouts, TLSConfig, Transport

__all__ = ["PollyStreamingClient", "split_text"]

STREAM_PATH = "/v1/synthesisStream"
CONTENT_TYPE = "application/vnd.amazon.eventstream"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PollyStreamingClient(AsyncResource):
    """Amazon Polly bidirectional streaming over HTTP/2 with SigV4.

    Args:
        region: AWS region; defaults to botocore's (``AWS_REGION``, ``AWS_DEFAULT_REGION``,
            the profile).
        pool_size: how many idle HTTP/2 connections are kept warm for reuse.
        endpoint_url: an ``https://`` URL overriding the endpoint (also read from
            ``AWS_ENDPOINT_URL_POLLY`` / ``AWS_ENDPOINT_URL``).
        credentials: fixed credentials; by default botocore's chain is asked anew for each
            stream (each stream keeps the set it started with).
        profile: the AWS profile to read region, endpoint and credentials from.
        ca_file: a PEM bundle of CA certificates to trust (TLS is always verified); defaults
            to botocore's ``AWS_CA_BUNDLE`` / profile ``ca_bundle``, else the system store.
        timeouts: deadlines for connecting, response headers, reads, writes and closing.
        clock: the signing clock (for tests); defaults to the system clock in UTC. A request
            refused for clock skew is retried once with the service's ``Date``; the offset
            is kept for later streams (:attr:`clock_offset`).
        transport: what carries the streams: any :class:`~polly_pipeline.transport.Transport`
            (one method, ``open_stream``, that opens a duplex exchange). Defaults to an awscrt
            :class:`~polly_pipeline.transport.ConnectionPool` of ``pool_size`` with ``timeouts``
            and the trusted CAs; :class:`polly_pipeline.local.in_memory.InMemoryTransport` wires
            the client straight to the local service. The client closes it on ``aclose``.
        max_streams: the most streams this client runs at once (None: no cap). A stream holds
            its slot from opening until it is closed; one opened while all are taken waits for
            a slot, first come first served.
        slot_timeout: how long opening a stream waits for one of the ``max_streams`` slots
            before it raises :class:`~polly_pipeline.errors.StreamLimitError`.
        coalesce: seconds a stream may hold plain text without a sentence or clause boundary
            to send it with what follows as one TextEvent (0: one per call; see ``coalesce``).
    """

    def __init__(
        self,
        region: str | None = None,
        pool_size: int = 8,
        *,
        endpoint_url: str | None = None,
        credentials: Credentials | CredentialsProvider | None = None,
        profile: str | None = None,
        ca_file: str | None = None,
        timeouts: Timeouts | None = None,
        clock: Callable[[], datetime] | None = None,
        transport: Transport | None = None,
        max_streams: int | None = None,
        slot_timeout: float = 30.0,
        coalesce: float = DEFAULT_LINGER,
    ) -> None:
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 0:
            raise ConfigurationError(f"pool_size must be a whole number >= 0, got {pool_size!r}")
        self._slots = StreamSlots(max_streams, slot_timeout)  # validates both
        self._coalesce = check_linger(coalesce)
        self._resolved: ResolvedEndpoint = resolve_endpoint(
            region=region, endpoint_url=endpoint_url, profile=profile
        )
        self._endpoint = Endpoint.from_url(self._resolved.url)
        if isinstance(credentials, Credentials) or credentials is None:
            self._credentials = credentials_provider(credentials, profile)
        else:
            self._credentials = credentials
        self._timeouts = timeouts or Timeouts()
        self._clock = SkewCorrectedClock(clock or _utcnow)
        if transport is None:
            transport = ConnectionPool(
                pool_size=pool_size,
                timeouts=self._timeouts,
                tls=TLSConfig(ca_file=ca_file or self._resolved.ca_bundle),
            )
        elif not isinstance(transport, Transport):
            raise ConfigurationError(
                f"transport must have an async open_stream() and aclose(), got {transport!r}"
            )
        self._transport: Transport = transport
        self._closed = False

    def __repr__(self) -> str:
        return f"PollyStreamingClient(region={self.region!r}, endpoint={self.endpoint_url!r})"

    @property
    def region(self) -> str:
        """The AWS region bound to this client."""
        return self._resolved.region

    @property
    def endpoint_url(self) -> str:
        """The endpoint this client streams to."""
        return self._resolved.url

    @property
    def endpoint_overridden(self) -> bool:
        """True when the endpoint is not Amazon's default for the region."""
        return self._resolved.overridden

    @property
    def clock_offset(self) -> float:
        """Seconds the service's clock is ahead of this machine's, as learned from a request
        refused for clock skew (0.0 until then); every request is signed with it."""
        return self._clock.offset

    @property
    def max_streams(self) -> int | None:
        """The most streams this client runs at once (None: no cap)."""
        return self._slots.limit

    @property
    def streams_open(self) -> int:
        """Streams holding one of the ``max_streams`` slots now (0 without a cap)."""
        return self._slots.active

    @property
    def transport(self) -> Transport:
        """What carries this client's streams (shared by every stream of this client)."""
        return self._transport

    @property
    def pool(self) -> ConnectionPool:
        """The awscrt connection pool (shared by every stream of this client).

        Raises:
            ConfigurationError: the client was given another transport (see :attr:`transport`).
        """
        if not isinstance(self._transport, ConnectionPool):
            raise ConfigurationError(
                f"this client streams over {self._transport!r}, not a ConnectionPool; "
                "use client.transport"
            )
        return self._transport

    # -- duplex ---------------------------------------------------------------------------------

    def open_stream(
        self,
        *,
        voice_id: str,
        engine: str = "generative",
        language_code: str | None = None,
        output_format: str = "mp3",
        sample_rate: str | int | None = None,
        lexicon_names: Sequence[str] | None = None,
        use_pool: bool = True,
        wait_for_slot: bool = True,
    ) -> _OpeningStream:
        """Open a duplex stream: ``async with client.open_stream(voice_id="Joanna") as s: ...``.

        Also awaitable (``s = await client.open_stream(...)``; then ``await s.aclose()``).
        Parameters are validated against the Polly model before any network call. With
        ``max_streams``, the stream holds a slot until it is closed; ``wait_for_slot=False``
        raises at once instead of waiting when none is free (e.g. for a stream opened ahead
        of need).

        Raises:
            ParameterValidationError: naming every bad parameter.
            StreamLimitError: no slot of ``max_streams`` came free within ``slot_timeout``.
            CredentialsError, TransportError, ServiceException: from opening the stream.
        """
        params = SynthesisParams.create(
            voice_id=voice_id,
            engine=engine,
            language_code=language_code,
            output_format=output_format,
            sample_rate=sample_rate,
            lexicon_names=lexicon_names,
        )
        return _OpeningStream(self._open(params, use_pool=use_pool, wait=wait_for_slot))

    async def _open(
        self, params: SynthesisParams, *, use_pool: bool, wait: bool = True
    ) -> SpeechSynthesisStream:
        if self._closed:
            raise ConfigurationError("this PollyStreamingClient is closed")
        try:
            return await self._open_once(params, use_pool=use_pool, wait=wait)
        except Refused as refused:
            if not self._clock.correct(refused.error, refused.headers):
                raise refused.error from None
        try:
            return await self._open_once(params, use_pool=use_pool, wait=wait)
        except Refused as refused:
            raise refused.error from None

    async def _open_once(
        self, params: SynthesisParams, *, use_pool: bool, wait: bool
    ) -> SpeechSynthesisStream:
        slot = await self._slots.take(wait=wait)  # held until the stream is closed
        try:
            credentials = self._credentials()  # frozen for the life of this stream
            signed = sign_request(
                method="POST",
                host=self._endpoint.authority,
                path=STREAM_PATH,
                headers=[("content-type", CONTENT_TYPE), *params.to_headers()],
                credentials=credentials,
                region=self.region,
                now=self._clock(),
            )
            signer = EventSigner(
                credentials=credentials,
                region=self.region,
                seed_signature=signed.signature,
                clock=self._clock,
            )
            stream = SpeechSynthesisStream(
                params=params,
                signer=signer,
                read_timeout=self._timeouts.read,
                write_timeout=self._timeouts.write,
                coalesce=self._coalesce,
            )
            stream.stats.slot_wait = slot.waited
            transport = await self._transport.open_stream(
                self._endpoint,
                method="POST",
                path=STREAM_PATH,
                headers=[*signed.headers, ("user-agent", user_agent())],
                body=stream._body(),
                use_pool=use_pool,
                read_deadline=False,  # the stream bounds its reads while output is due
            )
        except BaseException:
            slot.release()
            raise
        stream._attach(slot.hold(transport))
        try:
            response = await transport.response()
            if response.status != 200:
                status, headers = response.status, response.headers
                raise await refusal(transport, status, headers, self._timeouts.read)
        except BaseException:
            await stream.aclose()
            raise
        return stream

    # -- one-shot (amazon-polly-streaming compatible) -------------------------------------------

    async def start_speech_synthesis_stream(
        self,
        *,
        text: str,
        voice_id: str,
        engine: str = "generative",
        language_code: str | None = None,
        output_format: str = "mp3",
        sample_rate: str | int | None = None,
        use_pool: bool = True,
        text_type: str = "text",
        lexicon_names: Sequence[str] | None = None,
    ) -> AsyncIterator[bytes]:
        """Synthesize ``text`` and yield the audio bytes of every AudioEvent, in order.

        Text longer than one event allows is sent as several events cut at whitespace (the
        service joins them). Audio is yielded as it arrives.

        Raises:
            ParameterValidationError: before any network call, naming every bad parameter.
            ServiceException: a subclass per service error, with its fields.
            TransportError: connection failures, each with its own subclass.
        """
        if text_type not in ("text", "ssml"):
            raise ConfigurationError(f"text_type must be 'text' or 'ssml', got {text_type!r}")
        if not isinstance(text, str):
            raise ConfigurationError(f"text must be a string, got {type(text).__name__}")
        async with (
            self.open_stream(
                voice_id=voice_id,
                engine=engine,
                language_code=language_code,
                output_format=output_format,
                sample_rate=sample_rate,
                lexicon_names=lexicon_names,
                use_pool=use_pool,
            ) as stream,
            task_group() as tasks,
        ):
            sender = tasks.create_task(_send_all(stream, text, text_type))
            async for chunk in stream.audio():
                yield chunk
            failure = await sender
            if failure is not None:
                raise failure

    # -- lifetime -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every pooled connection. Idempotent."""
        self._closed = True
        await self._transport.aclose()


async def _send_all(stream: SpeechSynthesisStream, text: str, text_type: str) -> Exception | None:
    """Send the text and end the input; a failure is returned, raised after the audio.

    (Raised in the task, it would cancel the audio's consumer at whatever it is doing.)
    """
    try:
        if text_type == "ssml":
            await stream.send_ssml(text)
        else:
            for part in split_text(text):
                await stream.send_text(part)
        await stream.end_input()
    except Exception as exc:
        return exc
    return None


class _OpeningStream:
    """Awaitable and async context manager around opening a stream."""

    def __init__(self, opening: Any) -> None:
        self._opening = opening
        self._stream: SpeechSynthesisStream | None = None

    def __await__(self) -> Generator[Any, None, SpeechSynthesisStream]:
        return self._opening.__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> SpeechSynthesisStream:
        self._stream = await self._opening
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose()
