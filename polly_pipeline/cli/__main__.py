"""CLI layer: ``python -m polly_pipeline.cli``."""

from __future__ import annotations

import sys

from polly_pipeline.cli.main import main

sys.exit(main())
