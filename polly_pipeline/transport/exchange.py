"""Transport layer: the sans-IO state machine of one HTTP/2 exchange (no I/O, no asyncio).

:class:`~polly_pipeline.transport.stream.Http2Stream` drives it: what awscrt reports and what
the caller does go in as calls; out come the decisions the stream acts on (deliver or discard a
body chunk, release the connection slot and whether as an abandoned stream, tell the connection
that a stream was given up on). Two lifecycles, each an enum with its transition table.

The exchange as awscrt sees it (:class:`ExchangeState`, :data:`EXCHANGE_TRANSITIONS`)::

    RESERVED --start--> OPEN                                  RESERVED --refuse--> REFUSED
    OPEN --local_end--> LOCAL_ENDED --remote_end--> ENDED
    OPEN --remote_end--> REMOTE_ENDED --local_end--> ENDED
    OPEN, LOCAL_ENDED, REMOTE_ENDED, ENDED --abandon--> ABANDONED
    OPEN, LOCAL_ENDED, REMOTE_ENDED, ENDED, ABANDONED --complete--> COMPLETED

The stream holds its connection slot from RESERVED until COMPLETED or REFUSED. awscrt reports
the response's END_STREAM before the completion, and body chunks before both (its callbacks
reach the loop in order); our last write may complete after awscrt completed the stream.

The caller's handle (:class:`HandleState`, :data:`HANDLE_TRANSITIONS`)::

    HELD --close--> CLOSING --closed--> CLOSED        (close again: no change)

Reads are allowed while HELD; once the caller closes, body chunks are discarded (their bytes
still credited to the server's window).

A call a table does not allow raises :class:`~polly_pipeline.errors.StreamStateError` naming
the call and the state.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, TypeVar

from polly_pipeline.errors import StreamStateError

__all__ = [
    "EXCHANGE_TRANSITIONS",
    "HANDLE_TRANSITIONS",
    "ExchangeCall",
    "ExchangeMachine",
    "ExchangeState",
    "HandleCall",
    "HandleState",
]


class ExchangeState(enum.Enum):
    """Where one HTTP/2 exchange is, as awscrt sees it."""

    #: Made by the pool with a slot reserved on its connection; nothing sent yet.
    RESERVED = "reserved"
    #: Request headers sent; the request body and the response both flow.
    OPEN = "open"
    #: Our END_STREAM is written; the response flows on.
    LOCAL_ENDED = "local ended"
    #: The response's END_STREAM arrived; our request body flows on.
    REMOTE_ENDED = "remote ended"
    #: Both sides ended; awscrt's completion is due.
    ENDED = "ended"
    #: Given up on before awscrt completed it; its connection counts it as abandoned.
    ABANDONED = "abandoned"
    #: awscrt completed it (both sides ended, or it failed); the slot is released.
    COMPLETED = "completed"
    #: awscrt refused to start it (its connection is going away); the slot is released.
    REFUSED = "refused"


class ExchangeCall(enum.Enum):
    """What can change an exchange's state (awscrt's reports and the stream's decisions)."""

    START = "start"
    REFUSE = "refuse"
    LOCAL_END = "local_end"
    REMOTE_END = "remote_end"
    RECEIVE_BODY = "receive_body"
    ABANDON = "abandon"
    COMPLETE = "complete"


class HandleState(enum.Enum):
    """Where the caller's handle on the stream is."""

    #: The caller may read the response.
    HELD = "held"
    #: ``aclose()`` is under way: the request body is stopped, the exchange ended or abandoned.
    CLOSING = "closing"
    #: ``aclose()`` finished.
    CLOSED = "closed"


class HandleCall(enum.Enum):
    """The caller's calls."""

    READ = "read"
    CLOSE = "close"
    CLOSED = "closed"


_E = ExchangeState
_X = ExchangeCall
_LIVE = (_E.OPEN, _E.LOCAL_ENDED, _E.REMOTE_ENDED, _E.ENDED)
_SLOT_HELD = frozenset((_E.RESERVED, *_LIVE, _E.ABANDONED))

#: (state, call) -> the state after it. Pairs not listed are illegal.
EXCHANGE_TRANSITIONS: Final[Mapping[tuple[ExchangeState, ExchangeCall], ExchangeState]] = (
    MappingProxyType(
        {
            (_E.RESERVED, _X.START): _E.OPEN,
            (_E.RESERVED, _X.REFUSE): _E.REFUSED,
            (_E.OPEN, _X.LOCAL_END): _E.LOCAL_ENDED,
            (_E.REMOTE_ENDED, _X.LOCAL_END): _E.ENDED,
            (_E.ABANDONED, _X.LOCAL_END): _E.ABANDONED,  # a write finished after we gave up
            (_E.COMPLETED, _X.LOCAL_END): _E.COMPLETED,  # reported after awscrt's completion
            (_E.OPEN, _X.REMOTE_END): _E.REMOTE_ENDED,
            (_E.LOCAL_ENDED, _X.REMOTE_END): _E.ENDED,
            (_E.ABANDONED, _X.REMOTE_END): _E.ABANDONED,
            (_E.OPEN, _X.RECEIVE_BODY): _E.OPEN,
            (_E.LOCAL_ENDED, _X.RECEIVE_BODY): _E.LOCAL_ENDED,
            (_E.ABANDONED, _X.RECEIVE_BODY): _E.ABANDONED,
            **{(state, _X.ABANDON): _E.ABANDONED for state in _LIVE},
            (_E.ABANDONED, _X.ABANDON): _E.ABANDONED,  # once is enough
            (_E.COMPLETED, _X.ABANDON): _E.COMPLETED,  # nothing left to give up
            **{(state, _X.COMPLETE): _E.COMPLETED for state in (*_LIVE, _E.ABANDONED)},
        }
    )
)

_H = HandleState
_HC = HandleCall

#: (state, call) -> the state after it. Pairs not listed are illegal.
HANDLE_TRANSITIONS: Final[Mapping[tuple[HandleState, HandleCall], HandleState]] = MappingProxyType(
    {
        (_H.HELD, _HC.READ): _H.HELD,
        (_H.HELD, _HC.CLOSE): _H.CLOSING,
        (_H.CLOSING, _HC.CLOSE): _H.CLOSING,  # idempotent: the caller waits for the first
        (_H.CLOSED, _HC.CLOSE): _H.CLOSED,
        (_H.CLOSING, _HC.CLOSED): _H.CLOSED,
    }
)

_Call = ExchangeCall | HandleCall
_State = ExchangeState | HandleState

#: Why a call is refused, by state (completes "<call>() is not allowed in state X: the stream").
_REFUSALS: Final[Mapping[_State, str]] = {
    _E.RESERVED: "has not been started",
    _E.REFUSED: "was refused by awscrt before it started",
    _E.COMPLETED: "was completed by awscrt",
    _H.CLOSING: "is closed",
    _H.CLOSED: "is closed",
}


_S = TypeVar("_S", ExchangeState, HandleState)
_C = TypeVar("_C", ExchangeCall, HandleCall)


def _after(table: Mapping[tuple[_S, _C], _S], state: _S, call: _C) -> _S:
    """The state after ``call``, or StreamStateError naming the call and the state."""
    after = table.get((state, call))
    if after is None:
        raise _refuse(call, state)
    return after


def _refuse(call: _Call, state: _State) -> StreamStateError:
    reason = _REFUSALS.get(state, f"is {state.value}")
    return StreamStateError(
        f"{call.value}() is not allowed in state {state.name}: the stream {reason}"
    )


class ExchangeMachine:
    """The state of one HTTP/2 exchange and of the caller's handle on it."""

    def __init__(self) -> None:
        self._state = ExchangeState.RESERVED
        self._handle = HandleState.HELD
        self._response_ended = False

    def __repr__(self) -> str:
        return f"<ExchangeMachine {self._state.value} handle={self._handle.value}>"

    @property
    def state(self) -> ExchangeState:
        """Where the exchange is."""
        return self._state

    @property
    def handle(self) -> HandleState:
        """Where the caller's handle is."""
        return self._handle

    @property
    def completed(self) -> bool:
        """True once awscrt completed the exchange (both sides ended, or it failed)."""
        return self._state is ExchangeState.COMPLETED

    @property
    def holds_slot(self) -> bool:
        """True while the exchange counts against its connection's stream limit."""
        return self._state in _SLOT_HELD

    @property
    def response_ended(self) -> bool:
        """True once the response's END_STREAM arrived (kept when abandoned or completed):
        the response is complete, whatever happened to the request side afterwards."""
        return self._response_ended

    @property
    def awaiting_local_end(self) -> bool:
        """True if the response is complete and only our END_STREAM is missing."""
        return self._state is ExchangeState.REMOTE_ENDED

    def _move(self, call: ExchangeCall) -> ExchangeState:
        before = self._state
        self._state = _after(EXCHANGE_TRANSITIONS, before, call)
        return before

    def _move_handle(self, call: HandleCall) -> HandleState:
        before = self._handle
        self._handle = _after(HANDLE_TRANSITIONS, before, call)
        return before

    # -- the exchange ------------------------------------------------------------------------

    def start(self, *, body: bool) -> None:
        """The request headers went out; without a body the request ends with them."""
        self._move(ExchangeCall.START)
        if not body:
            self._move(ExchangeCall.LOCAL_END)

    def refuse(self) -> None:
        """awscrt refused to start the exchange: release the slot (not as abandoned)."""
        self._move(ExchangeCall.REFUSE)

    def local_end(self) -> None:
        """Our END_STREAM was written."""
        self._move(ExchangeCall.LOCAL_END)

    def remote_end(self) -> None:
        """The response's END_STREAM arrived."""
        if self._response_ended:
            raise _refuse(ExchangeCall.REMOTE_END, self._state)
        self._move(ExchangeCall.REMOTE_END)
        self._response_ended = True

    def receive_body(self) -> bool:
        """A response body chunk arrived; True to deliver it, False to discard it (closed)."""
        self._move(ExchangeCall.RECEIVE_BODY)
        return self._handle is HandleState.HELD

    def abandon(self) -> bool:
        """Give up on the exchange; True if this newly abandoned it (tell the connection)."""
        return self._move(ExchangeCall.ABANDON) in _LIVE

    def complete(self) -> bool:
        """awscrt completed the exchange: release the slot; True to release it as abandoned."""
        return self._move(ExchangeCall.COMPLETE) is ExchangeState.ABANDONED

    # -- the caller's handle -----------------------------------------------------------------

    def check_read(self) -> None:
        """Raise StreamStateError if the caller may no longer read."""
        self._move_handle(HandleCall.READ)

    def close(self) -> bool:
        """The caller closes the stream; True if this is the first close (False: under way)."""
        return self._move_handle(HandleCall.CLOSE) is HandleState.HELD

    def closed(self) -> None:
        """The close finished."""
        self._move_handle(HandleCall.CLOSED)
