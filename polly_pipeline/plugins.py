"""Plugin registry: sources, stages and sinks from installed distributions (entry points).

A plugin distribution declares, in its ``pyproject.toml``::

    [project.entry-points."polly_pipeline.sinks"]
    speaker = "polly_speaker:SpeakerSink"

Groups: ``polly_pipeline.sources``, ``polly_pipeline.stages``, ``polly_pipeline.sinks``. Each
entry point is loaded in isolation: one that fails to import is reported with its error and the
others still load. ``polly-pipeline plugins`` lists them all.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

from polly_pipeline.errors import ConfigurationError

if TYPE_CHECKING:
    from polly_pipeline.sinks.base import AudioSink

__all__ = [
    "GROUPS",
    "PluginInfo",
    "PluginKind",
    "SinkFactory",
    "SourceFactory",
    "StageOperator",
    "discover",
    "load",
]

#: What a ``sources`` plugin registers: called with its options, it gives the text.
SourceFactory: TypeAlias = Callable[..., AsyncIterable[str]]
#: What a ``sinks`` plugin registers: a sink class (or a function that makes a sink).
SinkFactory: TypeAlias = Callable[..., "AudioSink"]
#: What a ``stages`` plugin registers: an aiostream operator (``op.pipe(...)`` in a pipeline).
StageOperator: TypeAlias = Callable[..., Any]

log = logging.getLogger("polly_pipeline.plugins")

PluginKind = Literal["sources", "stages", "sinks"]
GROUPS: dict[PluginKind, str] = {
    "sources": "polly_pipeline.sources",
    "stages": "polly_pipeline.stages",
    "sinks": "polly_pipeline.sinks",
}


@dataclass(frozen=True)
class PluginInfo:
    """One entry point: where it comes from and whether it loaded."""

    kind: PluginKind
    name: str
    target: str
    distribution: str
    version: str
    obj: object | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the plugin loaded."""
        return self.error is None


def _load(kind: PluginKind, entry: metadata.EntryPoint) -> PluginInfo:
    dist = entry.dist
    name = dist.metadata["Name"] if dist is not None else "?"
    version = dist.version if dist is not None else "?"
    try:
        obj = entry.load()
    except Exception as exc:  # a broken plugin must not take the others down
        log.warning("plugin %s (%s) failed to load: %s", entry.name, entry.value, exc)
        return PluginInfo(
            kind, entry.name, entry.value, name, version, None, f"{type(exc).__name__}: {exc}"
        )
    return PluginInfo(kind, entry.name, entry.value, name, version, obj)


def discover(kinds: tuple[PluginKind, ...] = ("sources", "stages", "sinks")) -> list[PluginInfo]:
    """Every installed plugin of these kinds, loaded (or with the reason it did not load)."""
    found: list[PluginInfo] = []
    for kind in kinds:
        for entry in sorted(metadata.entry_points(group=GROUPS[kind]), key=lambda e: e.name):
            found.append(_load(kind, entry))
    return found


@overload
def load(kind: Literal["sources"], name: str) -> SourceFactory: ...
@overload
def load(kind: Literal["sinks"], name: str) -> SinkFactory: ...
@overload
def load(kind: Literal["stages"], name: str) -> StageOperator: ...
def load(kind: PluginKind, name: str) -> SourceFactory | SinkFactory | StageOperator:
    """The object a plugin registers under ``name``, typed by its group.

    ``load("sinks", "speaker")`` is a sink class (``SinkFactory``), ``load("sources", ...)``
    a function that returns the text (``SourceFactory``), ``load("stages", ...)`` an aiostream
    operator (``StageOperator``), so code that uses them type-checks.

    Raises:
        ConfigurationError: no such plugin (naming the installed ones), it failed to load, or
            what it registers cannot be called.
    """
    if kind not in GROUPS:
        raise ConfigurationError(f"unknown plugin kind {kind!r}; use one of {', '.join(GROUPS)}")
    entries = {e.name: e for e in metadata.entry_points(group=GROUPS[kind])}
    if name not in entries:
        close = difflib.get_close_matches(name, list(entries), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        names = ", ".join(sorted(entries)) or "none"
        raise ConfigurationError(f"no {kind[:-1]} plugin named {name!r}{hint}; installed: {names}")
    info = _load(kind, entries[name])
    if info.error is not None:
        raise ConfigurationError(
            f"the {kind[:-1]} plugin {name!r} from {info.distribution} {info.version} failed to "
            f"load: {info.error}"
        )
    obj = info.obj
    if not callable(obj):
        raise ConfigurationError(
            f"the {kind[:-1]} plugin {name!r} from {info.distribution} registers "
            f"{type(obj).__name__} {info.target!r}, which cannot be called; a plugin registers "
            "a class or a function"
        )
    return obj
