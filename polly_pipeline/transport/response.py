"""Transport layer: a response head (status and headers), whatever transport carried it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Response"]


@dataclass(frozen=True)
class Response:
    """The response status and headers (lowercase names, no pseudo-headers)."""

    status: int
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None
