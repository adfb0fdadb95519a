"""Testing layer: run the local Bedrock server on its own thread and event loop.

For code that is not async itself (pytest fixtures, scripts, the blocking botocore client):
clients in any thread or loop reach it over loopback, as they would reach Amazon Bedrock.
"""

from __future__ import annotations

from typing import Any

from polly_pipeline.local import BackgroundServer
from polly_pipeline_bedrock.testing.server import LocalBedrock

__all__ = ["BackgroundBedrock"]


class BackgroundBedrock(BackgroundServer[LocalBedrock]):
    """``with BackgroundBedrock(...) as bedrock:``: a started :class:`LocalBedrock` on a thread.

    The arguments are :class:`LocalBedrock`'s.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            LocalBedrock(*args, **kwargs),
            thread_name="bedrock-local",
            description="the local Bedrock server",
        )
