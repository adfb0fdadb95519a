"""Micro-benchmarks: event-stream decoding, segmenter CPU per token, event signing."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import botocore.eventstream
import segmenter as segbench  # benchmarks/segmenter.py: same measurement, reused

from polly_pipeline.local.config import DEFAULT_CREDENTIALS, DEFAULT_REGION
from polly_pipeline.local.demo_llm import REFERENCE_ANSWER, tokenize
from polly_pipeline.protocol.events import (
    AudioEvent,
    TextEvent,
    encode_input_event,
    encode_output_event,
)
from polly_pipeline.protocol.eventstream import EventStreamDecoder
from polly_pipeline.protocol.sigv4 import EventSigner


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def decoder_throughput(repeat: int = 5) -> list[dict[str, float | str]]:
    """MB/s and messages/s of our decoder and botocore's, fed 16 KiB reads."""
    rows: list[dict[str, float | str]] = []
    for label, size, count in (
        ("8 KiB audio events", 8192, 400),
        ("320 B audio events", 320, 8000),
    ):
        wire = b"".join(encode_output_event(AudioEvent(bytes(size))) for _ in range(count))
        reads = [wire[i : i + 16384] for i in range(0, len(wire), 16384)]

        def ours(reads: list[bytes] = reads, count: int = count) -> None:
            decoder = EventStreamDecoder()
            n = sum(len(decoder.feed(r)) for r in reads)
            assert n == count

        def theirs(reads: list[bytes] = reads, count: int = count) -> None:
            buf = botocore.eventstream.EventStreamBuffer()
            n = 0
            for r in reads:
                buf.add_data(r)
                n += sum(1 for _ in buf)
            assert n == count

        t_ours, t_theirs = _best(ours, repeat), _best(theirs, repeat)
        mb = len(wire) / 1e6
        rows.append(
            {
                "workload": label,
                "ours_mb_s": mb / t_ours,
                "botocore_mb_s": mb / t_theirs,
                "ours_msg_s": count / t_ours,
                "botocore_msg_s": count / t_theirs,
                "speedup": t_theirs / t_ours,
            }
        )
    return rows


def segmenter_cpu() -> dict[str, float]:
    """CPU us per token of the incremental segmenter (benchmarks/segmenter.py's method)."""
    out = {}
    for label, text, tokens in (
        ("segmenter.py answer", segbench.ANSWER, segbench.tokens(segbench.ANSWER)),
        ("reference answer", REFERENCE_ANSWER, tokenize(REFERENCE_ANSWER)),
    ):
        stream = segbench.cleaned_tokens(tokens)
        secs, _ = segbench.measure(segbench.run_ours, stream, 5)
        out[label] = secs / len(stream) * 1e6
        del text
    return out


def signing_cost(events: int = 3000) -> dict[str, float]:
    """us per signed input event (encode + sign) and per sign alone."""
    signer = EventSigner(
        credentials=DEFAULT_CREDENTIALS,
        region=DEFAULT_REGION,
        seed_signature="0" * 64,
        clock=lambda: datetime.now(UTC),
    )
    text = "Speaking that sentence right away cuts the silence by more than 90%. "
    encoded = encode_input_event(TextEvent(text, "text", False))
    sign_only = _best(lambda: [signer.sign(encoded) for _ in range(events)], 3) / events
    both = (
        _best(
            lambda: [
                signer.sign(encode_input_event(TextEvent(text, "text", False)))
                for _ in range(events)
            ],
            3,
        )
        / events
    )
    return {"sign_us": sign_only * 1e6, "encode_and_sign_us": both * 1e6}
