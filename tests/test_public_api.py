"""The top-level package exports a sorted, importable, complete public API."""

from __future__ import annotations

import polly_pipeline
from polly_pipeline import errors


def test_all_is_sorted_unique_and_importable() -> None:
    names = polly_pipeline.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(polly_pipeline, name) is not None


def test_every_exported_error_derives_from_the_one_base() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, errors.PollyPipelineError), name


def test_the_error_tree_docstring_names_every_error_class() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert name in doc, f"{name} is missing from the tree in errors.py's docstring"
