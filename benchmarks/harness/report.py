"""Markdown tables and matplotlib plots for ``benchmarks/run.py``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.approaches import APPROACHES, WHOLE
from harness.common import RunResult, p50, pct, stalls
from harness.plain import first_boundary_token
from harness.scale import ScalePoint
from harness.workloads import Workload, token_arrival
from polly_pipeline.local.config import DemoLLMConfig

#: Target margins (issue 11): this pipeline's p50 against the naive client's and the floor.
NAIVE_MARGIN = 0.005
FLOOR_MARGIN = 0.010

SCALE_NOTE = """\
The scale part measures this pipeline alone. Its "overhead" is time to first audio minus
(this pipeline's own first-segment time + first-audio latency + network delay): it shows the
transport and session under load, not the text layer's hold-back (the floor comparison above
does that).
"""

SCALE_FINDINGS = """\
### What limits the scale numbers (profiled with py-spy and timestamps inside the service)

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
- In the time-to-first-audio and continuity parts the service shares the client's process
  (BackgroundService thread, same GIL); in the scale part it has its own process. Both share
  these 2 CPUs with the client.
"""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def signed_ms(seconds: float) -> str:
    return f"{seconds * 1000:+.1f}"


def met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def p90(values: Sequence[float]) -> float:
    return pct(values, 0.9)


def ttfa_table(
    workloads: Sequence[Workload],
    floors: Mapping[str, float],
    runs: Mapping[str, Mapping[str, list[RunResult]]],
) -> list[str]:
    """Per text: floor, p50/p90 of every approach, the differences and the targets."""
    head = " | ".join(f"{key} p50 / p90" for key in APPROACHES)
    lines = [
        f"| text | floor | {head} | pipeline - naive (p50) | pipeline - floor (p50) "
        "| <= naive + 5 ms | <= floor + 10 ms |",
        "|---|---|" + "---|" * len(APPROACHES) + "---|---|---|---|",
    ]
    for w in workloads:
        floor = floors[w.key]
        cells = []
        for key in APPROACHES:
            ttfa = [r.ttfa for r in runs[w.key][key]]
            cells.append(f"{ms(p50(ttfa))} / {ms(p90(ttfa))}")
        ours = p50([r.ttfa for r in runs[w.key]["pipeline"]])
        naive = p50([r.ttfa for r in runs[w.key]["naive"]])
        floor_ok = met(ours <= floor + FLOOR_MARGIN) if w.unambiguous else "n/a (ambiguous)"
        lines.append(
            f"| {w.label} | {ms(floor)} | {' | '.join(cells)} | {signed_ms(ours - naive)} "
            f"| {signed_ms(ours - floor)} | {met(ours <= naive + NAIVE_MARGIN)} | {floor_ok} |"
        )
    return lines


def decision_table(
    workloads: Sequence[Workload],
    llm: DemoLLMConfig,
    runs: Mapping[str, Mapping[str, list[RunResult]]],
) -> list[str]:
    """Per text: when the first text was decided and how long it took from there to audio."""
    keys = ("pipeline", "naive")
    lines = [
        "| text | "
        + " | ".join(f"{k}: decided (ms after the token) | {k}: to audio (ms)" for k in keys)
        + " |",
        "|---|" + "---|---|" * len(keys),
    ]
    for w in workloads:
        boundary = token_arrival(first_boundary_token(w.tokens), llm)
        cells = []
        for key in keys:
            rs = runs[w.key][key]
            cells.append(signed_ms(p50([r.ready - boundary for r in rs])))
            cells.append(ms(p50([r.ttfa - r.ready for r in rs])))
        lines.append(f"| {w.label} | {' | '.join(cells)} |")
    return lines


def peers_ahead(
    workloads: Sequence[Workload],
    floors: Mapping[str, float],
    runs: Mapping[str, Mapping[str, list[RunResult]]],
) -> list[str]:
    """Plain sentences: where a peer's p50 beats this pipeline's, and where it beats a floor."""
    lines = []
    for w in workloads:
        ours = p50([r.ttfa for r in runs[w.key]["pipeline"]])
        for key in APPROACHES:
            if key == "pipeline":
                continue
            theirs = p50([r.ttfa for r in runs[w.key][key]])
            if theirs < ours:
                lines.append(
                    f"- {w.label}: **{APPROACHES[key]} is ahead** of this pipeline by "
                    f"{ms(ours - theirs)} ms (p50)."
                )
        if ours < floors[w.key]:
            lines.append(
                f"- {w.label}: this pipeline starts {ms(floors[w.key] - ours)} ms before the "
                "floor: it speaks a fragment before the first sentence is complete."
            )
    return lines or ["- No peer is ahead of this pipeline on any text (p50)."]


def continuity_table(
    workloads: Sequence[Workload], full: Mapping[str, Mapping[str, RunResult]]
) -> list[str]:
    """Per text and approach: first audio, last audio, and the listener's stalls."""
    labels = {**APPROACHES, "whole": WHOLE}
    lines = [
        "| text | approach | first audio (ms) | audio (s) | last audio at (s) | stalls "
        "| total stall (s) | longest stall (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in workloads:
        for key, label in labels.items():
            r = full[w.key][key]
            count, total, longest = stalls(r.arrivals)
            lines.append(
                f"| {w.label} | {label} | {ms(r.ttfa)} | {r.audio_seconds:.1f} "
                f"| {r.arrivals[-1][0]:.2f} | {count} | {total:.2f} | {longest:.2f} |"
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


def plots(  # noqa: PLR0917 (one call site; the parts of one report)
    out: Path,
    workloads: Sequence[Workload],
    floors: Mapping[str, float],
    runs: Mapping[str, Mapping[str, list[RunResult]]],
    full: Mapping[str, Mapping[str, RunResult]],
    points: Sequence[ScalePoint],
) -> list[str]:
    """Write the PNGs; return their file names."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    names = []
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / (len(APPROACHES) + 1)
    x = range(len(workloads))
    ax.bar(
        [i - 0.4 + width / 2 for i in x],
        [floors[w.key] for w in workloads],
        width,
        label="floor",
        color="grey",
    )
    for n, key in enumerate(APPROACHES, start=1):
        ax.bar(
            [i - 0.4 + width / 2 + n * width for i in x],
            [p50([r.ttfa for r in runs[w.key][key]]) for w in workloads],
            width,
            label=f"{key} p50",
        )
    ax.set_xticks(list(x), [w.key for w in workloads])
    ax.set_ylabel("seconds from LLM request to first audio")
    ax.legend(fontsize=8)
    ax.set_title("Time to first audio against the floor")
    fig.tight_layout()
    fig.savefig(out / "ttfa.png", dpi=100)
    names.append("ttfa.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    shown = next(w for w in workloads if w.key in full)
    reference = full[shown.key]
    for key, r in reference.items():
        t, cum, acc = [], [], 0.0
        for at, seconds in r.arrivals:
            acc += seconds
            t.append(at)
            cum.append(acc)
        ax.step(t, cum, where="post", label=f"{key}: audio received")
    ours = reference["pipeline"]
    start = ours.ttfa
    ax.plot(
        [start, start + ours.audio_seconds],
        [0, ours.audio_seconds],
        "k--",
        label="pipeline: playback clock",
    )
    ax.set_xlabel("seconds from LLM request")
    ax.set_ylabel("seconds of audio")
    ax.legend(fontsize=8)
    ax.set_title(f"{shown.label}: audio received vs real-time playback")
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
        ax.set_ylabel("ms above the pipeline's first segment + service latency")
        ax.legend(fontsize=8)
        ax.set_title("Scale: overhead vs concurrency (this pipeline only)")
        fig.tight_layout()
        fig.savefig(out / "scale.png", dpi=100)
        names.append("scale.png")
        plt.close(fig)
    return names
