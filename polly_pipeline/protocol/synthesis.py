"""Protocol layer: the sans-IO state machine of one synthesis stream (no I/O, no asyncio).

As h2 does for HTTP/2: calls in, bytes out; bytes in, events out. The caller moves the bytes.

- Input: :meth:`SynthesisStreamMachine.send_text` and :meth:`~SynthesisStreamMachine.end_input`
  queue events; :meth:`~SynthesisStreamMachine.data_to_send` signs what is queued at that
  moment (so each ``:date`` is its send time and the signature chain follows the wire order)
  and returns the event-stream frames as bytes.
- Output: :meth:`~SynthesisStreamMachine.receive_data` turns response bytes (in any chunking)
  into typed events; an error the service reports in the stream comes back as a
  :class:`~polly_pipeline.protocol.events.ServiceErrorEvent`, not as an exception.

States (:class:`StreamState`) and the calls that move between them (:data:`TRANSITIONS`)::

    OPEN --send_text(flush)--> OUTPUT_DUE            (if text was sent since the last event;
                                                      else, and without flush, it stays put)
    OUTPUT_DUE --receive_data(an event)--> OPEN      (the service answered the flush)
    OPEN, OUTPUT_DUE --end_input--> INPUT_ENDED      (end_input again: no change)
    OPEN, OUTPUT_DUE, INPUT_ENDED --receive_data(StreamClosedEvent)--> FINISHED
    OPEN, OUTPUT_DUE, INPUT_ENDED --receive_data(service error) / fail / receive_end--> FAILED
    every state --close--> CLOSED

A call the table does not allow raises :class:`~polly_pipeline.errors.StreamStateError` naming
the call and the state (text after the end of input, anything after close or failure, ...).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from polly_pipeline.errors import (
    ConnectionClosedError,
    ParameterValidationError,
    PollyPipelineError,
    StreamStateError,
)
from polly_pipeline.protocol.events import (
    CloseStreamEvent,
    InputEvent,
    OutputEvent,
    ServiceErrorEvent,
    StreamClosedEvent,
    TextEvent,
    decode_output,
    encode_input_event,
)
from polly_pipeline.protocol.eventstream import EventStreamDecoder
from polly_pipeline.protocol.params import text_event_problems
from polly_pipeline.protocol.sigv4 import EventSigner

__all__ = ["TRANSITIONS", "StreamCall", "StreamState", "SynthesisStreamMachine"]


class StreamState(enum.Enum):
    """Where one synthesis stream is."""

    #: Input open; no audio asked for yet (the service may still speak at its own boundaries).
    OPEN = "open"
    #: Input open; a flush asked for audio and no event has arrived since, so output is due.
    #: The first event back answers it (OPEN again): after that the service speaks at its own
    #: pace, and silence while the caller writes no more text (a model calling a tool, say)
    #: is not a stalled stream. A flush of no text sent since the last event owes nothing:
    #: the service may have spoken it all already (at a boundary), and then it sends nothing.
    OUTPUT_DUE = "output due"
    #: CloseStreamEvent queued: the remaining audio and the StreamClosedEvent are due.
    INPUT_ENDED = "input ended"
    #: The service's StreamClosedEvent arrived: the exchange is complete.
    FINISHED = "finished"
    #: The service reported an error, the response broke off, or the caller gave up.
    FAILED = "failed"
    #: Released by the caller.
    CLOSED = "closed"


class StreamCall(enum.Enum):
    """The calls (and arrivals) that can change a stream's state."""

    SEND_TEXT = "send_text"
    END_INPUT = "end_input"
    DATA_TO_SEND = "data_to_send"
    RECEIVE_DATA = "receive_data"
    RECEIVE_END = "receive_end"
    FAIL = "fail"
    CLOSE = "close"


_S = StreamState
_C = StreamCall
_LIVE = (_S.OPEN, _S.OUTPUT_DUE, _S.INPUT_ENDED)

#: (state, call) -> the state after a call that succeeds without a service event deciding it.
#: ``receive_data`` may end in FINISHED or FAILED instead, by what the bytes carry. Pairs not
#: listed are illegal.
TRANSITIONS: Final[Mapping[tuple[StreamState, StreamCall], StreamState]] = MappingProxyType(
    {
        (_S.OPEN, _C.SEND_TEXT): _S.OPEN,  # OUTPUT_DUE when it flushes unanswered text
        (_S.OUTPUT_DUE, _C.SEND_TEXT): _S.OUTPUT_DUE,
        (_S.OPEN, _C.END_INPUT): _S.INPUT_ENDED,
        (_S.OUTPUT_DUE, _C.END_INPUT): _S.INPUT_ENDED,
        (_S.INPUT_ENDED, _C.END_INPUT): _S.INPUT_ENDED,  # idempotent
        (_S.FINISHED, _C.END_INPUT): _S.FINISHED,  # the service already closed: nothing to do
        **{(state, _C.RECEIVE_DATA): state for state in _LIVE},  # OUTPUT_DUE: OPEN on an event
        (_S.FINISHED, _C.RECEIVE_DATA): _S.FINISHED,  # what follows the close is discarded
        **{(state, _C.RECEIVE_END): _S.FAILED for state in _LIVE},
        (_S.FINISHED, _C.RECEIVE_END): _S.FINISHED,
        **{(state, _C.FAIL): _S.FAILED for state in _LIVE},
        (_S.FINISHED, _C.FAIL): _S.FINISHED,  # complete already: a late failure changes nothing
        (_S.FAILED, _C.FAIL): _S.FAILED,  # the first failure is kept
        (_S.CLOSED, _C.FAIL): _S.CLOSED,
        **{(state, _C.DATA_TO_SEND): state for state in StreamState},  # empty when not live
        **{(state, _C.CLOSE): _S.CLOSED for state in StreamState},
    }
)

#: Why a call is refused, by state (completes "<call>() is not allowed: the stream ...").
_REFUSALS: Final = {
    _S.INPUT_ENDED: "input is ended; open a new stream to send more",
    _S.FINISHED: "is finished (the service sent StreamClosedEvent); open a new stream",
    _S.FAILED: "failed; open a new stream",
    _S.CLOSED: "is closed",
}


class SynthesisStreamMachine:
    """The state of one ``StartSpeechSynthesisStream`` exchange and its wire encoding.

    Args:
        signer: signs each event when :meth:`data_to_send` hands it out (its clock decides
            the ``:date``); its chain starts at the request's signature.
    """

    def __init__(self, signer: EventSigner) -> None:
        self._signer = signer
        self._state = StreamState.OPEN
        self._pending: deque[InputEvent | None] = deque()  # None: the end-of-input frame
        self._input_sent = False
        self._end_queued = False
        #: text was queued since the last event arrived (a flush of it is owed an answer)
        self._unanswered = False
        self._decoder = EventStreamDecoder()
        self.closed_event: StreamClosedEvent | None = None
        """The service's StreamClosedEvent, once it arrived (kept after :meth:`close`)."""
        self.failure: BaseException | None = None
        """Why the stream failed (the first reason), once it is FAILED."""

    def __repr__(self) -> str:
        return f"<SynthesisStreamMachine {self._state.value} pending={len(self._pending)}>"

    @property
    def state(self) -> StreamState:
        """The current state."""
        return self._state

    @property
    def output_due(self) -> bool:
        """True while a flush awaits its first event, or the close its StreamClosedEvent.

        While it is true a reader should bound its wait for the next event (a read deadline);
        otherwise silence is normal (no text was asked for, or the service has answered).
        """
        return self._state in (StreamState.OUTPUT_DUE, StreamState.INPUT_ENDED)

    @property
    def input_ended(self) -> bool:
        """True once :meth:`end_input` queued the end of input (kept after close or failure)."""
        return self._end_queued

    @property
    def pending_events(self) -> int:
        """Events queued but not yet handed out by :meth:`data_to_send`."""
        return len(self._pending)

    @property
    def input_sent(self) -> bool:
        """True once the end-of-input frame was handed out: the request body is complete."""
        return self._input_sent

    def check(self, call: StreamCall) -> None:
        """Raise StreamStateError if ``call`` is not allowed in the current state."""
        self._move(call)

    def _move(self, call: StreamCall) -> StreamState:
        """The state after ``call``, or StreamStateError naming the call and the state."""
        after = TRANSITIONS.get((self._state, call))
        if after is None:
            reason = _REFUSALS.get(self._state, f"is {self._state.value}")
            error = StreamStateError(
                f"{call.value}() is not allowed in state {self._state.name}: the stream {reason}"
            )
            error.__cause__ = self.failure
            raise error
        return after

    # -- input ------------------------------------------------------------------------------

    def send_text(self, event: TextEvent) -> None:
        """Queue one TextEvent.

        Raises:
            ParameterValidationError: the text is too long, not a string, or a bad text type.
            StreamStateError: the state does not allow sending.
        """
        problems = text_event_problems(event.text, event.text_type)
        if problems:
            raise ParameterValidationError(problems)
        after = self._move(StreamCall.SEND_TEXT)
        self._pending.append(event)
        self._unanswered = self._unanswered or bool(event.text.strip())
        self._state = StreamState.OUTPUT_DUE if event.flush and self._unanswered else after

    def end_input(self) -> None:
        """Queue CloseStreamEvent and the end of the request body (idempotent)."""
        before = self._state
        self._state = self._move(StreamCall.END_INPUT)
        if before in (StreamState.OPEN, StreamState.OUTPUT_DUE):
            self._pending.append(CloseStreamEvent())
            self._pending.append(None)
            self._end_queued = True

    def data_to_send(self, max_events: int | None = None) -> bytes:
        """Sign the queued events now and return their frames (b"" if none or not live).

        ``max_events`` bounds how many events go into one call (all by default).
        """
        self._move(StreamCall.DATA_TO_SEND)
        if self._state not in _LIVE and self._state is not StreamState.FINISHED:
            return b""
        frames: list[bytes] = []
        pending = self._pending
        signer = self._signer
        while pending and (max_events is None or len(frames) < max_events):
            event = pending.popleft()
            if event is None:
                frames.append(signer.sign_end())
                self._input_sent = True
            else:
                frames.append(signer.sign(encode_input_event(event)))
        return b"".join(frames)

    # -- output -----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[OutputEvent | ServiceErrorEvent]:
        """Decode response bytes into events; ends in FINISHED or FAILED as they say.

        A service error ends the list (what follows it is not decoded).

        Raises:
            ProtocolError: the bytes are not a valid event stream (the stream is FAILED).
            StreamStateError: the state does not allow receiving.
        """
        self._move(StreamCall.RECEIVE_DATA)
        if self._state is StreamState.FINISHED:
            return []
        try:
            messages = self._decoder.feed(data)
            events: list[OutputEvent | ServiceErrorEvent] = []
            for message in messages:
                event = decode_output(message)
                events.append(event)
                if isinstance(event, ServiceErrorEvent):
                    self._fail(event.error)
                    break
                if isinstance(event, StreamClosedEvent):
                    self._state = StreamState.FINISHED
                    self.closed_event = event
                    break
            if events:
                self._unanswered = False
            if events and self._state is StreamState.OUTPUT_DUE:
                self._state = StreamState.OPEN  # the flush is answered
        except PollyPipelineError as exc:
            self._fail(exc)
            raise
        return events

    def receive_end(self) -> None:
        """The response body ended; before a StreamClosedEvent that is a failure.

        Raises:
            TruncatedFrameError: the body ended inside a frame.
            ConnectionClosedError: the body ended between frames, without StreamClosedEvent.
        """
        after = self._move(StreamCall.RECEIVE_END)
        if after is StreamState.FINISHED:
            return
        try:
            self._decoder.finish()
            raise ConnectionClosedError(
                "the service ended the response without a StreamClosedEvent"
            )
        except PollyPipelineError as exc:
            self._fail(exc)
            raise

    # -- lifetime ---------------------------------------------------------------------------

    def fail(self, error: BaseException) -> None:
        """The exchange broke (transport error, deadline, caller gave up): record why."""
        self._fail(error)

    def _fail(self, error: BaseException) -> None:
        after = self._move(StreamCall.FAIL)
        if after is StreamState.FAILED and self.failure is None:
            self.failure = error
        self._state = after
        if after is StreamState.FAILED:
            self._pending.clear()

    def close(self) -> None:
        """Released by the caller (from any state; idempotent). Nothing more is sent."""
        self._state = self._move(StreamCall.CLOSE)
        self._pending.clear()
