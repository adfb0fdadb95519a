"""Client layer: the ``user-agent`` every request carries, in the shape AWS SDKs use.

``polly-pipeline/0.1.0 ua/2.0 lang/python#3.11.7 md/awscrt#0.38.0``: the product and its
version first, then the language and the HTTP library with theirs, so the service side (and
anyone reading its logs) can tell which client and which versions sent a request. The header is
not signed, as in the AWS SDKs.
"""

from __future__ import annotations

import functools
import platform
from importlib import metadata

__all__ = ["user_agent"]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def user_agent() -> str:
    """The ``user-agent`` header value for this process."""
    return (
        f"polly-pipeline/{_version('polly-pipeline')} ua/2.0 "
        f"lang/python#{platform.python_version()} md/awscrt#{_version('awscrt')}"
    )
