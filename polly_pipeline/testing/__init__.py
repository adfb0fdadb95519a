"""Test helpers for polly-pipeline users and plugin authors (a local-service fixture)."""
