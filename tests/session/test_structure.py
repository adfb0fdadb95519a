"""The session's inner shape, checked on the source: a pure core and a turn with a narrow view.

The ledger and the speaking-rate model decide recovery and rollover; they stay pure (no event
loop, no clock, no I/O) so they can be tested and reasoned about alone. The turn and its driver
use the session only through ``TurnContext``, never its private attributes; every session timing
reads the event loop's clock, so a virtual-clock loop drives keep-alive, rollover and backoff.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import polly_pipeline.session

SESSION = Path(polly_pipeline.session.__file__).parent
PURE = ("failures.py", "ledger.py", "rate.py", "retry.py")
IMPURE = {"asyncio", "socket", "time", "threading", "awscrt", "ssl", "selectors"}


def tree(name: str) -> ast.Module:
    return ast.parse((SESSION / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", PURE)
def test_the_core_imports_no_event_loop_clock_or_io(name: str) -> None:
    imported: set[str] = set()
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & IMPURE, f"{name} imports {sorted(imported & IMPURE)}"


@pytest.mark.parametrize("name", ["turn.py", "driver.py"])
def test_the_turn_uses_no_private_attribute_but_its_own(name: str) -> None:
    reached = [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree(name))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]
    assert reached == []


def test_no_session_timing_reads_the_wall_or_monotonic_clock() -> None:
    for path in sorted(SESSION.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                call = f"{node.value.id}.{node.attr}"
                assert call not in {"time.monotonic", "time.time", "time.perf_counter"}, (
                    f"{path.name}:{node.lineno} reads {call}; use the event loop's clock"
                )
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "asyncio.wait_for":
                raise AssertionError(f"{path.name}:{node.lineno}: use asyncio.timeout")
