"""Client layer: the cap on a client's concurrent streams (``PollyStreamingClient(max_streams=N)``).

A stream takes a slot before its request goes out and holds it for its whole life: the slot
comes back when the stream is closed (``aclose``, which every exit path of the client and the
session reaches), or at once when opening it failed. A stream opened while every slot is taken
waits for one, first come first served, for at most the client's ``slot_timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from polly_pipeline.errors import ConfigurationError, StreamLimitError
from polly_pipeline.transport import DuplexStream, Response

__all__ = ["Slot", "StreamSlots"]


class Slot:
    """One taken slot (or none, when the client has no cap); :meth:`release` is idempotent."""

    def __init__(self, slots: StreamSlots | None, waited: float = 0.0) -> None:
        self._slots = slots
        #: seconds the stream waited for this slot
        self.waited = waited

    def release(self) -> None:
        """Give the slot back (again: nothing)."""
        slots, self._slots = self._slots, None
        if slots is not None:
            slots._release()

    def hold(self, stream: DuplexStream) -> DuplexStream:
        """``stream``, giving this slot back when it is closed."""
        return stream if self._slots is None else _SlotStream(stream, self)


class StreamSlots:
    """At most ``limit`` streams at once (None: no cap); a wait for a slot ends at ``timeout``.

    Raises:
        ConfigurationError: ``limit`` is not a whole number >= 1 (or None), or ``timeout`` is
            not seconds > 0 (named as the client's ``max_streams`` and ``slot_timeout``).
    """

    def __init__(self, limit: int | None, timeout: float) -> None:
        whole = isinstance(limit, int) and not isinstance(limit, bool)
        if limit is not None and not (whole and limit >= 1):
            raise ConfigurationError(
                f"max_streams must be a whole number >= 1 (or None: no cap), got {limit!r}"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ConfigurationError(f"slot_timeout must be seconds > 0, got {timeout!r}")
        self.limit = limit
        self.timeout = float(timeout)
        self.active = 0
        self._free = asyncio.Semaphore(limit) if limit is not None else None

    async def take(self, *, wait: bool = True) -> Slot:
        """A slot, once one is free.

        Raises:
            StreamLimitError: every slot stayed taken for ``timeout`` seconds (at once, when
                ``wait`` is False).
        """
        free = self._free
        if free is None:
            return Slot(None)
        if free.locked() and not wait:
            raise StreamLimitError(self._busy("no slot is free"))
        loop = asyncio.get_running_loop()
        asked = loop.time()
        try:
            async with asyncio.timeout(self.timeout):
                await free.acquire()
        except TimeoutError:
            raise StreamLimitError(
                self._busy(f"none came free within {self.timeout:g}s (slot_timeout)")
            ) from None
        self.active += 1
        return Slot(self, loop.time() - asked)

    def _busy(self, what: str) -> str:
        return (
            f"all {self.limit} streams of this PollyStreamingClient(max_streams={self.limit}) "
            f"are open and {what}; close streams you no longer need or raise max_streams"
        )

    def _release(self) -> None:
        assert self._free is not None
        self.active -= 1
        self._free.release()


class _SlotStream:
    """A transport stream that gives its slot back when it is closed."""

    def __init__(self, inner: DuplexStream, slot: Slot) -> None:
        self._inner = inner
        self._slot = slot

    async def response(self) -> Response:
        return await self._inner.response()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._inner.__aiter__()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._slot.release()
