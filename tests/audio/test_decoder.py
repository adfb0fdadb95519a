"""StreamDecoder: real audio from the local service and the encoders, fed in random pieces.

The reference is FFmpeg's own demuxer and decoder run over the whole buffer (PyAV's
``av.open``), independent of this package's Ogg reader and mp3 parsing.
"""

from __future__ import annotations

import io
import random
import struct

import av
import pytest
from av.audio.resampler import AudioResampler

from polly_pipeline.audio import (
    SAMPLE_RATES,
    AudioFormat,
    StreamEncoder,
    decode_audio,
    downmix,
    ogg_crc,
)
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import AudioDecodeError, ConfigurationError, StreamStateError
from polly_pipeline.sinks import StreamDecoder
from tests.sinks.audio_helpers import tone

TEXT = "Decoding while the audio streams in. The second sentence ends it."
FORMATS = [
    ("mp3", 24000),
    ("mp3", 8000),
    ("ogg_vorbis", 24000),
    ("ogg_vorbis", 16000),
    ("ogg_opus", 48000),
    ("pcm", 16000),
    ("pcm", 8000),
    ("mulaw", 8000),
    ("alaw", 8000),
]
COMPRESSED = ["mp3", "ogg_vorbis", "ogg_opus"]
_CONTAINERS = {"mp3": "mp3", "ogg_vorbis": "ogg", "ogg_opus": "ogg"}


def ffmpeg_decode(data: bytes, output_format: str, rate: int) -> bytes:
    """The whole buffer through FFmpeg's demuxer, decoder and resampler; channels averaged."""
    if output_format not in _CONTAINERS:
        return decode_audio(data, output_format, rate)  # pcm and G.711: no container
    with av.open(io.BytesIO(data), "r", format=_CONTAINERS[output_format]) as container:
        decoded = list(container.decode(container.streams.audio[0]))
    channels = decoded[0].layout.nb_channels
    resampler = AudioResampler(format="s16", layout=decoded[0].layout, rate=rate)
    frames = [out for frame in decoded for out in resampler.resample(frame)]
    frames += resampler.resample(None)
    pcm = b"".join(bytes(f.planes[0])[: f.samples * 2 * channels] for f in frames)
    return downmix(pcm, channels)


def decode_in_pieces(data: bytes, fmt: AudioFormat, seed: int) -> tuple[bytes, int]:
    """Feed ``data`` in random 1-2000 byte pieces; the PCM and how many feeds returned some."""
    rng = random.Random(seed)
    decoder = StreamDecoder(fmt)
    out: list[bytes] = []
    i = 0
    while i < len(data):
        size = rng.randint(1, 2000)
        out.append(decoder.feed(data[i : i + size]))
        i += size
    out.append(decoder.flush())
    assert decoder.flush() == b""  # a second flush has nothing left
    pcm = b"".join(out)
    assert decoder.samples_out == len(pcm) // 2
    return pcm, sum(1 for piece in out[:-1] if piece)


async def synthesize(client: PollyStreamingClient, output_format: str, rate: int) -> bytes:
    pieces = [
        audio
        async for audio in client.start_speech_synthesis_stream(
            text=TEXT, voice_id="Joanna", output_format=output_format, sample_rate=rate
        )
    ]
    return b"".join(pieces)


@pytest.mark.parametrize(("output_format", "rate"), FORMATS)
async def test_service_audio_in_random_pieces_decodes_like_ffmpeg_on_the_whole_file(
    polly: PollyStreamingClient, output_format: str, rate: int
) -> None:
    data = await synthesize(polly, output_format, rate)
    whole = ffmpeg_decode(data, output_format, rate)
    assert decode_audio(data, output_format, rate) == whole
    assert len(whole) // 2 > rate  # more than a second of speech
    for seed in range(3):
        pcm, productive_feeds = decode_in_pieces(data, AudioFormat(output_format, rate), seed)
        assert pcm == whole, f"seed {seed}: {len(pcm) // 2} samples, expected {len(whole) // 2}"
        # incremental: audio comes out while the stream is still being fed
        assert productive_feeds >= 2


@pytest.mark.parametrize("output_format", COMPRESSED)
def test_encoder_output_decodes_as_it_arrives(output_format: str) -> None:
    """Each piece the encoder streams decodes (almost) at once, before the stream ends."""
    rate = SAMPLE_RATES[output_format][1]
    fmt = AudioFormat(output_format, rate)
    encoder = StreamEncoder(output_format, rate)  # type: ignore[arg-type]
    decoder = StreamDecoder(fmt)
    pcm = tone(2.0, rate)
    step = len(pcm) // 8 // 2 * 2
    data = bytearray()
    out = bytearray()
    for i in range(0, len(pcm), step):
        piece = encoder.encode(pcm[i : i + step])
        data += piece
        out += decoder.feed(piece)
        fed_seconds = (i + step) / 2 / rate
        # what is held back is at most the codec's look-ahead plus a frame or a page
        assert len(out) / 2 / rate > fed_seconds - 0.25
    tail = encoder.flush()
    data += tail
    out += decoder.feed(tail) + decoder.flush()
    assert bytes(out) == ffmpeg_decode(bytes(data), output_format, rate)


def test_vorbis_stereo_is_averaged_to_mono() -> None:
    rate = 24000
    encoder = StreamEncoder("ogg_vorbis", rate)
    data = encoder.encode(tone(0.5, rate)) + encoder.flush()
    pcm, _ = decode_in_pieces(data, AudioFormat("ogg_vorbis", rate), seed=7)
    assert len(pcm) // 2 == rate // 2  # mono: one sample per tick, trimmed to the granule
    peak = max(abs(s) for s in struct.unpack(f"<{len(pcm) // 2}h", pcm))
    assert 7000 < peak < 9000  # the tone's level (8000), not 3 dB down


def test_pcm_joins_samples_split_between_pieces() -> None:
    decoder = StreamDecoder(AudioFormat("pcm", 16000))
    assert decoder.feed(b"\x01") == b""
    assert decoder.feed(b"\x02\x03") == b"\x01\x02"
    assert decoder.feed(b"\x04") == b"\x03\x04"
    assert decoder.flush() == b""
    assert decoder.sample_rate == 16000


def test_pcm_ending_inside_a_sample_is_an_error() -> None:
    decoder = StreamDecoder(AudioFormat("pcm", 8000))
    decoder.feed(b"\x01\x02\x03")
    with pytest.raises(AudioDecodeError, match="inside a 16-bit sample"):
        decoder.flush()


def test_feeding_after_flush_is_refused() -> None:
    decoder = StreamDecoder(AudioFormat("mulaw", 8000))
    decoder.flush()
    with pytest.raises(StreamStateError, match="flushed"):
        decoder.feed(b"\xff")


@pytest.mark.parametrize(
    ("fmt", "match"),
    [
        (AudioFormat("flac", 16000), "cannot decode 'flac' audio; known formats: mp3"),
        (AudioFormat("pcm", 44100), "pcm audio cannot have a sample rate of 44100 Hz"),
    ],
)
def test_unknown_formats_and_rates_are_configuration_errors(fmt: AudioFormat, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        StreamDecoder(fmt)


@pytest.mark.parametrize("output_format", COMPRESSED)
def test_data_that_is_not_audio_is_a_protocol_error(output_format: str) -> None:
    decoder = StreamDecoder(AudioFormat(output_format, SAMPLE_RATES[output_format][1]))
    not_audio = b"<html>this is an error page, not audio</html>" * 20
    with pytest.raises(AudioDecodeError, match=f"cannot decode the data as {output_format}"):
        decoder.feed(not_audio) + decoder.flush()


def test_endless_garbage_is_refused_before_the_end() -> None:
    decoder = StreamDecoder(AudioFormat("mp3", 24000))
    for _ in range(60):  # silence-sized zeros, under the limit: maybe audio is still coming
        assert decoder.feed(bytes(4096)) == b""
    with pytest.raises(AudioDecodeError, match="no audio in the first"):
        decoder.feed(bytes(64 * 1024))


def test_ogg_opus_given_as_vorbis_names_the_mixup() -> None:
    encoder = StreamEncoder("ogg_opus", 48000)
    data = encoder.encode(tone(0.2, 48000)) + encoder.flush()
    decoder = StreamDecoder(AudioFormat("ogg_vorbis", 48000))
    with pytest.raises(AudioDecodeError, match=r"is it Ogg Opus\?"):
        decoder.feed(data)


def test_a_corrupt_ogg_page_fails_its_checksum() -> None:
    encoder = StreamEncoder("ogg_vorbis", 24000)
    data = bytearray(encoder.encode(tone(0.5, 24000)) + encoder.flush())
    data[-10] ^= 0xFF
    decoder = StreamDecoder(AudioFormat("ogg_vorbis", 24000))
    with pytest.raises(AudioDecodeError, match="fails its checksum"):
        decoder.feed(bytes(data))


def test_a_missing_ogg_page_is_named() -> None:
    encoder = StreamEncoder("ogg_opus", 48000)
    data = encoder.encode(tone(1.0, 48000)) + encoder.flush()
    pages = split_pages(data)
    assert len(pages) >= 4
    decoder = StreamDecoder(AudioFormat("ogg_opus", 48000))
    with pytest.raises(AudioDecodeError, match="Ogg page 2 is missing"):
        decoder.feed(b"".join(pages[:2] + pages[3:]))


def test_a_cut_off_ogg_stream_is_an_error_at_the_end() -> None:
    encoder = StreamEncoder("ogg_vorbis", 24000)
    data = encoder.encode(tone(0.5, 24000)) + encoder.flush()
    decoder = StreamDecoder(AudioFormat("ogg_vorbis", 24000))
    decoder.feed(data[:-20])
    with pytest.raises(AudioDecodeError, match="ends inside an Ogg page"):
        decoder.flush()


def split_pages(data: bytes) -> list[bytes]:
    """Cut an Ogg stream into its pages (checking each page's CRC on the way)."""
    pages = []
    i = 0
    while i < len(data):
        count = data[i + 26]
        size = 27 + count + sum(data[i + 27 : i + 27 + count])
        page = data[i : i + size]
        assert ogg_crc(page[:22] + b"\0\0\0\0" + page[26:]) == struct.unpack_from("<I", page, 22)[0]
        pages.append(page)
        i += size
    return pages
