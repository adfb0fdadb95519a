"""polly-pipeline-bedrock: speak Amazon Bedrock answers while they stream.

:func:`bedrock_converse_source` is a polly-pipeline source (entry point ``bedrock`` in the
group ``polly_pipeline.sources``): an async iterator of the text deltas of a Bedrock
``ConverseStream`` answer. :mod:`polly_pipeline_bedrock.testing` holds a local Bedrock Runtime
that speaks the service's wire format, and the ``local_bedrock`` pytest fixture.
"""

from polly_pipeline_bedrock.source import (
    BedrockConverseSource,
    BedrockUsage,
    ConverseStreamResult,
    bedrock_converse_source,
)

__all__ = [
    "BedrockConverseSource",
    "BedrockUsage",
    "ConverseStreamResult",
    "bedrock_converse_source",
]
