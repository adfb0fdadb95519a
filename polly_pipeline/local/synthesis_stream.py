"""Local service layer: the ``StartSpeechSynthesisStream`` operation, with the service's semantics.

One :class:`SynthesisSession` per HTTP/2 stream runs three cooperating tasks:

- the reader parses inbound frames with botocore's independent event-stream parser (so codec bugs
  in our own encoder cannot hide behind a shared implementation), verifies every event's
  signature against the chain, and buffers text; it enforces the inbound-event timeout and the
  stream-duration limit;
- the synthesizer speaks buffered text at sentence boundaries, on ``Force`` flush and on close,
  through the offline voice, and encodes it with one encoder for the whole stream;
- the writer sends audio events in order, applying the latency model.

Service errors go out as in-stream exception frames; faults are injected where the plan says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import botocore.eventstream

from polly_pipeline._aio import task_group
from polly_pipeline.audio import StreamEncoder
from polly_pipeline.errors import (
    ServiceException,
    ServiceQuotaExceededException,
    SignatureError,
    ValidationException,
    ValidationExceptionField,
)
from polly_pipeline.local.budget import ByteBudget, reserve
from polly_pipeline.local.config import Fault, LocalServiceConfig
from polly_pipeline.local.frame_guard import FrameSizeGuard, FrameTooLarge
from polly_pipeline.local.http import Request, RequestBody, Responder, StreamClosed
from polly_pipeline.local.pacing import paced_pieces, release_window
from polly_pipeline.local.render import render_pcm
from polly_pipeline.local.stream_checks import (
    StopStream,
    apply_fault,
    check_not_empty,
    check_ssml,
)
from polly_pipeline.local.stream_record import StreamRecord, billable_characters
from polly_pipeline.local.voices import VoiceInfo
from polly_pipeline.protocol.events import (
    AudioEvent,
    CloseStreamEvent,
    StreamClosedEvent,
    TextEvent,
    decode_input_event,
    encode_exception,
    encode_output_event,
)
from polly_pipeline.protocol.eventstream import Header, Message
from polly_pipeline.protocol.params import MAX_EVENT_TEXT_CHARS, SynthesisParams
from polly_pipeline.protocol.sigv4 import EventVerifier, VerifiedRequest

__all__ = ["SynthesisSession"]

log = logging.getLogger("polly_pipeline.local")

#: A sentence ends at . ! ? or … (with closing quotes or brackets) followed by whitespace.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")
#: Characters of received text waiting for synthesis before the reader stops reading (and so
#: stops crediting the client's flow-control window).
MAX_PENDING_TEXT = 64 * 1024


class SynthesisSession:
    """Serves one StartSpeechSynthesisStream exchange once its headers were accepted."""

    def __init__(
        self,
        *,
        request: Request,
        body: RequestBody,
        responder: Responder,
        config: LocalServiceConfig,
        verified: VerifiedRequest,
        params: SynthesisParams,
        voice: VoiceInfo,
        fault: Fault | None,
        record: StreamRecord,
        clock: Callable[[], datetime],
        connection_budget: ByteBudget | None = None,
    ) -> None:
        self._body = body
        self._responder = responder
        self._config = config
        self._params = params
        self._voice = voice
        self._fault = fault
        self.record = record
        self._verifier = EventVerifier(
            credentials=verified.credentials,
            region=verified.region,
            seed_signature=verified.signature,
            clock=clock,
            max_skew=config.max_clock_skew,
        )
        self._rate = params.effective_sample_rate
        self._encoder = StreamEncoder(params.output_format, self._rate)  # type: ignore[arg-type]
        self._buffer = ""
        self._jobs: asyncio.Queue[tuple[str, bool] | None] = asyncio.Queue()
        self._out: asyncio.Queue[tuple[float, bytes, str | None] | None] = asyncio.Queue()
        self._audio_events = 0
        self._audio_released_at = 0.0
        self._first_job = True
        # audio encoded and not yet written, per stream and per connection; text not yet spoken
        self._budgets = (
            ByteBudget(config.render_ahead_bytes),
            connection_budget or ByteBudget(config.render_ahead_bytes),
        )
        self._held = 0
        self._pending_text = ByteBudget(MAX_PENDING_TEXT)

    # -- orchestration --------------------------------------------------------------------------

    async def run(self) -> None:
        """Run reader, synthesizer and writer until the stream ends one way or another."""
        error: ServiceException | None = None
        try:
            # the first failure ends the other two (so frames never interleave) and is raised
            async with asyncio.timeout(self._config.max_stream_duration), task_group() as tasks:
                tasks.create_task(self._read(), name="polly-local-reader")
                tasks.create_task(self._synthesize(), name="polly-local-synth")
                tasks.create_task(self._write(), name="polly-local-writer")
            self.record.outcome = "completed"
        except TimeoutError:
            if not self.record.outcome.startswith("fault:"):  # a stalled stream keeps its label
                self.record.outcome = "input-stream-timeout"
            error = ServiceQuotaExceededException(
                f"the stream exceeded the maximum duration of "
                f"{self._config.max_stream_duration:g} seconds",
                quota_code="input-stream-timeout",
                service_code="polly",
            )
        except ServiceException as exc:
            if not self.record.outcome.startswith("fault:"):
                self.record.outcome = exc.error_code
            error = exc
        except (StopStream, StreamClosed):
            # a fault ended it, or the client went away: nothing more can be said on this stream
            if not self.record.outcome.startswith("fault:"):
                self.record.outcome = "client-gone"
        finally:
            for budget in self._budgets:
                budget.release(self._held)  # the connection's budget outlives this stream
            self._held = 0
        if error is not None:
            await self._send_exception(error)

    async def _send_exception(self, exc: ServiceException) -> None:
        with contextlib.suppress(Exception):
            await self._responder.send_data(encode_exception(exc))
            await self._responder.end()

    async def _maybe_fault(self, point: str) -> None:
        fault = self._fault
        if fault is None or fault.at != point:
            return
        self._fault = None
        self.record.outcome = f"fault:{fault.kind}@{point}"
        await apply_fault(fault, self._responder)

    # -- reader ---------------------------------------------------------------------------------

    async def _read(self) -> None:
        parser = botocore.eventstream.EventStreamBuffer()
        chunks = self._body.__aiter__()
        saw_first = False
        closed = False  # CloseStreamEvent received: only the terminal signed frame may follow
        ended = False  # the terminal (empty) signed frame received
        finishing = False  # the synthesizer was told the input is complete
        guard = FrameSizeGuard(self._config.max_event_frame_bytes)
        while True:
            await self._pending_text.wait_for_room()  # backpressure: stop reading, stop crediting
            timeout = None if closed else self._config.inbound_event_timeout
            try:
                async with asyncio.timeout(timeout):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise ServiceQuotaExceededException(
                    f"no input event arrived for {self._config.inbound_event_timeout:g} seconds; "
                    "send text (or whitespace to keep the stream open)",
                    quota_code="input-stream-inbound-event-timeout",
                    service_code="polly",
                ) from None
            try:
                guard.feed(chunk)
            except FrameTooLarge as exc:
                raise _invalid(str(exc)) from None
            try:
                parser.add_data(chunk)
                messages = list(parser)
            except Exception as exc:  # botocore raises ParserError, KeyError, struct.error...
                raise _invalid(f"malformed event-stream frame: {exc}") from None
            for outer in messages:
                if ended:
                    raise _invalid("data after the end of the signed event stream")
                payload = self._verify(outer)
                if not payload:
                    ended = True
                    continue
                if closed:
                    raise _invalid("an event arrived after the CloseStreamEvent")
                event = self._parse_inner(payload)
                if not saw_first:
                    saw_first = True
                    await self._maybe_fault("first_event")
                if isinstance(event, CloseStreamEvent):
                    await self._maybe_fault("on_close")
                    self._schedule(self._buffer, ssml=False)
                    self._buffer = ""
                    closed = True
                    continue
                self._on_text(event)
            if closed and not finishing:
                # only once the whole chunk checked out: a bad frame after the close must
                # fail the stream, not race the StreamClosedEvent out
                finishing = True
                await self._jobs.put(None)
        if not closed:
            raise _invalid("the input ended without a CloseStreamEvent")

    def _verify(self, outer: Any) -> bytes:
        headers = outer.headers
        typed: list[Header] = []
        for name, value in headers.items():
            if name == ":date" and isinstance(value, int):
                typed.append(Header.timestamp(name, datetime.fromtimestamp(value / 1000, UTC)))
            elif isinstance(value, bytes):
                typed.append(Header.bytes(name, value))
            elif isinstance(value, str):
                typed.append(Header.string(name, value))
        try:
            return self._verifier.verify(Message(tuple(typed), bytes(outer.payload)))
        except SignatureError as exc:
            raise _invalid(f"event signature rejected: {exc}") from None

    def _parse_inner(self, payload: bytes) -> TextEvent | CloseStreamEvent:
        parser = botocore.eventstream.EventStreamBuffer()
        try:
            parser.add_data(payload)
            inner = list(parser)
        except Exception as exc:
            raise _invalid(f"malformed inner event frame: {exc}") from None
        if len(inner) != 1:
            raise _invalid(f"a signed frame must carry exactly one event, got {len(inner)}")
        msg = inner[0]
        typed = tuple(Header.string(k, v) for k, v in msg.headers.items() if isinstance(v, str))
        return decode_input_event(Message(typed, bytes(msg.payload)))

    def _on_text(self, event: TextEvent) -> None:
        if len(event.text) > MAX_EVENT_TEXT_CHARS:
            raise ValidationException(
                f"TextEvent text has {len(event.text)} characters; the limit is "
                f"{MAX_EVENT_TEXT_CHARS}",
                reason="fieldValidationFailed",
                fields=[ValidationExceptionField("Text", "too long")],
            )
        if self._config.reject_empty_text:
            check_not_empty(event.text)
        billed = billable_characters(event)
        self.record.request_characters += billed
        if billed == 0 and not event.flush:
            self.record.keep_alives += 1
        else:
            self.record.texts.append(event.text)
        if event.flush:
            self.record.flushes += 1
        if event.text_type == "ssml":
            check_ssml(event.text)
            self._schedule(self._buffer, ssml=False)
            self._buffer = ""
            self._schedule(event.text, ssml=True)
            return
        self._buffer += event.text
        if event.flush:
            self._schedule(self._buffer, ssml=False)
            self._buffer = ""
            return
        ends = [m.end() for m in _BOUNDARY.finditer(self._buffer)]
        if ends:
            self._schedule(self._buffer[: ends[-1]], ssml=False)
            self._buffer = self._buffer[ends[-1] :]

    def _schedule(self, text: str, *, ssml: bool) -> None:
        if text.strip():
            self._pending_text.take(len(text))
            self._jobs.put_nowait((text, ssml))

    # -- synthesizer ----------------------------------------------------------------------------

    async def _synthesize(self) -> None:
        latency = self._config.latency
        while True:
            job = await self._jobs.get()
            if job is None:
                break
            text, ssml = job
            started = asyncio.get_running_loop().time()
            pcm = await render_pcm(text, self._voice, ssml=ssml, sample_rate=self._rate)
            self._pending_text.release(len(text))
            seconds = len(pcm) / 2 / self._rate
            self.record.audio_seconds += seconds
            data = self._encoder.encode(pcm)
            release, self._audio_released_at = release_window(
                latency, started, self._audio_released_at, seconds
            )
            await self._emit(data, release, self._audio_released_at, text)
        flushed = self._encoder.flush()
        await self._emit(flushed, self._audio_released_at, self._audio_released_at, None)
        await self._out.put(None)

    async def _emit(self, data: bytes, start: float, end: float, text: str | None) -> None:
        """Queue audio for the writer, no further ahead of the wire than the budgets allow."""
        pieces = paced_pieces(data, self._config.audio_event_bytes, start, end)
        for n, (at, piece) in enumerate(pieces):
            await reserve(len(piece), *self._budgets)
            self._held += len(piece)
            last = n == len(pieces) - 1
            self._out.put_nowait((at, piece, text if last else None))

    # -- writer ---------------------------------------------------------------------------------

    async def _write(self) -> None:
        delay = self._config.latency.network_delay
        while True:
            item = await self._out.get()
            if item is None:
                break
            at, piece, finished_text = item
            wait = at + delay - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)
            if piece:
                await self._responder.send_data(encode_output_event(AudioEvent(piece)))
                self._audio_events += 1
                self.record.audio_bytes += len(piece)
                self._held -= len(piece)
                for budget in self._budgets:
                    budget.release(len(piece))
            if finished_text is not None:
                self.record.spoken.append(finished_text)
            fault = self._fault
            if (
                fault
                and fault.at == "mid_stream"
                and self._audio_events >= fault.after_audio_events
            ):
                await self._maybe_fault("mid_stream")
        if delay:
            await asyncio.sleep(delay)
        closed = StreamClosedEvent(self.record.request_characters)
        # final before the client can see the end (a failed send relabels it client-gone)
        self.record.outcome = "completed"
        await self._responder.send_data(encode_output_event(closed))
        await self._responder.end()


def _invalid(message: str) -> ValidationException:
    return ValidationException(message, reason="invalidInboundEvent")
