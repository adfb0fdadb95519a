"""Session layer: warm-stream management (the spare stream, its keep-alive, retirement).

The session always holds one spare stream, opened ahead of time and kept alive with empty
TextEvents (a space once the service rejected one) below Polly's 5-second inbound-event
timeout, so a turn (or a rollover, or a retry) starts on an open stream with no setup latency.
A spare that fails, ends, or reaches half the maximum stream age is replaced. Streams a turn no
longer needs are retired in the background: their input is closed and their remaining output
drained (bounded), then closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from polly_pipeline.audio import AudioFormat
from polly_pipeline.client.client import PollyStreamingClient
from polly_pipeline.errors import PollyPipelineError
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.session.events import SessionEvent, StreamOpened
from polly_pipeline.session.ledger import refused_for_quota, spare_fresh
from polly_pipeline.session.link import KeepAliveText, StreamLink
from polly_pipeline.session.retry import RetryPolicy
from polly_pipeline.session.tasks import SessionTasks

__all__ = ["WarmStreams"]

log = logging.getLogger("polly_pipeline.session")

#: How long a stream we no longer need may take to close politely.
RETIRE_TIMEOUT = 5.0
#: The backoff of a failing pre-warm grows for this many failures, then stays.
_MAX_PREWARM_BACKOFF_STEP = 10


class WarmStreams:
    """Opens the session's streams and keeps one warm spare.

    Args:
        client: the client whose pool the streams use.
        params: the synthesis parameters of every stream.
        fmt: the audio format (for each link's audio clock).
        keepalive_interval: seconds of silence on a waiting stream before a keep-alive.
        max_stream_age: a stream's planned lifetime; a spare is replaced at half of it.
        retry: the backoff when pre-warming fails.
        rng: the random source of the backoff jitter.
        emit: reports a :class:`StreamOpened` for each stream.
        tasks: the session's task owner (the keeper, retirements and links' pumps are its).

    Attributes:
        keepalive: the keep-alive text every stream of the session uses (learnt once).
    """

    def __init__(
        self,
        client: PollyStreamingClient,
        params: SynthesisParams,
        fmt: AudioFormat,
        *,
        keepalive_interval: float,
        max_stream_age: float,
        retry: RetryPolicy,
        rng: random.Random,
        emit: Callable[[SessionEvent], None],
        tasks: SessionTasks,
    ) -> None:
        self.client = client
        self.tasks = tasks
        self.params = params
        self.format = fmt
        self.keepalive_interval = keepalive_interval
        self.max_stream_age = max_stream_age
        self.retry = retry
        self.rng = rng
        self._emit = emit
        self.keepalive = KeepAliveText()
        self.opened = 0
        self._spare: StreamLink | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        #: set when the spare is taken or its stream ends: the keeper looks again
        self._wake = asyncio.Event()
        self._retiring: set[asyncio.Task[None]] = set()
        self._closed = False
        #: set when opening a spare is refused for a concurrency or rate quota
        self._refused = False
        #: seconds the last :meth:`take` waited for a spare the service was refusing
        self.throttled_wait = 0.0

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran (a spare exists or is being opened)."""
        return self._spare is not None or self._keeper is not None

    async def start(self) -> None:
        """Open the first spare now (errors such as bad credentials surface here).

        A refusal for a concurrency or rate quota is not an error of the session: the keeper
        goes on trying in the background, with backoff, and a turn waits for a slot.
        """
        if not self.started:
            try:
                self._hold(await self.open("spare"))
            except PollyPipelineError as exc:
                if not refused_for_quota(exc):
                    raise
                self._refused = True
                log.info("no stream to pre-warm yet (%s); trying again in the background", exc)
            self._keep()

    async def open(self, purpose: str) -> StreamLink:
        """Open a new stream (``purpose`` is reported in its :class:`StreamOpened`)."""
        p = self.params
        stream = await self.client.open_stream(
            voice_id=p.voice_id,
            engine=p.engine,
            output_format=p.output_format,
            sample_rate=p.sample_rate,
            language_code=p.language_code,
            lexicon_names=p.lexicon_names or None,
            # a spare never queues for a slot of the client's max_streams: turns go first
            wait_for_slot=purpose != "spare",
        )
        try:  # the session may have closed while the stream was opening: then close it
            link = StreamLink(
                stream, self.opened + 1, self.format, self.keepalive, tasks=self.tasks
            )
        except BaseException:
            await stream.aclose()
            raise
        self.opened += 1
        self._emit(StreamOpened(self.opened, purpose))
        return link

    async def take(self, purpose: str) -> StreamLink:
        """A stream for a turn: the warm spare when it is healthy, else a new one.

        Sets :attr:`throttled_wait` to the seconds it waited for the spare while the service
        refused to open one for a quota.
        """
        self.throttled_wait = 0.0
        if self._spare is None and self._keeper is not None and not self._keeper.done():
            loop = asyncio.get_running_loop()
            asked, self._refused = loop.time(), False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.keepalive_interval):
                    await self._ready.wait()
            if self._refused:
                self.throttled_wait = loop.time() - asked
        link, self._spare = self._spare, None
        self._ready.clear()
        self._wake.set()
        self._keep()
        if link is not None and link.error is None and spare_fresh(link.age, self.max_stream_age):
            return link
        if link is not None:
            self.retire(link)
        return await self.open(purpose)

    def retire(self, link: StreamLink) -> None:
        """End a stream we no longer need, in the background."""
        task = self.tasks.spawn(self._retire(link), name=f"polly-retire-{link.number}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def stop(self) -> None:
        """Open no more spares (the session is closing)."""
        self._closed = True

    async def aclose(self) -> None:
        """Stop the keeper, close the spare, and wait for every retirement."""
        self.stop()
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        spare, self._spare = self._spare, None
        if spare is not None:
            await spare.close()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

    # -- the spare keeper -----------------------------------------------------------------------

    def _hold(self, spare: StreamLink) -> None:
        self._spare = spare
        spare.pump.add_done_callback(lambda _: self._wake.set())
        self._ready.set()

    def _drop(self, spare: StreamLink) -> None:
        self._spare = None
        self._ready.clear()
        self.retire(spare)

    def _keep(self) -> None:
        """Run the keeper unless it runs (it ends only on an unexpected error or at close)."""
        if not self._closed and (self._keeper is None or self._keeper.done()):
            self._keeper = self.tasks.spawn(self._keep_spare(), name="polly-spare")

    async def _keep_spare(self) -> None:
        """Keep one warm spare stream: open it, keep it alive, replace it when old or dead."""
        failures = 0
        while not self._closed:
            spare = self._spare
            if spare is None:
                try:
                    spare = await self.open("spare")
                except asyncio.CancelledError:
                    raise
                except PollyPipelineError as exc:
                    failures += 1
                    step = min(failures, _MAX_PREWARM_BACKOFF_STEP)
                    delay = self.retry.delay(step, self.rng)
                    self._refused = self._refused or refused_for_quota(exc)
                    level = logging.INFO if refused_for_quota(exc) else logging.WARNING
                    log.log(
                        level, "could not pre-warm a stream (%s); retrying in %.2fs", exc, delay
                    )
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                self._hold(spare)
            self._wake.clear()
            if spare.healthy:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(spare.keepalive_due(self.keepalive_interval)):
                        await self._wake.wait()
            if self._spare is not spare:
                continue  # a turn took it: open the next one
            if not spare.healthy or not spare_fresh(spare.age, self.max_stream_age):
                self._drop(spare)
                continue
            if spare.keepalive_due(self.keepalive_interval) == 0:
                try:
                    await spare.keep_alive()
                except PollyPipelineError:
                    self._drop(spare)

    @staticmethod
    async def _retire(link: StreamLink) -> None:
        with contextlib.suppress(Exception):
            if link.error is None and not link.stream.input_closed:
                await link.end_input()
                async with asyncio.timeout(RETIRE_TIMEOUT):
                    while True:
                        item = await link.events.get()
                        if item is None or isinstance(item, BaseException):
                            break
        await link.close()
