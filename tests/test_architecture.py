"""The package's shape, as README's "Layout" and ARCHITECTURE.md draw it, checked on the source.

Four rules a reader relies on: imports point down the layers only; no module reaches into
the private attributes of a module in another package; modules stay small enough to read;
plugins use only the package's supported public face. The checks read the source with
:mod:`ast`, so function-level (lazy) imports count too.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import polly_pipeline

PACKAGE = Path(polly_pipeline.__file__).parent

#: What each part of the package may import (besides itself). Lower parts first; a part may
#: import only parts listed for it, so an upward import (a lower layer using a higher one)
#: fails with the edge named.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_aio": set(),
    "audio": {"errors"},
    "text": {"errors"},
    "protocol": {"errors", "audio"},
    "transport": {"errors", "_aio"},
    "client": {"errors", "_aio", "protocol", "transport"},
    "session": {"errors", "_aio", "audio", "protocol", "client"},
    "sources": {"errors", "_aio"},
    "sinks": {"errors", "_aio", "audio"},
    "plugins": {"errors", "sinks"},
    "pipeline": {"errors", "_aio", "audio", "protocol", "session", "text", "sinks", "sources"},
    # the embedded service: beside the engine, built from its lower layers (it speaks the
    # protocol, encodes audio, and its in-memory transport plugs into the client)
    "local": {"errors", "_aio", "audio", "protocol", "transport", "client"},
    "testing": {"errors", "_aio", "local", "sources", "client", "protocol", "audio"},
    "backends": {"errors", "client", "local", "sources"},
}
#: Entry points may use everything below them.
TOP = {"cli", "__init__", "gateway", "doctor"}


def _modules(root: Path = PACKAGE) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _problems(root: Path, uses: Callable[[Path, ast.Module], list[str]]) -> list[str]:
    """``path use`` for each use ``uses`` finds in each module under ``root``."""
    return [
        f"{path.relative_to(root)} {use}"
        for path, tree in _modules(root)
        for use in uses(path, tree)
    ]


def _part(path: Path) -> str:
    """The top-level part a module belongs to: ``session`` for session/turn.py, ``errors``."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_parts(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "polly_pipeline":
                yield node.lineno, parts[1] if len(parts) > 1 else "__init__"


def test_imports_point_down_the_layers() -> None:
    upward: list[str] = []
    for path, tree in _modules():
        part = _part(path)
        if part in TOP:
            continue
        assert part in ALLOWED, f"{part} is not placed in a layer: add it to ALLOWED"
        for line, target in _imported_parts(tree):
            if target != part and target not in ALLOWED[part]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} ({part}) imports {target}")
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_the_rule_catches_an_upward_import() -> None:
    tree = ast.parse("def f():\n    from polly_pipeline.session import SpeechSession\n")
    targets = {target for _, target in _imported_parts(tree)}
    assert targets == {"session"}
    assert "session" not in ALLOWED["client"]


def _private_names_by_package() -> dict[str, set[Path]]:
    """Each private attribute or function name, and the package folders that define it."""
    defined: dict[str, set[Path]] = defaultdict(set)
    for path, tree in _modules():
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = node.name
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                name = node.attr
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                name = node.id
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                name = node.target.id
            if name and name.startswith("_") and not name.startswith("__"):
                defined[name].add(path.parent)
    return defined


def _foreign_private_uses(path: Path, tree: ast.Module, defined: dict[str, set[Path]]) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            home = node.module.split(".")
            if home[0] != "polly_pipeline":
                continue
            folder = PACKAGE.joinpath(*home[1:])
            folder = folder if folder.is_dir() else folder.parent
            for alias in node.names:
                if alias.name.startswith("_") and folder != path.parent:
                    found.append(f"imports {alias.name} from {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            if node.attr.startswith("__") or (
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            ):
                continue
            homes = defined.get(node.attr)
            if homes and path.parent not in homes:  # only our own names: not argparse's
                owner = ", ".join(sorted(str(h.relative_to(PACKAGE.parent)) for h in homes))
                found.append(f"line {node.lineno}: {ast.unparse(node)} (defined in {owner})")
    return found


def test_no_module_reaches_into_another_packages_private_attributes() -> None:
    defined = _private_names_by_package()
    problems = _problems(PACKAGE, lambda path, tree: _foreign_private_uses(path, tree, defined))
    assert not problems, "private attributes used outside their package:\n" + "\n".join(problems)


def test_the_private_rule_catches_a_reach_across_packages() -> None:
    defined = {"_conn": {PACKAGE / "transport"}}
    tree = ast.parse("def f(stream):\n    return stream._conn\n")
    assert _foreign_private_uses(PACKAGE / "session" / "x.py", tree, defined) == [
        "line 2: stream._conn (defined in polly_pipeline/transport)"
    ]
    assert _foreign_private_uses(PACKAGE / "transport" / "x.py", tree, defined) == []


#: Longest module, in lines: past this a module holds more than one idea and should be split.
MAX_LINES = 400
#: Modules allowed past MAX_LINES because they are pure data tables (no logic to read), each with
#: why. Empty: no module needs it. Never list a module with logic here; split it instead.
DATA_TABLES: dict[str, str] = {}


def _too_long(path: Path, text: str) -> str | None:
    """``path (N lines)`` when a module is longer than MAX_LINES and not an exempt data table."""
    lines = len(text.splitlines())
    name = str(path.relative_to(PACKAGE))
    if lines <= MAX_LINES or name in DATA_TABLES:
        return None
    return f"{name} ({lines} lines)"


def test_modules_stay_small_enough_to_read() -> None:
    long = [
        found
        for path in sorted(PACKAGE.rglob("*.py"))
        if (found := _too_long(path, path.read_text(encoding="utf-8")))
    ]
    assert not long, (
        f"modules over {MAX_LINES} lines: split each into cohesive modules\n" + "\n".join(long)
    )
    missing = [name for name in DATA_TABLES if not (PACKAGE / name).is_file()]
    assert not missing, f"DATA_TABLES names modules that do not exist: {missing}"


def test_the_size_rule_catches_an_oversized_module() -> None:
    path = PACKAGE / "session" / "x.py"
    assert _too_long(path, "x = 1\n" * (MAX_LINES + 1)) == f"session/x.py ({MAX_LINES + 1} lines)"
    assert _too_long(path, "x = 1\n" * MAX_LINES) is None


def _documented_layers(markdown: str) -> dict[str, set[str]]:
    """The ``| `part` | may import |`` rows of ARCHITECTURE.md's layer table."""
    rows: dict[str, set[str]] = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`") and cells[0].endswith("`"):
            deps = cells[1]
            rows[cells[0].strip("`")] = (
                set() if deps.startswith("nothing") else {d.strip() for d in deps.split(",")}
            )
    return rows


def test_architecture_md_lists_the_layers_as_the_rule_allows() -> None:
    documented = _documented_layers((PACKAGE.parent / "ARCHITECTURE.md").read_text())
    assert documented == ALLOWED, "ARCHITECTURE.md's layer table and ALLOWED disagree"


#: The package's supported public face, for code outside it (plugins, applications): these
#: modules, and of each only the names in its ``__all__``. Everything else is internal.
PUBLIC_MODULES = (
    "polly_pipeline",
    "polly_pipeline.audio",
    "polly_pipeline.backends",
    "polly_pipeline.client",
    "polly_pipeline.errors",
    "polly_pipeline.gateway",
    "polly_pipeline.gateway.embedded",
    "polly_pipeline.local",
    "polly_pipeline.pipeline",
    "polly_pipeline.plugins",
    "polly_pipeline.protocol",
    "polly_pipeline.session",
    "polly_pipeline.sinks",
    "polly_pipeline.sources",
    "polly_pipeline.testing",
    "polly_pipeline.text",
    "polly_pipeline.transport",
)
PLUGINS = PACKAGE.parent / "plugins"


def _public_api() -> dict[str, set[str]]:
    """Each public module and the names it exports."""
    return {name: set(importlib.import_module(name).__all__) for name in PUBLIC_MODULES}


def _package_imports(tree: ast.Module) -> Iterator[tuple[int, str, str | None]]:
    """``(line, module, name)`` for each use of ``polly_pipeline`` (name None: the module)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "polly_pipeline":
                for alias in node.names:
                    yield node.lineno, node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "polly_pipeline":
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else None
            called = node.func.id if isinstance(node.func, ast.Name) else called
            target = node.args[0].value
            if called == "import_module" and str(target).split(".")[0] == "polly_pipeline":
                yield node.lineno, str(target), None


def _unsupported_uses(tree: ast.Module, api: dict[str, set[str]]) -> list[str]:
    found: list[str] = []
    for line, module, name in _package_imports(tree):
        if module not in api:
            found.append(f"line {line}: {module} is internal (public: PUBLIC_MODULES)")
        elif name is not None and name not in api[module] and f"{module}.{name}" not in api:
            found.append(f"line {line}: {name} is not in {module}.__all__")
    return found


def test_plugins_use_only_the_supported_public_face() -> None:
    api = _public_api()
    problems = _problems(PLUGINS, lambda _path, tree: _unsupported_uses(tree, api))
    assert not problems, "plugins using polly_pipeline's internals:\n" + "\n".join(problems)


def test_the_public_face_rule_catches_an_internal_import() -> None:
    api = _public_api()
    tree = ast.parse(
        "from polly_pipeline.local.demo_llm import tokenize\n"
        "from polly_pipeline.local import _internal, LocalPollyService\n"
        "import polly_pipeline._aio\n"
        "from polly_pipeline import sinks\n"
        "importlib.import_module('polly_pipeline.local.certs')\n"
    )
    assert _unsupported_uses(tree, api) == [
        "line 1: polly_pipeline.local.demo_llm is internal (public: PUBLIC_MODULES)",
        "line 2: _internal is not in polly_pipeline.local.__all__",
        "line 3: polly_pipeline._aio is internal (public: PUBLIC_MODULES)",
        "line 5: polly_pipeline.local.certs is internal (public: PUBLIC_MODULES)",
    ]
