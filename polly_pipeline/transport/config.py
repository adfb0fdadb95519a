"""Transport layer: deadlines, TLS trust and endpoints (plain frozen dataclasses, no I/O)."""

from __future__ import annotations

import ipaddress
import math
import os
import ssl
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from polly_pipeline.errors import ConfigurationError

__all__ = ["Endpoint", "TLSConfig", "Timeouts"]


@dataclass(frozen=True)
class Timeouts:
    """Deadlines (seconds) for every network wait.

    Attributes:
        connect: TCP connect + TLS handshake + the server's first SETTINGS.
        response_headers: from asking for the response until its headers arrive.
        read: longest silence between two response body chunks.
        write: longest wait for one request body chunk to be accepted by the connection.
        close: longest wait for a stream or the pool to close politely.
    """

    connect: float = 10.0
    response_headers: float = 10.0
    read: float = 30.0
    write: float = 30.0
    close: float = 5.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigurationError(
                    f"Timeouts.{f.name} must be a positive number of seconds, got {value!r}"
                )


@dataclass(frozen=True)
class TLSConfig:
    """Which certificate authorities to trust. Verification is always on.

    Attributes:
        ca_file: a PEM bundle of CA certificates to trust instead of the system store
            (for example the local service's CA); None trusts the system store.
    """

    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.ca_file is None:
            return
        path = os.fspath(self.ca_file)
        object.__setattr__(self, "ca_file", path)
        if not os.path.isfile(path):
            raise ConfigurationError(f"ca_file {path!r} does not exist or is not a file")
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ConfigurationError(f"ca_file {path!r} cannot be read: {exc}") from exc
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise ConfigurationError(f"ca_file {path!r} holds no PEM certificate")
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
        except ssl.SSLError as exc:
            raise ConfigurationError(
                f"ca_file {path!r} is not a valid PEM certificate bundle: {exc}"
            ) from exc

    def read_ca(self) -> bytes | None:
        """The CA bundle's bytes, or None for the system trust store."""
        if self.ca_file is None:
            return None
        with open(self.ca_file, "rb") as fh:
            return fh.read()


@dataclass(frozen=True)
class Endpoint:
    """Where to connect: a host name or IP address and a port (always TLS)."""

    host: str
    port: int = 443

    def __post_init__(self) -> None:
        host = self.host.strip("[]") if self.host.startswith("[") else self.host
        object.__setattr__(self, "host", host)
        if not host or any(c.isspace() or c in "/?#@" for c in host):
            raise ConfigurationError(f"invalid host {self.host!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ConfigurationError(f"port must be an integer, got {self.port!r}")
        if not 0 < self.port < 65536:
            raise ConfigurationError(f"port must be between 1 and 65535, got {self.port}")

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        """Parse ``https://host[:port][/]`` (IPv6 addresses in brackets)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigurationError(f"invalid endpoint URL {url!r}: {exc}") from None
        if parts.scheme.lower() != "https":
            raise ConfigurationError(
                f"HTTP/2 event streams need https:// (TLS + ALPN h2); got {url!r}"
            )
        if not parts.hostname:
            raise ConfigurationError(f"endpoint URL {url!r} has no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigurationError(
                f"endpoint URL {url!r} must not have a path, query or fragment"
            )
        if parts.username is not None or parts.password is not None:
            raise ConfigurationError(f"endpoint URL {url!r} must not contain credentials")
        return cls(parts.hostname, 443 if port is None else port)

    @property
    def is_ip(self) -> bool:
        """True when the host is an IP address rather than a name."""
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    @property
    def authority(self) -> str:
        """``host[:port]`` as sent in ``:authority`` (port only when it is not 443)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """``https://authority``."""
        return f"https://{self.authority}"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (``localhost`` or an IP address, brackets allowed) is this machine only.

    Any other name is not: what it resolves to can change, so a server bound to it, or a page
    served under it, is treated as reachable from elsewhere.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
