"""The lock agrees with what it is made from: every dependency of pyproject.toml (with the extras the lock was
made for) and of requirements/dev.in is pinned in requirements/dev.lock at a version its range allows, the lock
pins nothing for them that they no longer ask for, and requirements/no-deps.lock pins what no-deps.in names.
A change to either without `make lock` fails here, with the line to fix; the check is shown to fail on a
temporary copy of pyproject.toml with a dependency added, a range moved and a dependency removed."""

from __future__ import annotations

import re
import shutil
import tomllib
from collections import defaultdict
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .conftest import REPO

LOCK = Path("requirements/dev.lock")
DEV_IN = Path("requirements/dev.in")
NO_DEPS_IN = Path("requirements/no-deps.in")
NO_DEPS_LOCK = Path("requirements/no-deps.lock")
PROJECT_VIA = "vsstylize (pyproject.toml)"


def _requirement_lines(path: Path) -> list[Requirement]:
    """The requirements of a pip requirements file without hashes (comments and blank lines skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def _lock_entries(path: Path) -> tuple[dict[str, list[Version]], dict[str, set[str]], str]:
    """A uv-compiled lock: the pinned versions by name, the sources each pin is there for (its ``# via`` lines),
    and the command that made it (its header)."""
    pins: dict[str, list[Version]] = defaultdict(list)
    via: dict[str, set[str]] = defaultdict(set)
    command, name, in_via = "", "", False
    for line in path.read_text().splitlines():
        text = line.strip()
        if text.startswith("#    uv pip compile"):
            command = text[1:].strip()
        elif line and not line[0].isspace() and not line.startswith("#"):
            req = Requirement(line.rstrip(" \\"))
            (spec,) = req.specifier
            name = canonicalize_name(req.name)
            pins[name].append(Version(spec.version))
            in_via = False
        elif text.startswith("# via"):
            rest = text[len("# via"):].strip()
            in_via = not rest
            if rest:
                via[name].add(rest)
        elif in_via and text.startswith("#   "):
            via[name].add(text[1:].strip())
    return pins, via, command


def lock_disagreements(repo: Path) -> list[str]:
    """What ``make lock`` would change in the locks of ``repo``: one line each, naming the file to fix."""
    pins, via, command = _lock_entries(repo / LOCK)
    extras = re.findall(r"--extra (\S+)", command)
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    wanted: dict[str, list[tuple[str, Requirement]]] = {
        PROJECT_VIA: [("dependencies", Requirement(r)) for r in project["dependencies"]]
        + [(f"extra {e}", Requirement(r)) for e in extras for r in project.get("optional-dependencies", {}).get(e, [])],
        f"-r {DEV_IN}": [(str(DEV_IN), r) for r in _requirement_lines(repo / DEV_IN)],
    }
    problems = []
    for source, requirements in wanted.items():
        for where, req in requirements:
            name = canonicalize_name(req.name)
            if not pins.get(name):
                problems.append(f"{where}: {req} is not in {LOCK}: run make lock")
            elif not any(req.specifier.contains(v, prereleases=True) for v in pins[name]):
                versions = ", ".join(map(str, pins[name]))
                problems.append(f"{where}: {req}, but {LOCK} pins {name}=={versions}: run make lock")
        asked = {canonicalize_name(r.name) for _, r in requirements}
        for name in sorted(n for n, sources in via.items() if source in sources and n not in asked):
            problems.append(f"{LOCK} pins {name} for {source}, which no longer asks for it: run make lock")
    locked, _, _ = _lock_entries(repo / NO_DEPS_LOCK)
    named = {canonicalize_name(r.name): r for r in _requirement_lines(repo / NO_DEPS_IN)}
    for name, req in named.items():
        if not any(req.specifier.contains(v, prereleases=True) for v in locked.get(name, [])):
            problems.append(f"{NO_DEPS_IN}: {req} is not what {NO_DEPS_LOCK} pins: run make lock")
    problems += [f"{NO_DEPS_LOCK} pins {name}, which {NO_DEPS_IN} does not name: run make lock"
                 for name in sorted(set(locked) - set(named))]
    return problems


def test_lock_agrees_with_pyproject_and_requirements() -> None:
    assert lock_disagreements(REPO) == []
    pins, _, command = _lock_entries(REPO / LOCK)
    assert re.findall(r"--extra (\S+)", command) == ["offline", "demo", "dev"]  # what make test installs
    assert "--generate-hashes" in command and len(pins) > 50


def _copy(repo: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    (copy / "requirements").mkdir(parents=True)
    for path in ("pyproject.toml", LOCK, DEV_IN, NO_DEPS_IN, NO_DEPS_LOCK):
        shutil.copy(repo / path, copy / path)
    return copy


def test_the_check_fails_when_pyproject_changes_without_a_new_lock(tmp_path: Path) -> None:
    copy = _copy(REPO, tmp_path)
    pyproject = copy / "pyproject.toml"
    original = pyproject.read_text()
    assert lock_disagreements(copy) == []

    pyproject.write_text(original.replace('"tqdm>=4.66",', '"tqdm>=4.66",\n    "rich>=13",'))  # a new dependency
    assert lock_disagreements(copy) == ["dependencies: rich>=13 is not in requirements/dev.lock: run make lock"]

    pyproject.write_text(original.replace('"numpy>=1.26"', '"numpy>=99"'))  # a range the pin is outside of
    (problem,) = lock_disagreements(copy)
    assert problem.startswith("dependencies: numpy>=99, but requirements/dev.lock pins numpy==")

    pyproject.write_text(original.replace('"flow-vis>=0.1",', ""))  # a dependency dropped
    assert lock_disagreements(copy) == ["requirements/dev.lock pins flow-vis for vsstylize (pyproject.toml), which no "
                                        "longer asks for it: run make lock"]

    pyproject.write_text(original.replace('"pytest>=8",', '"pytest>=8", "hypothesis>=6",'))  # in an extra
    assert lock_disagreements(copy) == ["extra dev: hypothesis>=6 is not in requirements/dev.lock: run make lock"]

    pyproject.write_text(original)
    no_deps = (copy / NO_DEPS_IN).read_text()
    (copy / NO_DEPS_IN).write_text(no_deps + "flow-vis==0.1\n")  # a --no-deps package added without a new lock
    assert lock_disagreements(copy) == ["requirements/no-deps.in: flow-vis==0.1 is not what "
                                        "requirements/no-deps.lock pins: run make lock"]
