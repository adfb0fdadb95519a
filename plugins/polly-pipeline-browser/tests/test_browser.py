"""The browser sink in real headless Chromium, fed by the real local Polly service.

The page reports what it did (each chunk put on the AudioContext clock, the end of playback,
an interruption) over the sink's WebSocket, with its clocks synchronised to the test's, so the
assertions are about what the browser actually did, not what the sink sent.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest
from polly_pipeline_browser import BrowserSink, PlaybackEvent

import polly_pipeline.sinks
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.session import SpeechSession
from polly_pipeline.sinks import MemorySink
from polly_pipeline.testing import REFERENCE_ANSWER
from tests.conftest import Chromium, paced_tokens, pcm_session

HAS_DECODER = hasattr(polly_pipeline.sinks, "StreamDecoder")

#: The reference answer's heading and first paragraph: about four seconds of model output at
#: the demo model's pace, and much more speech than that.
OPENING = REFERENCE_ANSWER.split("## How it works")[0]
SHORT = "Hello there. This answer is short."
SAMPLE = 1 / 16000


async def wait_until(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            while not condition():  # noqa: ASYNC110 - reports come with no event to wait on
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out after {seconds}s waiting for {what}")


def assert_back_to_back(scheduled: list[PlaybackEvent]) -> None:
    """No chunk overlaps the one before; one that starts later is flagged as an underrun."""
    audible = [e for e in scheduled if e.duration > 0]  # a decoder may return nothing yet
    for before, after in itertools.pairwise(audible):
        assert before.start is not None
        assert after.start is not None
        end = before.start + before.duration
        assert after.start >= end - 1e-6, f"chunk {after.sequence} overlaps {before.sequence}"
        if not after.underrun:
            assert after.start == pytest.approx(end, abs=1e-6), f"gap before {after.sequence}"


async def test_speech_is_scheduled_in_the_browser_while_the_answer_is_written(
    polly: PollyStreamingClient, chromium: Chromium
) -> None:
    delivered = MemorySink()
    async with BrowserSink(print_url=False, wait_for_playback=False) as browser:
        await chromium.open(browser.autoplay_url)
        [page] = await browser.wait_for_client(timeout=30)
        async with pcm_session(polly) as session:
            report = await Pipeline(session).run(paced_tokens(OPENING), browser, delivered)
    assert report.source_finished_after is not None
    model_done = report.started_at + report.source_finished_after
    scheduled = browser.scheduled(page.client)
    assert scheduled, "the page scheduled no audio"
    # the browser itself had speech on its clock, and due to be heard, before the model was done
    assert scheduled[0].monotonic < model_done, report.summary()
    assert scheduled[0].starts_at is not None
    assert scheduled[0].starts_at < model_done, report.summary()
    # every chunk delivered was scheduled exactly once, in order, back to back
    assert [e.sequence for e in scheduled] == [c.sequence for c in delivered.chunks]
    assert all(e.turn == delivered.chunks[0].turn_id for e in scheduled)
    assert_back_to_back(scheduled)
    # and what it scheduled lasts as long as the audio delivered
    assert sum(e.duration for e in scheduled) == pytest.approx(
        report.audio_seconds, abs=SAMPLE * len(scheduled)
    )
    assert report.audio_seconds > 5
    # close() told the page the stream ended; it still had speech queued to play
    [ack] = [e for e in browser.playback if e.kind == "end_ack"]
    assert ack.remaining > 0
    assert not browser.connected


async def test_close_waits_until_the_page_has_played_everything(
    polly: PollyStreamingClient, chromium: Chromium
) -> None:
    async with BrowserSink(print_url=False) as browser:
        await chromium.open(browser.autoplay_url)
        [page] = await browser.wait_for_client(timeout=30)
        async with pcm_session(polly) as session:
            report = await Pipeline(session).run(SHORT, browser)
    kinds = [e.kind for e in browser.playback]
    assert kinds[-2:] == ["end_ack", "ended"]
    scheduled = browser.scheduled(page.client)
    assert sum(e.duration for e in scheduled) == pytest.approx(
        report.audio_seconds, abs=SAMPLE * len(scheduled)
    )
    last = scheduled[-1]
    assert last.start is not None
    ended = browser.playback[-1]
    assert ended.context_time is not None
    # on the page's audio clock, playback ended after the last chunk's end
    assert ended.context_time >= last.start + last.duration - 0.01


async def test_interrupt_fades_out_and_stops_the_page(
    polly: PollyStreamingClient, chromium: Chromium
) -> None:
    async with BrowserSink(print_url=False, fade=0.05) as browser:
        await chromium.open(browser.autoplay_url)
        [page] = await browser.wait_for_client(timeout=30)
        async with pcm_session(polly) as session:
            run = asyncio.create_task(Pipeline(session).run(paced_tokens(OPENING), browser))
            await wait_until(browser.scheduled, 30, "the first scheduled chunk")
            run.cancel()  # barge-in: Pipeline.run interrupts the sink, then closes it
            with pytest.raises(asyncio.CancelledError):
                await run
    assert browser.closed
    interrupted = [e for e in browser.playback if e.kind == "interrupted"]
    assert [e.client for e in interrupted] == [page.client]
    stop = interrupted[0]
    after = browser.playback[browser.playback.index(stop) + 1 :]
    assert not [e for e in after if e.kind == "scheduled"], "audio scheduled after the stop"
    # the page went silent (after the fade) before the audio it had queued would have ended
    scheduled = browser.scheduled(page.client)
    queued_until = max(e.start + e.duration for e in scheduled if e.start is not None)
    assert stop.start is not None
    assert stop.context_time is not None
    assert stop.start == pytest.approx(stop.context_time + 0.05, abs=1e-3)
    assert stop.start < queued_until
    # when close() ended the stream, the page was already done: the rest was never played
    for ended in (e for e in after if e.kind == "ended"):
        assert ended.context_time is not None
        assert ended.context_time < queued_until


async def test_a_late_tab_gets_the_turn_from_its_start_and_tabs_play_side_by_side(
    polly: PollyStreamingClient, chromium: Chromium
) -> None:
    async with pcm_session(polly) as session:
        audio = MemorySink()
        await Pipeline(session).run(SHORT, audio)
    chunks = audio.chunks
    assert len(chunks) >= 2
    async with BrowserSink(print_url=False) as browser:
        await chromium.open(browser.autoplay_url)
        [first] = await browser.wait_for_client(timeout=30)
        half = len(chunks) // 2
        for chunk in chunks[:half]:
            await browser.write(chunk)
        await wait_until(lambda: len(browser.scheduled()) >= half, 30, "the first half")
        await chromium.open(browser.autoplay_url)  # a second tab, joining mid-turn
        pages = await browser.wait_for_client(timeout=30, count=2)
        second = next(p for p in pages if p.client != first.client)
        for chunk in chunks[half:]:
            await browser.write(chunk)
        await browser.close()
    expected = [c.sequence for c in chunks]
    seconds = sum(c.seconds for c in chunks)
    for page in (first, second):
        scheduled = browser.scheduled(page.client)
        assert [e.sequence for e in scheduled] == expected, f"page {page.client}"
        assert_back_to_back(scheduled)
        assert sum(e.duration for e in scheduled) == pytest.approx(
            seconds, abs=SAMPLE * len(chunks)
        )
        assert [e.kind for e in browser.playback if e.client == page.client][-1] == "ended"


@pytest.mark.skipif(not HAS_DECODER, reason="needs polly_pipeline.sinks.StreamDecoder")
async def test_compressed_speech_is_decoded_for_the_page_and_played_whole(
    polly: PollyStreamingClient, chromium: Chromium
) -> None:
    delivered = MemorySink()
    async with BrowserSink(print_url=False) as browser:
        await chromium.open(browser.autoplay_url)
        [page] = await browser.wait_for_client(timeout=30)
        async with SpeechSession(polly, voice_id="Joanna", output_format="mp3") as session:
            await Pipeline(session).run(SHORT, browser, delivered)
    scheduled = browser.scheduled(page.client)
    assert [(e.sequence, e.tail) for e in scheduled] == [(f.sequence, f.tail) for f in browser.sent]
    assert {f.sequence for f in browser.sent} == {c.sequence for c in delivered.chunks}
    assert_back_to_back(scheduled)
    seconds = delivered.duration_seconds()
    assert seconds is not None
    assert seconds > 1
    assert sum(e.duration for e in scheduled) == pytest.approx(seconds, abs=1e-3)
    assert browser.playback[-1].kind == "ended"
