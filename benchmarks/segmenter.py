"""Benchmark: CPU per token of the incremental segmenter against naive pysbd re-runs.

A ~300-word markdown answer is cleaned and fed in realistic 1-4 character tokens. Compared
in one run:

- ``Segmenter`` (ours): pysbd only on the unfinished tail, only at candidate boundaries;
- naive, whole buffer: re-run pysbd on everything received so far after every token (what
  a per-token "is there a finished sentence yet?" check costs without incremental state);
- naive, tail only: re-run pysbd after every token, but only on the not yet emitted tail.

CPU time is ``time.process_time``; the token stream is fixed by a seed. This is a report,
not a pass/fail test. Run: ``python benchmarks/segmenter.py``.

With ``--before DIR`` (a checkout of an older tree) only ``Segmenter`` is timed, old and new
code interleaved in one invocation, each round in its own interpreter, so the two columns
compare on a loaded machine; the result goes to ``benchmarks/results/segmenter.md``:

    git archive main | tar -x -C /tmp/before
    python benchmarks/segmenter.py --before /tmp/before --label main
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from statistics import median

from polly_pipeline.text import MarkdownCleaner, Segmenter

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pysbd

ANSWER = """\
## Getting started with the CLI

Sure, I can help with that! The tool runs on Python 3.11 or newer, and version 2.4.1 is the
current release. Dr. Smith's team at the U.S. office tested it on Jan. 5, 2024, with good
results. Here is what you need to do:

1. Install it with `pip install polly-cli` (about 1.5 MB).
2. Set `AWS_REGION`, e.g. `us-east-1`, in your shell.
3. Run the **quick start** and check the output.

If anything fails, see [the troubleshooting guide](https://example.com/docs/troubleshooting?v=2)
or write to support@example.com. Most problems, i.e. about 80% of them, come from expired
credentials... and those are easy to fix.

### Options

| Option | Default | Meaning |
|--------|---------|---------|
| `--voice` | Joanna | The voice to use |
| `--rate` | 1.0 | Speaking rate |

```bash
polly-cli speak --voice Joanna "Hello there"
```

The command prints the audio length, e.g. 3.2 s, and writes `out.mp3`. You can also stream
to your speakers; that needs a sound card and the optional `audio` extra. Meetings at 10:30
a.m. are a good time to demo it 🎉. Prices start at $4.00 per 1 million characters, so a
typical answer costs a fraction of a cent. Wait... what about long answers? They are split
into segments of at most 400 characters, never in the middle of a word, a URL like
https://example.com/a.b?c=d, or a number like 3.14159.

> **Note:** the service keeps one stream open for up to ten minutes, so a long chat reuses
> the same connection. If you pause for more than five seconds, the pipeline sends a short
> keep-alive event instead of closing the stream.

- Voices: Joanna, Matthew and Ruth work well.
- Formats: mp3, ogg_vorbis or pcm at 16 kHz.
- Limits: 6,000 characters per event (see J. R. Smith's notes, p. 12).

That's it — enjoy!
"""


def tokens(text: str, seed: int = 7) -> list[str]:
    """Split ``text`` into 1-4 character tokens, like an LLM stream."""
    rng = random.Random(seed)
    out: list[str] = []
    i = 0
    while i < len(text):
        n = rng.randint(1, 4)
        out.append(text[i : i + n])
        i += n
    return out


def cleaned_tokens(raw: list[str]) -> list[str]:
    """What the cleaner passes on for each raw token (possibly empty)."""
    cleaner = MarkdownCleaner()
    out = [cleaner.feed(t) for t in raw]
    out[-1] += cleaner.flush()
    return out


def run_ours(stream: list[str]) -> int:
    """Feed the incremental segmenter; return the number of segments."""
    seg = Segmenter()
    count = 0
    for t in stream:
        count += len(seg.feed(t))
    return count + len(seg.flush())


def run_naive_whole(stream: list[str]) -> int:
    """Re-run pysbd on the whole buffer after every token; return the sentences emitted."""
    sbd = pysbd.Segmenter(language="en", clean=False, char_span=True)
    buf = ""
    emitted = 0
    for t in stream:
        buf += t
        spans = sbd.segment(buf) if buf.strip() else []
        emitted = max(emitted, len(spans) - 1)  # all but the last sentence are final
    return emitted + 1


def run_naive_tail(stream: list[str]) -> int:
    """Re-run pysbd on the unemitted tail after every token; return the sentences emitted."""
    sbd = pysbd.Segmenter(language="en", clean=False, char_span=True)
    tail = ""
    emitted = 0
    for t in stream:
        tail += t
        spans = sbd.segment(tail) if tail.strip() else []
        if len(spans) > 1:
            emitted += len(spans) - 1
            tail = tail[spans[-1].start :]
    return emitted + 1


def measure(fn: Callable[[list[str]], int], stream: list[str], repeat: int) -> tuple[float, int]:
    """Best-of-``repeat`` CPU seconds of ``fn(stream)``, and its result."""
    best = float("inf")
    result = 0
    for _ in range(repeat):
        t0 = time.process_time()
        result = fn(stream)
        best = min(best, time.process_time() - t0)
    return best, result


HERE = Path(__file__).resolve().parent


def worker(root: str, repeat: int) -> dict[str, float]:
    """In a fresh interpreter with ``root`` first on the path: µs per token, best of ``repeat``."""
    sys.path.insert(0, root)
    for name in [m for m in sys.modules if m.startswith("polly_pipeline")]:
        del sys.modules[name]
    from polly_pipeline.text import MarkdownCleaner as Cleaner  # noqa: PLC0415
    from polly_pipeline.text import Segmenter as Seg  # noqa: PLC0415

    assert sys.modules["polly_pipeline"].__file__.startswith(root)  # type: ignore[union-attr]
    raw = tokens(ANSWER)
    cleaner = Cleaner()
    stream = [cleaner.feed(t) for t in raw]
    stream[-1] += cleaner.flush()
    best = float("inf")
    segments = 0
    for _ in range(repeat):
        t0 = time.process_time()
        seg = Seg()
        segments = sum(len(seg.feed(t)) for t in stream) + len(seg.flush())
        best = min(best, time.process_time() - t0)
    return {"us_per_token": best / len(stream) * 1e6, "segments": segments}


def run_tree(root: str, repeat: int) -> dict[str, float]:
    """:func:`worker` in a subprocess, so each tree imports its own package."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[3]); import segmenter as b;"
        "print(json.dumps(b.worker(sys.argv[1], int(sys.argv[2]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, root, str(repeat), str(HERE)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
        timeout=600,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def compare(before: str, label: str, rounds: int, repeat: int) -> None:
    """Time old and new ``Segmenter`` interleaved; write ``results/segmenter.md``."""
    trees = {f"before ({label})": before, "after (this tree)": str(HERE.parent)}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(rounds):
        for name, root in trees.items():
            runs[name].append(run_tree(root, repeat))
    load = Path("/proc/loadavg").read_text().split()[0]
    lines = [
        "# Segmenter CPU per token",
        "",
        f"The reference answer ({len(ANSWER.split())} words of markdown) cleaned, then fed to "
        f"`Segmenter()` in the same seeded 1-4 character tokens; CPU time per token, median "
        f"over {rounds} interleaved rounds (each in its own interpreter) of the best of "
        f"{repeat}. Load average at the end: {load} on 2 cores (a loaded machine: compare the "
        "columns, not the absolute figures with a quiet machine's).",
        "",
        "| tree | µs/token (median) | µs/token (each round) | segments |",
        "|---|---:|---|---:|",
    ]
    for name, results in runs.items():
        each = ", ".join(f"{r['us_per_token']:.1f}" for r in results)
        mid = median(r["us_per_token"] for r in results)
        lines.append(f"| {name} | {mid:.1f} | {each} | {results[0]['segments']:.0f} |")
    report = "\n".join(lines) + "\n"
    (HERE / "results" / "segmenter.md").write_text(report)
    print(report)


def main() -> None:
    """Print the comparison table (or, with ``--before``, old against new)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a checkout of the tree to compare with")
    parser.add_argument("--label", default="older tree", help="what --before is (a commit)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--repeat", type=int, default=5, help="repeats per round (best kept)")
    args = parser.parse_args()
    if args.before:
        compare(args.before, args.label, args.rounds, args.repeat)
        return
    raw = tokens(ANSWER)
    stream = cleaned_tokens(raw)
    n = len(stream)
    words = len(ANSWER.split())
    t0 = time.process_time()
    for _ in range(5):
        cleaned_tokens(raw)
    clean_us = (time.process_time() - t0) / 5 / n * 1e6

    rows = [
        ("Segmenter (incremental)", *measure(run_ours, stream, 5)),
        ("naive: pysbd on tail", *measure(run_naive_tail, stream, 2)),
        ("naive: pysbd on whole buffer", *measure(run_naive_whole, stream, 1)),
    ]
    print(f"answer: {words} words, {len(ANSWER)} chars of markdown, {n} tokens of 1-4 chars")
    print(f"{'approach':<30} {'CPU ms':>9} {'us/token':>9} {'segments':>9}")
    for name, secs, segs in rows:
        print(f"{name:<30} {secs * 1e3:>9.1f} {secs / n * 1e6:>9.1f} {segs:>9}")
    ours = rows[0][1]
    print(f"ratio naive-whole / ours: {rows[2][1] / ours:.0f}x")
    print(f"ratio naive-tail / ours:  {rows[1][1] / ours:.0f}x")
    print(f"(markdown cleaner, for reference: {clean_us:.1f} us/token)")


if __name__ == "__main__":
    main()
