"""examples/notebook.ipynb, executed headless in a real Jupyter kernel of this environment.

Every IOPub message the kernel sends is recorded as it arrives, so the test sees the pushes a
front end would render one by one (the saved notebook keeps only their final state).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbaudio import Push, meta, pushes, recording, rms
from nbclient import NotebookClient
from nbformat import NotebookNode
from polly_pipeline_notebook.player import METADATA_KEY

NOTEBOOK = Path(__file__).resolve().parents[3] / "examples" / "notebook.ipynb"
KERNEL = "polly-pipeline-notebook-test"

pytestmark = pytest.mark.slow


def read_notebook() -> NotebookNode:
    """The committed notebook (nbformat has no annotations)."""
    nb: NotebookNode = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    return nb


class RecordingClient(NotebookClient):
    """A NotebookClient that keeps every message of every cell, in arrival order."""

    def __init__(self, nb: NotebookNode, **kw: Any) -> None:
        super().__init__(nb, **kw)
        self.messages: list[tuple[int, dict[str, Any]]] = []

    def process_message(
        self, msg: dict[str, Any], cell: NotebookNode, cell_index: int
    ) -> NotebookNode | None:
        if msg["msg_type"] in ("display_data", "update_display_data", "execute_result"):
            self.messages.append((cell_index, json.loads(json.dumps(msg["content"]))))
        return super().process_message(msg, cell, cell_index)


@dataclass
class Executed:
    """The executed notebook, and what each cell published while it ran."""

    nb: NotebookNode
    messages: list[tuple[int, dict[str, Any]]]

    def cell(self, marker: str) -> int:
        """The index of the code cell whose source contains ``marker``."""
        [index] = [
            i
            for i, cell in enumerate(self.nb.cells)
            if cell.cell_type == "code" and marker in cell.source
        ]
        return index

    def published(self, index: int) -> list[dict[str, Any]]:
        return [content for i, content in self.messages if i == index]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    """Run the notebook once, in a kernel of this interpreter, with no saved state around."""
    home = tmp_path_factory.mktemp("jupyter")
    spec = home / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "polly-pipeline test", "language": "python"})
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JUPYTER_PATH", str(home))
        env.setenv("JUPYTER_PLATFORM_DIRS", "1")
        env.setenv("IPYTHONDIR", str(home / "ipython"))
        env.setenv("MPLBACKEND", "agg")
        nb = read_notebook()
        client = RecordingClient(
            nb,
            kernel_name=KERNEL,
            timeout=90,
            startup_timeout=60,
            resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        )
        client.execute()
    return Executed(nb, client.messages)


def test_the_committed_notebook_has_no_outputs() -> None:
    nb = read_notebook()
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None


def test_no_cell_fails_or_complains(executed: Executed) -> None:
    for cell in executed.nb.cells:
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None
        for output in cell.outputs:
            assert output.output_type != "error", output
            assert output.get("name") != "stderr", output.get("text")


def check_run(executed: Executed, index: int) -> tuple[list[Push], dict[str, Any]]:
    """The pushes and the report of the speaking cell ``index``, checked against each other."""
    published = executed.published(index)
    kinds = [meta(m).get("kind") for m in published]
    # the player appears first; the chunks follow; the report ends the cell
    assert kinds[0] == "player"
    assert kinds[1] == "chunk"
    assert kinds[-1] == "report"
    report = published[-1]["metadata"][METADATA_KEY]["report"]
    carried = pushes(published)
    assert [p.seq for p in carried] == list(range(len(carried)))
    assert len(carried) >= 2
    # what the player was handed is the whole answer, and it is speech
    heard = sum(p.seconds for p in carried)
    assert heard == pytest.approx(report["audio_seconds"], abs=1e-6)
    assert heard > 1.0
    assert rms(b"".join(p.pcm for p in carried)) > 300
    return carried, report


def test_the_llm_answer_streams_into_the_player_before_the_model_is_done(
    executed: Executed,
) -> None:
    index = executed.cell("demo_llm()")
    carried, report = check_run(executed, index)
    first = carried[0].meta
    assert first["source_done"] is False  # the model was still writing
    assert first["elapsed"] < report["source_finished_after"]
    assert report["time_to_first_audio"] < report["source_finished_after"]
    # the pushes kept coming while the model wrote, not in one burst at the end
    during = [p for p in carried if p.meta["source_done"] is False]
    assert len(during) >= 2


def test_the_saved_cells_hold_the_recording_and_the_report(executed: Executed) -> None:
    for marker in ("demo_llm()", 'await speak_in_notebook(["Hello'):
        index = executed.cell(marker)
        carried, report = check_run(executed, index)
        outputs = executed.nb.cells[index].outputs
        kinds = [meta(o).get("kind") for o in outputs]
        # the live player was replaced in place by the recording; the push output was ended
        assert kinds == ["answer", "end", "report"]
        pcm, rate = recording(outputs[0])
        assert rate == carried[0].sample_rate
        assert pcm == b"".join(p.pcm for p in carried)
        assert len(pcm) / 2 / rate == pytest.approx(report["audio_seconds"], abs=1e-6)
        html = outputs[2]["data"]["text/html"]
        assert '<table class="polly-pipeline-report">' in html
        assert "time to first audio" in html
        assert f"{report['audio_seconds']:.2f} s in" in html


def test_the_last_cell_reads_the_report(executed: Executed) -> None:
    index = executed.cell("lead =")
    [output] = executed.nb.cells[index].outputs
    assert output.name == "stdout"
    assert "before the model finished writing" in output.text
    assert "-" not in output.text.split("started")[1].split("s before")[0]  # a lead, not a lag
