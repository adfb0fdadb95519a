"""CLI layer: the ``polly-pipeline`` command (``chat``, ``speak``, ``voices``, ``plugins``,
``local``).

Nothing imports these modules but the command itself: programs open backends with
:mod:`polly_pipeline.backends`, as the command does.
"""

from __future__ import annotations

from polly_pipeline.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
