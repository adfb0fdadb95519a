"""Session layer: the chunk types, which live in the audio layer (:mod:`polly_pipeline.audio`)."""

from polly_pipeline.audio.chunk import AudioChunk, AudioFormat

__all__ = ["AudioChunk", "AudioFormat"]
