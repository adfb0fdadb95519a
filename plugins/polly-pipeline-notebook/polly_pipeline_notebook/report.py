"""Notebook plugin: a :class:`~polly_pipeline.pipeline.PipelineReport` as a table.

:class:`NotebookReport` wraps a report with rich display forms (an HTML table, a text table,
and the numbers as JSON in the output's metadata), so a cell that ends with it shows the
table; :func:`display_report` shows any report explicitly.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from polly_pipeline.pipeline import PipelineReport
from polly_pipeline_notebook.player import METADATA_KEY, publish

__all__ = ["NotebookReport", "display_report", "report_rows"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def report_rows(report: PipelineReport) -> list[tuple[str, str]]:
    """The report as (label, value) rows, in the order people read them."""
    rows = [
        ("time to first audio", _ms(report.time_to_first_audio)),
        ("time to first token", _ms(report.time_to_first_token)),
        ("time to first segment", _ms(report.time_to_first_segment)),
        ("source finished after", _ms(report.source_finished_after)),
        ("total time", _ms(report.total_seconds)),
        ("tokens in", f"{report.tokens_in} ({report.characters_in} characters)"),
        ("segments sent", f"{report.segments_sent} ({report.characters_sent} characters)"),
        ("flushes", str(report.flushes)),
        ("audio out", f"{report.audio_seconds:.2f} s in {report.audio_chunks} chunks"),
        ("audio bytes", f"{report.audio_bytes:,}"),
    ]
    first, done = report.time_to_first_audio, report.source_finished_after
    if first is not None and done is not None:
        lead = done - first
        verdict = (
            f"{lead:.2f} s before the source finished"
            if lead > 0
            else f"{-lead:.2f} s after the source finished"
        )
        rows.insert(1, ("speech started", verdict))
    turn = report.turn
    if turn is not None:
        rows.append(("characters billed", str(turn.characters_billed)))
        extras = [
            f"{value} {name}"
            for name, value in (
                ("retries", turn.retries),
                ("rollovers", turn.rollovers),
                ("resent characters", turn.characters_resent),
            )
            if value
        ]
        rows.append(("streams", ", ".join([str(turn.streams), *extras])))
        if turn.interrupted:
            rows.append(("interrupted", "yes"))
    return rows


def _numbers(report: PipelineReport) -> dict[str, Any]:
    """The report's plain fields, for machines (JSON-safe)."""
    return {
        "tokens_in": report.tokens_in,
        "characters_in": report.characters_in,
        "segments_sent": report.segments_sent,
        "characters_sent": report.characters_sent,
        "flushes": report.flushes,
        "audio_chunks": report.audio_chunks,
        "audio_bytes": report.audio_bytes,
        "audio_seconds": report.audio_seconds,
        "time_to_first_token": report.time_to_first_token,
        "time_to_first_segment": report.time_to_first_segment,
        "time_to_first_audio": report.time_to_first_audio,
        "source_finished_after": report.source_finished_after,
        "total_seconds": report.total_seconds,
    }


@dataclass(frozen=True)
class NotebookReport:
    """A pipeline run's report that displays itself as a table in notebooks.

    Attributes:
        report: the pipeline's report (all its numbers).
    """

    report: PipelineReport

    def html(self) -> str:
        """The report as an HTML table."""
        cells = "".join(
            f'<tr><th style="text-align: left; padding-right: 1em">{html.escape(label)}</th>'
            f'<td style="text-align: left">{html.escape(value)}</td></tr>'
            for label, value in report_rows(self.report)
        )
        return (
            '<table class="polly-pipeline-report">'
            '<caption style="text-align: left"><b>polly-pipeline run</b></caption>'
            f"{cells}</table>"
        )

    def text(self) -> str:
        """The report as aligned text lines."""
        rows = report_rows(self.report)
        width = max(len(label) for label, _ in rows)
        return "\n".join(
            ["polly-pipeline run", *(f"  {label:<{width}}  {value}" for label, value in rows)]
        )

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return self.html()

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        data = {"text/html": self.html(), "text/plain": self.text()}
        return data, {METADATA_KEY: {"kind": "report", "report": _numbers(self.report)}}

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())


def display_report(report: PipelineReport | NotebookReport) -> NotebookReport:
    """Show a pipeline report as a table in the notebook; returns the displayed object."""
    shown = report if isinstance(report, NotebookReport) else NotebookReport(report)
    publish(shown._repr_mimebundle_())
    return shown
