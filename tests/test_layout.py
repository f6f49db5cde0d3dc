"""The package's layout: the folders follow the pipeline's stages and a module imports only its own or lower
stages, there is no import circle, the top of ``vsstylize/`` holds few loose modules, the runtime never imports
evaluation or training code, and no public name of ``vsstylize`` is also a module of it. Checked on the source
(every import statement, lazy ones inside functions included), so it holds for code paths the other tests do
not run."""

from __future__ import annotations

import ast
import json
import pkgutil
import re
import tomllib
from pathlib import Path

import pytest

import vsstylize

PACKAGE = Path(vsstylize.__file__).parent
#: Entry points that may dispatch to the training and evaluation commands (lazily, on their subcommand).
ENTRY_POINTS = {"vsstylize.cli.main", "vsstylize.cli.download", "vsstylize.__main__"}
#: What the runtime must never import: evaluation, plotting, training.
FORBIDDEN = ("vsstylize_bench", "matplotlib", "vsstylize.train")
#: The pipeline's stages, lowest first: a module may import modules of its own stage or of lower ones only. A
#: name stands for the module and everything below it; the longest name that fits a module places it.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("vsstylize.errors", "vsstylize.option_errors", "vsstylize.resources", "vsstylize.weights")),
    ("media", ("vsstylize.media",)),
    ("motion", ("vsstylize.opticalflow",)),
    ("optimization", ("vsstylize.optim",)),
    ("networks", ("vsstylize.networks",)),
    ("spherical", ("vsstylize.spherical",)),
    ("options", ("vsstylize.options",)),
    ("methods", ("vsstylize.methods",)),
    ("filters", ("vsstylize", "vsstylize.stylization")),
    ("training", ("vsstylize.train",)),
    ("cli", ("vsstylize.cli", "vsstylize.__main__")),
)
#: At most this many modules stand loose at the top of ``vsstylize/`` (``__init__`` and ``__main__`` aside).
MAX_LOOSE = 6


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


def _module_graph() -> dict[str, set[str]]:
    """Module -> the modules of ``vsstylize`` it imports: ``from a import b`` counts as ``a.b`` where that is a
    module, else as ``a`` (so ``from .. import resources`` is an arrow to ``vsstylize.resources``, not to the
    package's ``__init__``)."""
    graph = _graph()
    modules = set(graph)
    edges: dict[str, set[str]] = {}
    for name, found in graph.items():
        deps = {d for d in found if d in modules}
        # `a` came with `a.b`: keep it only for what is no module (`from vsstylize import __version__`)
        deps -= {d.rpartition(".")[0] for d in deps if d.rpartition(".")[0] in deps}
        edges[name] = deps - {name}
    return edges


def _stage(module: str) -> int:
    matches = [(len(prefix), i) for i, (_, prefixes) in enumerate(STAGES) for prefix in prefixes
               if module == prefix or (prefix != "vsstylize" and module.startswith(prefix + "."))]
    assert matches, f"{module} is on no stage of STAGES (tests/test_layout.py): place it"
    return max(matches)[1]


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _runtime(graph: dict[str, set[str]]) -> set[str]:
    return {m for m in graph if m not in ENTRY_POINTS and not m.startswith("vsstylize.train")}


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_runtime_never_imports_evaluation_or_training_code() -> None:
    graph = _graph()
    runtime = _runtime(graph)
    assert {"vsstylize.stylization", "vsstylize.methods.optim", "vsstylize.opticalflow.filters",
            "vsstylize.networks.models", "vsstylize.media.frames"} <= runtime
    # the transitive closure over vsstylize's own modules, starting from every runtime module
    for start in sorted(runtime):
        seen, todo = {start}, [start]
        while todo:
            for dep in graph.get(todo.pop(), ()):
                assert not _forbidden(dep), f"{start} imports {dep} (through {sorted(seen)})"
                if dep in graph and dep not in seen and dep in runtime:
                    seen.add(dep)
                    todo.append(dep)


def test_no_import_circles() -> None:
    graph = _module_graph()
    assert len(graph) > 80 and "vsstylize.media.cache" in graph["vsstylize.methods.chain"]
    assert _circles(graph) == []
    # the check itself: a circle of three, with a module that only leads into it, and a lazy import making one
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    closed = {**graph, "vsstylize.media.cache": {*graph["vsstylize.media.cache"], "vsstylize.methods.chain"}}
    assert any({"vsstylize.media.cache", "vsstylize.methods.chain"} <= set(c) for c in _circles(closed))


def test_every_module_imports_only_its_own_or_lower_stages() -> None:
    graph = _module_graph()
    wrong = [f"{m} ({STAGES[_stage(m)][0]}) imports {d} ({STAGES[_stage(d)][0]})"
             for m, deps in sorted(graph.items()) for d in sorted(deps) if _stage(d) > _stage(m)]
    assert not wrong, "imports against the stage order:\n" + "\n".join(wrong)
    assert [_stage(m) for m in ("vsstylize.errors", "vsstylize.media.frames", "vsstylize.opticalflow.warping",
                                "vsstylize.optim.vgg", "vsstylize.methods.chain", "vsstylize",
                                "vsstylize.cli.main")] == [0, 1, 2, 3, 7, 8, 10]


def test_few_loose_modules_at_the_top() -> None:
    loose = sorted(m.name for m in pkgutil.iter_modules(vsstylize.__path__) if not m.ispkg and m.name != "__main__")
    assert len(loose) <= MAX_LOOSE, f"{len(loose)} loose modules at the top of vsstylize/: {loose}"
    packages = {m.name for m in pkgutil.iter_modules(vsstylize.__path__) if m.ispkg}
    assert {"media", "opticalflow", "optim", "networks", "methods", "spherical", "train", "cli"} <= packages


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


def test_the_wheel_lists_every_package_and_the_shipped_models() -> None:
    """``pyproject.toml`` names the packages one by one (the top-level ``models/`` is mapped to ``vsstylize.models``):
    a new stage package must be added there, or the wheel would lack it."""
    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    bench = PACKAGE.parent / "vsstylize_bench"
    tree = {_module_name(p) for p in PACKAGE.rglob("__init__.py")} | {
        ".".join(p.parent.relative_to(bench.parent).parts) for p in bench.rglob("__init__.py")}
    assert set(config["packages"]) == tree | {"vsstylize.models", "vsstylize.models.pretrained", "vsstylize.models.temporal"}
    assert config["package-dir"] == {"vsstylize.models": "models"}
    models = PACKAGE.parent / "models"
    assert not (PACKAGE / "models").exists() and (models / "starry_night-prior.safetensors").is_file()
    assert {p.suffix for p in models.rglob("*.*")} == {".safetensors", ".json", ".png"}
    assert set(config["package-data"]["vsstylize.models"]) == {"*.safetensors", "*.json", "*.png"}


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def test_model_cards_hold_no_machine_path() -> None:
    """The cards beside the shipped networks name their training data relative to the data set's folder."""
    cards = sorted((PACKAGE.parent / "models").rglob("*.json"))
    assert len(cards) >= 8
    for card in cards:
        for text in _strings(json.loads(card.read_text())):
            assert not re.search(r"(^|\s)(/|\.\./|~/)[\w.-]+/", text), f"{card.name}: {text!r}"
    assert re.search(r"(^|\s)(/|\.\./|~/)[\w.-]+/", "--data /work/shared/data/content")  # the check can fail
