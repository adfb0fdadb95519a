"""Client layer: one duplex ``StartSpeechSynthesisStream`` (text events in, typed audio events out).

The state, the signing and the codec live in the sans-IO
:class:`~polly_pipeline.protocol.synthesis.SynthesisStreamMachine`; this module is its asyncio
driver. The input side queues events in the machine; the transport takes them when the connection
can: the awscrt transport as soon as they are queued (the body is a
:class:`~polly_pipeline.transport.ReadyBody`, so a TextEvent per token costs no task wake-up),
others by pulling the body. The machine signs the queued events at that moment, so the
``:date`` of every event is its send time and the signature chain follows the order on the wire.
The output side feeds the response body to the machine and raises the service errors it
reports as they arrive. Plain text that cannot start speech is held up to ``coalesce`` seconds
and merged with what follows into one TextEvent (:mod:`~polly_pipeline.client.coalesce`).

Deadlines: the transport bounds connecting, response headers and every write; the stream is
opened with ``read_deadline=False`` because this module bounds its reads itself. While output
is due (a flush of text sent since the last event, until the next event arrives; after the
close, every event until StreamClosedEvent) each complete event must arrive within
``Timeouts.read`` of the previous one (or of asking): bytes that trickle in without completing
an event do not extend the deadline, so a server that sends one byte a second cannot hold the
caller. While nothing is due (the
service has answered every flush and the caller writes nothing, e.g. while a model calls a
tool; only keep-alives flow) the read has no deadline: silence then is normal, the service
itself ends an idle stream after its inbound timeout, and a dead connection stalls the next
write, which has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from polly_pipeline._aio import AsyncResource
from polly_pipeline.client.body import RequestBody
from polly_pipeline.client.coalesce import DEFAULT_LINGER, HeldText, holdable
from polly_pipeline.errors import (
    ParameterValidationError,
    PollyPipelineError,
    ReadTimeout,
    StreamStateError,
    WriteTimeout,
)
from polly_pipeline.protocol.events import (
    AudioEvent,
    OutputEvent,
    ServiceErrorEvent,
    StreamClosedEvent,
    TextEvent,
    TextType,
)
from polly_pipeline.protocol.params import SynthesisParams, text_event_problems
from polly_pipeline.protocol.sigv4 import EventSigner
from polly_pipeline.protocol.synthesis import StreamCall, StreamState, SynthesisStreamMachine

__all__ = ["SpeechSynthesisStream", "StreamStats"]


@dataclass
class StreamStats:
    """What one stream has done so far (monotonic-clock seconds, counts)."""

    opened_at: float = field(default_factory=time.monotonic)
    #: TextEvents the caller sent, and those that went on the wire (fewer when merged)
    text_events: int = 0
    wire_text_events: int = 0
    characters_sent: int = 0
    audio_events: int = 0
    audio_bytes: int = 0
    first_text_at: float | None = None
    first_audio_at: float | None = None
    request_characters: int | None = None
    #: seconds opening the stream waited for a slot of the client's ``max_streams``
    slot_wait: float = 0.0

    @property
    def time_to_first_audio(self) -> float | None:
        """Seconds from the first text sent to the first audio received."""
        if self.first_text_at is None or self.first_audio_at is None:
            return None
        return self.first_audio_at - self.first_text_at


class SpeechSynthesisStream(AsyncResource):
    """A duplex speech synthesis stream; obtain one from ``PollyStreamingClient.open_stream``.

    Send with :meth:`send_text`, :meth:`send_ssml`, :meth:`flush`; finish the input with
    :meth:`end_input`; iterate the stream (``async for event in stream``) for
    :class:`AudioEvent` and, last, :class:`StreamClosedEvent`. Use it as an async context
    manager, or call :meth:`aclose`, so the HTTP/2 stream is released in every case.

    ``coalesce``: seconds plain text without a possible sentence or clause boundary may be
    held to be merged with the text after it into one TextEvent (0: every call is one event).
    """

    def __init__(
        self,
        *,
        params: SynthesisParams,
        signer: EventSigner,
        read_timeout: float | None,
        write_timeout: float | None = None,
        queue_size: int = 32,
        coalesce: float = DEFAULT_LINGER,
    ) -> None:
        self.params = params
        self.stats = StreamStats()
        self._machine = SynthesisStreamMachine(signer)
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._queue_size = queue_size
        self._changed = asyncio.Event()  # the machine's queue or state changed
        self._due_at = 0.0  # loop time of the last flush or end of input (output due since)
        self._reading: asyncio.Timeout | None = None  # the reader's wait for the next chunk
        self._transport: _TransportStream | None = None
        self._output_iter: AsyncIterator[OutputEvent] | None = None
        self._request_body = RequestBody(self)
        self._held = HeldText(coalesce, self._send_held)

    def __repr__(self) -> str:
        p = self.params
        return (
            f"<SpeechSynthesisStream voice={p.voice_id} format={p.output_format} "
            f"state={self._machine.state.value}>"
        )

    @property
    def state(self) -> StreamState:
        """Where the stream is (see :class:`~polly_pipeline.protocol.synthesis.StreamState`)."""
        return self._machine.state

    # -- wiring (done by the client) ------------------------------------------------------------

    def _attach(self, transport: _TransportStream) -> None:
        self._transport = transport

    def _body(self) -> RequestBody:
        """The request body (for the transport)."""
        return self._request_body

    def _signal(self) -> None:
        self._changed.set()

    def _queued(self) -> None:
        """An event was queued: the state changed, and the body has data."""
        self._changed.set()
        self._request_body.ready()

    # -- input side ---------------------------------------------------------------------------

    @property
    def input_closed(self) -> bool:
        """True once :meth:`end_input` was called."""
        return self._machine.input_ended

    async def send_text(self, text: str, *, flush: bool = False) -> None:
        """Send plain text (at most 6,000 characters); ``flush`` synthesizes everything now."""
        await self.send(TextEvent(text, "text", flush))

    async def send_ssml(self, ssml: str, *, flush: bool = False) -> None:
        """Send one whole SSML document (it must fit in one event)."""
        await self.send(TextEvent(ssml, "ssml", flush))

    async def flush(self) -> None:
        """Ask the service to synthesize all buffered text now."""
        await self.send(TextEvent("", "text", True))

    async def keep_alive(self) -> None:
        """Send an empty TextEvent: it keeps an idle stream open and cannot change the text.

        (A space would also keep the stream open, but sent between two halves of a word it
        would split the word.)
        """
        await self.send(TextEvent("", "text", False))

    async def send(self, event: TextEvent, *, text_type: TextType | None = None) -> None:
        """Queue one TextEvent; waits while the connection is behind (backpressure).

        Raises:
            ParameterValidationError: the text is too long or not a string.
            StreamStateError: the input was already ended or the stream is closed.
            PollyPipelineError: the stream failed (the failure that ended it).
        """
        if text_type is not None:  # the machine checks the event as it is
            problems = text_event_problems(event.text, text_type)
            if problems:
                raise ParameterValidationError(problems)
        await self._wait_for_room(StreamCall.SEND_TEXT)
        held = self._held
        if held.linger and holdable(event):  # valid: a short plain string
            if not held.room_for(event.text):
                self._send_held()
            held.hold(event.text)
        else:
            if held and (problems := text_event_problems(event.text, event.text_type)):
                raise ParameterValidationError(problems)  # before the held text is taken
            for queued in held.with_held(event):
                self._machine.send_text(queued)
                self.stats.wire_text_events += 1
            if event.flush and self._machine.output_due:
                self._output_due()
            self._queued()
        now = time.monotonic()
        self.stats.text_events += 1
        self.stats.characters_sent += len(event.text)
        if event.text.strip() and self.stats.first_text_at is None:
            self.stats.first_text_at = now

    async def end_input(self) -> None:
        """Send CloseStreamEvent and end the request body; the remaining audio will follow.

        Idempotent.
        """
        if self._machine.input_ended:
            return
        await self._wait_for_room(StreamCall.END_INPUT)
        self._send_held()
        self._machine.end_input()
        self._output_due()
        self._queued()

    def _send_held(self) -> None:
        """Queue the held text as one TextEvent (dropped if the stream can send no more)."""
        text = self._held.take()
        if text and self._machine.state in (StreamState.OPEN, StreamState.OUTPUT_DUE):
            self._machine.send_text(TextEvent(text))
            self.stats.wire_text_events += 1
            self._queued()

    def _output_due(self) -> None:
        """A flush or the close asked for output: a reader waiting without a deadline gets one."""
        self._due_at = asyncio.get_running_loop().time()
        reading = self._reading
        if reading is not None and reading.when() is None and self._read_timeout is not None:
            reading.reschedule(self._due_at + self._read_timeout)

    async def _wait_for_room(self, call: StreamCall) -> None:
        """Wait while ``queue_size`` events are queued; raise if ``call`` is not allowed.

        The wait is bounded by the write deadline: a connection that takes none of the queued
        events for that long (the service ended the stream and nobody reads its output, or
        the network stalled) fails the stream with :class:`WriteTimeout`.
        """
        machine = self._machine
        deadline: float | None = None
        while True:
            if machine.state is StreamState.FAILED and machine.failure is not None:
                raise machine.failure
            machine.check(call)
            if machine.pending_events < self._queue_size:
                return
            if deadline is None and self._write_timeout is not None:
                deadline = asyncio.get_running_loop().time() + self._write_timeout
            self._changed.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._changed.wait()
            except TimeoutError:
                timeout = self._write_timeout or 0.0
                error = WriteTimeout(
                    timeout,
                    f"the connection took none of the {machine.pending_events} queued events "
                    f"within {timeout:g}s (the service may have ended the stream: read its "
                    "output to see why)",
                )
                self._fail(error)
                raise error from None

    # -- output side --------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[OutputEvent]:
        if self._output_iter is None:
            self._output_iter = self._events()
        return self._output_iter

    async def _events(self) -> AsyncIterator[OutputEvent]:
        transport = self._transport
        if transport is None:
            raise StreamStateError("the stream is not open")
        machine = self._machine
        chunks = transport.__aiter__()
        loop = asyncio.get_running_loop()
        timeout = self._read_timeout
        last_event_at = loop.time()
        try:
            while machine.state is not StreamState.FINISHED:
                if machine.state is StreamState.FAILED and machine.failure is not None:
                    raise machine.failure
                due_by: float | None = None  # by when the next complete event must arrive
                if timeout is not None and machine.output_due:
                    due_by = max(last_event_at, self._due_at) + timeout
                try:
                    # nothing due: no deadline until a flush or the close sets one
                    async with asyncio.timeout_at(due_by) as self._reading:
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    machine.receive_end()  # raises: the response ended before StreamClosedEvent
                    return
                except TimeoutError as exc:
                    limit = timeout or 0.0  # set: only a deadline times out
                    message = f"no complete event within {limit:g}s after a flush or close"
                    raise ReadTimeout(limit, message) from exc
                finally:
                    self._reading = None
                events = machine.receive_data(chunk)
                if events:
                    last_event_at = loop.time()  # progress: the next event gets a full deadline
                for event in events:
                    if isinstance(event, ServiceErrorEvent):
                        raise event.error
                    if isinstance(event, AudioEvent):
                        self.stats.audio_events += 1
                        self.stats.audio_bytes += len(event.audio_chunk)
                        if self.stats.first_audio_at is None:
                            self.stats.first_audio_at = time.monotonic()
                    elif isinstance(event, StreamClosedEvent):
                        self.stats.request_characters = event.request_characters
                        await self._read_to_end(chunks)
                    yield event
        except (PollyPipelineError, asyncio.CancelledError) as exc:
            self._fail(exc)
            raise

    async def _read_to_end(self, chunks: AsyncIterator[bytes]) -> None:
        """After StreamClosedEvent, take the response's END_STREAM (bounded).

        A stream whose response is complete goes back to the pool with its warm connection;
        one closed before the end would cost the connection.
        """
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._read_timeout or 1.0):
                async for _ in chunks:
                    pass

    def _fail(self, exc: BaseException) -> None:
        if not isinstance(exc, asyncio.CancelledError):
            self._held.take()  # not sent: a session resends from its resume point
            self._machine.fail(exc)
        self._signal()

    async def audio(self) -> AsyncIterator[bytes]:
        """Only the audio bytes, in order (the StreamClosedEvent is recorded in :attr:`stats`)."""
        async for event in self:
            if isinstance(event, AudioEvent):
                yield event.audio_chunk

    # -- lifetime -----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True once the service's StreamClosedEvent arrived."""
        return self._machine.closed_event is not None

    async def aclose(self) -> None:
        """Release the HTTP/2 stream (resetting it if the exchange is unfinished). Idempotent."""
        if self._machine.state is StreamState.CLOSED:
            return
        self._machine.close()
        self._held.take()
        self._signal()
        if self._output_iter is not None:
            with contextlib.suppress(Exception):
                await self._output_iter.aclose()  # type: ignore[attr-defined]
        if self._transport is not None:
            await self._transport.aclose()


class _TransportStream(Protocol):
    """What the stream needs from the transport's Http2Stream."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...
