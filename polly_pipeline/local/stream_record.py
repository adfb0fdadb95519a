"""Local service layer: what the service keeps about each stream, and request ids."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

from polly_pipeline.local.config import Fault
from polly_pipeline.protocol.events import TextEvent
from polly_pipeline.protocol.params import SynthesisParams

__all__ = ["StreamRecord", "billable_characters", "new_request_id"]

_TAG = re.compile(r"<[^>]*>")


@dataclass
class StreamRecord:
    """What one stream received and did; kept by the service for inspection (tests, demos)."""

    request_id: str
    params: SynthesisParams
    texts: list[str] = field(default_factory=list)
    #: texts whose audio was entirely written to the wire, in order
    spoken: list[str] = field(default_factory=list)
    flushes: int = 0
    keep_alives: int = 0
    request_characters: int = 0
    audio_bytes: int = 0
    audio_seconds: float = 0.0
    fault: Fault | None = None
    outcome: str = "open"
    started: float = field(default_factory=time.monotonic)


def billable_characters(event: TextEvent) -> int:
    """Characters billed for one event: text content (SSML tags are free), none for whitespace."""
    text = _TAG.sub("", event.text) if event.text_type == "ssml" else event.text
    return len(text) if text.strip() else 0


def new_request_id() -> str:
    """A request id in the service's format."""
    return str(uuid.uuid4())
