"""Pipeline layer: what a model-backed text source shares, whatever the model's API.

A :class:`StreamingTextSource` is an async iterator of text deltas that keeps a running tally
of the answer (characters, usage, stop reason...): :attr:`~StreamingTextSource.progress` at
any time, :attr:`~StreamingTextSource.result` once the answer ended normally. Subclasses
write :meth:`~StreamingTextSource._run` (an async generator of deltas that calls
:meth:`~StreamingTextSource._finish` at its normal end) and give a tally with a ``result()``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncGenerator
from typing import Generic, Protocol, TypeVar

from polly_pipeline._aio import AsyncResource

__all__ = ["StreamingTextSource"]

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Tally(Protocol[R_co]):
    """A running account of an answer."""

    def result(self) -> R_co: ...


class StreamingTextSource(AsyncResource, Generic[R]):
    """Text deltas from a model; ``aclose()`` (or ``async with``) if you stop early."""

    def __init__(self, tally: Tally[R]) -> None:
        self._tally = tally
        self._done = False
        self._deltas = self._run()

    @property
    def result(self) -> R | None:
        """What happened, once the stream ended (None before that, or after a failure)."""
        return self._tally.result() if self._done else None

    @property
    def progress(self) -> R:
        """What happened so far (also after a failure)."""
        return self._tally.result()

    def __aiter__(self) -> StreamingTextSource[R]:
        return self

    async def __anext__(self) -> str:
        return await self._deltas.__anext__()

    async def aclose(self) -> None:
        """Stop reading and release the response. Idempotent."""
        await self._deltas.aclose()

    def _finish(self) -> None:
        """The answer ended normally: :attr:`result` is available from now on."""
        self._done = True

    @abstractmethod
    def _run(self) -> AsyncGenerator[str, None]:
        """The deltas, read from the model."""
