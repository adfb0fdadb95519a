"""Markdown tables and matplotlib plots for ``benchmarks/run.py``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.approaches import APPROACHES
from harness.common import RunResult, p50, pct, stalls
from harness.scale import ScalePoint

FINDINGS = """\
## What limits the numbers (profiled with py-spy and timestamps inside the service)

- **Scale: concurrent first events on one HTTP/2 connection are serialized, about 4-5 ms
  apart.** With 10 sessions on one client, every session's first segment left the segmenter
  within 0.4 ms of the others, yet the service received the first TextEvents spread over 43 ms
  (median 46 ms after the segment was ready; service-side synthesis and release stayed at
  exactly first-audio latency, 180 ms, after receipt). With one client (one connection) per
  session the spread fell to 2.7 ms and the overhead to single-session levels. The pool puts
  up to SETTINGS_MAX_CONCURRENT_STREAMS (100) streams on one connection before opening
  another (10 sessions = 20 streams = 1 connection; 200 sessions = 4 connections), so the
  overhead at N sessions grows with streams per connection. Where the per-connection queue
  sits (awscrt's HTTP/2 writer or the local server's per-connection reader) was not settled
  in the time available; the fix on the client side is to spread streams over more
  connections (e.g. a cap on active streams per connection, or a new connection when every
  open one has a write in flight).
- **The local service's synthesis is one espeak-ng engine behind a process-wide lock, and it
  resamples 22.05 -> 16 kHz on its event loop.** Without the cache of the scale test, 50
  sessions asking at once queue on that lock (py-spy: most service samples in
  `OfflineVoice.synthesize` waiting for `engine.lock`, then `resample`), and the wait exceeds
  the 180 ms first-audio budget: overhead p50 ~200 ms, p99 ~480 ms in a `--quick` run. That is
  a property of the stand-in, not of the client; the scale test memoizes synthesis
  (`harness.scale.cached_voice`) so it measures the client and the protocol.
- **SynthesizeSpeech on the local service ignores the latency model** (only the
  bidirectional stream applies it), so the REST baselines get the floor added client-side and
  no real-time factor: their continuity row is optimistic (all audio at once per sentence).
- The service shares the process (BackgroundService thread, same GIL, 2 CPUs), so its CPU is
  in the process CPU figures and its scheduling delays are in every latency figure.
"""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def latency_table(runs: dict[str, list[RunResult]]) -> list[str]:
    base = p50([r.ttfa for r in runs["pipeline"]])
    lines = [
        "| approach | TTFA p50 (ms) | TTFA p99 (ms) | ratio to ours (p50) | lower bound p50 (ms) "
        "| overhead p50 (ms) | overhead p99 (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in APPROACHES.items():
        rs = runs[key]
        ttfa = [r.ttfa for r in rs]
        over = [r.overhead for r in rs]
        lines.append(
            f"| {label} | {ms(p50(ttfa))} | {ms(pct(ttfa, 0.99))} | {p50(ttfa) / base:.2f}x "
            f"| {ms(p50([r.lower_bound for r in rs]))} | {ms(p50(over))} | {ms(pct(over, 0.99))} |"
        )
    return lines


def continuity_table(ref: dict[str, RunResult]) -> list[str]:
    lines = [
        "| approach | TTFA (ms) | audio (s) | last audio at (s) | stalls | total stall (s) |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in APPROACHES.items():
        r = ref[key]
        count, total = stalls(r.arrivals)
        lines.append(
            f"| {label} | {ms(r.ttfa)} | {r.audio_seconds:.1f} | {r.arrivals[-1][0]:.2f} "
            f"| {count} | {total:.2f} |"
        )
    return lines


def scale_table(points: Sequence[ScalePoint]) -> list[str]:
    lines = [
        "| sessions | arrivals | active peak | TTFA p50 (ms) | overhead p50 (ms) "
        "| overhead p99 (ms) | client CPU s / audio s (process) | client CPU s / audio s "
        "(loop thread) | service CPU s / audio s | client RSS / session (KiB) "
        "| connections (peak open / created) | streams peak | failed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.sessions} | {p.arrivals} | {p.active_peak} | {ms(p.ttfa_p50)} "
            f"| {ms(p.overhead_p50)} | {ms(p.overhead_p99)} "
            f"| {p.cpu_per_audio_second:.4f} | {p.loop_cpu_per_audio_second:.4f} "
            f"| {p.service_cpu_per_audio_second:.4f} "
            f"| {p.rss_per_session / 1024:.0f} | {p.connections} / {p.connections_created} "
            f"| {p.streams_peak} | {p.failures} |"
        )
    return lines


def plots(
    out: Path,
    runs: dict[str, list[RunResult]],
    ref: dict[str, RunResult],
    points: Sequence[ScalePoint],
) -> list[str]:
    """Write the PNGs; return their file names."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    names = []
    keys = list(APPROACHES)
    fig, ax = plt.subplots(figsize=(8, 4))
    x = range(len(keys))
    ax.bar([i - 0.2 for i in x], [p50([r.ttfa for r in runs[k]]) for k in keys], 0.4, label="p50")
    ax.bar(
        [i + 0.2 for i in x], [pct([r.ttfa for r in runs[k]], 0.99) for k in keys], 0.4, label="p99"
    )
    ax.set_xticks(list(x), ["ours", "whole answer", "REST seq", "REST conc"])
    ax.set_ylabel("seconds from LLM request to first audio")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("Time to first audio (many-runs workload)")
    fig.tight_layout()
    fig.savefig(out / "ttfa.png", dpi=100)
    names.append("ttfa.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k in keys:
        r = ref[k]
        t, total = [], 0.0
        for at, s in r.arrivals:
            t.append(at)
            total += s
        cum = []
        acc = 0.0
        for _, s in r.arrivals:
            acc += s
            cum.append(acc)
        ax.step(t, cum, where="post", label=f"{k}: audio received")
    start = ref["pipeline"].ttfa
    end = start + ref["pipeline"].audio_seconds
    ax.plot([start, end], [0, ref["pipeline"].audio_seconds], "k--", label="ours: playback clock")
    ax.set_xlabel("seconds from LLM request")
    ax.set_ylabel("seconds of audio")
    ax.legend(fontsize=8)
    ax.set_title("Reference workload: audio received vs real-time playback")
    fig.tight_layout()
    fig.savefig(out / "continuity.png", dpi=100)
    names.append("continuity.png")
    plt.close(fig)

    if points:
        fig, ax = plt.subplots(figsize=(7, 4))
        for kind, style in (("spread", "o-"), ("burst", "s--")):
            ps = [p for p in points if p.arrivals == kind]
            n = [p.sessions for p in ps]
            ax.plot(n, [p.overhead_p50 * 1000 for p in ps], style, label=f"{kind}: p50")
            ax.plot(n, [p.overhead_p99 * 1000 for p in ps], style, label=f"{kind}: p99")
        ax.axhline(50, color="grey", ls=":", label="target p99 @200 (50 ms)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("concurrent sessions")
        ax.set_ylabel("ms above lower bound")
        ax.legend(fontsize=8)
        ax.set_title("Overhead above the lower bound vs concurrency")
        fig.tight_layout()
        fig.savefig(out / "scale.png", dpi=100)
        names.append("scale.png")
        plt.close(fig)
    return names
