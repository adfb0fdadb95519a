"""A flush that asks for nothing new is not owed an answer: a pause after it repeats nothing.

A text source that stalls flushes what it sent (the gateway's stall flush, ``send("",
flush=True)``). When the service had already spoken all of it (at its sentence boundary, or on
an earlier flush) it has nothing to synthesize and sends nothing. Taking that silence for a
stalled stream failed the turn's stream after ``Timeouts.read`` and the retry spoke the
sentence again.
"""

from __future__ import annotations

import pytest

from polly_pipeline.testing import virtual_clock
from tests.session.test_pauses import FIRST, PAUSE, SECOND, answer


@pytest.mark.parametrize("first_flush", [False, True], ids=["spoken-at-boundary", "flushed"])
@virtual_clock
async def test_a_flush_of_text_already_spoken_then_a_pause_repeats_nothing(
    first_flush: bool,
) -> None:
    audio, recording, session = await answer(PAUSE, first_flush=first_flush, stall_flush=True)
    assert audio
    spoken = [e.text for e in recording.text_events() if e.text.strip()]
    assert spoken == [FIRST, SECOND]  # each sentence crossed the wire once
    assert session.turns[-1].retries == 0
    assert session.turns[-1].streams == 1
