"""Audio layer: the PyAV (FFmpeg) pieces the decoder and the encoders share.

PyAV is heavy to import, so it is imported only when audio is actually encoded, decoded or
resampled; importing this module (or :mod:`polly_pipeline.audio`) does not load it. FFmpeg's
own logging stays off unless the application turns it on (``av.logging.set_level``).
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from polly_pipeline.audio.pcm import check_pcm
from polly_pipeline.errors import ConfigurationError

if TYPE_CHECKING:
    from av.audio.codeccontext import AudioCodecContext
    from av.audio.frame import AudioFrame

__all__ = [
    "G711_CODECS",
    "audio_context",
    "frame_pcm",
    "g711_table",
    "open_encoder",
    "pcm_frame",
    "resample",
]

#: FFmpeg's codec for each G.711 output format.
G711_CODECS: Mapping[str, str] = {"mulaw": "pcm_mulaw", "alaw": "pcm_alaw"}
_G711_TABLES: dict[str, array[int]] = {}


def audio_context(codec: str, mode: Literal["r", "w"] = "r") -> AudioCodecContext:
    """A new decoder (``r``) or encoder (``w``) context for ``codec``."""
    from av.audio.codeccontext import AudioCodecContext  # noqa: PLC0415 - heavy, on demand

    context = AudioCodecContext.create(codec, mode)
    if not isinstance(context, AudioCodecContext):  # pragma: no cover - names are audio codecs
        raise TypeError(f"{codec} is not an audio codec")
    return context


def open_encoder(
    codec: str,
    sample_rate: int,
    *,
    sample_format: str,
    layout: str = "mono",
    bit_rate: int | None = None,
    options: Mapping[str, str] | None = None,
) -> AudioCodecContext:
    """An opened encoder context."""
    context = audio_context(codec, "w")
    context.sample_rate = sample_rate
    context.layout = layout
    context.format = sample_format
    context.time_base = Fraction(1, sample_rate)
    if bit_rate is not None:
        context.bit_rate = bit_rate
    if options:
        context.options = dict(options)
    context.open()
    return context


def pcm_frame(pcm: bytes, sample_rate: int, pts: int, *, channels: int = 1) -> AudioFrame:
    """A PyAV frame holding 16-bit mono PCM, copied into each of ``channels``.

    Copied here rather than by FFmpeg, whose upmix lowers the level by 3 dB.
    """
    from av.audio.frame import AudioFrame  # noqa: PLC0415 - heavy, on demand

    if channels > 1:
        mono = array("h", pcm)
        interleaved = array("h", bytes(len(pcm) * channels))
        for lane in range(channels):
            interleaved[lane::channels] = mono
        pcm = interleaved.tobytes()
    layout = "mono" if channels == 1 else "stereo"
    frame = AudioFrame(format="s16", layout=layout, samples=len(pcm) // 2 // channels)
    plane = frame.planes[0]
    plane.update(pcm.ljust(plane.buffer_size, b"\0"))
    frame.sample_rate = sample_rate
    frame.time_base = Fraction(1, sample_rate)
    frame.pts = pts
    return frame


def frame_pcm(frame: AudioFrame, channels: int = 1) -> bytes:
    """The interleaved 16-bit samples of a packed ``s16`` frame."""
    return bytes(frame.planes[0])[: frame.samples * 2 * channels]


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Convert 16-bit mono PCM between sample rates (FFmpeg's resampler; deterministic).

    Raises:
        ConfigurationError: odd-length PCM, or a rate that is not positive.
    """
    check_pcm(pcm)
    if from_rate <= 0 or to_rate <= 0:
        raise ConfigurationError(f"sample rates must be positive, not {from_rate} and {to_rate}")
    if from_rate == to_rate or not pcm:
        return pcm
    from av.audio.resampler import AudioResampler  # noqa: PLC0415 - heavy, on demand

    resampler = AudioResampler(format="s16", layout="mono", rate=to_rate)
    frames = resampler.resample(pcm_frame(pcm, from_rate, 0))
    frames += resampler.resample(None)
    return b"".join(frame_pcm(frame) for frame in frames)


def g711_table(output_format: str) -> array[int]:
    """The 16-bit sample for each of the 256 byte values of ``mulaw`` or ``alaw``.

    Taken from FFmpeg's decoder once, so expanding G.711 is a table look-up per byte.
    """
    cached = _G711_TABLES.get(output_format)
    if cached is not None:
        return cached
    import av  # noqa: PLC0415 - heavy, on demand

    context = audio_context(G711_CODECS[output_format])
    context.sample_rate = 8000
    context.layout = "mono"
    frames = context.decode(av.Packet(bytes(range(256)))) + context.decode(None)
    table = array("h", b"".join(frame_pcm(f) for f in frames))
    if len(table) != 256:  # pragma: no cover - FFmpeg decodes one sample per byte
        raise RuntimeError(f"the {output_format} decoder gave {len(table)} samples for 256 bytes")
    _G711_TABLES[output_format] = table
    return table
