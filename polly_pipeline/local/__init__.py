"""Local service layer: the embedded Polly service (HTTP/2 + HTTP/1.1 over TLS, offline voice)."""

from polly_pipeline.local.background import BackgroundService
from polly_pipeline.local.config import (
    DemoLLMConfig,
    Fault,
    FaultPlan,
    LatencyModel,
    LocalServiceConfig,
)
from polly_pipeline.local.service import LocalPollyService

__all__ = [
    "BackgroundService",
    "DemoLLMConfig",
    "Fault",
    "FaultPlan",
    "LatencyModel",
    "LocalPollyService",
    "LocalServiceConfig",
]
