"""CLI layer: what to change, added to an error a user's settings explain.

A connection to Amazon Polly that fails is most often a region that does not offer the
bidirectional stream (``polly.<region>.amazonaws.com`` may not even exist), or a machine that
cannot reach AWS while credentials left on it made the automatic choice pick Amazon Polly. A
model that cannot be reached is a --base-url with no server behind it, or OpenAI from a
machine offline. The library's own messages name its parameters; these name the options.
"""

from __future__ import annotations

import argparse

from polly_pipeline.errors import ConnectError, LLMError, PollyPipelineError

__all__ = ["hint"]


def hint(exc: PollyPipelineError, args: argparse.Namespace) -> str:
    """``; <what to change>`` for ``exc`` raised by the command ``args`` ran, or ``""``."""
    # only on the error path: the client's modules load awscrt
    from polly_pipeline.client.config import (  # noqa: PLC0415
        STREAM_REGIONS,
        NoRegionError,
        resolve_endpoint,
    )

    if isinstance(exc, LLMError):
        return _model_hint(exc, args)
    if isinstance(exc, NoRegionError):
        return "; on the command line: --region us-east-1 (or --backend local)"
    if not isinstance(exc, ConnectError) or getattr(args, "backend", "local") == "local":
        return ""
    if getattr(args, "endpoint_url", None):
        return ""

    try:
        endpoint = resolve_endpoint(region=args.region, profile=args.profile)
    except PollyPipelineError:
        return ""
    if endpoint.overridden or endpoint.host not in str(exc):
        return ""  # not Amazon Polly's own endpoint that failed
    if endpoint.region not in STREAM_REGIONS:
        return (
            f"; the region {endpoint.region!r} does not offer Polly's bidirectional stream: "
            f"pass --region {STREAM_REGIONS[0]} (or {', '.join(STREAM_REGIONS[1:])}), or set "
            "AWS_REGION"
        )
    return (
        f"; check that this machine can reach {endpoint.host} (network, proxy, firewall; "
        "'polly-pipeline doctor' checks step by step), or pass --backend local to use the "
        "built-in service"
    )


def _model_hint(exc: LLMError, args: argparse.Namespace) -> str:
    if exc.status is not None or exc.chars_received or "could not reach" not in str(exc):
        return ""
    if getattr(args, "base_url", None):
        return (
            "; is the model's server running at that address? Check --base-url (or "
            "OPENAI_BASE_URL); without it and OPENAI_API_KEY the offline demo model answers"
        )
    return (
        "; check that this machine can reach OpenAI (network, proxy), or unset "
        "OPENAI_API_KEY to use the offline demo model"
    )
