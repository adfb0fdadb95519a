"""Shared by every layer with resources: ``async with`` that closes what it opened."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncResource"]


class AsyncResource:
    """Mixin: ``async with obj:`` runs :meth:`_enter` (a no-op unless overridden), then
    returns ``obj``; leaving the block always awaits ``obj.aclose()``."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Release everything (subclasses implement it, idempotently)."""
        raise NotImplementedError

    async def _enter(self) -> None:
        """Work done on entering the block (e.g. starting a server or pre-warming)."""

    async def __aenter__(self) -> Self:
        await self._enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
