"""Gateway layer: what a gateway serves with: backend, address, token and per-connection limits.

A :class:`GatewayConfig` travels to worker processes as JSON in one environment variable
(:data:`CONFIG_VARIABLE`); the bearer token never does: each worker reads it again from the
token file or from :data:`TOKEN_VARIABLE`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from polly_pipeline.backends import PollyOptions
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.transport import is_loopback

__all__ = [
    "CONFIG_VARIABLE",
    "TOKEN_VARIABLE",
    "GatewayConfig",
    "Limits",
    "is_loopback",
]

#: The environment variable that carries the configuration to worker processes.
CONFIG_VARIABLE = "POLLY_PIPELINE_GATEWAY_CONFIG"
#: The environment variable that may hold the bearer token (instead of a token file).
TOKEN_VARIABLE = "POLLY_PIPELINE_GATEWAY_TOKEN"


@dataclass(frozen=True)
class Limits:
    """Per-connection limits of the gateway.

    Attributes:
        max_message_bytes: the largest JSON message a client may send (a larger one gets a
            ``message_too_large`` error and is dropped; the connection stays open).
        max_text_chars: the most characters one text message may carry.
        max_turn_chars: the most characters one turn may carry.
        text_rate: characters per second a connection may send, on average.
        text_burst: characters a connection may send at once above that rate.
        max_turns: turns a connection may have at once (the one speaking and those queued).
        send_queue: audio frames and events buffered per connection for a slow reader; when
            it is full, reading more audio from Polly waits (backpressure).
        send_timeout: seconds a client may leave a frame unread before it is disconnected.
        max_speech_chars: the most characters one ``POST /v1/audio/speech`` may carry.
    """

    max_message_bytes: int = 65_536
    max_text_chars: int = 6_000
    max_turn_chars: int = 100_000
    text_rate: float = 2_000.0
    text_burst: int = 20_000
    max_turns: int = 2
    send_queue: int = 64
    send_timeout: float = 30.0
    max_speech_chars: int = 20_000

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"limit {f.name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class GatewayConfig:
    """How a gateway serves.

    Attributes:
        host: the address to bind (loopback by default).
        port: the port to bind.
        workers: worker processes.
        polly: where speech comes from, as the CLI chooses it.
        token_file: a file holding the bearer token clients must send.
        limits: per-connection limits.
        allowed_origins: web origins (``https://app.example``) whose pages may open
            ``/v1/speak``; pages served by the gateway itself always may.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    polly: PollyOptions = field(default_factory=PollyOptions)
    token_file: str | None = None
    limits: Limits = field(default_factory=Limits)
    allowed_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"port must be 0-65535, got {self.port}")
        if self.workers < 1:
            raise ConfigurationError(f"workers must be at least 1, got {self.workers}")

    def token(self) -> str | None:
        """The bearer token: from ``token_file``, else :data:`TOKEN_VARIABLE`, else None.

        Raises:
            ConfigurationError: the token file cannot be read or is empty.
        """
        if self.token_file is not None:
            try:
                token = Path(self.token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read the token file {self.token_file}: {exc.strerror}"
                ) from exc
            if not token:
                raise ConfigurationError(f"the token file {self.token_file} is empty")
            return token
        return os.environ.get(TOKEN_VARIABLE, "").strip() or None

    def check_exposure(self) -> str | None:
        """The token, after checking that a non-loopback address has one.

        Raises:
            ConfigurationError: binding beyond loopback without a token.
        """
        token = self.token()
        if token is None and not is_loopback(self.host):
            raise ConfigurationError(
                f"binding {self.host} exposes the gateway beyond this machine: give a bearer "
                f"token with --token-file FILE or the {TOKEN_VARIABLE} environment variable, "
                "or bind 127.0.0.1"
            )
        return token

    def to_json(self) -> str:
        """This configuration as JSON (no secret in it: the token stays in its file)."""
        data = dataclasses.asdict(self)
        ca_file = data["polly"]["ca_file"]
        data["polly"]["ca_file"] = None if ca_file is None else str(ca_file)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> GatewayConfig:
        """The configuration :meth:`to_json` wrote."""
        data = json.loads(text)
        data["polly"] = PollyOptions(**data["polly"])
        data["limits"] = Limits(**data["limits"])
        data["allowed_origins"] = tuple(data["allowed_origins"])
        return cls(**data)

    @classmethod
    def from_environment(cls) -> GatewayConfig:
        """The configuration a worker process was started with (defaults when unset)."""
        text = os.environ.get(CONFIG_VARIABLE)
        return cls() if not text else cls.from_json(text)
