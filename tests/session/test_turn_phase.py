"""Where a turn is: its one state machine, every phase against every move (pure, no I/O).

What a caller relies on: a finished turn takes no more text, a done or failed turn can still
be interrupted (to stop the audio already queued), nothing revives an interrupted turn, and a
move that makes no sense (completing a turn whose input is still open) is refused with an
error naming the move and the phase.
"""

from __future__ import annotations

import pytest

from polly_pipeline.errors import ConnectError, StreamStateError
from polly_pipeline.session.ledger import TurnLedger
from polly_pipeline.session.phase import TURN_TRANSITIONS, TurnMove, TurnPhase, after

P, M = TurnPhase, TurnMove

#: rows: the phase; columns: finish, complete, fail, interrupt; "-": refused
EXPECTED = """
             finish       complete     fail         interrupt
open         finished     -            failed       interrupted
finished     finished     done         failed       interrupted
done         done         -            -            interrupted
failed       failed       -            -            interrupted
interrupted  interrupted  interrupted  interrupted  interrupted
"""


def expected() -> dict[tuple[TurnPhase, TurnMove], TurnPhase | None]:
    header, *rows = EXPECTED.strip().splitlines()
    moves = [TurnMove(name) for name in header.split()]
    table: dict[tuple[TurnPhase, TurnMove], TurnPhase | None] = {}
    for row in rows:
        phase, *cells = row.split()
        for move, cell in zip(moves, cells, strict=True):
            table[(TurnPhase(phase), move)] = None if cell == "-" else TurnPhase(cell)
    return table


def test_the_expected_table_covers_every_phase_and_move() -> None:
    assert set(expected()) == {(phase, move) for phase in TurnPhase for move in TurnMove}


@pytest.mark.parametrize(("phase", "move"), sorted(expected(), key=str))
def test_every_phase_against_every_move(phase: TurnPhase, move: TurnMove) -> None:
    want = expected()[(phase, move)]
    if want is None:
        assert (phase, move) not in TURN_TRANSITIONS
        with pytest.raises(StreamStateError) as refused:
            after(phase, move)
        message = str(refused.value)
        assert f"cannot {move.value}" in message, message
        assert phase.name in message, message
    else:
        assert after(phase, move) is want


def ledger_in(phase: TurnPhase) -> TurnLedger:
    """A ledger brought to ``phase`` by legal moves only."""
    ledger = TurnLedger(max_attempts=4)
    path = {
        P.OPEN: [],
        P.FINISHED: [M.FINISH],
        P.DONE: [M.FINISH, M.COMPLETE],
        P.FAILED: [M.FAIL],
        P.INTERRUPTED: [M.INTERRUPT],
    }[phase]
    for move in path:
        ledger.apply(move, ConnectError("refused") if move is M.FAIL else None)
    assert ledger.phase is phase
    return ledger


@pytest.mark.parametrize("phase", list(TurnPhase))
def test_only_an_open_turn_takes_text_and_only_settled_ones_are_over(phase: TurnPhase) -> None:
    ledger = ledger_in(phase)
    assert ledger.input_complete is (phase is not P.OPEN)
    assert phase.settled is (phase in {P.DONE, P.FAILED, P.INTERRUPTED})
    if phase is P.OPEN:
        ledger.add("More. ", flush=False)
    else:
        with pytest.raises(StreamStateError, match="begin a new turn"):
            ledger.add("More. ", flush=False)


def test_a_failed_turn_keeps_its_error_and_a_later_failure_does_not_replace_it() -> None:
    ledger = ledger_in(P.OPEN)
    first = ConnectError("refused")
    assert ledger.apply(M.FAIL, first) is P.FAILED
    assert ledger.error is first
    with pytest.raises(StreamStateError, match="cannot fail when it is FAILED"):
        ledger.apply(M.FAIL, ConnectError("again"))
    assert ledger.apply(M.INTERRUPT) is P.INTERRUPTED
    assert ledger.error is first  # the barge-in does not erase why delivery had failed
    assert ledger.apply(M.FAIL, ConnectError("late")) is P.INTERRUPTED
    assert ledger.error is first


def test_a_refused_move_leaves_the_phase_as_it_was() -> None:
    ledger = ledger_in(P.OPEN)
    with pytest.raises(StreamStateError, match="cannot complete when it is OPEN"):
        ledger.apply(M.COMPLETE)
    assert ledger.phase is P.OPEN
    assert ledger.error is None
