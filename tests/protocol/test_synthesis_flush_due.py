"""A flush owes output only for text the service has not answered yet (the pure machine)."""

from __future__ import annotations

from polly_pipeline.protocol.events import TextEvent
from polly_pipeline.protocol.synthesis import StreamState
from tests.protocol.test_synthesis import AUDIO, machine


def test_a_flush_after_the_text_was_answered_owes_nothing() -> None:
    m = machine()
    m.send_text(TextEvent("Spoken at its boundary. "))
    m.receive_data(AUDIO)  # the service spoke it without a flush
    m.send_text(TextEvent("", flush=True))
    assert not m.output_due
    m.send_text(TextEvent(" ", flush=True))  # a space keep-alive's flush: still nothing new
    assert not m.output_due
    assert m.state is StreamState.OPEN


def test_a_flush_with_text_sent_since_the_last_event_owes_output() -> None:
    m = machine()
    m.send_text(TextEvent("Now.", flush=True))
    m.receive_data(AUDIO)
    m.send_text(TextEvent("held back "))  # no boundary: the service keeps it
    m.send_text(TextEvent("", flush=True))
    assert m.output_due
    m.receive_data(AUDIO)
    m.send_text(TextEvent("Again.", flush=True))  # a flush of its own text
    assert m.output_due
