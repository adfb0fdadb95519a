"""RawFileSink, sink_for_path, and unwritable paths refused before any audio is lost."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from polly_pipeline.audio import (
    SAMPLE_RATES,
    AudioChunk,
    AudioFormat,
    decode_audio,
    duration_seconds,
)
from polly_pipeline.errors import ConfigurationError
from polly_pipeline.sinks import RawFileSink, WavFileSink, sink_for_path
from tests.sinks.audio_helpers import encoded
from tests.sinks.conftest import run_unprivileged


@pytest.mark.parametrize("fmt", list(SAMPLE_RATES))
async def test_raw_file_holds_the_stream_and_grows_chunk_by_chunk(tmp_path: Path, fmt: str) -> None:
    chunks = encoded(fmt, seconds=1.0)
    path = tmp_path / "answer.bin"
    sink = RawFileSink(path)
    written = b""
    for chunk in chunks:
        await sink.write(chunk)
        written += chunk.data
        assert path.read_bytes() == written  # flushed: a player can follow the file
    await sink.close()
    rate = SAMPLE_RATES[fmt][1]
    pcm = decode_audio(path.read_bytes(), fmt, rate)  # type: ignore[arg-type]
    assert 0.9 < duration_seconds(pcm, rate) < 1.2


async def test_raw_file_refuses_a_second_format(tmp_path: Path) -> None:
    path = tmp_path / "answer.mp3"
    async with RawFileSink(path) as sink:
        await sink.write(encoded("mp3")[0])
        with pytest.raises(ConfigurationError, match="one sink holds one format"):
            await sink.write(encoded("ogg_vorbis")[0])
    assert path.read_bytes() == encoded("mp3")[0].data


@pytest.mark.parametrize("make", [RawFileSink, WavFileSink])
def test_a_missing_folder_is_refused_at_once(tmp_path: Path, make: type[RawFileSink]) -> None:
    path = tmp_path / "no" / "such" / "folder" / "out.wav"
    with pytest.raises(ConfigurationError) as caught:
        make(path)
    assert str(path) in str(caught.value)
    assert "does not exist" in str(caught.value)


@pytest.mark.parametrize("make", [RawFileSink, WavFileSink])
def test_a_directory_is_refused_at_once(tmp_path: Path, make: type[RawFileSink]) -> None:
    with pytest.raises(ConfigurationError, match="it is a directory"):
        make(tmp_path)


def test_an_existing_file_is_kept_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keep.mp3"
    path.write_bytes(b"precious")
    with pytest.raises(ConfigurationError, match="the file exists"):
        RawFileSink(path, overwrite=False)
    with pytest.raises(ConfigurationError, match="the file exists"):
        WavFileSink(path, overwrite=False)
    assert path.read_bytes() == b"precious"


def test_permission_denied_is_refused_at_once(shared_dir: Path) -> None:
    locked = shared_dir / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    readonly = shared_dir / "readonly.wav"
    readonly.write_bytes(b"")
    readonly.chmod(0o444)
    imports = textwrap.dedent("""
        from polly_pipeline.errors import ConfigurationError
        from polly_pipeline.sinks import RawFileSink, WavFileSink
    """)
    code = textwrap.dedent(f"""
        for make, path in [
            (WavFileSink, {str(locked / "new.wav")!r}),
            (RawFileSink, {str(readonly)!r}),
        ]:
            try:
                make(path)
            except ConfigurationError as exc:
                print(exc)
    """)
    lines = run_unprivileged(imports, code).splitlines()
    assert lines == [
        f"cannot write audio to {locked / 'new.wav'}: permission denied "
        f"(cannot create files in {locked})",
        f"cannot write audio to {readonly}: permission denied",
    ]


def test_sink_for_path_picks_by_suffix(tmp_path: Path) -> None:
    assert isinstance(sink_for_path(tmp_path / "a.wav", "pcm"), WavFileSink)
    assert isinstance(sink_for_path(tmp_path / "a.WAV", "mulaw"), WavFileSink)
    assert isinstance(sink_for_path(tmp_path / "a.mp3", "mp3"), RawFileSink)
    assert isinstance(sink_for_path(str(tmp_path / "a.ogg"), "ogg_opus"), RawFileSink)
    assert isinstance(sink_for_path(tmp_path / "a.bin", "ogg_vorbis"), RawFileSink)
    assert isinstance(sink_for_path(tmp_path / "a.pcm", "pcm"), RawFileSink)


@pytest.mark.parametrize(
    ("name", "fmt", "message"),
    [
        ("a.wav", "mp3", "use output format pcm"),
        ("a.mp3", "ogg_vorbis", "looks like mp3 audio"),
        ("a.opus", "ogg_vorbis", "looks like ogg_opus audio"),
        ("a.mp3", "flac", "unknown output format 'flac'"),
    ],
)
def test_sink_for_path_refuses_mismatches(
    tmp_path: Path, name: str, fmt: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        sink_for_path(tmp_path / name, fmt)


async def test_sink_for_path_wav_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    sink = sink_for_path(path, "pcm")
    await sink.write(AudioChunk(b"\1\0" * 160, AudioFormat("pcm", 8000), 0, 0))
    await sink.close()
    assert path.read_bytes()[:4] == b"RIFF"
