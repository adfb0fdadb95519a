"""CPU cost of the audio clock and the incremental decoder, per second of audio.

A report, not a test. Real encoded audio (the package's encoders, a 10 s tone sweep) is
cut into the same random 500-4000 byte pieces for every run and fed to ``AudioClock`` and
``StreamDecoder``; the figure is CPU time per second of audio (process time, best of the
repeats). With ``--before DIR`` (a checkout of an older tree) the old and the new code run
interleaved in one invocation, each in its own interpreter, so the two columns compare:

    git archive main | tar -x -C /tmp/before
    python benchmarks/audio_costs.py --before /tmp/before

Writes ``benchmarks/results/audio_costs.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent
CASES = [
    ("mp3", 24000),
    ("mp3", 8000),
    ("ogg_vorbis", 24000),
    ("ogg_opus", 48000),
    ("pcm", 16000),
    ("mulaw", 8000),
]
SECONDS = 10.0


def sweep(rate: int, seconds: float) -> bytes:
    """A tone gliding from 200 to 2000 Hz: speech-like spectrum changes for the codecs."""
    out, phase = array("h"), 0.0
    for i in range(int(rate * seconds)):
        phase += 2 * math.pi * (200 + 1800 * i / (rate * seconds)) / rate
        out.append(int(8000 * math.sin(phase)))
    return out.tobytes()


def make_inputs(folder: Path) -> None:
    from polly_pipeline.audio import StreamEncoder  # noqa: PLC0415

    for output_format, rate in CASES:
        encoder = StreamEncoder(output_format, rate)  # type: ignore[arg-type]
        pcm = sweep(rate, SECONDS)
        step = rate // 2 * 2  # half-second sentences
        data = b"".join(encoder.encode(pcm[i : i + step]) for i in range(0, len(pcm), step))
        (folder / f"{output_format}-{rate}").write_bytes(data + encoder.flush())


def worker(root: str, folder: Path, repeat: int) -> dict[str, dict[str, float]]:
    """Run in a fresh interpreter with ``root`` first on the path: old or new code."""
    sys.path.insert(0, root)
    try:  # the audio layer
        from polly_pipeline.audio import AudioClock, AudioFormat, StreamDecoder  # noqa: PLC0415
    except ImportError:  # the tree before it
        from polly_pipeline.session.audio_clock import AudioClock  # type: ignore  # noqa: PLC0415
        from polly_pipeline.sinks.decode import StreamDecoder  # type: ignore  # noqa: PLC0415

        from polly_pipeline.session.chunks import AudioFormat  # type: ignore  # noqa: PLC0415
    import polly_pipeline  # noqa: PLC0415

    assert polly_pipeline.__file__.startswith(root), polly_pipeline.__file__
    results: dict[str, dict[str, float]] = {}
    for output_format, rate in CASES:
        data = (folder / f"{output_format}-{rate}").read_bytes()
        rng = random.Random(7)
        pieces, i = [], 0
        while i < len(data):
            size = rng.randint(500, 4000)
            pieces.append(data[i : i + size])
            i += size
        clock_best = decode_best = math.inf
        seconds = 0.0
        for _ in range(repeat):
            start = time.process_time()
            clock = AudioClock(output_format, rate)
            for piece in pieces:
                clock.feed(piece)
            clock_best = min(clock_best, time.process_time() - start)
            start = time.process_time()
            decoder = StreamDecoder(AudioFormat(output_format, rate))
            samples = sum(len(decoder.feed(piece)) // 2 for piece in pieces)
            samples += len(decoder.flush()) // 2
            decode_best = min(decode_best, time.process_time() - start)
            seconds = samples / rate
        results[f"{output_format}/{rate}"] = {
            "clock_us_per_s": clock_best / seconds * 1e6,
            "decode_ms_per_s": decode_best / seconds * 1e3,
            "audio_s": seconds,
            "clock_s": clock.seconds,
        }
    return results


def run(root: str, folder: Path, repeat: int) -> dict[str, dict[str, float]]:
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[4]);"
        "import audio_costs as b;"
        "print(json.dumps(b.worker(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, root, str(folder), str(repeat), str(HERE)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
        timeout=600,
    )
    result: dict[str, dict[str, float]] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a checkout of the tree to compare with")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--repeat", type=int, default=5, help="repeats per round (best kept)")
    args = parser.parse_args()
    after_root = str(HERE.parent)
    trees = {"before": args.before, "after": after_root} if args.before else {"now": after_root}
    runs: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_inputs(folder)
        for _ in range(args.rounds):
            for name, root in trees.items():
                runs[name].append(run(root, folder, args.repeat))
    lines = [
        "# Audio clock and decoder costs",
        "",
        f"{SECONDS:.0f} s of encoded audio per case, random 500-4000 byte pieces; CPU time per "
        f"second of audio, median over {args.rounds} interleaved rounds of the best of "
        f"{args.repeat}. Load average at the end: {Path('/proc/loadavg').read_text().split()[0]}.",
        "",
        "| format | "
        + " | ".join(f"clock µs/s ({n})" for n in trees)
        + " | "
        + " | ".join(f"decode ms/s ({n})" for n in trees)
        + " |",
        "|---|" + "---:|" * (2 * len(trees)),
    ]
    for case in runs[next(iter(trees))][0]:
        clock = [median(r[case]["clock_us_per_s"] for r in runs[n]) for n in trees]
        decode = [median(r[case]["decode_ms_per_s"] for r in runs[n]) for n in trees]
        lines.append(
            f"| {case} | "
            + " | ".join(f"{v:.1f}" for v in clock)
            + " | "
            + " | ".join(f"{v:.2f}" for v in decode)
            + " |"
        )
    report = "\n".join(lines) + "\n"
    (HERE / "results" / "audio_costs.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
