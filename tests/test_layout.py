"""The package's layout: the runtime never imports evaluation or training code, and no public name of
``vsstylize`` is also a module of it. Checked on the source (every import statement, lazy ones inside functions
included), so it holds for code paths the other tests do not run."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import vsstylize

PACKAGE = Path(vsstylize.__file__).parent
#: Entry points that may dispatch to the training and evaluation commands (lazily, on their subcommand).
ENTRY_POINTS = {"vsstylize.cli", "vsstylize.__main__"}
#: What the runtime must never import: evaluation, plotting, training.
FORBIDDEN = ("vsstylize_bench", "matplotlib", "vsstylize.train")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path, name: str | None = None) -> set[str]:
    """Absolute names of every module ``path`` (module ``name``) imports (``from a import b`` also counts
    ``a.b``)."""
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _runtime(graph: dict[str, set[str]]) -> set[str]:
    return {m for m in graph if m not in ENTRY_POINTS and not m.startswith("vsstylize.train")}


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_runtime_never_imports_evaluation_or_training_code() -> None:
    graph = _graph()
    runtime = _runtime(graph)
    assert {"vsstylize.stylization", "vsstylize.methods.optim", "vsstylize.opticalflow.filters",
            "vsstylize.networks.models", "vsstylize.sequences"} <= runtime
    # the transitive closure over vsstylize's own modules, starting from every runtime module
    for start in sorted(runtime):
        seen, todo = {start}, [start]
        while todo:
            for dep in graph.get(todo.pop(), ()):
                assert not _forbidden(dep), f"{start} imports {dep} (through {sorted(seen)})"
                if dep in graph and dep not in seen and dep in runtime:
                    seen.add(dep)
                    todo.append(dep)


def test_the_graph_check_sees_lazy_imports(tmp_path: Path) -> None:
    """The check itself: an import inside a function counts."""
    module = PACKAGE / "opticalflow" / "clips.py"
    assert "vsstylize.errors.error" in _imports(module)
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    import matplotlib.pyplot\n    from ..train import trainer\n")
    found = _imports(lazy, "vsstylize.methods.lazy")
    assert {"matplotlib.pyplot", "vsstylize.train.trainer"} <= found
    assert _forbidden("matplotlib.pyplot") and _forbidden("vsstylize.train.trainer") and not _forbidden("vsstylize.trainer")


def test_no_module_shares_its_name_with_a_public_function() -> None:
    modules = {m.name for m in pkgutil.iter_modules(vsstylize.__path__)}
    clashes = sorted(set(vsstylize.__all__) & modules)
    assert not clashes, f"public names that are also modules of vsstylize: {clashes}"
    assert callable(vsstylize.flow) and callable(vsstylize.warp) and callable(vsstylize.stylize)


def test_public_names_are_imported_on_first_use() -> None:
    """``vsstylize`` imports its filters lazily (so training runs without VapourSynth); every public name resolves."""
    assert set(vsstylize.__all__) == set(vsstylize._EXPORTS)
    for name in vsstylize.__all__:
        assert getattr(vsstylize, name) is not None and name in dir(vsstylize)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        vsstylize.nope  # noqa: B018
