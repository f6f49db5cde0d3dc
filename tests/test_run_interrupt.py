"""`vsstylize run` stopped by a real SIGINT/SIGTERM: the frame threads stop at their next check (the L-BFGS loop,
the network's frame), the partial output is removed, one line says where it stopped, the exit status is
128 + signal, and the same command resumes from the cache to the same bytes as an uninterrupted render."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import DATA

pytestmark = pytest.mark.data

BIKES = DATA / "videos" / "bikes.mp4"
LINE = re.compile(r"^vsstylize run: interrupted at frame (\d+); run the same command to resume$")


def _run(out: Path, cache: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "vsstylize", "run", str(BIKES), "-o", str(out), "--cache", str(cache),
            "--no-estimate", *options]


def _stylized_entries(cache: Path) -> int:
    return len(list((cache / "stylize").rglob("*.png")))


def _interrupt(cmd: list[str], cache: Path, sig: int, after: int) -> tuple[int, str, float]:
    """Start ``cmd``, send ``sig`` once ``after`` stylized frames are in the cache; (exit status, stderr, seconds
    from the signal to the exit)."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and _stylized_entries(cache) < after and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the render ended before the signal"
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err, time.monotonic() - sent


def _last_line(err: str) -> str:
    return [line for line in err.replace("\r", "\n").splitlines() if line.strip()][-1]


def test_sigint_stops_a_network_render(tmp_path: Path) -> None:
    out, cache = tmp_path / "out.mp4", tmp_path / "cache"
    cmd = _run(out, cache, "--method", "network", "--network", "starry_night-prior", "--frames", "0:200",
               "--width", "160")
    status, err, seconds = _interrupt(cmd, cache, signal.SIGINT, after=3)
    assert status == 130, err[-2000:]
    match = LINE.match(_last_line(err))
    # frames before N were encoded; every one of them was computed first (the encoder may lag the cache)
    assert match and 0 <= int(match.group(1)) <= _stylized_entries(cache) < 200, err[-2000:]
    assert "Traceback" not in err
    assert seconds < 15, seconds  # was: the traceback, then the frames already requested (minutes for optim)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no output, no partial file


@pytest.mark.slow
def test_sigterm_stops_optim_and_the_same_command_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    options = ("--method", "optim", "--style", "starry_night", "--frames", "20:26", "--width", "64",
               "--iterations", "40,25", "--init", "image,prevWarped", "--scenes", "none")
    out, cache = tmp_path / "out.mp4", tmp_path / "cache"
    status, err, seconds = _interrupt(_run(out, cache, *options), cache, signal.SIGTERM, after=2)
    assert status == 143, err[-2000:]
    match = LINE.match(_last_line(err))
    kept = _stylized_entries(cache)
    assert 2 <= kept < 6
    assert match and 20 <= int(match.group(1)) <= 20 + kept, err[-2000:]
    assert seconds < 15, seconds
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
    resumed = subprocess.run(_run(out, cache, *options), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    fresh_out = tmp_path / "fresh.mp4"
    fresh = subprocess.run(_run(fresh_out, tmp_path / "fresh-cache", *options), capture_output=True, text=True,
                           timeout=900)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert out.read_bytes() == fresh_out.read_bytes()


def test_a_render_whose_stderr_reader_goes_away_ends_and_leaves_nothing(tmp_path: Path) -> None:
    """The progress bar's pipe breaking (the reader of stderr killed) is not the encoder's: the encoder is stopped and
    the render ends (it waited on the running encoder forever, and a SIGTERM could not stop it)."""
    out, cache = tmp_path / "out.mp4", tmp_path / "cache"
    cmd = _run(out, cache, "--method", "network", "--network", "starry_night-prior", "--frames", "0:200", "--width", "160")
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and _stylized_entries(cache) < 3 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None
    assert proc.stderr is not None
    proc.stderr.close()
    assert proc.wait(timeout=120) != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_a_signal_while_rendering_only_sets_the_flag_and_the_renderer_stops_between_frames() -> None:
    """Within the renderer's loop the handler raises nothing (an exception at an arbitrary line of VapourSynth's frame
    iterator or tqdm once left a render hanging after SIGINT); the loop's own check stops it; outside it raises.
    In a process of its own: the stop flag stays set after a signal (frame threads must see it)."""
    script = """
import os, signal, time
from vsstylize.media.interrupt import Interrupted, check_interrupt, deferred_signals, handle_signals, interrupted
with handle_signals():
    with deferred_signals():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs at the next bytecode: it must not raise here
        assert interrupted()
        try:
            check_interrupt()
            raise SystemExit("check_interrupt did not raise")
        except Interrupted as exc:
            assert exc.signum == signal.SIGINT
try:
    with handle_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1.0)
    raise SystemExit("no Interrupted outside the renderer")
except Interrupted as exc:
    assert exc.signum == signal.SIGTERM
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
