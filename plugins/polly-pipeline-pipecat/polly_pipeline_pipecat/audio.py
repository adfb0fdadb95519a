"""Pipecat plugin: Polly's PCM as Pipecat audio frames at the pipeline's sample rate."""

from __future__ import annotations

from pipecat.audio.utils import create_stream_resampler

__all__ = ["PcmConverter", "polly_pcm_rate"]

#: The sample rates Polly produces PCM at.
POLLY_PCM_RATES = (8000, 16000)


def polly_pcm_rate(pipeline_rate: int) -> int:
    """The PCM rate to ask Polly for: the pipeline's when Polly has it, else 16 kHz (resampled)."""
    return pipeline_rate if pipeline_rate in POLLY_PCM_RATES else 16000


class PcmConverter:
    """Turns one stream's 16-bit mono PCM chunks into whole samples at ``out_rate``.

    Polly may cut a chunk inside a sample; the odd byte waits for the next chunk. Resampling
    (when the rates differ) keeps its filter state across chunks, so chunk edges do not click.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._carry = b""
        self._resampler = create_stream_resampler() if in_rate != out_rate else None

    async def convert(self, data: bytes) -> bytes:
        """The audio of ``data`` (and any byte held back) at ``out_rate``; may be empty."""
        data = self._carry + data
        whole = len(data) - len(data) % 2
        self._carry = data[whole:]
        if self._resampler is None or not whole:
            return data[:whole]
        return await self._resampler.resample(data[:whole], self.in_rate, self.out_rate)

    async def flush(self) -> bytes:
        """The audio the resampler still holds, at the end of the stream."""
        self._carry = b""
        if self._resampler is None:
            return b""
        return await self._resampler.flush()
