"""The report as a table: HTML, text, and the numbers in the output's metadata."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from polly_pipeline_notebook import NotebookReport, display_report
from polly_pipeline_notebook.player import METADATA_KEY

from polly_pipeline.pipeline import PipelineReport
from polly_pipeline.session import TurnMetrics


def a_report() -> PipelineReport:
    return PipelineReport(
        tokens_in=66,
        characters_in=182,
        segments_sent=4,
        characters_sent=182,
        flushes=1,
        audio_chunks=46,
        audio_bytes=356_980,
        audio_seconds=11.155625,
        time_to_first_token=0.453,
        time_to_first_segment=0.799,
        time_to_first_audio=0.804,
        source_finished_after=2.075,
        total_seconds=2.108,
        turn=TurnMetrics(turn_id=0, characters_billed=182, streams=1, retries=1),
    )


def test_the_html_table_has_the_numbers_people_look_for() -> None:
    html = NotebookReport(a_report())._repr_html_()
    assert html.startswith('<table class="polly-pipeline-report">')
    for label, value in (
        ("time to first audio", "804 ms"),
        ("speech started", "1.27 s before the source finished"),
        ("tokens in", "66 (182 characters)"),
        ("segments sent", "4 (182 characters)"),
        ("audio out", "11.16 s in 46 chunks"),
        ("characters billed", "182"),
        ("streams", "1, 1 retries"),
    ):
        assert f'{label}</th><td style="text-align: left">{value}</td>' in html


def test_the_text_form_is_aligned_rows() -> None:
    text = str(NotebookReport(a_report()))
    lines = text.splitlines()
    assert lines[0] == "polly-pipeline run"
    assert "  time to first audio    804 ms" in lines
    rows = [re.match(r"^  (\S.*?)\s{2,}(\S.*)$", line) for line in lines[1:]]
    assert all(rows)
    assert len({row.start(2) for row in rows if row}) == 1  # the values form one column


def test_a_late_start_and_missing_timings_read_plainly() -> None:
    report = PipelineReport(time_to_first_audio=0.5, source_finished_after=0.2)
    text = NotebookReport(report).text()
    assert "0.30 s after the source finished" in text
    assert "time to first token    -" in text


def test_display_report_shows_html_text_and_numbers(
    shell: InteractiveShell, displayed: Callable[[], list[dict[str, Any]]]
) -> None:
    shown = display_report(a_report())
    [output] = displayed()
    assert output["data"]["text/html"] == shown.html()
    assert output["data"]["text/plain"] == shown.text()
    numbers = output["metadata"][METADATA_KEY]["report"]
    assert numbers["audio_seconds"] == 11.155625
    assert numbers["source_finished_after"] == 2.075
    # a cell ending with the report shows the same table
    assert shell.display_formatter is not None
    data, metadata = shell.display_formatter.format(shown)  # type: ignore[no-untyped-call]
    assert data["text/html"] == shown.html()
    assert metadata[METADATA_KEY]["kind"] == "report"
