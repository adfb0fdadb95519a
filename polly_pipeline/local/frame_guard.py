"""Local service layer: reject an oversized event-stream frame as soon as its prelude arrives.

The event-stream parser buffers a frame whole before it looks at it, so a prelude that claims
15 MB would have the service hold 15 MB per stream before refusing it. The guard walks frame
boundaries in the raw bytes and checks each frame's declared total length from its first four
bytes, before anything of it is buffered.
"""

from __future__ import annotations

__all__ = ["FrameSizeGuard", "FrameTooLarge"]

_LENGTH_BYTES = 4


class FrameTooLarge(Exception):
    """A frame declares more bytes than the limit."""

    def __init__(self, declared: int, limit: int) -> None:
        super().__init__(
            f"an event-stream frame declares {declared} bytes; the limit is {limit} bytes "
            "(one TextEvent of at most 6,000 characters needs far less)"
        )
        self.declared = declared
        self.limit = limit


class FrameSizeGuard:
    """Feed it every chunk of an event stream; it raises :class:`FrameTooLarge` early."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._remaining = 0  # bytes of the current frame still to come after its length
        self._length = bytearray()  # the start of the next frame's length field

    def feed(self, chunk: bytes) -> None:
        """Check the frames that start in ``chunk``."""
        view = memoryview(chunk)
        while view:
            if self._remaining:
                step = min(self._remaining, len(view))
                self._remaining -= step
                view = view[step:]
                continue
            need = _LENGTH_BYTES - len(self._length)
            self._length += view[:need]
            view = view[need:]
            if len(self._length) == _LENGTH_BYTES:
                declared = int.from_bytes(self._length, "big")
                self._length.clear()
                if declared > self.limit:
                    raise FrameTooLarge(declared, self.limit)
                self._remaining = max(0, declared - _LENGTH_BYTES)
