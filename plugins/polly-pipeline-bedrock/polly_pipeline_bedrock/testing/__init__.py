"""Testing layer: a local Amazon Bedrock Runtime (ConverseStream) and its pytest fixture.

- :class:`LocalBedrock`: the server (async); :class:`BackgroundBedrock` runs it on a thread.
- :class:`LocalBedrockConfig`: the scripted model; :class:`BedrockFault`: staged failures.
- The ``local_bedrock`` pytest fixture (installed with the package) starts one per test.
"""

from polly_pipeline_bedrock.testing.background import BackgroundBedrock
from polly_pipeline_bedrock.testing.config import (
    BedrockFault,
    FaultKind,
    LocalBedrockConfig,
    RecordedRequest,
)
from polly_pipeline_bedrock.testing.server import LocalBedrock

__all__ = [
    "BackgroundBedrock",
    "BedrockFault",
    "FaultKind",
    "LocalBedrock",
    "LocalBedrockConfig",
    "RecordedRequest",
]
