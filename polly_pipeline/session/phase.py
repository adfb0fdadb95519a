"""Session layer, pure core: where a turn is, its one state machine (no I/O, no asyncio).

The turn's phase (:class:`TurnPhase`) is kept by its ledger and is the only record of it:
whether the turn takes text, is done, failed (the ledger keeps the error) or was interrupted.
The calls that move it (:class:`TurnMove`) and the table of legal moves
(:data:`TURN_TRANSITIONS`)::

    OPEN --finish--> FINISHED --complete--> DONE        (finish again: no change)
    OPEN, FINISHED --fail--> FAILED
    OPEN, FINISHED, DONE, FAILED --interrupt--> INTERRUPTED
    DONE, FAILED, INTERRUPTED --finish--> no change     (nothing more to end)
    INTERRUPTED --interrupt, complete, fail--> no change (the barge-in stands)

DONE, FAILED and INTERRUPTED are final for delivery (:attr:`TurnPhase.settled`); a done or
failed turn may still be interrupted, to stop the caller reading the audio already queued.
A move the table does not allow raises :class:`~polly_pipeline.errors.StreamStateError`
naming the move and the phase.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from polly_pipeline.errors import StreamStateError

__all__ = ["TURN_TRANSITIONS", "TurnMove", "TurnPhase", "after"]


class TurnPhase(enum.Enum):
    """Where a turn is."""

    #: text may still come; delivery goes on
    OPEN = "open"
    #: ``finish()`` was called: no more text; delivery goes on
    FINISHED = "finished"
    #: all the turn's audio is out (queued for the caller)
    DONE = "done"
    #: delivery failed (the ledger keeps the error)
    FAILED = "failed"
    #: ``interrupt()`` was called: pending text dropped, delivery stopped
    INTERRUPTED = "interrupted"

    @property
    def settled(self) -> bool:
        """Delivery is over: done, failed or interrupted."""
        return self in _SETTLED


_SETTLED: Final = frozenset({TurnPhase.DONE, TurnPhase.FAILED, TurnPhase.INTERRUPTED})


class TurnMove(enum.Enum):
    """What moves a turn: the caller's calls and the end of its delivery."""

    #: the caller ends the input (``Turn.finish``)
    FINISH = "finish"
    #: the driver delivered all audio
    COMPLETE = "complete"
    #: the driver failed (an error that cannot be retried, or the retries ran out)
    FAIL = "fail"
    #: barge-in (``Turn.interrupt``)
    INTERRUPT = "interrupt"


_P = TurnPhase
_M = TurnMove

#: (phase, move) -> the phase after it. Pairs not listed are illegal.
TURN_TRANSITIONS: Final[Mapping[tuple[TurnPhase, TurnMove], TurnPhase]] = MappingProxyType(
    {
        (_P.OPEN, _M.FINISH): _P.FINISHED,
        (_P.FINISHED, _M.FINISH): _P.FINISHED,
        (_P.DONE, _M.FINISH): _P.DONE,
        (_P.FAILED, _M.FINISH): _P.FAILED,
        (_P.INTERRUPTED, _M.FINISH): _P.INTERRUPTED,
        (_P.FINISHED, _M.COMPLETE): _P.DONE,
        (_P.OPEN, _M.FAIL): _P.FAILED,
        (_P.FINISHED, _M.FAIL): _P.FAILED,
        **{(phase, _M.INTERRUPT): _P.INTERRUPTED for phase in TurnPhase},
        (_P.INTERRUPTED, _M.COMPLETE): _P.INTERRUPTED,
        (_P.INTERRUPTED, _M.FAIL): _P.INTERRUPTED,
    }
)

#: Why a move is refused, by phase (completes "a turn cannot <move> when it is <phase>: ...").
_REFUSALS: Final[Mapping[TurnPhase, str]] = {
    _P.OPEN: "its input has not ended (finish() it first)",
    _P.DONE: "its delivery is over",
    _P.FAILED: "its delivery is over",
}


def after(phase: TurnPhase, move: TurnMove) -> TurnPhase:
    """The phase after ``move``.

    Raises:
        StreamStateError: the table does not allow ``move`` in ``phase`` (naming both).
    """
    result = TURN_TRANSITIONS.get((phase, move))
    if result is None:
        reason = _REFUSALS.get(phase, f"it is {phase.value}")
        raise StreamStateError(f"a turn cannot {move.value} when it is {phase.name}: {reason}")
    return result
