"""`vsstylize bench`: a tiny report end to end, and clear errors (exit 2, naming the option) for bad input.

The ordering of the baselines' temporal errors is gated in test_temporal_gate.py; here only the report
machinery is checked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vsstylize.cli.main import main
from vsstylize.train.sequences import make_sequence
from vsstylize_bench.config import SETTINGS

from .conftest import DATA

STYLE = DATA / "styles" / "starry_night.jpg"
BIKES = DATA / "videos" / "bikes.mp4"
METHODS = ("random", "prev", "prevWarped", "temporal")


def _png_ok(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        arr = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert im.format == "PNG" and min(arr.shape[:2]) >= 100, (path, arr.shape)
    assert arr.std() > 10, f"{path} looks blank"  # non-trivial content, not a flat image


@pytest.mark.data
@pytest.mark.slow
def test_tiny_bench_writes_report_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "vsstylize", "bench", "--out", str(out), "--width", "64", "--frames", "4",
           "--iterations", "40,15", "--sequences", "slow_pan", "--clips", f"{BIKES}#0:3", "--style", str(STYLE)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = (out / "report.md").read_text()
    # command, machine and settings are stated
    assert "vsstylize bench --out" in report and "--iterations 40,15" in report
    assert "## Machine" in report and "cores" in report and "gpu" in report
    assert "iterations 40,15" in report and "starry_night.jpg" in report
    # the table: one row per method and sequence, with every measure
    header = next(line for line in report.splitlines() if line.startswith("| sequence | method |"))
    for col in ("temporal error", "vs random", "E_temporal", "long-term k=5", "content loss", "style loss",
                "s/frame", "peak RSS"):
        assert col in header
    rows = [line for line in report.splitlines() if line.startswith(("| slow_pan-0 |", "| bikes-0-3 (est.) |"))]
    assert len(rows) == 2 * len(METHODS), rows
    for m in METHODS:
        assert any(f"| {m} |" in r for r in rows)
    random_row = next(r for r in rows if r.startswith("| slow_pan-0 | random |"))
    assert "1.000x" in random_row and "100.0 %" in random_row
    # plots: one error-over-time plot and one frame/error-map strip per sequence, linked from the report
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["strip_bikes-0-3.png", "strip_slow_pan-0.png",
                    "temporal_error_bikes-0-3.png", "temporal_error_slow_pan-0.png"], pngs
    for name in pngs:
        _png_ok(out / name)
        assert f"]({name})" in report
    assert (out / "results.json").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def _bench(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int | None, str]:
    argv = ["bench", "--out", str(tmp_path / "out"), "--width", "64", "--frames", "3", "--sequences", "slow_pan",
            "--style", str(STYLE), *extra]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code  # type: ignore[assignment]
    return code, capsys.readouterr().err


@pytest.mark.data
@pytest.mark.parametrize(("extra", "option", "words"), [
    (("--methods", "longterm,bogus"), "--methods", ["'bogus'", "longterm"]),
    (("--style", "/nonexistent/style.jpg"), "--style", ["/nonexistent/style.jpg", "not found"]),
    (("--clips", "/nonexistent/clip.mp4#0:3"), "--clips", ["/nonexistent/clip.mp4", "not found"]),
    (("--clips", f"{BIKES}#5:6"), "--clips", ["frames < 2"]),
    (("--clips", f"{BIKES}#0:9999"), "--clips", ["outside"]),
    (("--frames", "1"), "--frames", ["at least 2"]),
    (("--sequences", "slow_pan,nope"), "--sequences", ["'nope'", "fast_pan_zoom"]),
    (("--iterations", "40,x"), "--iterations", ["first,later"]),
])
def test_bad_input_exits_2_naming_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             extra: tuple[str, ...], option: str, words: list[str]) -> None:
    code, err = _bench(tmp_path, capsys, *extra)
    assert code == 2, err
    assert f"vsstylize bench: error: {option}:" in err, err
    for w in words:
        assert w in err, err
    assert not (tmp_path / "out" / "report.md").exists()


@pytest.mark.data
def test_sequence_folder_of_other_width_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_sequence("slow_pan", DATA / "content" / "tubingen.jpg", num_frames=3, size=(48, 32),
                           texture=DATA / "content" / "golden_gate.jpg").save(tmp_path / "seq")
    code, err = _bench(tmp_path, capsys, "--sequence-dirs", str(folder))
    assert code == 2, err
    assert "--sequence-dirs:" in err and "48x32" in err and "--width is 64" in err, err
    code, err = _bench(tmp_path, capsys, "--sequence-dirs", str(tmp_path))
    assert code == 2 and "--sequence-dirs:" in err and "manifest.json" in err, err


def test_method_registry_holds_the_baselines_and_named_settings() -> None:
    for name in (*METHODS, "longterm"):
        assert name in SETTINGS
    assert SETTINGS["longterm"]["flow_relative_indices"] == (1, 2, 4)


def test_per_frame_times_give_the_steady_state_speed() -> None:
    """MethodResult.later_seconds_per_frame averages frames 1..T-1 (a chain's first frame has its own iteration
    count) and format_table shows it beside the mean; with a single frame it is NaN."""
    from vsstylize_bench.runner import MethodResult, format_table

    frames = np.zeros((3, 3, 4, 4), np.float32)
    slow_first = MethodResult("a", frames, np.full(2, 0.01), 0.0, np.array([10.0, 1.0, 1.0]))
    assert slow_first.seconds_per_frame == pytest.approx(4.0) and slow_first.later_seconds_per_frame == pytest.approx(1.0)
    assert np.isnan(MethodResult("b", frames[:1], np.zeros(0), 0.0, np.array([3.0])).later_seconds_per_frame)
    table = format_table({"seq": {"a": slow_first}}, baseline="a")
    assert "s/frame after the first" in table.splitlines()[0] and table.splitlines()[-1].endswith("| 4.00 | 1.00 |")


@pytest.mark.data
def test_content_drift_script_prints_per_frame_ratios() -> None:
    """``python -m vsstylize_bench content_drift``: per-frame content/style/objective ratios of the chain against the
    matched per-frame reference; frame 0 is the same optimization in both (ratio exactly 1)."""
    cmd = [sys.executable, "-m", "vsstylize_bench", "content_drift", "--width", "48", "--frames", "3", "--budgets", "6,3", "4,2",
           "--image", str(DATA / "content" / "tubingen.jpg"), "--style", str(STYLE)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert sum(line.startswith(("6,3:", "4,2:")) for line in lines) == 2
    rows = [line.split(":")[1].split() for line in lines if "per frame:" in line]
    assert len(rows) == 6 and all(len(r) == 3 for r in rows)
    assert all(r[0] == "1.000" for r in rows)  # frame 0: chain start == per-frame reference
    assert all(np.isfinite(float(v)) for r in rows for v in r)


def test_benchmarks_are_suites_of_one_runner_and_scripts_keeps_what_users_and_ci_run() -> None:
    """``python -m vsstylize_bench --list`` names every suite module with its summary; an unknown or missing
    suite is one line and exit status 2; a suite's own options reach it; scripts/ holds at most 10 files."""
    from vsstylize_bench.suites import suite_names

    repo = Path(__file__).resolve().parents[1]
    modules = sorted(p.stem for p in (repo / "vsstylize_bench" / "suites").glob("*.py") if p.stem != "__init__")
    assert suite_names() == modules and {"flow", "arbitrary_speed", "interrupt", "multipass"} <= set(modules)
    listed = subprocess.run([sys.executable, "-m", "vsstylize_bench", "--list"], capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0
    rows = listed.stdout.splitlines()[1:]
    assert [r.split()[0] for r in rows] == modules and all(len(r.split()) > 2 for r in rows)
    for args, message in ((["no_such_suite"], "unknown suite 'no_such_suite'; one of: arbitrary_quality"),
                          ([], "give a suite")):
        bad = subprocess.run([sys.executable, "-m", "vsstylize_bench", *args], capture_output=True, text=True,
                             timeout=120)
        assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and message in bad.stderr, bad.stderr
    helped = subprocess.run([sys.executable, "-m", "vsstylize_bench", "interrupt", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: python -m vsstylize_bench interrupt")
    tracked = subprocess.run(["git", "ls-files", "scripts"], cwd=repo, capture_output=True, text=True).stdout.split()
    assert 0 < len(tracked) <= 10, tracked
