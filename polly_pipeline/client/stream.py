"""Client layer: one duplex ``StartSpeechSynthesisStream`` (text events in, typed audio events out).

The input side queues events; the transport pulls them one at a time when the connection can
take them, and each is signed at that moment, so the ``:date`` of every event is its send time
and the signature chain follows the order on the wire. The output side decodes the response body
incrementally into typed events and raises the service's exceptions as they arrive.

Deadlines: the transport bounds connecting, response headers and every write. While output is
due (after a flush or the close) each complete event must arrive within ``Timeouts.read`` of the
previous one (or of asking): bytes that trickle in without completing an event do not extend
the deadline, so a server that sends one byte a second cannot hold the caller. While nothing is
due (the caller is idle and only keep-alives flow) the read has no deadline of its own, because
the service itself ends an idle stream after its inbound timeout and a dead connection stalls
the next write, which has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final, Protocol

from polly_pipeline._aio import AsyncResource
from polly_pipeline.errors import (
    ConnectionClosedError,
    ParameterValidationError,
    PollyPipelineError,
    ReadTimeout,
    StreamStateError,
)
from polly_pipeline.protocol.events import (
    AudioEvent,
    CloseStreamEvent,
    InputEvent,
    OutputEvent,
    StreamClosedEvent,
    TextEvent,
    TextType,
    decode_output_message,
    encode_input_event,
)
from polly_pipeline.protocol.eventstream import EventStreamDecoder
from polly_pipeline.protocol.params import SynthesisParams, text_event_problems
from polly_pipeline.protocol.sigv4 import EventSigner

__all__ = ["SpeechSynthesisStream", "StreamStats"]

_END: Final = object()


@dataclass
class StreamStats:
    """What one stream has done so far (monotonic-clock seconds, counts)."""

    opened_at: float = field(default_factory=time.monotonic)
    text_events: int = 0
    characters_sent: int = 0
    audio_events: int = 0
    audio_bytes: int = 0
    first_text_at: float | None = None
    first_audio_at: float | None = None
    request_characters: int | None = None

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
    """

    def __init__(
        self,
        *,
        params: SynthesisParams,
        signer: EventSigner,
        read_timeout: float | None,
        queue_size: int = 32,
    ) -> None:
        self.params = params
        self.stats = StreamStats()
        self._signer = signer
        self._read_timeout = read_timeout
        self._queue: asyncio.Queue[InputEvent | object] = asyncio.Queue(queue_size)
        self._input_closed = False
        self._output_due = False
        self._failure: BaseException | None = None
        self._failed = asyncio.Event()
        self._closed = False
        self._finished = False
        self._transport: _TransportStream | None = None
        self._output_iter: AsyncIterator[OutputEvent] | None = None

    def __repr__(self) -> str:
        p = self.params
        return (
            f"<SpeechSynthesisStream voice={p.voice_id} format={p.output_format} "
            f"input={'closed' if self._input_closed else 'open'} "
            f"finished={self._finished}>"
        )

    # -- wiring (done by the client) ------------------------------------------------------------

    def _attach(self, transport: _TransportStream) -> None:
        self._transport = transport

    async def _body(self) -> AsyncIterator[bytes]:
        """The request body, pulled by the transport one frame at a time."""
        while True:
            item = await self._queue.get()
            if item is _END:
                yield self._signer.sign_end()
                return
            assert isinstance(item, TextEvent | CloseStreamEvent)
            yield self._signer.sign(encode_input_event(item))

    # -- input side ---------------------------------------------------------------------------

    @property
    def input_closed(self) -> bool:
        """True once :meth:`end_input` was called."""
        return self._input_closed

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
        problems = text_event_problems(event.text, text_type or event.text_type)
        if problems:
            raise ParameterValidationError(problems)
        if self._input_closed:
            raise StreamStateError("this stream's input is ended; open a new stream to send more")
        await self._put(event)
        now = time.monotonic()
        self.stats.text_events += 1
        self.stats.characters_sent += len(event.text)
        if event.text.strip() and self.stats.first_text_at is None:
            self.stats.first_text_at = now
        if event.flush:
            self._output_due = True

    async def end_input(self) -> None:
        """Send CloseStreamEvent and end the request body; the remaining audio will follow.

        Idempotent.
        """
        if self._input_closed:
            return
        self._input_closed = True
        self._output_due = True
        await self._put(CloseStreamEvent())
        await self._put(_END)

    async def _put(self, item: InputEvent | object) -> None:
        if self._closed:
            raise StreamStateError("the stream is closed")
        self._raise_failure()
        if self._queue.full():
            put = asyncio.ensure_future(self._queue.put(item))
            failed = asyncio.ensure_future(self._failed.wait())
            try:
                await asyncio.wait({put, failed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                failed.cancel()
                if not put.done():
                    put.cancel()
            self._raise_failure()
        else:
            self._queue.put_nowait(item)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    # -- output side --------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[OutputEvent]:
        if self._output_iter is None:
            self._output_iter = self._events()
        return self._output_iter

    async def _events(self) -> AsyncIterator[OutputEvent]:
        transport = self._transport
        if transport is None:
            raise StreamStateError("the stream is not open")
        decoder = EventStreamDecoder()
        chunks = transport.__aiter__()
        loop = asyncio.get_running_loop()
        deadline: float | None = None  # by when the next complete event must have arrived
        try:
            while not self._finished:
                if deadline is None and self._output_due and self._read_timeout is not None:
                    deadline = loop.time() + self._read_timeout
                chunk = await self._next_chunk(chunks, deadline)
                if chunk is None:
                    decoder.finish()
                    raise ConnectionClosedError(
                        "the service ended the response without a StreamClosedEvent"
                    )
                messages = decoder.feed(chunk)
                if messages:
                    deadline = None  # progress: the next event gets a full read deadline
                for message in messages:
                    event = decode_output_message(message)
                    if isinstance(event, AudioEvent):
                        self.stats.audio_events += 1
                        self.stats.audio_bytes += len(event.audio_chunk)
                        if self.stats.first_audio_at is None:
                            self.stats.first_audio_at = time.monotonic()
                    elif isinstance(event, StreamClosedEvent):
                        self.stats.request_characters = event.request_characters
                        self._finished = True
                        await self._read_to_end(chunks)
                    yield event
        except (PollyPipelineError, asyncio.CancelledError) as exc:
            self._fail(exc)
            raise
        finally:
            self._output_due = False

    async def _read_to_end(self, chunks: AsyncIterator[bytes]) -> None:
        """After StreamClosedEvent, take the response's END_STREAM (bounded).

        A stream whose response is complete goes back to the pool with its warm connection;
        one closed before the end would cost the connection.
        """
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._read_timeout or 1.0):
                async for _ in chunks:
                    pass

    async def _next_chunk(
        self, chunks: AsyncIterator[bytes], deadline: float | None
    ) -> bytes | None:
        """The next response chunk; with ``deadline`` (loop time) while output is due."""
        try:
            async with asyncio.timeout_at(deadline):
                return await anext(chunks)
        except StopAsyncIteration:
            return None
        except TimeoutError as exc:
            timeout = self._read_timeout or 0.0
            raise ReadTimeout(
                timeout, f"no complete event within {timeout:g}s after a flush or close"
            ) from exc

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None and not isinstance(exc, asyncio.CancelledError):
            self._failure = exc
        self._failed.set()

    async def audio(self) -> AsyncIterator[bytes]:
        """Only the audio bytes, in order (the StreamClosedEvent is recorded in :attr:`stats`)."""
        async for event in self:
            if isinstance(event, AudioEvent):
                yield event.audio_chunk

    # -- lifetime -----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True once the service's StreamClosedEvent arrived."""
        return self._finished

    async def aclose(self) -> None:
        """Release the HTTP/2 stream (resetting it if the exchange is unfinished). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._failed.set()
        if self._output_iter is not None:
            with contextlib.suppress(Exception):
                await self._output_iter.aclose()  # type: ignore[attr-defined]
        if self._transport is not None:
            await self._transport.aclose()


class _TransportStream(Protocol):
    """What the stream needs from the transport's Http2Stream."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...
