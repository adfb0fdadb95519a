"""Streaming encoders: real speech in, one valid stream out, a sentence at a time."""

from __future__ import annotations

import io
import itertools
import math
import os
import struct
import wave
from array import array
from functools import cache

import pytest

from polly_pipeline.audio import (
    CONTENT_TYPES,
    SAMPLE_RATES,
    OutputFormat,
    StreamEncoder,
    decode_audio,
    duration_seconds,
    ogg_crc,
    resample,
    resolve_sample_rate,
    wav_bytes,
)
from polly_pipeline.errors import AudioDecodeError, ConfigurationError
from polly_pipeline.local.voice import get_offline_voice
from polly_pipeline.local.voices import get_voice

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs.",
    "How vexingly quick daft zebras jump!",
)
CASES = [(fmt, rate) for fmt, (rates, _) in SAMPLE_RATES.items() for rate in rates]
MP3_DELAY = 1105  # samples LAME's encoder and an MP3 decoder add in front (576 + 529)
END_PAUSE = 0.3  # seconds of pause the offline voice ends a sentence with


@cache
def sentences(rate: int) -> tuple[bytes, ...]:
    """The three sentences, spoken once and resampled to ``rate``."""
    voice = get_offline_voice()
    spoken = [voice.synthesize(text, voice=get_voice("Joanna")) for text in SENTENCES]
    return tuple(resample(pcm, voice.native_sample_rate, rate) for pcm in spoken)


@cache
def streamed(output_format: OutputFormat, rate: int) -> tuple[tuple[bytes, ...], bytes]:
    """What each encode() call (one per sentence) and the flush returned."""
    encoder = StreamEncoder(output_format, rate)
    chunks = tuple(encoder.encode(pcm) for pcm in sentences(rate))
    return chunks, encoder.flush()


def rms(pcm: bytes) -> float:
    samples = array("h", pcm)
    return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))


def correlation(a: bytes, b: bytes, lag: int, start: int, length: int) -> float:
    x = array("h", a)[start : start + length]
    y = array("h", b)[start + lag : start + lag + length]
    dot = sum(p * q for p, q in zip(x, y, strict=True))
    return dot / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))


def delay(output_format: str) -> int:
    """Samples of codec delay at the start of the decoded audio."""
    return MP3_DELAY if output_format == "mp3" else 0


def mp3_frame_samples(rate: int) -> int:
    return 1152 if rate >= 32000 else 576


# --- every format at every rate ---------------------------------------------------------------


@pytest.mark.parametrize(("output_format", "rate"), CASES)
def test_stream_decodes_to_the_speech_fed_in(output_format: OutputFormat, rate: int) -> None:
    chunks, tail = streamed(output_format, rate)
    fed = b"".join(sentences(rate))
    decoded = decode_audio(b"".join(chunks) + tail, output_format, rate)
    extra = duration_seconds(decoded, rate) - duration_seconds(fed, rate)
    if output_format == "mp3":  # LAME's delay in front, the last frame's padding behind
        assert 0 <= extra <= (MP3_DELAY + 2 * mp3_frame_samples(rate)) / rate
    else:  # Ogg's last granule position trims the codec padding exactly
        assert abs(extra) <= 0.005
    # the same speech, at the same level
    assert 0.7 < rms(decoded) / rms(fed) < 1.4
    lag = delay(output_format)
    assert correlation(fed, decoded, lag, start=rate // 2, length=rate // 4) > 0.95


@pytest.mark.parametrize(("output_format", "rate"), CASES)
def test_each_sentence_goes_out_when_it_is_encoded(output_format: OutputFormat, rate: int) -> None:
    chunks, _ = streamed(output_format, rate)
    assert all(chunks)  # every encode() call emits audio
    first = sentences(rate)[0]
    decoded = decode_audio(chunks[0], output_format, rate)
    held_back = duration_seconds(first, rate) - (len(decoded) // 2 - delay(output_format)) / rate
    # the codec keeps at most its look-ahead and a frame, all of it in the sentence's end pause
    limit = 0.25 if (output_format, rate) in {("ogg_vorbis", 8000), ("mp3", 8000)} else 0.12
    assert -0.005 <= held_back <= limit
    assert held_back < END_PAUSE


@pytest.mark.parametrize(("output_format", "rate"), CASES)
def test_encoding_is_deterministic(output_format: OutputFormat, rate: int) -> None:
    encoder = StreamEncoder(output_format, rate)
    again = tuple(encoder.encode(pcm) for pcm in sentences(rate)), encoder.flush()
    assert again == streamed(output_format, rate)


# --- per format -----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", SAMPLE_RATES["mp3"][0])
def test_mp3_is_bare_mpeg_frames(rate: int) -> None:
    chunks, tail = streamed("mp3", rate)
    data = b"".join(chunks) + tail
    for chunk in (*chunks, tail):  # every piece starts on a frame: a player can join anywhere
        assert chunk[0] == 0xFF
        assert chunk[1] & 0xE0 == 0xE0
    for marker in (b"ID3", b"Xing", b"Info"):  # no tag, no VBR/gapless header frame
        assert marker not in data
    sample_rate_index = (data[2] >> 2) & 0b11
    version = (data[1] >> 3) & 0b11  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    table = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
    assert table[version][sample_rate_index] == rate


def ogg_pages(data: bytes) -> list[tuple[int, int, int, int, bytes]]:
    """(flags, granule, serial, sequence, body) of every page; checks framing and CRC."""
    pages = []
    position = 0
    while position < len(data):
        assert data[position : position + 4] == b"OggS"
        _, flags, granule, serial, sequence, crc, count = struct.unpack_from(
            "<BBqIIIB", data, position + 4
        )
        lacing = data[position + 27 : position + 27 + count]
        end = position + 27 + count + sum(lacing)
        page = data[position:end]
        assert ogg_crc(page[:22] + b"\0\0\0\0" + page[26:]) == crc
        pages.append((flags, granule, serial, sequence, page[27 + count :]))
        position = end
    assert position == len(data)
    return pages


@pytest.mark.parametrize(
    ("output_format", "rate", "magic"),
    [("ogg_opus", 48000, b"OpusHead")]
    + [("ogg_vorbis", rate, b"\x01vorbis") for rate in SAMPLE_RATES["ogg_vorbis"][0]],
)
def test_ogg_is_one_logical_stream(output_format: OutputFormat, rate: int, magic: bytes) -> None:
    chunks, tail = streamed(output_format, rate)
    for chunk in (*chunks, tail):
        ogg_pages(chunk)  # each piece is whole pages
    pages = ogg_pages(b"".join(chunks) + tail)
    assert pages[0][4].startswith(magic)
    assert [p[0] & 2 for p in pages] == [2] + [0] * (len(pages) - 1)  # begins once
    assert [p[0] & 4 for p in pages] == [0] * (len(pages) - 1) + [4]  # ends once
    assert len({p[2] for p in pages}) == 1
    assert [p[3] for p in pages] == list(range(len(pages)))
    granules = [p[1] for p in pages if p[1] != -1]
    assert granules == sorted(granules)
    samples = sum(len(pcm) // 2 for pcm in sentences(rate))
    if output_format == "ogg_opus":
        (pre_skip,) = struct.unpack_from("<H", pages[0][4], 10)
        assert granules[-1] == samples + pre_skip
    else:
        assert granules[-1] == samples


def test_ogg_crc_matches_the_specification() -> None:
    def reference(data: bytes) -> int:
        crc = 0
        for byte in data:
            crc ^= byte << 24
            for _ in range(8):
                crc = (crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1
                crc &= 0xFFFFFFFF
        return crc

    for data in (b"", b"OggS", b"123456789", os.urandom(777)):
        assert ogg_crc(data) == reference(data)


def test_pcm_is_passed_through() -> None:
    chunks, tail = streamed("pcm", 16000)
    assert chunks == sentences(16000)
    assert tail == b""


@pytest.mark.parametrize("output_format", ["mulaw", "alaw"])
def test_g711_is_one_byte_a_sample_and_close_to_the_input(output_format: OutputFormat) -> None:
    chunks, tail = streamed(output_format, 8000)
    assert [len(c) for c in chunks] == [len(s) // 2 for s in sentences(8000)]
    assert tail == b""
    fed = array("h", b"".join(sentences(8000)))
    decoded = array("h", decode_audio(b"".join(chunks), output_format, 8000))
    assert len(decoded) == len(fed)
    assert max(abs(a - b) for a, b in zip(fed, decoded, strict=True)) <= 1024  # 8-bit log steps


# --- encoder lifecycle and validation ------------------------------------------------------------


def test_rates_follow_polly() -> None:
    assert SAMPLE_RATES["mp3"] == ((8000, 16000, 22050, 24000, 44100, 48000), 24000)
    assert SAMPLE_RATES["pcm"] == ((8000, 16000), 16000)
    assert SAMPLE_RATES["ogg_opus"] == ((48000,), 48000)
    assert set(CONTENT_TYPES) == set(SAMPLE_RATES)
    assert resolve_sample_rate("ogg_vorbis") == 24000
    assert resolve_sample_rate("pcm", 8000) == 8000


def test_a_rate_the_format_does_not_allow_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="8000, 16000"):
        StreamEncoder("pcm", 22050)
    with pytest.raises(ConfigurationError, match="allowed: 48000"):
        StreamEncoder("ogg_opus", 24000)
    with pytest.raises(ConfigurationError, match="unknown output format 'json'"):
        StreamEncoder("json", 16000)  # type: ignore[arg-type]


def test_odd_pcm_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="even number of bytes"):
        StreamEncoder("mp3", 24000).encode(b"\0\0\0")


@pytest.mark.parametrize(("output_format", "rate"), CASES)
def test_lifecycle(output_format: OutputFormat, rate: int) -> None:
    unused = StreamEncoder(output_format, rate)
    assert unused.flush() == b""  # nothing fed, nothing sent
    encoder = StreamEncoder(output_format, rate)
    start = encoder.encode(b"")
    assert start.startswith(b"OggS") if output_format.startswith("ogg") else start == b""
    encoder.encode(sentences(rate)[0])
    holds_audio = output_format in ("mp3", "ogg_vorbis", "ogg_opus")  # codecs with look-ahead
    assert bool(encoder.flush()) == holds_audio
    assert encoder.flush() == b""
    with pytest.raises(RuntimeError, match="flushed"):
        encoder.encode(b"\0\0")


# --- decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("output_format", "rate"), [("mp3", 24000), ("ogg_vorbis", 24000)])
def test_decoding_garbage_is_an_audio_decode_error(output_format: OutputFormat, rate: int) -> None:
    with pytest.raises(AudioDecodeError, match=output_format):
        decode_audio(b"this is not audio" * 40, output_format, rate)


def test_decoding_to_another_rate_resamples() -> None:
    chunks, tail = streamed("ogg_opus", 48000)
    at_16k = decode_audio(b"".join(chunks) + tail, "ogg_opus", 16000)
    fed = sum(len(pcm) // 2 for pcm in sentences(48000)) / 48000
    assert abs(duration_seconds(at_16k, 16000) - fed) < 0.01


def test_odd_pcm_does_not_decode() -> None:
    with pytest.raises(AudioDecodeError, match="pcm"):
        decode_audio(b"\0\0\0", "pcm", 16000)
    assert decode_audio(b"", "mp3", 24000) == b""


# --- PCM helpers -------------------------------------------------------------------------------


def tone(hz: float, rate: int, seconds: float) -> bytes:
    n = int(rate * seconds)
    return array(
        "h", (int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(n))
    ).tobytes()


def zero_crossings(pcm: bytes) -> int:
    samples = array("h", pcm)
    return sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))


@pytest.mark.parametrize("to_rate", [8000, 16000, 24000, 48000])
def test_resample_keeps_length_pitch_and_level(to_rate: int) -> None:
    source = tone(440, 22050, 1.0)
    out = resample(source, 22050, to_rate)
    assert abs(len(out) // 2 - to_rate) <= 2
    assert abs(zero_crossings(out) - zero_crossings(source)) <= 4  # still 440 Hz
    assert 0.95 < rms(out) / rms(source) < 1.05
    assert resample(source, 22050, to_rate) == out


def test_resample_edge_cases() -> None:
    pcm = tone(440, 16000, 0.1)
    assert resample(pcm, 16000, 16000) is pcm
    assert resample(b"", 22050, 8000) == b""
    with pytest.raises(ConfigurationError, match="even number"):
        resample(b"\0", 22050, 8000)
    with pytest.raises(ConfigurationError, match="positive"):
        resample(pcm, 0, 8000)


def test_wav_bytes_wraps_the_samples() -> None:
    pcm = tone(440, 16000, 0.25)
    with wave.open(io.BytesIO(wav_bytes(pcm, 16000))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.readframes(wav.getnframes()) == pcm


def test_duration_seconds() -> None:
    assert duration_seconds(b"\0\0" * 24000, 24000) == 1.0
    assert duration_seconds(b"", 8000) == 0.0
