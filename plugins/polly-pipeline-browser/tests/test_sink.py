"""The browser sink without a browser: options, the page server, formats, and no hangs."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request

import pytest
from polly_pipeline_browser import BrowserSink, NoBrowserError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

import polly_pipeline.sinks
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError, PollyPipelineError, StreamStateError
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.plugins import load
from polly_pipeline.session import AudioChunk, AudioFormat, SpeechSession
from polly_pipeline.sinks import BaseSink, MemorySink
from tests.conftest import pcm_session

HAS_DECODER = hasattr(polly_pipeline.sinks, "StreamDecoder")
PCM = AudioFormat("pcm", 16000)


def fetch(url: str) -> tuple[int, str, bytes]:
    """GET ``url``: status, content type and body (errors included)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


def test_is_the_browser_sink_plugin() -> None:
    assert load("sinks", "browser") is BrowserSink
    assert issubclass(BrowserSink, BaseSink)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"host": ""}, "host must be an address"),
        ({"port": 70000}, "port must be 0"),
        ({"port": -1}, "port must be 0"),
        ({"port": True}, "port must be 0"),
        ({"lead": -0.1}, "lead must be 0 to 5 seconds"),
        ({"lead": float("nan")}, "lead must be 0 to 5 seconds"),
        ({"fade": 10}, "fade must be 0 to 5 seconds"),
        ({"ack_timeout": 0}, "ack_timeout must be a positive number"),
    ],
)
def test_bad_options_say_what_to_change(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BrowserSink(**options)  # type: ignore[arg-type]


def test_every_bad_option_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError, match=r"port must .*; fade must"):
        BrowserSink(port=-5, fade=-1)


async def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sink = BrowserSink(port=port, print_url=False)
        with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{port}"):
            await sink.start()
        await sink.close()


async def test_url_needs_a_started_sink_and_writes_need_an_open_one() -> None:
    sink = BrowserSink(print_url=False)
    with pytest.raises(StreamStateError, match="not started"):
        _ = sink.url
    async with sink:
        assert sink.url.startswith("http://127.0.0.1:")
        assert sink.autoplay_url == sink.url + "?autoplay=1"
    with pytest.raises(StreamStateError, match="closed"):
        await sink.write(AudioChunk(b"\0\0", PCM, 0, 0, 1 / 16000))
    await sink.close()  # idempotent


async def test_prints_where_to_listen(capsys: pytest.CaptureFixture[str]) -> None:
    async with BrowserSink() as sink:
        url = sink.url
    assert url in capsys.readouterr().err


async def test_serves_the_page_and_its_player() -> None:
    async with BrowserSink(print_url=False) as sink:
        status, kind, page = await asyncio.to_thread(fetch, sink.url)
        assert status == 200
        assert kind.startswith("text/html")
        assert b'<script src="player.js">' in page
        assert b'id="start"' in page  # the click-to-start button for the autoplay policy
        status, kind, script = await asyncio.to_thread(fetch, sink.url + "player.js")
        assert status == 200
        assert kind.startswith("text/javascript")
        assert b"new AudioContext" in script
        status, _, _ = await asyncio.to_thread(fetch, sink.url + "secrets.txt")
        assert status == 404


async def test_other_sites_cannot_open_the_stream() -> None:
    async with BrowserSink(print_url=False) as sink:
        stream = sink.url.replace("http://", "ws://") + "stream"
        with pytest.raises(InvalidStatus) as refused:
            async with asyncio.timeout(5), connect(stream, origin="http://evil.example"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        port = sink.url.rsplit(":", 1)[1].strip("/")
        own = f"http://localhost:{port}"
        async with asyncio.timeout(5), connect(stream, origin=own) as ws:  # type: ignore[arg-type]
            config = json.loads(await ws.recv())
        assert config["type"] == "config"


async def test_wait_for_client_gives_up_with_the_address_to_open() -> None:
    async with BrowserSink(print_url=False) as sink:
        with pytest.raises(NoBrowserError, match=r"0 of 1 page\(s\) connected to http://127"):
            await sink.wait_for_client(timeout=0.2)
        assert isinstance(NoBrowserError("x"), TimeoutError)


async def test_speaking_with_no_page_open_does_not_hang(polly: PollyStreamingClient) -> None:
    delivered = MemorySink()
    sink = BrowserSink(print_url=False)
    async with asyncio.timeout(30):
        async with pcm_session(polly) as session:
            report = await Pipeline(session).run(
                "Nobody is listening. Still fine.", sink, delivered
            )
    assert sink.closed
    assert report.audio_seconds > 0
    assert [f.sequence for f in sink.sent] == [c.sequence for c in delivered.chunks]
    assert sum(f.seconds for f in sink.sent) == pytest.approx(report.audio_seconds, abs=1e-3)
    assert sink.playback == []
    with pytest.raises(urllib.error.URLError, match="refused"):  # the server is gone
        await asyncio.to_thread(fetch, sink.url)


async def test_a_page_that_never_answers_cannot_hang_close() -> None:
    sink = BrowserSink(print_url=False, ack_timeout=0.5)
    async with asyncio.timeout(10):
        await sink.start()
        stream = sink.url.replace("http://", "ws://") + "stream"
        async with connect(stream) as silent:  # connected, but never reports anything
            await sink.write(AudioChunk(b"\1\0" * 160, PCM, 0, 0, 0.01))
            await sink.interrupt()
            await sink.close()
            assert sink.closed
            messages = [await silent.recv() for _ in range(3)]
    assert json.loads(messages[0])["type"] == "config"


async def test_without_a_stream_decoder_compressed_audio_asks_for_pcm(
    polly: PollyStreamingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a polly-pipeline without polly_pipeline.sinks.StreamDecoder (older releases)
    monkeypatch.delattr(polly_pipeline.sinks, "StreamDecoder", raising=False)
    sink = BrowserSink(print_url=False)
    async with SpeechSession(polly, voice_id="Joanna", output_format="mp3") as session:
        with pytest.raises(ConfigurationError, match="output_format='pcm'"):
            await Pipeline(session).run("This is mp3.", sink)
    assert sink.closed
    assert sink.sent == []


@pytest.mark.skipif(not HAS_DECODER, reason="needs polly_pipeline.sinks.StreamDecoder")
@pytest.mark.parametrize("output_format", ["mp3", "ogg_vorbis", "ogg_opus", "mulaw"])
async def test_other_formats_are_decoded_to_pcm_for_the_page(
    polly: PollyStreamingClient, output_format: str
) -> None:
    delivered = MemorySink()
    sink = BrowserSink(print_url=False)
    text = "This audio is decoded on the server for the page."
    async with SpeechSession(polly, voice_id="Joanna", output_format=output_format) as session:
        await Pipeline(session).run(text, sink, delivered)
    duration = delivered.duration_seconds()
    assert duration is not None
    assert duration > 1
    assert sum(f.seconds for f in sink.sent) == pytest.approx(duration, abs=1e-3)
    assert {f.sample_rate for f in sink.sent} == {delivered.chunks[0].format.sample_rate}
    assert [f.sequence for f in sink.sent if not f.tail] == [c.sequence for c in delivered.chunks]


async def test_audio_that_is_not_its_format_fails_clearly() -> None:
    if not HAS_DECODER:
        pytest.skip("needs polly_pipeline.sinks.StreamDecoder")
    sink = BrowserSink(print_url=False)
    garbage = [AudioChunk(b"not audio " * 1000, AudioFormat("mp3", 22050), 0, n) for n in range(40)]

    async def play_garbage() -> None:
        for chunk in garbage:
            await sink.write(chunk)

    async with sink:
        with pytest.raises(PollyPipelineError, match="mp3"):
            await play_garbage()
    # close() after the failure neither raised nor hung
    assert sink.closed
