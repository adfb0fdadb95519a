"""Markdown tables and matplotlib plots for ``benchmarks/run.py``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.approaches import APPROACHES
from harness.common import RunResult, p50, pct, stalls
from harness.scale import ScalePoint

FINDINGS = """\
## What limits the numbers (profiled with py-spy and timestamps inside the service)

- **Nagle's algorithm on awscrt's sockets (fixed).** awscrt 0.38's Python `SocketOptions`
  cannot set TCP_NODELAY, and its sockets keep Nagle on: on a connection carrying many
  streams, a small TextEvent waited for the ACK of the previous write, which the server
  delays by up to 40 ms. Concurrent first events on one connection reached the service ~4-5 ms
  apart, and the overhead at 10 and 50 sessions was 51 and 68 ms p99. The transport now sets
  TCP_NODELAY on the sockets it opens (`polly_pipeline.transport.nodelay`): 10 sessions
  ~3 ms, 50 sessions ~3 ms (conversation) and ~30 ms (burst).
- **The local service's synthesis queue (fixed in the stand-in).** espeak-ng is one engine
  behind a process-wide lock; hundreds of streams asking at once queued on it longer than the
  180 ms first-audio budget. The service now caches rendered speech and shares renders in
  flight (`polly_pipeline.local.render`), as a parallel service would not queue; the scale
  test runs the service in its own process, so its CPU is not the client's.
- **Beyond that, one Python event loop's CPU.** The client spends about 1 ms of CPU per second
  of audio received (pcm 16 kHz in 8 KiB events: ~250 us per event across awscrt's callback,
  the event-stream decoder, the session's ordering and the pipeline's delivery). The service
  sends audio at 10x real time (RTF 0.1), so when N turns synthesize at once the client must
  take ~N x 10 audio-seconds per second: at 200 turns in the same second (*rush*, *burst*) that
  is about two cores' worth for one loop, and time to first audio waits in the loop's queue.
  Spread at the rate people ask (*conversation*), the loop keeps up. Raising the ceiling means
  less work per event (fewer async hops per chunk, bigger reads) or more than one process.
- **SynthesizeSpeech on the local service ignores the latency model** (only the
  bidirectional stream applies it), so the REST baselines get the floor added client-side and
  no real-time factor: their continuity row is optimistic (all audio at once per sentence).
- In parts 1 and 2 the service shares the client's process (BackgroundService thread, same
  GIL); in part 3 it has its own process. Both share these 2 CPUs with the client.
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
        for kind, style in (("conversation", "o-"), ("rush", "^:"), ("burst", "s--")):
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
