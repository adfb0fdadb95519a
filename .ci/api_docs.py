"""Build the API reference from the package's docstrings with pdoc; any problem fails the build.

    .venv/bin/python .ci/api_docs.py build/api    # then open build/api/index.html

Documents ``polly_pipeline`` and every public subpackage (the command line excepted). Every
warning pdoc gives fails the build (a module that does not import, a name in ``__all__`` that
does not exist), except two that are pdoc's limits, not the package's: annotations it cannot
evaluate, and names a package imports lazily through ``__getattr__`` (checked here instead).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
import warnings
from pathlib import Path

import pdoc
import pdoc.render

import polly_pipeline

_LAZY = re.compile(r"Found '(\w+)' in ([\w.]+)\.__all__, but it does not resolve")


def modules() -> list[str]:
    """The package and its public subpackages and modules."""
    found = pkgutil.iter_modules(polly_pipeline.__path__, "polly_pipeline.")
    names = [m.name for m in found if not m.name.rpartition(".")[2].startswith("_")]
    return ["polly_pipeline", *(n for n in names if n != "polly_pipeline.cli")]


def benign(message: str) -> bool:
    """Whether a pdoc warning is one of its limits rather than a fault of the package."""
    if message.startswith("Error parsing type annotation"):
        return True
    lazy = _LAZY.match(message)
    if lazy is None:
        return False
    try:
        getattr(importlib.import_module(lazy[2]), lazy[1])
    except AttributeError:
        return False
    return True


def main(output: str) -> int:
    """Write the HTML reference to ``output``; 1 when pdoc reported a problem."""
    pdoc.render.configure(docformat="google", search=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*modules(), output_directory=Path(output))
    problems = sorted({str(w.message) for w in caught if not benign(str(w.message))})
    for problem in problems:
        print(f"api docs: {problem}", file=sys.stderr)
    pages = len(list(Path(output).rglob("*.html")))
    print(f"API reference: {pages} pages in {output}, {len(problems)} problem(s)")
    return 1 if problems or pages < 10 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/api"))
