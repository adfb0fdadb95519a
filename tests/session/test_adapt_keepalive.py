"""Keep-alive that adapts: a service that refuses an empty TextEvent (``--reject-empty-text``).

A session keeps idle streams alive with empty TextEvents. Against a service that rejects them
it must switch to a single space, sent only between words, recover the turn whose stream was
refused without losing text, and remember the switch for every later stream. The text is
fed in pieces that cut words in two, with pauses longer than the service's inbound timeout,
including pauses in the middle of a word. The session is judged by the bytes on the wire (the
recording transport) and by what the local service spoke.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ThrottlingException, ValidationException
from polly_pipeline.errors.service import ValidationExceptionField
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.protocol.events import TextEvent, decode_input_event
from polly_pipeline.protocol.eventstream import EventStreamDecoder, decode_message
from polly_pipeline.session.events import RetryPolicy, TurnMetrics
from polly_pipeline.session.ledger import TurnLedger, ends_between_words
from polly_pipeline.session.link import empty_text_rejected
from polly_pipeline.session.session import SpeechSession, Turn
from polly_pipeline.testing import virtual_clock
from tests.conftest import TEST_TIMEOUTS
from tests.session.recording import Recording, recording_client

IDLE_TIMEOUT = 1.0  # the service's inbound-event timeout, scaled down
#: The client's timeouts, its read deadline scaled like the idle timeout (Polly 5 s, read 30 s):
#: two pauses in a row leave a flushed stream without audio for longer than the tests' 2 s.
TIMEOUTS = replace(TEST_TIMEOUTS, read=6 * IDLE_TIMEOUT)
PAUSE = 1.6  # every pause is longer than that
TURNS = 3


#: Three turns of three sentences; no word appears twice, so each stream's words name its turn.
TEXT = [
    ["Amber foxes jumped quickly. ", "Bright lanterns glowed softly. ", "Curious otters swam. "],
    ["Daring pilots landed safely. ", "Eager farmers planted barley. ", "Friendly giants hummed. "],
    ["Gentle rivers wandered south. ", "Hungry bears devoured honey. ", "Icy winds howled. "],
]


def sentences(turn: int) -> list[str]:
    return TEXT[turn]


def pieces(turn: int) -> list[str]:
    """The turn's text as a model's tokens may cut it: the first word (flushed), then every
    4 characters, words cut in two."""
    text = "".join(sentences(turn))
    first = text.index(" ") + 1
    parts = [text[:first]] + [text[i : i + 4] for i in range(first, len(text), 4)]
    if not parts[-1].strip():  # no piece is whitespace alone (that would be a keep-alive)
        last = parts.pop()
        parts[-1] += last
    return parts


def mid_word_pauses(parts: list[str]) -> tuple[int, int]:
    """Two pieces after which the text stops inside a word (the pauses go there)."""
    cuts = [
        i for i in range(len(parts) - 1) if parts[i][-1].isalnum() and parts[i + 1][0].isalnum()
    ]
    return cuts[0], cuts[len(cuts) // 2]


def service(**kw: object) -> LocalPollyService:
    config = LocalServiceConfig(inbound_event_timeout=IDLE_TIMEOUT, **kw)  # type: ignore[arg-type]
    return LocalPollyService(config)


def session_for(client: PollyStreamingClient) -> SpeechSession:
    return SpeechSession(
        client,
        voice_id="Joanna",
        keepalive_interval=0.3,
        max_stream_age=60.0,
        retry=RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2),
        seed=5,
    )


async def feed(turn: Turn, parts: list[str], pauses: tuple[int, int]) -> None:
    for i, part in enumerate(parts):
        await turn.send(part, flush=i == 0)
        if i in pauses:
            await asyncio.sleep(PAUSE)
    await turn.finish()


async def converse(session: SpeechSession) -> list[TurnMetrics]:
    """Three turns fed in word-cutting pieces, pausing mid-word and between turns."""
    metrics = []
    for turn_id in range(TURNS):
        turn = await session.begin_turn()
        parts = pieces(turn_id)
        feeder = asyncio.create_task(feed(turn, parts, mid_word_pauses(parts)))
        chunks = [chunk async for chunk in turn.audio()]
        await feeder
        assert chunks, f"turn {turn_id} produced no audio"
        metrics.append(await turn.wait())
        await asyncio.sleep(PAUSE)  # idle between turns
    return metrics


def events_by_stream(recording: Recording) -> list[list[TextEvent]]:
    """The TextEvents each stream carried on the wire, in order (streams in opening order)."""
    out = []
    for wire in recording.wires:
        decoder = EventStreamDecoder()
        events = []
        for _, chunk in wire.sent:
            for outer in decoder.feed(chunk):
                if outer.payload:
                    event = decode_input_event(decode_message(outer.payload))
                    if isinstance(event, TextEvent):
                        events.append(event)
        out.append(events)
    return out


def spaces_between_words(events: list[TextEvent]) -> bool:
    """Whether every whitespace-only keep-alive on a stream falls between words.

    That is: the text before it is empty or ends in whitespace, or the event before it was a
    flush (the service already synthesized everything before it), or the text after it
    begins with whitespace.
    """
    texts = [e.text for e in events if e.text.strip() or e.flush]  # the stream's text
    boundary, after = True, 0
    for event in events:
        if event.text.strip() or event.flush:
            boundary = event.flush or ends_between_words(event.text)
            after += 1
        elif event.text and not boundary and not "".join(texts[after:])[:1].isspace():
            return False
    return True


def check_heard_once(svc: LocalPollyService, metrics: list[TurnMetrics]) -> None:
    """Each turn's words were spoken in order, none missing, none split; repeats only resends.

    The streams that spoke a turn's text each spoke a contiguous run of its words (a word cut
    by a space keep-alive would not match); each run starts no later than the previous one
    ended (no gap), the last ends with the turn, and any overlap is text the session reported
    as resent.
    """
    for turn_id, turn_metrics in enumerate(metrics):
        words = "".join(sentences(turn_id)).split()
        end = overlap = 0
        for record in svc.streams:
            spoken = "".join(record.spoken).split()  # keep-alive spaces only add whitespace
            if not spoken or not set(spoken) <= set(words):
                continue  # a spare, or another turn's stream
            starts = [i for i in range(end + 1) if words[i : i + len(spoken)] == spoken]
            assert starts, (turn_id, spoken, words[:end])  # a gap, or a word cut in two
            start = max(starts)
            overlap += len(" ".join(words[start:end]))
            end = max(end, start + len(spoken))
        assert end == len(words), (turn_id, [r.spoken for r in svc.streams])
        assert overlap <= turn_metrics.characters_resent, (overlap, turn_metrics)


@virtual_clock
async def test_a_refused_empty_keep_alive_switches_to_a_space_and_loses_nothing() -> None:
    svc = service(reject_empty_text=True)
    client, recording = recording_client(svc, TIMEOUTS)
    async with client, session_for(client) as session:
        assert session.keepalive_text == ""
        metrics = await converse(session)
        assert session.keepalive_text == " "
    # the first turn's stream was refused mid-word and the turn went on on a new stream
    assert 1 <= metrics[0].retries <= 2  # (the spare may have been refused after the turn took it)
    # remembered: later turns never meet the refusal again, through the same pauses
    assert [m.retries for m in metrics[1:]] == [0] * (TURNS - 1)
    streams = events_by_stream(recording)
    empties = [e for events in streams for e in events if e.text == ""]
    refused = [r for r in svc.streams if r.outcome == "ValidationException"]
    assert 1 <= len(refused) == len(empties) <= 2  # the turn's stream, and the spare then
    keepalives = [e for events in streams for e in events if e.text == " " and not e.flush]
    assert len(keepalives) >= 4 * (3 * TURNS - 1)  # every pause was kept alive with spaces
    # a space never lands inside a word, on any stream
    assert all(spaces_between_words(events) for events in streams)
    for events in streams:
        words = "".join(e.text for e in events).split()
        vocabulary = {w for t in range(TURNS) for s in sentences(t) for w in s.split()}
        assert set(words[:-1]) <= vocabulary, words  # the last may be cut by a refusal
    check_heard_once(svc, metrics)
    assert not any(r.outcome.startswith("input-stream") for r in svc.streams)


@virtual_clock
async def test_without_the_option_the_empty_keep_alive_is_kept() -> None:
    svc = service()
    client, recording = recording_client(svc, TIMEOUTS)
    async with client, session_for(client) as session:
        metrics = await converse(session)
        assert session.keepalive_text == ""
    assert [m.retries for m in metrics] == [0] * TURNS
    texts = [e.text for events in events_by_stream(recording) for e in events]
    assert texts.count("") >= 4 * (3 * TURNS - 1)
    assert not [t for t in texts if t and not t.strip()]  # no whitespace-only event
    expected = "".join(s for t in range(TURNS) for s in sentences(t))
    assert "".join("".join(r.spoken) for r in svc.streams) == expected
    assert not [r.outcome for r in svc.streams if r.outcome.startswith(("input-", "Valid"))]


def test_only_a_validation_error_naming_the_text_is_the_refused_keep_alive() -> None:
    text = ValidationException("empty", fields=[ValidationExceptionField("Text", "empty")])
    voice = ValidationException("no", fields=[ValidationExceptionField("VoiceId", "unknown")])
    assert empty_text_rejected(text)
    assert empty_text_rejected(ValidationException("Value '' at 'textEvent.text' failed"))
    assert not empty_text_rejected(voice)
    assert not empty_text_rejected(ValidationException("bad frame", reason="invalidInboundEvent"))
    assert not empty_text_rejected(ThrottlingException("slow down"))


def test_with_space_keep_alives_a_partial_word_waits_for_the_rest() -> None:
    ledger = TurnLedger(4)
    span = ledger.open_span(1, 0)
    ledger.add("Hel", flush=False)
    assert ledger.sendable(span, whole_words=False)
    assert not ledger.sendable(span, whole_words=True)  # "Hel" waits for the rest of its word
    ledger.add("lo", flush=False)
    assert not ledger.sendable(span, whole_words=True)
    ledger.add(",", flush=False)
    assert not ledger.sendable(span, whole_words=True)  # "Hello," may go on: "Hello,world"
    ledger.add(" wor", flush=False)
    for _ in range(3):  # a space before " wor" splits nothing: "Hello," goes out
        assert ledger.sendable(span, whole_words=True)
        ledger.sent(span)
    assert ledger.next_text(span) == " wor"
    assert not ledger.sendable(span, whole_words=True)
    ledger.add("ld. ", flush=False)
    for _ in range(2):
        assert ledger.sendable(span, whole_words=True)
        ledger.sent(span)
    assert not ledger.sendable(span, whole_words=True)
    ledger.add("But", flush=True)  # a flush is never held
    assert ledger.sendable(span, whole_words=True)
    ledger.sent(span)
    ledger.add("今日は。", flush=False)  # no whitespace follows a Japanese full stop
    assert ledger.sendable(span, whole_words=True)
    ledger.sent(span)
    ledger.add("また", flush=False)
    assert not ledger.sendable(span, whole_words=True)
    ledger.finish()  # at the end everything goes
    assert ledger.sendable(span, whole_words=True)
