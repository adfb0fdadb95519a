"""AudioClock: the seconds it counts without decoding equal what the decoder decodes.

The session takes its resume point and its pacing from the clock, so a clock that drifts
from the audio a listener hears (twice the real length, say) misplaces both. Every output
format at several rates, real encoded audio, fed in random pieces to the clock and to the
decoder alike: the totals agree within one codec frame, and the clock never runs ahead of
the audio the stream holds by more than that.
"""

from __future__ import annotations

import random

import pytest

from polly_pipeline.audio import AudioClock, AudioFormat, StreamDecoder, StreamEncoder
from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConfigurationError
from tests.sinks.audio_helpers import tone

CASES = [
    *(("mp3", rate) for rate in (8000, 16000, 22050, 24000, 44100, 48000)),
    *(("ogg_vorbis", rate) for rate in (8000, 22050, 24000, 48000)),
    ("ogg_opus", 48000),
    ("pcm", 8000),
    ("pcm", 16000),
    ("mulaw", 8000),
    ("alaw", 8000),
]


def frame_seconds(output_format: str, rate: int) -> float:
    """The longest codec frame of the format: the tolerance between clock and decoder."""
    if output_format == "mp3":
        return (1152 if rate >= 32000 else 576) / rate
    if output_format == "ogg_vorbis":
        return 2048 / rate  # Vorbis' long block
    if output_format == "ogg_opus":
        return 0.02
    return 1 / rate


def pieces(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        size = rng.randint(1, 3000)
        out.append(data[i : i + size])
        i += size
    return out


def encode(output_format: str, rate: int, seconds: float) -> bytes:
    encoder = StreamEncoder(output_format, rate)  # type: ignore[arg-type]
    pcm = tone(seconds, rate)
    step = len(pcm) // 5 // 2 * 2
    return b"".join(encoder.encode(pcm[i : i + step]) for i in range(0, len(pcm), step)) + (
        encoder.flush()
    )


def clock_and_decoder(data: bytes, fmt: AudioFormat, seed: int) -> tuple[float, float]:
    """Feed both the same random pieces; the clock's seconds and the decoded seconds."""
    clock = AudioClock(fmt.output_format, fmt.sample_rate)
    decoder = StreamDecoder(fmt)
    limit = total_seconds(data, fmt) + frame_seconds(fmt.output_format, fmt.sample_rate)
    for piece in pieces(data, seed):
        before = clock.seconds
        after = clock.feed(piece)
        assert after >= before  # the clock never goes back
        decoder.feed(piece)
        # never ahead of what the whole stream holds
        assert after <= limit
    decoder.flush()
    return clock.seconds, decoder.seconds_out


def total_seconds(data: bytes, fmt: AudioFormat) -> float:
    decoder = StreamDecoder(fmt)
    decoder.feed(data)
    decoder.flush()
    return decoder.seconds_out


@pytest.mark.parametrize(("output_format", "rate"), CASES)
def test_clock_equals_decoded_duration_within_one_frame(output_format: str, rate: int) -> None:
    seconds = 1.5
    data = encode(output_format, rate, seconds)
    fmt = AudioFormat(output_format, rate)
    for seed in range(3):
        counted, decoded = clock_and_decoder(data, fmt, seed)
        assert decoded > seconds * 0.95  # real audio came out
        assert abs(counted - decoded) <= frame_seconds(output_format, rate), (
            f"seed {seed}: clock {counted:.4f} s, decoder {decoded:.4f} s"
        )


@pytest.mark.parametrize(
    ("output_format", "rate"),
    [("mp3", 24000), ("mp3", 16000), ("mp3", 8000), ("mp3", 48000), ("ogg_vorbis", 22050)],
)
async def test_clock_counts_service_audio_like_the_decoder(
    polly: PollyStreamingClient, output_format: str, rate: int
) -> None:
    text = "The clock and the decoder agree. This is the second sentence of it."
    data = b"".join(
        [
            audio
            async for audio in polly.start_speech_synthesis_stream(
                text=text, voice_id="Joanna", output_format=output_format, sample_rate=rate
            )
        ]
    )
    counted, decoded = clock_and_decoder(data, AudioFormat(output_format, rate), seed=11)
    assert decoded > 1.0
    assert abs(counted - decoded) <= frame_seconds(output_format, rate)


def test_clock_skips_bytes_that_are_not_audio() -> None:
    data = encode("ogg_opus", 48000, 0.5)
    clean = AudioClock("ogg_opus", 48000)
    clean.feed(data)
    noisy = AudioClock("ogg_opus", 48000)
    noisy.feed(b"junk before the stream" + data[:100])
    noisy.feed(data[100:])
    assert noisy.seconds == clean.seconds == pytest.approx(0.5, abs=0.001)
    mp3 = AudioClock("mp3", 24000)
    mp3.feed(b"ID3-ish junk" + encode("mp3", 24000, 0.5))
    assert mp3.seconds == pytest.approx(
        total_seconds(encode("mp3", 24000, 0.5), AudioFormat("mp3", 24000))
    )


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown output format 'flac'"):
        AudioClock("flac", 16000)
