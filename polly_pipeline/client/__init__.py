"""Client layer: ``PollyStreamingClient`` and its duplex ``SpeechSynthesisStream``."""

from polly_pipeline.client.client import PollyStreamingClient
from polly_pipeline.client.coalesce import split_text
from polly_pipeline.client.config import ChainCredentials, ResolvedEndpoint, resolve_endpoint
from polly_pipeline.client.handler import SpeechSynthesisStreamHandler
from polly_pipeline.client.stream import SpeechSynthesisStream, StreamStats

__all__ = [
    "ChainCredentials",
    "PollyStreamingClient",
    "ResolvedEndpoint",
    "SpeechSynthesisStream",
    "SpeechSynthesisStreamHandler",
    "StreamStats",
    "resolve_endpoint",
    "split_text",
]
