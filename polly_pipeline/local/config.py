"""Local service layer: configuration of the local Polly service (limits, latency, faults).

Defaults match Amazon Polly: a stream is closed after 5 s without an inbound event and after
10 minutes in all. Tests scale these down. The latency model and fault injection are off by
default; benchmarks and tests turn them on.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.protocol.credentials import Credentials

__all__ = [
    "DEFAULT_CREDENTIALS",
    "DEFAULT_REGION",
    "DemoLLMConfig",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FaultPoint",
    "LatencyModel",
    "LocalServiceConfig",
]

#: The credentials the local service accepts unless told otherwise. They only ever unlock the
#: local service on this machine; they are printed on start so clients can be pointed at it.
DEFAULT_CREDENTIALS = Credentials("AKIDLOCALPOLLY", "local-polly-secret-key")
DEFAULT_REGION = "us-east-1"

FaultKind = Literal[
    "reset",  # RST_STREAM
    "goaway",  # GOAWAY on the connection, then close it
    "drop",  # abort the TCP connection, no GOAWAY
    "stall",  # stop answering (keep the connection open)
    "throttle",  # ThrottlingException
    "service_failure",  # ServiceFailureException
]
FaultPoint = Literal[
    "before_headers",  # before the response headers (throttle/service_failure: as HTTP errors)
    "first_event",  # when the first inbound event arrives
    "mid_stream",  # after `after_audio_events` audio events went out
    "on_close",  # when the CloseStreamEvent arrives
]

_KINDS = ("reset", "goaway", "drop", "stall", "throttle", "service_failure")
_POINTS = ("before_headers", "first_event", "mid_stream", "on_close")


@dataclass(frozen=True)
class Fault:
    """One fault to inject into a stream.

    Attributes:
        kind: what happens.
        at: when in the stream it happens.
        after_audio_events: for ``mid_stream``: how many audio events go out first.
    """

    kind: FaultKind
    at: FaultPoint = "mid_stream"
    after_audio_events: int = 1

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigurationError(f"unknown fault kind {self.kind!r}; use one of {_KINDS}")
        if self.at not in _POINTS:
            raise ConfigurationError(f"unknown fault point {self.at!r}; use one of {_POINTS}")
        if self.after_audio_events < 0:
            raise ConfigurationError("after_audio_events must be >= 0")


class FaultPlan:
    """Faults for upcoming streams: queued ones (one per stream, in order) and a random rate.

    Thread-safe; the service asks :meth:`next_fault` once per new stream.
    """

    def __init__(
        self, *, rate: float = 0.0, kinds: tuple[Fault, ...] = (), seed: int | None = None
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ConfigurationError(f"fault rate must be between 0 and 1, got {rate}")
        if rate and not kinds:
            raise ConfigurationError("a fault rate needs the faults to draw from (kinds=...)")
        self._queue: deque[Fault | None] = deque()
        self._rate = rate
        self._kinds = kinds
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: list[Fault] = []

    def inject(self, fault: Fault | None, times: int = 1) -> None:
        """Give the next ``times`` streams this fault (None: a clean stream)."""
        with self._lock:
            self._queue.extend([fault] * times)

    def next_fault(self) -> Fault | None:
        """The fault for a new stream, if any."""
        with self._lock:
            if self._queue:
                fault = self._queue.popleft()
            elif self._rate and self._random.random() < self._rate:
                fault = self._random.choice(self._kinds)
            else:
                fault = None
            if fault is not None:
                self.injected.append(fault)
            return fault

    @property
    def pending(self) -> int:
        """How many queued faults have not been used yet."""
        with self._lock:
            return len(self._queue)


@dataclass(frozen=True)
class LatencyModel:
    """How slow the service is: all zero means as fast as the machine allows.

    Attributes:
        first_audio: seconds from a synthesis request (boundary, flush or close) to its first
            audio, on top of synthesis time.
        real_time_factor: seconds of synthesis per second of audio; audio is released no
            faster than this (0 releases it as soon as it is made).
        network_delay: one-way delay added to every outbound event, in seconds.
    """

    first_audio: float = 0.0
    real_time_factor: float = 0.0
    network_delay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("first_audio", "real_time_factor", "network_delay"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"latency {name} must be >= 0")

    @classmethod
    def realistic(cls) -> LatencyModel:
        """Figures of the order seen from a nearby region (for benchmarks and demos)."""
        return cls(first_audio=0.18, real_time_factor=0.1, network_delay=0.02)


@dataclass(frozen=True)
class DemoLLMConfig:
    """How the offline demo LLM (``POST /v1/chat/completions``) answers and paces its answers.

    Attributes:
        first_token_delay: seconds from the request to the first token.
        tokens_per_second: the token rate after the first; 0 sends them as fast as possible.
        seed: how answers are cut into tokens (same seed, same tokens).
        fail_after_tokens: for tests: drop the connection after this many content tokens.
        answer: for tests: answer every request with this text instead of a canned answer
            (cut into tokens like the canned ones).
        answer_tokens: for tests: answer every request with exactly these tokens.
        on_request: for tests: called with the JSON body of every valid request before it is
            answered (on the service's thread; it must not block or raise).
    """

    first_token_delay: float = 0.4
    tokens_per_second: float = 40.0
    seed: int = 0
    fail_after_tokens: int | None = None
    answer: str | None = None
    answer_tokens: tuple[str, ...] | None = None
    on_request: Callable[[Mapping[str, Any]], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.first_token_delay < 0 or self.tokens_per_second < 0:
            raise ConfigurationError(
                "demo LLM first_token_delay and tokens_per_second must be >= 0"
            )
        if self.fail_after_tokens is not None and self.fail_after_tokens < 0:
            raise ConfigurationError("demo LLM fail_after_tokens must be >= 0 (or None)")
        if self.answer is not None and self.answer_tokens is not None:
            raise ConfigurationError("give the demo LLM an answer or answer_tokens, not both")
        if self.answer_tokens is not None and not all(
            isinstance(token, str) for token in self.answer_tokens
        ):
            raise ConfigurationError("demo LLM answer_tokens must all be strings")


@dataclass
class LocalServiceConfig:
    """Everything the local Polly service can be told.

    Attributes:
        host: address to bind; loopback unless you mean to expose it.
        port: port to bind; 0 picks a free one.
        credentials: the credentials whose signatures are accepted.
        region: when set, only requests signed for this region are accepted.
        stream_regions: when set, the regions that offer StartSpeechSynthesisStream: a stream
            signed for another region is answered 404 ``UnknownOperationException``, as a
            Polly endpoint without the operation answers (the REST operations still work).
        clock_offset: seconds the service's clock runs ahead of this machine's (negative:
            behind), to present a skewed clock; its ``Date`` headers and its signature
            checks use the offset clock.
        credentials_ttl: when set, the service also issues temporary credentials (access key,
            secret, session token) valid for this many seconds, and answers a request signed
            with an expired set 403 ``ExpiredTokenException``.
        reject_empty_text: answer a TextEvent whose text is empty (a keep-alive, or a bare
            flush) with a ``ValidationException`` naming the ``Text`` field, as a service that
            requires at least one character would; whitespace is still accepted.
        inbound_event_timeout: seconds without an inbound event before the stream is closed
            (quota ``input-stream-inbound-event-timeout``).
        max_stream_duration: seconds a stream may live (quota ``input-stream-timeout``).
        max_clock_skew: how far a request's or event's date may be from the service's clock.
        max_concurrent_streams: the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertised.
        max_streams: when set, the account-wide limit of synthesis streams in progress at
            once, over all connections: a stream beyond it is refused with HTTP 400
            ``ThrottlingException`` before it starts, as Amazon Polly refuses a stream over
            the account's quota.
        latency: the latency model.
        faults: the fault plan.
        audio_event_bytes: the largest audio payload per AudioEvent.
        render_ahead_bytes: encoded audio a stream may hold ahead of what the client has
            read; synthesis waits beyond it.
        connection_render_ahead_bytes: the same bound for all streams of one connection.
        max_event_frame_bytes: the largest inbound event-stream frame; a larger one is
            rejected as soon as its prelude arrives.
        header_timeout: seconds a request's headers may take once they started to arrive.
        max_connections: connections served at once; further ones are closed on accept.
        demo_llm: pacing of the offline demo LLM endpoint.
    """

    host: str = "127.0.0.1"
    port: int = 0
    credentials: tuple[Credentials, ...] = (DEFAULT_CREDENTIALS,)
    region: str | None = None
    stream_regions: tuple[str, ...] | None = None
    clock_offset: float = 0.0
    credentials_ttl: float | None = None
    reject_empty_text: bool = False
    inbound_event_timeout: float = 5.0
    max_stream_duration: float = 600.0
    max_clock_skew: timedelta = timedelta(minutes=5)
    max_concurrent_streams: int = 100
    max_streams: int | None = None
    latency: LatencyModel = field(default_factory=LatencyModel)
    faults: FaultPlan = field(default_factory=FaultPlan)
    audio_event_bytes: int = 8 * 1024
    render_ahead_bytes: int = 512 * 1024
    connection_render_ahead_bytes: int = 4 * 1024 * 1024
    max_event_frame_bytes: int = 128 * 1024
    header_timeout: float = 5.0
    max_connections: int = 256
    demo_llm: DemoLLMConfig = field(default_factory=DemoLLMConfig)

    def __post_init__(self) -> None:
        if self.inbound_event_timeout <= 0 or self.max_stream_duration <= 0:
            raise ConfigurationError("service timeouts must be > 0 seconds")
        if self.max_concurrent_streams < 1:
            raise ConfigurationError("max_concurrent_streams must be >= 1")
        if self.max_streams is not None and (
            isinstance(self.max_streams, bool)
            or not isinstance(self.max_streams, int)
            or self.max_streams < 1
        ):
            raise ConfigurationError(
                f"max_streams must be a whole number >= 1 (or None: no limit), "
                f"got {self.max_streams!r}"
            )
        bounds = {
            "audio_event_bytes": self.audio_event_bytes,
            "render_ahead_bytes": self.render_ahead_bytes,
            "connection_render_ahead_bytes": self.connection_render_ahead_bytes,
            "max_event_frame_bytes": self.max_event_frame_bytes,
            "max_connections": self.max_connections,
        }
        for name, value in bounds.items():
            if value < 1:
                raise ConfigurationError(f"{name} must be >= 1, got {value}")
        if self.header_timeout <= 0:
            raise ConfigurationError(
                f"header_timeout must be > 0 seconds, got {self.header_timeout}"
            )
        if not self.credentials:
            raise ConfigurationError("the local service needs at least one set of credentials")
        if self.stream_regions is not None and not self.stream_regions:
            raise ConfigurationError("stream_regions must name at least one region (or be None)")
        if self.credentials_ttl is not None and not self.credentials_ttl > 0:
            raise ConfigurationError(
                f"credentials_ttl must be > 0 seconds (or None), got {self.credentials_ttl}"
            )
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"port must be between 0 and 65535, got {self.port}")

    def lookup_credentials(self, access_key: str) -> Credentials | None:
        """The configured credentials with this access key id, if any."""
        for creds in self.credentials:
            if creds.access_key == access_key:
                return creds
        return None
