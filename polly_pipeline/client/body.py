"""Client layer: the request body of one synthesis stream (its events, signed when taken)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from polly_pipeline.client.stream import SpeechSynthesisStream

__all__ = ["RequestBody"]


class RequestBody:
    """The request body: every event queued when the transport takes it, signed then.

    Transports pull it (``async for``); the awscrt transport instead sets a listener (see
    :class:`~polly_pipeline.transport.ReadyBody`) and takes the events as soon as they are
    queued, so a TextEvent per token costs no task wake-up.
    """

    def __init__(self, stream: SpeechSynthesisStream) -> None:
        self._stream = stream
        self._machine = stream._machine
        self._listener: Callable[[], None] | None = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        stream, machine = self._stream, self._machine
        while not machine.input_sent:
            data = self.take()
            if data:
                return data
            stream._changed.clear()
            await stream._changed.wait()
        raise StopAsyncIteration

    def take(self) -> bytes:
        """Every event queued now, signed now (b"" if none)."""
        data = self._machine.data_to_send()
        if data:
            self._stream._signal()  # room in the queue
        return data

    @property
    def complete(self) -> bool:
        """True once the end-of-input frame was taken."""
        return self._machine.input_sent

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener()`` whenever events are queued (None: stop)."""
        self._listener = listener

    def ready(self) -> None:
        if self._listener is not None:
            self._listener()
