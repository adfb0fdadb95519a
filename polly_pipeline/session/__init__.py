"""Session layer: one persistent speech session per conversation (see ``session.session``)."""

from polly_pipeline.audio import AudioChunk, AudioClock, AudioFormat
from polly_pipeline.session.events import (
    InterruptReport,
    RetryPolicy,
    SessionEvent,
    StreamOpened,
    StreamRetry,
    StreamRollover,
    TurnCompleted,
    TurnMetrics,
)
from polly_pipeline.session.session import SpeechSession, Turn

__all__ = [
    "AudioChunk",
    "AudioClock",
    "AudioFormat",
    "InterruptReport",
    "RetryPolicy",
    "SessionEvent",
    "SpeechSession",
    "StreamOpened",
    "StreamRetry",
    "StreamRollover",
    "Turn",
    "TurnCompleted",
    "TurnMetrics",
]
