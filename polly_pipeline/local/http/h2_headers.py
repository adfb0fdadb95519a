"""Local service layer (HTTP server): checks of an HTTP/2 request header block (RFC 9113 8).

h2's own inbound validation turns any malformed header block into a connection error (GOAWAY),
which ends every other stream on the connection too. RFC 9113 section 8.1.1 makes a malformed
request a stream error, so the server validates here and resets only that stream. Like Amazon's
endpoints, it tolerates one thing h2 refuses: an ``:authority`` repeated with the identical value
(awscrt sends one for a ``host`` header next to an explicit ``:authority``).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["malformed_request"]

_REQUEST_PSEUDO = frozenset({":method", ":scheme", ":authority", ":path"})
_REQUIRED = (":method", ":scheme", ":path")
#: Connection-specific fields HTTP/2 forbids (section 8.2.2).
_CONNECTION_SPECIFIC = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
)
_FORBIDDEN_IN_VALUES = frozenset("\r\n\x00")


def malformed_request(headers: Iterable[tuple[str, str]]) -> str | None:
    """Why this request header block is malformed, or None when it is acceptable."""
    pseudo: dict[str, str] = {}
    regular_seen = False
    host: str | None = None
    for name, value in headers:
        if not name or name != name.lower():
            return f"header name {name!r} is empty or not lowercase"
        if _FORBIDDEN_IN_VALUES.intersection(value):
            return f"header {name!r} has a CR, LF or NUL in its value"
        if name.startswith(":"):
            if regular_seen:
                return f"pseudo-header {name!r} after a regular header"
            if name not in _REQUEST_PSEUDO:
                return f"{name!r} is not a request pseudo-header"
            if name in pseudo and not (name == ":authority" and pseudo[name] == value):
                return f"duplicate pseudo-header {name!r}"
            pseudo[name] = value
            continue
        regular_seen = True
        if name in _CONNECTION_SPECIFIC:
            return f"connection-specific header {name!r}"
        if name == "te" and value.strip().lower() != "trailers":
            return "header 'te' may only be 'trailers'"
        if name == "host":
            host = value
    missing = [name for name in _REQUIRED if not pseudo.get(name)]
    if missing:
        return f"missing or empty {', '.join(missing)}"
    authority = pseudo.get(":authority")
    if authority is not None and host is not None and host != authority:
        return f"host {host!r} differs from :authority {authority!r}"
    return None
