"""Bad input at every public entry point ends in a clear error that names the problem.

Never a bare TypeError or KeyError from deep inside: each case asserts the error class (one of
the package's own) and that its message names the field, path or value at fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.client.config import ChainCredentials
from polly_pipeline.errors import (
    ConfigurationError,
    CredentialsError,
    ParameterValidationError,
    PollyPipelineError,
    ServiceException,
)
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.session.session import SpeechSession
from polly_pipeline.sinks.files import RawFileSink
from polly_pipeline.sinks.memory import MemorySink
from polly_pipeline.sinks.wav import WavFileSink
from polly_pipeline.sources.basic import file_source, iterable_source
from polly_pipeline.testing import virtual_clock
from tests.conftest import TEST_TIMEOUTS

Case = Callable[[LocalPollyService, Path], Awaitable[object]]


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    # region set: the service rejects requests signed for another region, as Polly does
    return LocalServiceConfig(
        inbound_event_timeout=1.0, max_stream_duration=30.0, region="us-east-1"
    )


async def one_shot(svc: LocalPollyService, **kw: Any) -> int:
    async with svc.client(timeouts=TEST_TIMEOUTS) as client:
        return len([c async for c in client.start_speech_synthesis_stream(**kw)])


async def send_on_stream(svc: LocalPollyService, text: object) -> None:
    async with (
        svc.client(timeouts=TEST_TIMEOUTS) as client,
        client.open_stream(voice_id="Joanna") as stream,
    ):
        await stream.send_text(text)  # type: ignore[arg-type]


async def read_all(source: Any) -> list[str]:
    return [piece async for piece in source]


async def session_opt(svc: LocalPollyService, **kw: Any) -> None:
    async with svc.client(timeouts=TEST_TIMEOUTS) as client:
        SpeechSession(client, **{"voice_id": "Joanna", **kw})


async def wrong_region(svc: LocalPollyService, _: Path) -> int:
    async with svc.client(timeouts=TEST_TIMEOUTS, region="eu-west-1") as c:
        return len(
            [x async for x in c.start_speech_synthesis_stream(text="Hi.", voice_id="Joanna")]
        )


async def sync(fn: Callable[[], object]) -> object:
    return fn()


def bad_utf8(tmp: Path) -> Path:
    path = tmp / "bad.txt"
    path.write_bytes(b"hello \xff\xfe world")
    return path


# (id, call, expected error, words the message must contain)
CASES: list[tuple[str, Case, type[BaseException], tuple[str, ...]]] = [
    # client construction
    (
        "pool_size-type",
        lambda s, t: sync(lambda: PollyStreamingClient(region="us-east-1", pool_size="8")),  # type: ignore[arg-type]
        ConfigurationError,
        ("pool_size", "'8'"),
    ),
    (
        "region-name",
        lambda s, t: sync(lambda: PollyStreamingClient(region="not a region!")),
        ConfigurationError,
        ("not a region!", "region"),
    ),
    (
        "endpoint-plain-http",
        lambda s, t: sync(
            lambda: PollyStreamingClient(region="us-east-1", endpoint_url="http://x")
        ),
        ConfigurationError,
        ("https://", "http://x"),
    ),
    # synthesis parameters, one-shot form
    (
        "text-type",
        lambda s, t: one_shot(s, text=123, voice_id="Joanna"),
        ConfigurationError,
        ("text", "int"),
    ),
    (
        "voice-misspelt",
        lambda s, t: one_shot(s, text="Hi.", voice_id="Joana"),
        ParameterValidationError,
        ("voice_id", "'Joana'", "Joanna"),
    ),
    (
        "voice-type",
        lambda s, t: one_shot(s, text="Hi.", voice_id=None),
        ParameterValidationError,
        ("voice_id", "NoneType"),
    ),
    (
        "format",
        lambda s, t: one_shot(s, text="Hi.", voice_id="Joanna", output_format="wav"),
        ParameterValidationError,
        ("output_format", "'wav'", "pcm"),
    ),
    (
        "sample-rate",
        lambda s, t: one_shot(
            s, text="Hi.", voice_id="Joanna", output_format="pcm", sample_rate=12345
        ),
        ParameterValidationError,
        ("sample_rate", "12345", "16000"),
    ),
    (
        "lexicon-name",
        lambda s, t: one_shot(s, text="Hi.", voice_id="Joanna", lexicon_names=["bad name!"]),
        ParameterValidationError,
        ("lexicon_names", "'bad name!'"),
    ),
    (
        "lexicon-one-string",
        lambda s, t: one_shot(s, text="Hi.", voice_id="Joanna", lexicon_names="abc"),
        ParameterValidationError,
        ("lexicon_names", "one string"),
    ),
    # duplex stream
    ("send-type", lambda s, t: send_on_stream(s, 42), ParameterValidationError, ("text", "int")),
    (
        "send-huge",
        lambda s, t: send_on_stream(s, "y" * 6001),
        ParameterValidationError,
        ("6001", "6000"),
    ),
    # session options
    (
        "session-voice",
        lambda s, t: session_opt(s, voice_id="Nobody"),
        ParameterValidationError,
        ("voice_id", "'Nobody'"),
    ),
    (
        "session-keepalive-type",
        lambda s, t: session_opt(s, keepalive_interval="1"),
        ConfigurationError,
        ("keepalive_interval", "'1'"),
    ),
    (
        "session-pacing-negative",
        lambda s, t: session_opt(s, pacing=-1.0),
        ConfigurationError,
        ("pacing",),
    ),
    # sources
    (
        "iterable-type",
        lambda s, t: sync(lambda: iterable_source(5)),  # type: ignore[arg-type]
        ConfigurationError,
        ("iterable", "int"),
    ),
    (
        "iterable-bytes-item",
        lambda s, t: read_all(iterable_source([b"bytes"])),  # type: ignore[list-item]
        ConfigurationError,
        ("item 0", "bytes"),
    ),
    (
        "file-missing",
        lambda s, t: sync(lambda: file_source(t / "missing.txt")),
        ConfigurationError,
        ("missing.txt", "no such file"),
    ),
    (
        "file-invalid-utf8",
        lambda s, t: read_all(file_source(bad_utf8(t))),
        ConfigurationError,
        ("bad.txt", "utf-8", "0xff", "offset 6"),
    ),
    (
        "file-encoding",
        lambda s, t: sync(lambda: file_source(bad_utf8(t), encoding="nope")),
        ConfigurationError,
        ("'nope'",),
    ),
    (
        "file-chunk-chars",
        lambda s, t: sync(lambda: file_source(bad_utf8(t), chunk_chars=0)),
        ConfigurationError,
        ("chunk_chars", "0"),
    ),
    # sinks
    (
        "sink-directory",
        lambda s, t: sync(lambda: WavFileSink(t)),
        ConfigurationError,
        ("cannot write audio", "it is a directory"),
    ),
    (
        "sink-missing-folder",
        lambda s, t: sync(lambda: WavFileSink(t / "no" / "x.wav")),
        ConfigurationError,
        ("x.wav", "does not exist"),
    ),
    (
        "sink-parent-is-file",
        lambda s, t: sync(lambda: RawFileSink(bad_utf8(t) / "x.raw")),
        ConfigurationError,
        ("x.raw", "not a folder"),
    ),
    (
        "pipeline-no-sink",
        lambda s, t: pipeline_run(s, None),
        ConfigurationError,
        ("sink",),
    ),
    # credentials, region, clock
    (
        "no-credentials",
        lambda s, t: sync(ChainCredentials()),
        CredentialsError,
        ("AWS_ACCESS_KEY_ID", "no AWS credentials"),
    ),
    ("wrong-region", wrong_region, ServiceException, ("eu-west-1",)),
]


async def pipeline_run(svc: LocalPollyService, sink: Any) -> object:
    async with (
        svc.client(timeouts=TEST_TIMEOUTS) as client,
        SpeechSession(client, voice_id="Joanna", keepalive_interval=0.3) as session,
    ):
        sinks = () if sink is None else (sink,)
        return await Pipeline(session).run(["Hello there."], *sinks)


@pytest.mark.parametrize(
    ("call", "error", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_bad_input_gets_a_clear_error(
    call: Case,
    error: type[BaseException],
    words: tuple[str, ...],
    local_polly: LocalPollyService,
    tmp_path: Path,
) -> None:
    with pytest.raises(error) as exc:
        await asyncio.wait_for(call(local_polly, tmp_path), 10)
    assert isinstance(exc.value, PollyPipelineError)
    message = str(exc.value)
    for word in words:
        assert word in message, (word, message)


@virtual_clock
async def test_huge_text_is_split_into_legal_events_and_empty_text_speaks_nothing() -> None:
    text = "This sentence is repeated to pass the event limit. " * 150  # 7,650 characters
    # on the virtual clock the offline voice's seconds of rendering cost no deadline time
    svc = LocalPollyService(LocalServiceConfig(inbound_event_timeout=1.0))
    async with memory_client(svc, timeouts=TEST_TIMEOUTS) as client:
        audio = [
            c async for c in client.start_speech_synthesis_stream(text=text, voice_id="Joanna")
        ]
        assert audio
        record = svc.streams[-1]
        assert all(len(t) <= 6000 for t in record.texts)
        assert "".join(record.texts) == text
        assert record.request_characters == len(text)
        empty = [c async for c in client.start_speech_synthesis_stream(text="", voice_id="Joanna")]
        assert empty == []
        assert svc.streams[-1].request_characters == 0


@pytest.mark.parametrize("clean", [True, False], ids=["cleaned", "raw"])
async def test_ssml_looking_model_output_is_never_sent_as_ssml(
    clean: bool, local_polly: LocalPollyService
) -> None:
    tokens = [
        '<speak>Hello <break time="3s"/> there',
        " and <prosody rate='x-slow'>",
        "bye.</speak>",
    ]
    async with (
        local_polly.client(timeouts=TEST_TIMEOUTS) as client,
        SpeechSession(client, voice_id="Joanna", keepalive_interval=0.3) as session,
    ):
        report = await Pipeline(session, clean=clean).run(tokens, MemorySink())
    assert report.audio_seconds > 0
    texts = [t for r in local_polly.streams for t in r.texts]
    billed = sum(r.request_characters for r in local_polly.streams)
    # sent as plain text: every character is billed, tags included (SSML tags would be free)
    assert billed == sum(len(t) for t in texts if t.strip())
    if not clean:
        assert "<break" in "".join(texts)  # the raw tag went out as text, read literally


async def test_control_characters_from_a_file_never_reach_the_service(
    local_polly: LocalPollyService, tmp_path: Path
) -> None:
    path = tmp_path / "ctl.txt"
    path.write_bytes(b"Hello \x00\x07\x1b[31m world.\x0c Second\x7f line.")
    async with (
        local_polly.client(timeouts=TEST_TIMEOUTS) as client,
        SpeechSession(client, voice_id="Joanna", keepalive_interval=0.3) as session,
    ):
        report = await Pipeline(session).run(file_source(path), MemorySink())
    assert report.audio_seconds > 0
    sent = "".join(t for r in local_polly.streams for t in r.texts)
    assert "world" in sent
    assert "Second" in sent
    assert not {"\x00", "\x07", "\x1b", "\x7f"} & set(sent), repr(sent)
