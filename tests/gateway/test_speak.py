"""The ``/v1/speak`` conversation protocol, through uvicorn, with the real ``websockets`` client."""

from __future__ import annotations

import array
import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect

from polly_pipeline.audio import decode_audio
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.gateway import GatewayConfig, Limits
from polly_pipeline.local.demo_answers import tokenize
from tests.gateway.client import SpeakClient
from tests.gateway.conftest import Gateway, running_gateway

LONG = (
    "The first sentence of a long answer is spoken at once. "
    + "Then the model goes on writing for quite a while, sentence after sentence. " * 12
)


@pytest.fixture
async def speak(gateway: Gateway) -> AsyncIterator[SpeakClient]:
    async with connect(gateway.speak_url) as ws:
        yield SpeakClient(ws)


def _peak(pcm: bytes) -> int:
    samples = array.array("h", pcm)
    return max(abs(s) for s in samples)


async def test_a_turn_streams_segments_and_audio_of_the_right_length(speak: SpeakClient) -> None:
    ready = await speak.start(voice="Joanna", format="pcm")
    assert ready == {
        "type": "ready",
        "voice": "Joanna",
        "format": "pcm",
        "sample_rate": 16000,
        "language": "en-US",
        "text_mode": "clean",
        "pacing": 3.0,
    }
    turn = await speak.say("Hello **there**! ", "This is a ", "test of the gateway. ", "Bye.")
    kinds = [e["type"] for e in turn.events]
    assert kinds[0] == "turn_started"
    assert kinds[-1] == "turn_done"
    assert kinds.count("first_audio") == 1
    segments = [e["text"] for e in turn.of("segment")]
    assert "".join(segments) == "Hello there! This is a test of the gateway. Bye."  # cleaned
    assert turn.of("segment")[0]["flush"] is True  # the first segment is forced out
    metrics = turn.of("turn_done")[0]["metrics"]
    seconds = len(turn.audio) / 2 / 16000
    assert seconds == pytest.approx(metrics["audio_seconds"])
    assert 1.5 < seconds < 8.0  # about 50 characters of speech
    assert _peak(bytes(turn.audio)) > 1000  # speech, not silence
    assert metrics["characters_billed"] == len("".join(segments))


async def test_many_turns_on_one_connection_and_compressed_audio_decodes(
    speak: SpeakClient,
) -> None:
    ready = await speak.start(voice="Matthew", format="mp3", sample_rate=24000, pacing=None)
    assert ready["pacing"] is None
    lengths = []
    for n in range(3):
        turn = await speak.say(f"This is answer number {n + 1}. ", "It is short.")
        assert [e["turn"] for e in turn.events] == [n] * len(turn.events)
        pcm = decode_audio(bytes(turn.audio), "mp3", 24000)
        lengths.append(len(pcm) / 2 / 24000)
        metrics = turn.of("turn_done")[0]["metrics"]
        assert lengths[-1] == pytest.approx(metrics["audio_seconds"], abs=0.1)
    assert all(1.0 < s < 6.0 for s in lengths)


async def test_raw_text_is_sent_as_it_came(speak: SpeakClient) -> None:
    await speak.start(voice="Joanna", format="pcm", text_mode="raw")
    turn = await speak.say("**not** cleaned ", "and not cut.")
    assert [e["text"] for e in turn.of("segment")] == ["**not** cleaned ", "and not cut."]
    assert len(turn.audio) > 16000  # over half a second


async def test_interrupt_stops_the_turn_and_the_connection_goes_on(speak: SpeakClient) -> None:
    await speak.start(voice="Joanna", format="pcm")
    await speak.send(text=LONG)
    await speak.send(type="end")
    before = await speak.until("first_audio")
    await speak.send(type="interrupt")
    cut = await speak.until("interrupted")
    report = cut.events[-1]
    assert report["turn"] == 0
    assert 0 < report["characters_sent"] <= len(LONG)
    assert not cut.of("turn_done")
    # nothing of the interrupted turn comes after the acknowledgement: the next frame is the
    # next turn's
    turn = await speak.say("A new question gets a new answer.")
    assert turn.events[0] == {"type": "turn_started", "turn": 1}
    assert all(e["turn"] == 1 for e in turn.events)
    assert len(turn.audio) > 0
    assert before.of("turn_started")[0]["turn"] == 0


async def test_a_turn_sent_while_another_speaks_follows_it_whole(speak: SpeakClient) -> None:
    await speak.start(voice="Joanna", format="pcm")
    await speak.send(text="The first answer is a short one. ")
    await speak.send(text="It has two sentences.")
    await speak.send(type="end")
    # the second turn's text arrives while the first speaks: it waits, cleaned and cut
    await speak.send(text="The **second** answer ")
    await speak.send(text="waits for its turn. ")
    await speak.send(text="Then it speaks.")
    await speak.send(type="end")
    first = await speak.until("turn_done")
    second = await speak.until("turn_done")
    assert {e["turn"] for e in first.events} == {0}
    assert second.events[0] == {"type": "turn_started", "turn": 1}
    assert {e["turn"] for e in second.events} == {1}
    texts = [e["text"] for e in second.of("segment")]
    assert "".join(texts) == "The second answer waits for its turn. Then it speaks."
    assert second.of("segment")[0]["flush"] is True  # its first segment is forced out
    metrics = second.of("turn_done")[0]["metrics"]
    assert len(second.audio) / 32000 == pytest.approx(metrics["audio_seconds"])
    assert metrics["audio_seconds"] > 1.5


async def test_text_left_unfinished_is_spoken_when_the_source_stalls(speak: SpeakClient) -> None:
    await speak.start(voice="Joanna", format="pcm")
    await speak.send(text="Let me look that up")  # no sentence end: the segmenter holds it
    # the model goes quiet (a tool call): after the policy's stall time it is spoken anyway
    stalled = await speak.until("first_audio", within=10)
    assert [(e["text"], e["reason"]) for e in stalled.of("segment")] == [
        ("Let me look that up", "stall")
    ]
    await speak.send(text=" for you. Done.")
    await speak.send(type="end")
    turn = await speak.until("turn_done")
    assert "".join(e["text"] for e in turn.of("segment")).strip() == "for you. Done."
    assert turn.of("turn_done")[0]["metrics"]["audio_seconds"] > 1.0


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("this is not JSON", "invalid_json"),
        (b"\x00\x01\x02", "binary_not_expected"),
        (json.dumps({"type": "sing"}), "unknown_type"),
        (json.dumps([1, 2]), "invalid_message"),
        (json.dumps({"type": "text", "text": 5}), "invalid_message"),
        (json.dumps({"type": "text", "text": "x", "loud": True}), "invalid_message"),
        (json.dumps({"text": "x" * 6001}), "text_too_long"),
        (json.dumps({"text": "x" * 70_000}), "message_too_large"),
        (json.dumps({"type": "start", "voice": "Jonana"}), "invalid_parameters"),
        (json.dumps({"type": "start", "format": "wav"}), "invalid_parameters"),
        (json.dumps({"type": "end"}), "invalid_message"),
        (json.dumps({"type": "start", "pacing": -1}), "invalid_message"),
    ],
)
async def test_bad_input_gets_a_typed_error_and_the_connection_stays_usable(
    speak: SpeakClient, frame: str | bytes, error: str
) -> None:
    await speak.start(voice="Joanna", format="pcm")
    await speak.ws.send(frame)
    reply = await speak.event()
    assert reply["type"] == "error"
    assert reply["error"] == error
    assert reply["message"]
    turn = await speak.say("Still here.")
    assert turn.events[-1]["type"] == "turn_done", turn.events
    assert len(turn.audio) > 0


async def test_unknown_voice_error_names_the_field(speak: SpeakClient) -> None:
    reply = await speak.start(voice="Jonana")
    assert reply["error"] == "invalid_parameters"
    assert "Jonana" in reply["message"]
    assert "Joanna" in reply["message"]  # the suggestion


async def test_text_before_start_is_refused(speak: SpeakClient) -> None:
    await speak.send(text="Hello")
    reply = await speak.event()
    assert reply["error"] == "not_started"


async def test_text_rate_and_turn_limits(polly: PollyStreamingClient) -> None:
    config = GatewayConfig(limits=Limits(text_rate=50, text_burst=100, max_turns=1))
    async with running_gateway(polly, config) as gw, connect(gw.speak_url) as ws:
        speak = SpeakClient(ws)
        await speak.start(voice="Joanna", format="pcm")
        await speak.send(text="x" * 90 + " ")
        await speak.send(text="y" * 50)
        limited = await speak.until("error")
        assert limited.events[-1]["error"] == "rate_limited"
        await speak.send(type="end")
        await speak.send(text="A second turn while the first still speaks.")
        refused = await speak.until("error")
        assert refused.events[-1]["error"] == "too_many_turns"
        done = await speak.until("turn_done")
        assert done.events[-1]["turn"] == 0


async def test_a_client_that_leaves_mid_turn_leaves_nothing_behind(
    gateway: Gateway, polly: PollyStreamingClient
) -> None:
    async with connect(gateway.speak_url) as ws:
        speak = SpeakClient(ws)
        await speak.start(voice="Joanna", format="pcm")
        await speak.send(text=LONG)
        await speak.until("first_audio")
        assert gateway.app.state.conversations == 1
        assert polly.pool.stats().streams_active >= 1
    for _ in range(200):  # ten seconds at most
        if not gateway.app.state.conversations and not polly.pool.stats().streams_active:
            break
        await asyncio.sleep(0.05)
    assert gateway.app.state.conversations == 0
    assert polly.pool.stats().streams_active == 0
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert not {n for n in names if n.startswith(("gateway-", "polly-turn", "polly-spare"))}


async def test_a_client_that_pauses_reading_gets_every_frame_afterwards(
    polly: PollyStreamingClient,
) -> None:
    config = GatewayConfig(limits=Limits(send_queue=4))
    async with (
        running_gateway(polly, config) as gw,
        connect(gw.speak_url, max_queue=1, max_size=None) as ws,
    ):
        speak = SpeakClient(ws)
        await speak.start(voice="Joanna", format="pcm", pacing=None)  # all of it at once
        await speak.send(text=LONG)
        await speak.send(type="end")
        await asyncio.sleep(2)  # read nothing for a while
        turn = await speak.until("turn_done", within=60)
        metrics = turn.of("turn_done")[0]["metrics"]
        assert len(turn.audio) / 32000 == pytest.approx(metrics["audio_seconds"])


async def test_pacing_keeps_the_audio_close_to_real_time(speak: SpeakClient) -> None:
    await speak.start(voice="Joanna", format="pcm", pacing=0.5)
    sentences = [
        f"This is sentence number {n}, spoken at the pace of a listener. " for n in range(4)
    ]
    started = asyncio.get_running_loop().time()
    turn = await speak.say(*sentences)
    elapsed = asyncio.get_running_loop().time() - started
    assert turn.of("turn_done"), turn.events[-1]
    seconds = turn.of("turn_done")[0]["metrics"]["audio_seconds"]
    assert seconds > 6
    # without pacing the local service delivers all of it in a fraction of a second; paced,
    # the last sentence is sent only when the audio before it has almost played
    assert elapsed > seconds * 0.5


async def test_a_long_sentence_after_a_short_one_is_cut_at_a_clause(speak: SpeakClient) -> None:
    # "Sure." lasts a third of a second: the listener would wait in silence while the model
    # writes the long sentence, so its first clause goes out as soon as the clause is settled
    answer = (
        "Sure. The sky looks blue because the molecules of the air scatter the short, blue "
        "wavelengths of sunlight far more strongly than the long, red ones. That is all."
    )
    tokens = tokenize(answer)
    settled = next(i for i, tok in enumerate(tokens) if tok == " wa")  # the word after "short,"
    await speak.start(voice="Joanna", format="pcm")
    for token in tokens[: settled + 1]:
        await speak.send(text=token)
    segments = []
    while len(segments) < 2:  # the model goes on writing: no stall needed for either
        segments += (await speak.until("segment", within=10)).of("segment")
    assert (segments[0]["text"], segments[0]["flush"]) == ("Sure. ", True)
    assert segments[1]["reason"] == "catch_up"
    assert segments[1]["flush"] is True
    assert segments[1]["text"] == (
        "The sky looks blue because the molecules of the air scatter the short, "
    )
    for token in tokens[settled + 1 :]:
        await speak.send(text=token)
    await speak.send(type="end")
    rest = await speak.until("turn_done")
    spoken = [s["text"] for s in segments + rest.of("segment")]
    assert "".join(spoken) == answer  # nothing lost or repeated
