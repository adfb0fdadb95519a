"""Local service layer (HTTP server): keep credentials out of hpack's DEBUG logs.

Importing this module installs the filter on hpack's logger.
"""

from __future__ import annotations

import logging
import re

__all__: list[str] = []


class _RedactCredentialHeaders(logging.Filter):
    """Blank credential header values in hpack's DEBUG records ("Decoded (name, value)").

    hpack logs every header it decodes, so with DEBUG logging on, the local service would
    write each client's session token into the logs.
    """

    _SECRET = re.compile(rb"x-amz-security-token|authorization", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, tuple)
            and len(arg) == 2
            and isinstance(arg[0], bytes)
            and self._SECRET.fullmatch(arg[0])
            for arg in record.args
        ):
            record.args = tuple(
                (arg[0], b"<redacted>") if isinstance(arg, tuple) and len(arg) == 2 else arg
                for arg in record.args
            )
        return True


logging.getLogger("hpack.hpack").addFilter(_RedactCredentialHeaders())
