"""Pytest fixtures (registered as a pytest plugin when polly-pipeline-bedrock is installed).

- ``local_bedrock_config``: the :class:`LocalBedrockConfig` of ``local_bedrock``; override it
  in your ``conftest.py`` to script answers and pacing.
- ``local_bedrock``: a started local Bedrock Runtime on an ephemeral loopback port, on its own
  thread (so sync and async tests alike can use it). Point a source at it with
  ``bedrock_converse_source(..., client=local_bedrock.client())``, or set
  ``local_bedrock.environment()`` to go through botocore's default chain.

Imports are lazy: loading the plugin costs nothing for suites that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from polly_pipeline_bedrock.testing.config import LocalBedrockConfig
    from polly_pipeline_bedrock.testing.server import LocalBedrock

__all__ = ["local_bedrock", "local_bedrock_config"]


@pytest.fixture
def local_bedrock_config() -> LocalBedrockConfig:
    """Configuration of the ``local_bedrock`` server (override to script the model)."""
    from polly_pipeline_bedrock.testing.config import LocalBedrockConfig  # noqa: PLC0415

    return LocalBedrockConfig()


@pytest.fixture
def local_bedrock(
    local_bedrock_config: LocalBedrockConfig, tmp_path: Path
) -> Iterator[LocalBedrock]:
    """A running local Bedrock Runtime; ``local_bedrock.client()`` is a botocore client for it."""
    from polly_pipeline_bedrock.testing.background import BackgroundBedrock  # noqa: PLC0415

    with BackgroundBedrock(local_bedrock_config, ca_file=tmp_path / "bedrock-local-ca.pem") as svc:
        yield svc
