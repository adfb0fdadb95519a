"""Pipeline layer: sources -> clean -> segment -> speak -> sinks, composed with aiostream."""

from polly_pipeline.pipeline.flush import FlushMode, FlushPolicy
from polly_pipeline.pipeline.pipeline import Pipeline, PipelineReport, Source
from polly_pipeline.pipeline.stages import SpeechItem, clean, segment, speak

__all__ = [
    "FlushMode",
    "FlushPolicy",
    "Pipeline",
    "PipelineReport",
    "Source",
    "SpeechItem",
    "clean",
    "segment",
    "speak",
]
