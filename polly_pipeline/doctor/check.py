"""Entry-point layer: the doctor's vocabulary: a check's result and the target the checks probe.

Each check returns a :class:`Check`: what was found (a figure where there is one) and, when it
fails, the fix in one sentence. Checks run in order and a failed one stops those that need it
(no signed request without credentials), so the first failure is the one to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.client.config import STREAM_REGIONS
from polly_pipeline.protocol.credentials import Credentials

__all__ = ["MAX_SKEW", "STEP_TIMEOUT", "STREAM_REGIONS", "Check", "Target", "first_failure", "ms"]

#: How far a signature's date may be from the service's clock before it is refused.
MAX_SKEW = 300.0
#: Deadline of each network step of a check.
STEP_TIMEOUT = 15.0

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report.

    Attributes:
        name: the check (``credentials``, ``region``, ``tls``, ...).
        status: ``pass``, ``fail``, or ``skip`` (an earlier failure makes it pointless).
        summary: what was found, in a few words.
        figure: the measured value, if the check measures one (``"42 ms"``).
        fix: on failure, what to change.
    """

    name: str
    status: Status
    summary: str
    figure: str | None = None
    fix: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The check as JSON-ready members."""
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "figure": self.figure,
            "fix": self.fix,
        }


@dataclass
class Target:
    """Where the checks go and with what: filled in by the first checks."""

    region: str
    endpoint_url: str
    voice: str
    credentials: Credentials
    ca_file: str | None = None
    profile: str | None = None
    make_client: Callable[[], PollyStreamingClient] | None = None
    #: figures later checks reuse (clock skew, round-trip time)
    facts: dict[str, float] = field(default_factory=dict)

    def client(self) -> PollyStreamingClient:
        """A new streaming client for the target (closed by the caller)."""
        if self.make_client is not None:
            return self.make_client()
        return PollyStreamingClient(
            region=self.region,
            endpoint_url=self.endpoint_url,
            credentials=self.credentials,
            ca_file=self.ca_file,
        )


def ms(seconds: float) -> str:
    """``0.0423`` -> ``"42 ms"``."""
    return f"{seconds * 1000:.0f} ms"


def first_failure(checks: Sequence[Check]) -> Check | None:
    """The first failed check, if any."""
    return next((c for c in checks if c.status == "fail"), None)
