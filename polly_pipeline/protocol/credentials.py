"""Protocol layer: the AWS credentials one stream is signed with (frozen, never printed)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Credentials"]


@dataclass(frozen=True)
class Credentials:
    """A frozen set of AWS credentials.

    The secret key and session token never appear in ``repr``/``str`` (so never in logs,
    tracebacks or reports); only a short prefix of the access key id does.
    """

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        token = "set" if self.session_token else "none"
        return f"Credentials(access_key={self.redacted_access_key!r}, session_token={token})"

    __str__ = __repr__

    @property
    def redacted_access_key(self) -> str:
        """The access key id with all but its first four characters masked."""
        return self.access_key[:4] + "*" * max(0, len(self.access_key) - 4)
