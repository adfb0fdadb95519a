"""A turn's view of a session for driver tests: a scripted stream source, the rest at defaults."""

from __future__ import annotations

import itertools
import random
from typing import Any

from polly_pipeline.audio import AudioFormat
from polly_pipeline.session.driver import TurnContext
from polly_pipeline.session.events import SessionEvent
from polly_pipeline.session.rate import SpeakingRate
from polly_pipeline.session.retry import RetryPolicy
from polly_pipeline.session.tasks import SessionTasks

FORMAT = AudioFormat("pcm", 16000)


def turn_context(
    streams: Any,
    events: list[SessionEvent],
    *,
    tasks: SessionTasks | None = None,
    retry: RetryPolicy | None = None,
    max_stream_age: float = 540.0,
) -> TurnContext:
    """A TurnContext taking its streams from ``streams`` and reporting to ``events``."""
    return TurnContext(
        streams=streams,
        rate=SpeakingRate(0.07),
        format=FORMAT,
        retry=retry or RetryPolicy(max_attempts=5, base_delay=0.0, jitter=False),
        rng=random.Random(1),
        keepalive_interval=3.0,
        max_stream_age=max_stream_age,
        pacing=None,
        emit=events.append,
        next_sequence=itertools.count().__next__,
        tasks=tasks or SessionTasks(),
    )
