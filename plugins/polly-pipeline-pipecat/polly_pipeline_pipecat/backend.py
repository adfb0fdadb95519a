"""Pipecat plugin: where speech comes from (a given client, Amazon Polly, or the local service).

A service that was not handed a client opens one the way ``polly-pipeline`` does
(:func:`polly_pipeline.backends.open_polly`): Amazon Polly when AWS credentials are
configured, else the embedded local service, started here. The opened backend lives in a task
of its own, so that it is entered and left in the same task whichever Pipecat task starts or
stops the service.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from polly_pipeline import Credentials
from polly_pipeline.backends import PollyOptions, open_polly
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError

__all__ = ["Backend"]

#: How long closing the backend (streams, connections, a local service) may take.
_CLOSE_TIMEOUT = 10.0


class Backend:
    """A Polly client: the caller's, or one opened (and later closed) here.

    Args:
        client: the client to use (the caller keeps it open and closes it).
        options: how to open one when ``client`` is None.
        credentials: explicit AWS credentials (Amazon Polly, or ``options.endpoint_url``).

    Raises:
        ConfigurationError: credentials given for the local service.
    """

    def __init__(
        self,
        client: PollyStreamingClient | None,
        options: PollyOptions,
        credentials: Credentials | None = None,
    ) -> None:
        if credentials is not None and options.backend == "local":
            raise ConfigurationError(
                "AWS keys were given with backend='local'; the local service signs with its "
                "own test credentials: drop the keys or use backend='aws'"
            )
        self._given = client
        self._options = options
        self._credentials = credentials
        self._task: asyncio.Task[None] | None = None
        self._opened: asyncio.Future[PollyStreamingClient] | None = None
        self._release = asyncio.Event()

    async def client(self) -> PollyStreamingClient:
        """The client, opening the backend on first use.

        Raises:
            PollyPipelineError: the backend could not be opened (bad options, no region...).
        """
        if self._given is not None:
            return self._given
        if self._opened is None:
            self._opened = asyncio.get_running_loop().create_future()
            self._release = asyncio.Event()
            self._task = asyncio.create_task(self._hold(self._opened), name="polly-pipecat-backend")
        return await asyncio.shield(self._opened)

    async def _hold(self, opened: asyncio.Future[PollyStreamingClient]) -> None:
        try:
            async with self._open() as client:
                opened.set_result(client)
                await self._release.wait()
        except BaseException as exc:
            if not opened.done():
                opened.set_exception(exc)
                opened.exception()  # retrieved: the caller of client() raises it
            if not isinstance(exc, Exception):
                raise

    def _open(self) -> contextlib.AbstractAsyncContextManager[PollyStreamingClient]:
        if self._credentials is None:
            return open_polly(self._options)
        options = self._options
        return PollyStreamingClient(
            region=options.region,
            endpoint_url=options.endpoint_url,
            credentials=self._credentials,
            ca_file=str(Path(options.ca_file)) if options.ca_file else None,
        )

    async def aclose(self) -> None:
        """Close what was opened here (never the caller's client). Idempotent."""
        task, self._task, self._opened = self._task, None, None
        if task is None:
            return
        self._release.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), _CLOSE_TIMEOUT)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
