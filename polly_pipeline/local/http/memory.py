"""Local service layer (HTTP server): give freed memory back to the OS after connections close.

Every TLS connection holds buffers of a few hundred KB (asyncio's SSL buffer alone is 256 KB).
glibc's allocator keeps freed heap memory for reuse, so after a burst of connections (300
clients trickling headers, a load test) the process would stay at its peak. The server asks
glibc to trim its heap shortly after connections close; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

__all__ = ["trim_heap"]

log = logging.getLogger(__name__)


def _load_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_TRIM = _load_trim()


def trim_heap() -> None:
    """Return free heap memory to the operating system (glibc ``malloc_trim``), if possible."""
    if _TRIM is not None:
        _TRIM(0)
