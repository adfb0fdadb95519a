"""Browser sink plugin: play a pipeline's speech in a web page while it is generated.

:class:`BrowserSink` runs a small local server: ``GET /`` is a page that plays the audio with
Web Audio, and ``/stream`` is the WebSocket the audio flows through. Every chunk is sent to
every connected page as 16-bit PCM; a page that connects late gets the current turn from its
start. Pages report what they did (each chunk scheduled on the AudioContext clock, the end of
playback, an interruption), and the sink keeps those reports in :attr:`BrowserSink.playback`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time
import webbrowser
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from polly_pipeline.audio import AudioChunk
from polly_pipeline.errors import ConfigurationError, PollyPipelineError, StreamStateError
from polly_pipeline.sinks import BaseSink
from polly_pipeline.transport import is_loopback
from polly_pipeline_browser.page import page_request
from polly_pipeline_browser.pcm import PcmConverter, converter_for
from polly_pipeline_browser.protocol import (
    ClientInfo,
    PageMessage,
    PlaybackEvent,
    encode_chunk,
    encode_control,
    parse_page_message,
)

__all__ = ["BrowserSink", "NoBrowserError", "SentFrame"]

log = logging.getLogger("polly_pipeline_browser")

_SYNC_PROBES = 5
_SYNC_WAIT = 1.0
_SHUTDOWN_DEADLINE = 5.0
_MAX_REPORT = 64 * 1024


class NoBrowserError(PollyPipelineError, TimeoutError):
    """No page connected to the sink in time (see :meth:`BrowserSink.wait_for_client`)."""


@dataclass(frozen=True)
class SentFrame:
    """One frame of audio the sink sent to its pages.

    Attributes:
        turn: the turn it belongs to.
        sequence: the chunk's sequence number (a ``tail`` frame repeats the last one's).
        samples: how many 16-bit samples it holds.
        sample_rate: their rate.
        tail: it holds a decoder's final output at the end of a turn, not a chunk of its own.
    """

    turn: int
    sequence: int
    samples: int
    sample_rate: int
    tail: bool = False

    @property
    def seconds(self) -> float:
        """How long the frame plays."""
        return self.samples / self.sample_rate


@dataclass(eq=False)
class _Client:
    """One connected page, as the server tracks it."""

    number: int
    ws: ServerConnection
    cursor: int
    info: ClientInfo | None = None
    offset: float | None = None  # page time minus the sink's monotonic time, in seconds
    best_rtt: float = math.inf
    syncs: int = 0
    remaining: float = 0.0
    gone: bool = False
    reports: set[tuple[str, int]] = field(default_factory=set)


class BrowserSink(BaseSink):
    """Plays the audio in web pages as it arrives; open :attr:`url` in a browser.

    Args:
        host: the address to listen on; loopback unless you mean to let other machines in.
        port: the port; 0 picks a free one.
        lead: seconds between a chunk's arrival and its playback when nothing is queued (a
            small lead keeps chunks back to back without gaps).
        fade: seconds of the fade-out when :meth:`interrupt` stops the audio.
        ack_timeout: the longest wait for a page's acknowledgement (of an interruption or
            of the end of the stream), so a closed or frozen tab never hangs the sink.
        wait_for_playback: whether :meth:`close` waits until the pages finished playing
            (at most the audio they still had queued plus ``ack_timeout``).
        print_url: print the page's address on stderr when the server starts.
        open_browser: open the page in the default browser when the server starts.
        title: the page's title.

    Raises:
        ConfigurationError: (at once) an option is out of range; (on start) the address
            cannot be listened on; (on the first chunk) the audio format cannot be played.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        lead: float = 0.1,
        fade: float = 0.05,
        ack_timeout: float = 3.0,
        wait_for_playback: bool = True,
        print_url: bool = True,
        open_browser: bool = False,
        title: str | None = None,
    ) -> None:
        super().__init__()
        _check_options(host, port, lead, fade, ack_timeout)
        self.host = "127.0.0.1" if host == "localhost" else host  # one socket, one port
        self.port = port
        self.lead = float(lead)
        self.fade = float(fade)
        self.ack_timeout = float(ack_timeout)
        self.wait_for_playback = wait_for_playback
        self.print_url = print_url
        self.open_browser = open_browser
        self.title = title
        #: What the pages reported, in arrival order.
        self.playback: list[PlaybackEvent] = []
        #: Every page that said hello, in order.
        self.clients: list[ClientInfo] = []
        #: Every audio frame sent, in order.
        self.sent: list[SentFrame] = []
        self._server: Server | None = None
        self._bound_port: int | None = None
        self._start_lock = asyncio.Lock()
        self._cond = asyncio.Condition()
        self._connected: dict[int, _Client] = {}
        self._next_client = 0
        self._log: list[str | bytes] = []  # the current turn's messages, for every page
        self._log_start = 0  # the absolute index of _log[0]
        self._turn_start = 0  # where a page that connects now starts reading
        self._turn: int | None = None
        self._converter: PcmConverter | None = None
        self._last_sequence = -1
        self._interrupted: int | None = None

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"<BrowserSink {where}, {len(self._connected)} pages, {len(self.sent)} frames>"

    # --- the server -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The page's address (the sink must be started: ``async with`` or :meth:`start`)."""
        if self._bound_port is None:
            raise StreamStateError("the browser sink is not started: use `async with` or start()")
        host = self.host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._bound_port}/"

    @property
    def autoplay_url(self) -> str:
        """:attr:`url` with ``?autoplay=1``: the page starts without a click where allowed."""
        return self.url + "?autoplay=1"

    @property
    def connected(self) -> list[ClientInfo]:
        """The pages connected now (that said hello)."""
        return [c.info for c in self._connected.values() if c.info is not None and not c.gone]

    async def _enter(self) -> None:
        await self.start()

    async def start(self) -> str:
        """Start the server (idempotent) and return the page's address."""
        async with self._start_lock:
            if self._closed:
                raise StreamStateError("the browser sink is closed")
            if self._server is not None:
                return self.url
            try:
                server = await serve(
                    self._serve_page,
                    self.host,
                    self.port,
                    process_request=self._process_request,
                    compression=None,  # PCM hardly compresses; spare the CPU
                    max_size=_MAX_REPORT,
                    close_timeout=1.0,
                )
            except OSError as exc:
                raise ConfigurationError(
                    f"the browser sink cannot listen on {self.host}:{self.port}: {exc}"
                ) from exc
            self._server = server
            self._bound_port = int(server.sockets[0].getsockname()[1])
        if self.print_url:
            print(f"polly-pipeline: listen at {self.url}", file=sys.stderr, flush=True)
        if self.open_browser:
            await _open_in_browser(self.url)
        return self.url

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._bound_port is None:  # a request racing the start: not ready yet
            return connection.respond(503, "starting\n")
        return page_request(
            connection, request, port=self._bound_port, loopback_only=is_loopback(self.host)
        )

    async def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        try:
            async with asyncio.timeout(_SHUTDOWN_DEADLINE):
                await server.wait_closed()
        except TimeoutError:
            log.warning("the browser sink's server took over %ss to stop", _SHUTDOWN_DEADLINE)

    # --- pages ----------------------------------------------------------------------------

    async def wait_for_client(
        self,
        timeout: float = 60.0,  # noqa: ASYNC109 - a plain deadline is simplest for scripts
        *,
        count: int = 1,
    ) -> list[ClientInfo]:
        """Wait until ``count`` pages are connected and ready to play; return them.

        Starts the server if needed.

        Raises:
            NoBrowserError: fewer pages connected within ``timeout`` seconds.
        """
        await self.start()
        try:
            async with asyncio.timeout(timeout), self._cond:
                await self._cond.wait_for(lambda: len(self.connected) >= count)
        except TimeoutError:
            raise NoBrowserError(
                f"{len(self.connected)} of {count} page(s) connected to {self.url} within "
                f"{timeout:g}s: open it in a browser and click 'Start audio' (or open "
                f"{self.autoplay_url} in a browser that allows autoplay)"
            ) from None
        return self.connected[:count] if count else self.connected

    async def _serve_page(self, ws: ServerConnection) -> None:
        self._next_client += 1
        client = _Client(self._next_client, ws, cursor=self._turn_start)
        self._connected[client.number] = client
        sender = asyncio.create_task(self._send_to(client))
        try:
            async for raw in ws:
                message = parse_page_message(raw)
                if message is not None:
                    await self._on_report(client, message)
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            client.gone = True
            del self._connected[client.number]
            await self._notify()

    async def _send_to(self, client: _Client) -> None:
        ws = client.ws
        try:
            await ws.send(
                encode_control("config", lead=self.lead, fade=self.fade, title=self.title)
            )
            await self._sync_clock(client)
            while True:
                async with self._cond:
                    await self._cond.wait_for(lambda: client.cursor < self._log_end)
                    first = max(client.cursor, self._log_start)
                    batch = self._log[first - self._log_start :]
                    client.cursor = self._log_end
                for message in batch:
                    await ws.send(message)
        except ConnectionClosed:
            pass

    async def _sync_clock(self, client: _Client) -> None:
        """Probe the page's clock a few times; keep the probe with the shortest round trip."""
        for probe in range(_SYNC_PROBES):
            await client.ws.send(encode_control("sync", server=time.monotonic()))
            try:
                async with asyncio.timeout(_SYNC_WAIT), self._cond:
                    await self._cond.wait_for(lambda p=probe: client.syncs > p)  # type: ignore[misc]
            except TimeoutError:
                log.debug("page %d did not answer a clock probe", client.number)
                return

    async def _on_report(self, client: _Client, message: PageMessage) -> None:
        now = time.monotonic()
        if message.type == "sync":
            sent = message.number("server")
            if sent is not None and 0 <= now - sent < client.best_rtt:
                client.best_rtt = now - sent
                client.offset = message.page_time - (sent + now) / 2
            client.syncs += 1
        elif message.type == "hello":
            fields = message.fields
            info = ClientInfo(
                client=client.number,
                user_agent=str(fields.get("user_agent", "")),
                sample_rate=message.number("sample_rate", 0.0) or 0.0,
                output_latency=message.number("output_latency", 0.0) or 0.0,
                autoplay=fields.get("autoplay") is True,
                connected_at=now,
            )
            client.info = info
            self.clients.append(info)
        else:
            offset = client.offset
            if offset is None:  # no clock probe answered yet: go by the wall clock
                offset = message.page_time - (now - (time.time() - message.wall_time))
            event = message.to_event(client.number, offset)
            if event is not None:
                self.playback.append(event)
                client.reports.add((event.kind, event.turn))
                if event.kind == "end_ack":
                    client.remaining = event.remaining
        await self._notify()

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def _wait_reports(
        self, kind: str, turn: int, clients: Iterable[_Client], seconds: float
    ) -> None:
        """Wait until each page reported ``kind`` for ``turn`` (or left), at most ``seconds``."""
        waiting = list(clients)

        def answered() -> bool:
            return all(c.gone or (kind, turn) in c.reports for c in waiting)

        try:
            async with asyncio.timeout(seconds), self._cond:
                await self._cond.wait_for(answered)
        except TimeoutError:
            late = [c.number for c in waiting if not c.gone and (kind, turn) not in c.reports]
            log.warning("page(s) %s did not report %s within %.1fs", late, kind, seconds)

    # --- audio ----------------------------------------------------------------------------

    @property
    def _log_end(self) -> int:
        return self._log_start + len(self._log)

    async def _append(self, message: str | bytes) -> None:
        async with self._cond:
            self._log.append(message)
            self._cond.notify_all()

    async def _write(self, chunk: AudioChunk) -> None:
        if chunk.turn_id != self._turn:
            fresh = converter_for(chunk.format)  # an unplayable format fails before serving
            await self.start()
            await self._finish_turn()
            await self._begin_turn(chunk, fresh)
        converter = self._converter
        if self._interrupted == chunk.turn_id or converter is None:
            return  # the turn was interrupted (or its audio could not be decoded)
        try:
            pcm = converter.feed(chunk.data)
        except Exception:
            self._converter = None  # a decoder that failed is neither fed nor flushed again
            raise
        self._last_sequence = chunk.sequence
        await self._send_frame(chunk.sequence, pcm, converter.sample_rate, tail=False)

    async def _send_frame(self, sequence: int, pcm: bytes, rate: int, *, tail: bool) -> None:
        assert self._turn is not None
        self.sent.append(SentFrame(self._turn, sequence, len(pcm) // 2, rate, tail))
        await self._append(encode_chunk(sequence, self._turn, rate, pcm, tail=tail))

    async def _begin_turn(self, chunk: AudioChunk, converter: PcmConverter) -> None:
        self._turn = chunk.turn_id
        self._converter = converter
        async with self._cond:  # pages that connect from now on start with this turn
            self._log_start = self._log_end
            self._log = []
            self._turn_start = self._log_start
        await self._append(
            encode_control(
                "turn",
                turn=chunk.turn_id,
                format=chunk.format.output_format,
                sample_rate=converter.sample_rate,
            )
        )

    async def _finish_turn(self) -> None:
        """Send what the decoder still holds at the end of a turn (compressed formats)."""
        converter, self._converter = self._converter, None
        if converter is None or self._interrupted == self._turn:
            return
        try:
            tail = converter.flush()
        except PollyPipelineError as exc:  # a cut-off stream: its last frame is not played
            log.warning("the end of turn %s could not be decoded: %s", self._turn, exc)
            return
        if tail:
            await self._send_frame(self._last_sequence, tail, converter.sample_rate, tail=True)

    async def interrupt(self) -> None:
        """Tell the pages to fade out and stop now; waits (briefly) for them to confirm.

        ``Pipeline.run`` calls this when a run is cancelled (barge-in), before ``close()``.
        Audio not yet sent is dropped, and the rest of the turn is not played.
        """
        if self._closed or self._server is None or self._turn is None:
            return
        turn = self._turn
        if self._interrupted == turn:
            return
        self._interrupted = turn
        pages = [c for c in self._connected.values() if not c.gone]
        async with self._cond:  # pages skip the turn's unsent audio and go to the interrupt
            self._log_start = self._log_end
            self._log = [encode_control("interrupt", turn=turn, fade=self.fade)]
            self._turn_start = self._log_end  # pages connecting later play nothing of it
            self._cond.notify_all()
        await self._wait_reports("interrupted", turn, pages, self.ack_timeout)

    async def _close(self) -> None:
        if self._server is None:
            return
        try:
            await self._finish_turn()
            turn = -1 if self._turn is None else self._turn
            pages = [c for c in self._connected.values() if not c.gone]
            await self._append(
                encode_control(
                    "end",
                    turn=turn,
                    last_sequence=self._last_sequence,
                    frames=sum(1 for f in self.sent if f.turn == turn),
                )
            )
            await self._wait_reports("end_ack", turn, pages, self.ack_timeout)
            if self.wait_for_playback and self._interrupted != turn:
                acked = [c for c in pages if ("end_ack", turn) in c.reports]
                remaining = max((c.remaining for c in acked), default=0.0)
                await self._wait_reports("ended", turn, acked, remaining + self.ack_timeout)
        finally:
            await self._stop_server()

    # --- what the pages reported ----------------------------------------------------------

    def scheduled(self, client: int | None = None) -> list[PlaybackEvent]:
        """The ``scheduled`` reports, of one page or of all of them."""
        return [
            e
            for e in self.playback
            if e.kind == "scheduled" and (client is None or e.client == client)
        ]


def _check_options(host: object, port: object, lead: object, fade: object, ack: object) -> None:
    def number(value: object) -> bool:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )

    problems = []
    if not isinstance(host, str) or not host.strip():
        problems.append(f"host must be an address such as '127.0.0.1', got {host!r}")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        problems.append(f"port must be 0 (any free port) to 65535, got {port!r}")
    if not number(lead) or not 0 <= lead <= 5:  # type: ignore[operator]
        problems.append(f"lead must be 0 to 5 seconds, got {lead!r}")
    if not number(fade) or not 0 <= fade <= 5:  # type: ignore[operator]
        problems.append(f"fade must be 0 to 5 seconds, got {fade!r}")
    if not number(ack) or not ack > 0:  # type: ignore[operator]
        problems.append(f"ack_timeout must be a positive number of seconds, got {ack!r}")
    if problems:
        raise ConfigurationError("BrowserSink: " + "; ".join(problems))


async def _open_in_browser(url: str) -> None:
    opener: Callable[[], bool] = partial(webbrowser.open, url)
    try:
        async with asyncio.timeout(5.0):
            opened = await asyncio.to_thread(opener)
    except TimeoutError:
        opened = False
    if not opened:
        log.warning("could not open a browser; open %s yourself", url)
