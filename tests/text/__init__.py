"""Tests of the text layer (markdown cleaner and sentence segmenter)."""
