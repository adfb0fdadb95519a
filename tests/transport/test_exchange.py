"""The sans-IO HTTP/2 exchange machine: every state x every call, and what each call decides."""

from __future__ import annotations

import enum
from collections.abc import Callable

import pytest

from polly_pipeline.errors import StreamStateError
from polly_pipeline.transport.exchange import (
    ExchangeCall,
    ExchangeMachine,
    ExchangeState,
    HandleCall,
    HandleState,
)

E = ExchangeState

# One invocation of each call.
CALLS: dict[ExchangeCall, Callable[[ExchangeMachine], object]] = {
    ExchangeCall.START: lambda m: m.start(body=True),
    ExchangeCall.REFUSE: lambda m: m.refuse(),
    ExchangeCall.LOCAL_END: lambda m: m.local_end(),
    ExchangeCall.REMOTE_END: lambda m: m.remote_end(),
    ExchangeCall.RECEIVE_BODY: lambda m: m.receive_body(),
    ExchangeCall.ABANDON: lambda m: m.abandon(),
    ExchangeCall.COMPLETE: lambda m: m.complete(),
}

C = ExchangeCall
# How to bring a fresh machine into each state.
REACH: dict[ExchangeState, tuple[ExchangeCall, ...]] = {
    E.RESERVED: (),
    E.OPEN: (C.START,),
    E.LOCAL_ENDED: (C.START, C.LOCAL_END),
    E.REMOTE_ENDED: (C.START, C.REMOTE_END),
    E.ENDED: (C.START, C.LOCAL_END, C.REMOTE_END),
    E.ABANDONED: (C.START, C.ABANDON),
    E.COMPLETED: (C.START, C.COMPLETE),
    E.REFUSED: (C.REFUSE,),
}


def reached(state: ExchangeState) -> ExchangeMachine:
    """A fresh machine brought into ``state``."""
    m = ExchangeMachine()
    for call in REACH[state]:
        CALLS[call](m)
    return m


X = None  # illegal: StreamStateError naming the call and the state
# The specification: rows are states; columns are the calls in the order of CALLS (start,
# refuse, local_end, remote_end, receive_body, abandon, complete).
SPEC: dict[ExchangeState, tuple[ExchangeState | None, ...]] = {
    E.RESERVED: (E.OPEN, E.REFUSED, X, X, X, X, X),
    E.OPEN: (X, X, E.LOCAL_ENDED, E.REMOTE_ENDED, E.OPEN, E.ABANDONED, E.COMPLETED),
    E.LOCAL_ENDED: (X, X, X, E.ENDED, E.LOCAL_ENDED, E.ABANDONED, E.COMPLETED),
    E.REMOTE_ENDED: (X, X, E.ENDED, X, X, E.ABANDONED, E.COMPLETED),
    E.ENDED: (X, X, X, X, X, E.ABANDONED, E.COMPLETED),
    E.ABANDONED: (X, X, E.ABANDONED, E.ABANDONED, E.ABANDONED, E.ABANDONED, E.COMPLETED),
    E.COMPLETED: (X, X, E.COMPLETED, X, X, E.COMPLETED, X),
    E.REFUSED: (X, X, X, X, X, X, X),
}


@pytest.mark.parametrize("state", list(ExchangeState), ids=lambda s: s.name)
@pytest.mark.parametrize("call", list(ExchangeCall), ids=lambda c: c.value)
def test_every_call_in_every_state(state: ExchangeState, call: ExchangeCall) -> None:
    m = reached(state)
    expected = SPEC[state][list(CALLS).index(call)]
    check_call(
        m, where=lambda: m.state, state=state, call=call, invoke=CALLS[call], expected=expected
    )


def check_call(
    m: ExchangeMachine,
    *,
    where: Callable[[], enum.Enum],
    state: enum.Enum,
    call: enum.Enum,
    invoke: Callable[[ExchangeMachine], object],
    expected: enum.Enum | None,
) -> None:
    """``invoke`` moves ``where()`` from ``state`` to ``expected``, or (None) is refused."""
    assert where() is state
    if expected is None:
        with pytest.raises(StreamStateError) as exc:
            invoke(m)
        assert f"{call.value}() is not allowed in state {state.name}" in str(exc.value)
        assert where() is state  # a refused call changes nothing
    else:
        invoke(m)
        assert where() is expected


def test_the_slot_is_held_from_reservation_until_completion_or_refusal() -> None:
    held = {state for state in ExchangeState if reached(state).holds_slot}
    assert held == {E.RESERVED, E.OPEN, E.LOCAL_ENDED, E.REMOTE_ENDED, E.ENDED, E.ABANDONED}


@pytest.mark.parametrize("state", [E.OPEN, E.LOCAL_ENDED, E.REMOTE_ENDED, E.ENDED])
def test_abandoning_a_live_exchange_tells_the_connection_once(state: ExchangeState) -> None:
    m = reached(state)
    assert m.abandon() is True
    assert m.abandon() is False
    assert m.complete() is True  # the slot is released as an abandoned stream's


def test_a_completed_exchange_is_not_abandoned() -> None:
    m = reached(E.COMPLETED)
    assert m.abandon() is False
    assert m.completed


@pytest.mark.parametrize("state", [E.OPEN, E.LOCAL_ENDED, E.REMOTE_ENDED, E.ENDED])
def test_a_live_exchange_releases_its_slot_as_a_normal_one(state: ExchangeState) -> None:
    m = reached(state)
    assert m.complete() is False
    assert not m.holds_slot


def test_the_response_end_is_remembered_through_abandonment_and_completion() -> None:
    m = reached(E.REMOTE_ENDED)
    assert m.response_ended
    assert m.awaiting_local_end  # only our END_STREAM is missing
    m.abandon()
    m.complete()
    assert m.response_ended
    assert not m.awaiting_local_end


def test_the_response_cannot_end_twice_even_after_abandonment() -> None:
    m = reached(E.OPEN)
    m.remote_end()
    m.abandon()
    with pytest.raises(StreamStateError, match=r"remote_end\(\) is not allowed in state ABANDONED"):
        m.remote_end()


def test_without_a_body_the_request_ends_with_its_headers() -> None:
    m = ExchangeMachine()
    m.start(body=False)
    assert m.state is E.LOCAL_ENDED
    assert not m.awaiting_local_end
    m.remote_end()
    assert m.state is E.ENDED
    assert not m.awaiting_local_end


def test_refusals_say_why() -> None:
    with pytest.raises(StreamStateError, match="the stream has not been started"):
        reached(E.RESERVED).complete()
    with pytest.raises(StreamStateError, match="the stream was refused by awscrt"):
        reached(E.REFUSED).start(body=True)
    with pytest.raises(StreamStateError, match="the stream was completed by awscrt"):
        reached(E.COMPLETED).complete()


# --- the caller's handle ------------------------------------------------------------------

H = HandleState

HANDLE_CALLS: dict[HandleCall, Callable[[ExchangeMachine], object]] = {
    HandleCall.READ: lambda m: m.check_read(),
    HandleCall.CLOSE: lambda m: m.close(),
    HandleCall.CLOSED: lambda m: m.closed(),
}
REACH_HANDLE: dict[HandleState, tuple[HandleCall, ...]] = {
    H.HELD: (),
    H.CLOSING: (HandleCall.CLOSE,),
    H.CLOSED: (HandleCall.CLOSE, HandleCall.CLOSED),
}
# columns: read, close, closed
HANDLE_SPEC: dict[HandleState, tuple[HandleState | None, ...]] = {
    H.HELD: (H.HELD, H.CLOSING, X),
    H.CLOSING: (X, H.CLOSING, H.CLOSED),
    H.CLOSED: (X, H.CLOSED, X),
}


@pytest.mark.parametrize("state", list(HandleState), ids=lambda s: s.name)
@pytest.mark.parametrize("call", list(HandleCall), ids=lambda c: c.value)
def test_every_caller_call_in_every_handle_state(state: HandleState, call: HandleCall) -> None:
    m = ExchangeMachine()
    m.start(body=True)
    for step in REACH_HANDLE[state]:
        HANDLE_CALLS[step](m)
    expected = HANDLE_SPEC[state][list(HANDLE_CALLS).index(call)]
    check_call(
        m,
        where=lambda: m.handle,
        state=state,
        call=call,
        invoke=HANDLE_CALLS[call],
        expected=expected,
    )
    assert m.state is E.OPEN  # the caller's calls do not move the exchange


def test_reading_after_close_says_the_stream_is_closed() -> None:
    m = reached(E.OPEN)
    m.close()
    with pytest.raises(StreamStateError, match=r"read\(\) .* CLOSING: the stream is closed"):
        m.check_read()


def test_only_the_first_close_does_the_closing() -> None:
    m = reached(E.OPEN)
    assert m.close() is True
    assert m.close() is False
    m.closed()
    assert m.close() is False


def test_body_chunks_are_delivered_until_the_caller_closes() -> None:
    m = reached(E.OPEN)
    assert m.receive_body() is True
    m.close()
    assert m.receive_body() is False  # discarded, its bytes credited back by the stream
    m.abandon()
    assert m.receive_body() is False
    assert m.state is E.ABANDONED
