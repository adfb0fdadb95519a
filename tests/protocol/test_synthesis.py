"""The sans-IO synthesis stream machine: every state x every call, the frames, the events."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from datetime import UTC

import pytest
from botocore.eventstream import EventStreamBuffer

from polly_pipeline.errors import (
    ConnectionClosedError,
    CorruptFrameError,
    ParameterValidationError,
    StreamStateError,
    ThrottlingException,
    TruncatedFrameError,
    UnmodeledServiceError,
)
from polly_pipeline.protocol.events import (
    AudioEvent,
    ServiceErrorEvent,
    StreamClosedEvent,
    TextEvent,
    encode_exception,
    encode_output_event,
)
from polly_pipeline.protocol.sigv4 import EventSigner
from polly_pipeline.protocol.synthesis import StreamCall, StreamState, SynthesisStreamMachine
from tests.protocol.test_sigv4 import CREDS, SEED, reference_event_signature

T0 = datetime.datetime(2026, 3, 19, 12, 34, 56, 789000, tzinfo=UTC)
AUDIO = encode_output_event(AudioEvent(b"\x01\x02" * 50))
CLOSED = encode_output_event(StreamClosedEvent(12))
THROTTLED = encode_exception(ThrottlingException("slow down"))


def machine(
    step: datetime.timedelta = datetime.timedelta(milliseconds=1500),
) -> SynthesisStreamMachine:
    ticks = iter(T0 + step * i for i in range(1000))
    signer = EventSigner(
        credentials=CREDS, region="us-east-1", seed_signature=SEED, clock=lambda: next(ticks)
    )
    return SynthesisStreamMachine(signer)


# How to bring a fresh machine into each state.
REACH: dict[StreamState, Callable[[SynthesisStreamMachine], object]] = {
    StreamState.OPEN: lambda m: None,
    StreamState.OUTPUT_DUE: lambda m: m.send_text(TextEvent("Hi.", flush=True)),
    StreamState.INPUT_ENDED: lambda m: m.end_input(),
    StreamState.FINISHED: lambda m: m.receive_data(CLOSED),
    StreamState.FAILED: lambda m: m.receive_data(THROTTLED),
    StreamState.CLOSED: lambda m: m.close(),
}

# One representative invocation of each call.
CALLS: dict[StreamCall, Callable[[SynthesisStreamMachine], object]] = {
    StreamCall.SEND_TEXT: lambda m: m.send_text(TextEvent("more ")),
    StreamCall.END_INPUT: lambda m: m.end_input(),
    StreamCall.DATA_TO_SEND: lambda m: m.data_to_send(),
    StreamCall.RECEIVE_DATA: lambda m: m.receive_data(AUDIO),
    StreamCall.RECEIVE_END: lambda m: m.receive_end(),
    StreamCall.FAIL: lambda m: m.fail(RuntimeError("gave up")),
    StreamCall.CLOSE: lambda m: m.close(),
}

S = StreamState
X = None  # illegal: StreamStateError naming the call and the state
# The specification: rows are states; columns are the calls in the order of CALLS (send_text,
# end_input, data_to_send, receive_data, receive_end, fail, close).
SPEC: dict[StreamState, tuple[StreamState | None, ...]] = {
    S.OPEN: (S.OPEN, S.INPUT_ENDED, S.OPEN, S.OPEN, S.FAILED, S.FAILED, S.CLOSED),
    S.OUTPUT_DUE: (
        S.OUTPUT_DUE,
        S.INPUT_ENDED,
        S.OUTPUT_DUE,
        S.OPEN,  # an audio event answers the flush
        S.FAILED,
        S.FAILED,
        S.CLOSED,
    ),
    S.INPUT_ENDED: (X, S.INPUT_ENDED, S.INPUT_ENDED, S.INPUT_ENDED, S.FAILED, S.FAILED, S.CLOSED),
    S.FINISHED: (X, S.FINISHED, S.FINISHED, S.FINISHED, S.FINISHED, S.FINISHED, S.CLOSED),
    S.FAILED: (X, X, S.FAILED, X, X, S.FAILED, S.CLOSED),
    S.CLOSED: (X, X, S.CLOSED, X, X, S.CLOSED, S.CLOSED),
}


@pytest.mark.parametrize("state", list(StreamState), ids=lambda s: s.name)
@pytest.mark.parametrize("call", list(StreamCall), ids=lambda c: c.value)
def test_every_call_in_every_state(state: StreamState, call: StreamCall) -> None:
    m = machine()
    REACH[state](m)
    assert m.state is state
    expected = SPEC[state][list(CALLS).index(call)]
    if expected is None:
        with pytest.raises(StreamStateError) as exc:
            CALLS[call](m)
        assert f"{call.value}()" in str(exc.value)
        assert state.name in str(exc.value)
        assert m.state is state  # a refused call changes nothing
    elif call is StreamCall.RECEIVE_END and state is not S.FINISHED:
        with pytest.raises(ConnectionClosedError, match="without a StreamClosedEvent"):
            CALLS[call](m)
    else:
        CALLS[call](m)
    assert m.state is expected if expected is not None else state


def test_refusals_say_what_to_do() -> None:
    m = machine()
    m.end_input()
    with pytest.raises(StreamStateError, match="input is ended; open a new stream"):
        m.send_text(TextEvent("late"))
    m.close()
    with pytest.raises(StreamStateError, match="the stream is closed"):
        m.end_input()


def test_a_failure_is_the_cause_of_later_refusals() -> None:
    m = machine()
    [event] = m.receive_data(THROTTLED)
    assert isinstance(event, ServiceErrorEvent)
    with pytest.raises(
        StreamStateError, match=r"send_text\(\) is not allowed in state FAILED"
    ) as exc:
        m.send_text(TextEvent("x"))
    assert exc.value.__cause__ is m.failure is event.error


def test_bad_text_is_refused_before_the_state_is_touched() -> None:
    m = machine()
    with pytest.raises(ParameterValidationError, match="6001 characters"):
        m.send_text(TextEvent("x" * 6001))
    assert m.pending_events == 0
    assert m.state is StreamState.OPEN


def test_flush_makes_output_due_until_its_first_event_arrives() -> None:
    m = machine()
    m.send_text(TextEvent("no flush "))
    assert not m.output_due
    m.send_text(TextEvent("now.", flush=True))
    assert m.output_due
    assert m.state is StreamState.OUTPUT_DUE
    m.receive_data(AUDIO[:5])  # part of a frame: not an answer yet
    assert m.output_due
    m.receive_data(AUDIO[5:])
    # answered: more audio may follow at the service's pace, or none if all was spoken
    assert not m.output_due
    assert m.state is StreamState.OPEN
    m.send_text(TextEvent("again.", flush=True))
    assert m.output_due


def test_end_input_keeps_output_due_until_the_close() -> None:
    m = machine()
    m.send_text(TextEvent("now.", flush=True))
    m.receive_data(AUDIO)
    m.end_input()
    assert m.output_due
    m.receive_data(AUDIO)
    assert m.output_due  # the rest of the audio and StreamClosedEvent are due
    assert m.output_due
    assert m.input_ended
    m.receive_data(CLOSED)
    assert not m.output_due


# --- the frames --------------------------------------------------------------------------

#: What the client sent before the machine existed (EventSigner.sign(encode_input_event(e)) for
#: each event, then sign_end()), for these events at T0 + 1.5 s steps: 1,181 bytes.
GOLDEN_SHA256 = "84f6b5d24296e81f19df2b91b060d49b094629b902a8c4eae2ce1fe713300ce1"
EVENTS = [
    TextEvent("Hello "),
    TextEvent("wörld. ", "text", True),
    TextEvent('<speak>Hi "there"</speak>', "ssml"),
    TextEvent(""),
]


def script(m: SynthesisStreamMachine, *, per_call: int | None) -> bytes:
    out = bytearray()
    for event in EVENTS:
        m.send_text(event)
        out += m.data_to_send(per_call)
    m.end_input()
    while not m.input_sent:
        out += m.data_to_send(per_call)
    return bytes(out)


@pytest.mark.parametrize("per_call", [1, None])
def test_frames_are_byte_identical_to_the_signer_before_the_machine(per_call: int | None) -> None:
    wire = script(machine(), per_call=per_call)
    assert len(wire) == 1181
    assert hashlib.sha256(wire).hexdigest() == GOLDEN_SHA256


def test_frames_parse_with_botocore_and_chain_by_the_published_recipe() -> None:
    m = machine()
    buffer = EventStreamBuffer()
    buffer.add_data(script(m, per_call=None))
    outer = list(buffer)
    assert len(outer) == len(EVENTS) + 2  # the events, CloseStreamEvent, the empty end frame
    prior = SEED
    for i, message in enumerate(outer):
        when = T0 + datetime.timedelta(milliseconds=1500) * i
        assert message.headers[":date"] == int(when.timestamp() * 1000)
        signature = reference_event_signature(prior, when, message.payload)
        assert message.headers[":chunk-signature"].hex() == signature
        prior = signature
    texts = []
    for message in outer[: len(EVENTS)]:
        inner = EventStreamBuffer()
        inner.add_data(message.payload)
        [event] = list(inner)
        assert event.headers[":event-type"] == "TextEvent"
        texts.append(event.payload.decode())
    assert (
        texts[1] == '{"Text":"wörld. ","TextType":"text","FlushStreamConfiguration":{"Force":true}}'
    )
    assert outer[-1].payload == b""


def test_events_are_signed_when_handed_out_not_when_queued() -> None:
    m = machine()
    m.send_text(TextEvent("a"))
    m.send_text(TextEvent("b"))
    assert m.pending_events == 2
    first = m.data_to_send(1)
    second = m.data_to_send(1)
    assert m.pending_events == 0
    assert m.data_to_send() == b""
    buffer = EventStreamBuffer()
    buffer.add_data(first + second)
    dates = [message.headers[":date"] for message in buffer]
    assert dates[1] - dates[0] == 1500  # one clock reading per event, in wire order


# --- receiving ---------------------------------------------------------------------------


def test_audio_and_close_in_any_chunking() -> None:
    wire = AUDIO + AUDIO + CLOSED + AUDIO  # what follows the close is discarded
    m = machine()
    m.end_input()
    events = []
    for i in range(len(wire)):
        events += m.receive_data(wire[i : i + 1])
    assert events == [AudioEvent(b"\x01\x02" * 50)] * 2 + [StreamClosedEvent(12)]
    assert m.state is StreamState.FINISHED
    assert m.closed_event == StreamClosedEvent(12)
    m.receive_end()
    m.close()
    assert m.closed_event == StreamClosedEvent(12)  # the fact outlives the close


def test_a_service_error_is_an_event_and_ends_the_stream() -> None:
    m = machine()
    events = m.receive_data(AUDIO + THROTTLED + AUDIO)
    assert events[0] == AudioEvent(b"\x01\x02" * 50)
    assert len(events) == 2  # nothing after the error is decoded
    error = events[1]
    assert isinstance(error, ServiceErrorEvent)
    assert isinstance(error.error, ThrottlingException)
    assert error.error.message == "slow down"
    assert m.state is StreamState.FAILED
    assert m.failure is error.error


def test_an_unmodelled_error_frame_is_an_event_too() -> None:
    m = machine()
    [event] = m.receive_data(encode_exception(UnmodeledServiceError("boom", code="Teapot")))
    assert isinstance(event, ServiceErrorEvent)
    assert isinstance(event.error, UnmodeledServiceError)
    assert event.error.code == "Teapot"


def test_corrupt_bytes_raise_and_fail_the_stream() -> None:
    m = machine()
    broken = bytearray(AUDIO)
    broken[-1] ^= 0xFF
    with pytest.raises(CorruptFrameError, match="message CRC"):
        m.receive_data(bytes(broken))
    assert m.state is StreamState.FAILED
    assert isinstance(m.failure, CorruptFrameError)


def test_the_response_ending_inside_a_frame_is_a_truncation() -> None:
    m = machine()
    m.receive_data(AUDIO[:20])
    with pytest.raises(TruncatedFrameError):
        m.receive_end()
    assert m.state is StreamState.FAILED


def test_a_failure_keeps_the_first_reason_and_drops_unsent_input() -> None:
    m = machine()
    m.send_text(TextEvent("never sent"))
    first = RuntimeError("first")
    m.fail(first)
    m.fail(RuntimeError("second"))
    assert m.failure is first
    assert m.pending_events == 0
    assert m.data_to_send() == b""
