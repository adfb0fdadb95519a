"""polly-pipeline in Jupyter: hear an answer inline while it streams, then see its report.

::

    from polly_pipeline_notebook import speak_in_notebook

    await speak_in_notebook(["Hello ", "from a ", "notebook."])

- :class:`NotebookSink`: a sink (entry point ``notebook`` in ``polly_pipeline.sinks``) that
  plays chunks inline as they arrive and leaves an ``<audio>`` element of the whole answer.
- :func:`speak_in_notebook`: one call per cell; starts the local Polly service when no
  session or client is given, and returns a :class:`NotebookReport` (a table when shown).
- :func:`display_report`: show any :class:`~polly_pipeline.pipeline.PipelineReport` as a table.
- :func:`local_service`, :func:`demo_llm`: the kernel's local Polly service and an ``openai``
  client for its offline demo model.
"""

from __future__ import annotations

from polly_pipeline_notebook.report import NotebookReport, display_report
from polly_pipeline_notebook.sink import NotebookSink
from polly_pipeline_notebook.speak import (
    demo_llm,
    local_service,
    speak_in_notebook,
    stop_local_service,
)

__all__ = [
    "NotebookReport",
    "NotebookSink",
    "demo_llm",
    "display_report",
    "local_service",
    "speak_in_notebook",
    "stop_local_service",
]
