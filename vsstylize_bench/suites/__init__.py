"""The benchmark suites: one module per measurement, each with a ``main()`` that parses its own options
(``sys.argv``), prints the machine and its numbers, and writes its results where its docstring says (``bench/``).

Run one with ``python -m vsstylize_bench SUITE [OPTIONS]`` (``python -m vsstylize_bench --list`` names them with
their first docstring line); :func:`suite_names` and :func:`run_suite` are what that command calls.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["UnknownSuiteError", "run_suite", "suite_names", "suite_summary"]


class UnknownSuiteError(ValueError):
    """A suite name that is not a module of this package."""


def suite_names() -> list[str]:
    """The suites, sorted: the modules of this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def suite_summary(name: str) -> str:
    """The first line of suite ``name``'s docstring, read from its source (nothing is imported)."""
    source = (Path(__file__).parent / f"{name}.py").read_text()
    doc = ast.get_docstring(ast.parse(source)) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def run_suite(name: str, argv: Sequence[str] = ()) -> int:
    """Run suite ``name`` with the command-line options ``argv``; its exit status.

    :raises UnknownSuiteError: ``name`` is not one of :func:`suite_names` (``-`` may stand for ``_``).
    """
    module_name = name.replace("-", "_")
    if module_name not in suite_names():
        raise UnknownSuiteError(f"unknown suite {name!r}; one of: {', '.join(suite_names())}")
    module = importlib.import_module(f"{__name__}.{module_name}")
    saved = sys.argv
    sys.argv = [f"python -m vsstylize_bench {module_name}", *argv]  # the suites parse sys.argv, as the scripts did
    try:
        status = module.main()
    finally:
        sys.argv = saved
    return int(status or 0)
