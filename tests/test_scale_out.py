"""Rendering on a real local Ray cluster (2 worker processes): the frames equal a single-process render bit for
bit, a SIGKILLed worker's unit is retried and resumes from the cache, and bad set-ups are one clear line."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vsstylize.cli.distributed import plan_units
from vsstylize.methods.chain import read_entry

from .conftest import REPO, three_shots, write_lossless

pytestmark = [pytest.mark.data, pytest.mark.slow]

RAW = ["--encoder", "cp /dev/stdin {output}"]  # raw yuv420p frames: compared byte for byte
NETWORK = ["--method", "network", "--network", "starry_night-prior"]
OPTIM = ["--style", "starry_night", "--iterations", "8,4", "--tol-loss-relative", "0", "--model", "vgg16",
         "--init", "image,prevWarped"]


def _env() -> dict[str, str]:
    paths = [str(REPO), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    # loopback only: Ray's single-machine mode (no address resolves to the machine's network interface)
    # a head started with `ray start` asks for Ray's token authentication unless told otherwise (loopback here)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "OMP_NUM_THREADS": "1",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}


def _run(*args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vsstylize", "run", *map(str, args)], capture_output=True, text=True,
                          env=_env(), timeout=timeout)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip, cuts = three_shots(64, 48, (6, 6, 5))
    assert cuts == [6, 12]
    return write_lossless(clip, tmp_path_factory.mktemp("video") / "three_shots.mkv")


@pytest.fixture(scope="module")
def single(video: Path, tmp_path_factory: pytest.TempPathFactory):
    """Single-process renders (one torch thread, like each CPU worker; no cache), by settings."""
    done: dict[tuple[str, ...], bytes] = {}

    def render(*settings: str) -> bytes:
        if settings not in done:
            out = tmp_path_factory.mktemp("single") / "out.yuv"
            result = _run(video, "-o", out, *RAW, "--threads", "1", *settings)
            assert result.returncode == 0, result.stderr[-3000:]
            done[settings] = out.read_bytes()
        return done[settings]

    return render


def _entries(cache: Path) -> list[Path]:
    """The stylized-frame entries, not the hidden temporary files of writes in progress (``rglob("*.png")``
    matches those too: a worker killed while one existed left it beside the 17 entries, counted as an 18th)."""
    return sorted(p for p in (cache / "stylize").rglob("*.png") if not p.name.startswith("."))


def test_plan_units() -> None:
    assert plan_units(17, [6, 12]) == [(0, 6), (6, 12), (12, 17)]
    assert plan_units(17, [6, 12], chain_length=4) == [(0, 4), (4, 6), (6, 8), (8, 12), (12, 16), (16, 17)]
    assert plan_units(10, [], independent=True) == [(0, 8), (8, 10)]


def test_network_on_ray_equals_single_process(video: Path, single, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = _run(video, "-o", tmp_path / "ray.yuv", *RAW, *NETWORK, "--cache", cache, "--ray", "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 scene cuts, 3 units" in result.stderr
    assert (tmp_path / "ray.yuv").read_bytes() == single(*NETWORK)
    # The RGB frames too: the same graph in this process with one thread finds every frame in the workers' cache
    # (same keys: settings, cuts, environment) and equals an uncached render.
    from vsstylize.cli.run import _run_parser, build_graph

    parser = argparse.ArgumentParser()
    _run_parser(parser.add_subparsers(dest="command"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stored = len(_entries(cache))
        cached = build_graph(parser.parse_args(["run", str(video), "-o", "x.mp4", *NETWORK, "--cache", str(cache)]))[1]
        fresh = build_graph(parser.parse_args(["run", str(video), "-o", "x.mp4", *NETWORK]))[1]
        for a, b in zip(cached.frames(), fresh.frames()):
            assert all(np.array_equal(np.asarray(a[p]), np.asarray(b[p])) for p in range(3))
        assert len(_entries(cache)) == stored == 17
    finally:
        torch.set_num_threads(threads)


def test_one_unit_is_said_and_worker_progress_is_by_unit(video: Path, tmp_path: Path) -> None:
    """Without cuts and --max-chain-length the render is one unit: the driver says so and suggests
    --max-chain-length; the worker reports lines prefixed by its unit, not progress bars."""
    result = _run(video, "-o", tmp_path / "ray.yuv", *RAW, *NETWORK, "--scenes", "none", "--cache", tmp_path / "cache",
                  "--ray", "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "0 scene cuts, 1 units" in result.stderr
    assert "vsstylize run: the render is one unit" in result.stderr and "--max-chain-length N" in result.stderr
    assert "unit 0:17: 17/17 frames" in output
    assert "computing frames" not in output and "vsstylize.stylize:" not in output  # no worker bars
    split = _run(video, "-o", tmp_path / "split.yuv", *RAW, *NETWORK, "--scenes", "none", "--cache",
                 tmp_path / "cache", "--ray", "--workers", "2", "--max-chain-length", "9", "--chain-warmup", "3")
    assert split.returncode == 0, split.stderr[-3000:]
    assert "0 scene cuts, 2 units" in split.stderr and "the render is one unit" not in split.stderr


def test_optim_bounded_chains_on_ray_equal_single_process(video: Path, single, tmp_path: Path) -> None:
    bounded = [*OPTIM, "--max-chain-length", "4", "--chain-warmup", "2"]
    result = _run(video, "-o", tmp_path / "ray.yuv", *RAW, *bounded, "--cache", tmp_path / "cache", "--ray",
                  "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 scene cuts, 6 units" in result.stderr  # shots [0, 6) [6, 12) [12, 17) split at multiples of 4
    assert (tmp_path / "ray.yuv").read_bytes() == single(*bounded)
    assert single(*bounded) != single(*OPTIM)  # the bounds changed frames (4, 5, 8 ... restart from a warm-up)


def _ray_workers(session: int) -> list[int]:
    """Ray worker processes of our render (same session) running a unit."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if cmdline.startswith(b"ray::_render_unit") and os.getsid(int(proc.name)) == session:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_worker_sigkilled_mid_unit(video: Path, single, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-m", "vsstylize", "run", str(video), "-o", str(tmp_path / "ray.yuv"),
                             *RAW, *OPTIM, "--cache", str(cache), "--ray", "--workers", "2"],
                            env=_env(), stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        killed = None
        deadline = time.monotonic() + 600
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            workers = _ray_workers(proc.pid)
            if workers and len(_entries(cache)) >= 2:
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        assert killed is not None, "no worker was caught in the middle of a unit"
        _, stderr = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr[-3000:]
    assert (tmp_path / "ray.yuv").read_bytes() == single(*OPTIM)
    entries = _entries(cache)
    assert len(entries) == 17  # every frame once: the retried unit resumed from the cache
    for entry in entries:  # no corrupt entry under a valid name
        assert read_entry(entry)[0].shape == (3, 48, 64)
    # no temporary file left: one of a worker killed mid-write went when the retry wrote that entry
    assert not [p for p in cache.rglob(".*") if p.is_file() and p.name != ".probe"]


def test_bad_setups_are_one_line(video: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _run(video, "-o", tmp_path / "x.mp4", *NETWORK, "--cache", tmp_path / "c", "--ray", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"vsstylize run: cannot reach the Ray cluster at "
                                                             f"'127.0.0.1:{port}'")
    result = _run(video, "-o", tmp_path / "x.mp4", *NETWORK, "--ray")
    assert result.returncode == 2 and "--ray needs --cache" in result.stderr
    far = tmp_path / "far.txt"
    far.write_text("5\n40\n")
    result = _run(video, "-o", tmp_path / "x.mp4", *NETWORK, "--scenes", far, "--cache", tmp_path / "c", "--ray")
    assert result.returncode == 2
    assert "--scenes cut file" in result.stderr and "frame 40 is out of range for a clip of 17 frames" in result.stderr


def test_cache_not_shared_with_the_workers(video: Path, tmp_path: Path) -> None:
    """A cluster whose machines see another folder at the cache path: here a head node started in its own mount
    namespace with a tmpfs over the cache folder (root only)."""
    if os.geteuid() != 0:
        pytest.skip("a mount namespace of its own needs root")
    cache = tmp_path / "cache"
    cache.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = subprocess.Popen(["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs {cache} && exec {sys.executable} -m "
                             f"ray.scripts.scripts start --head --node-ip-address 127.0.0.1 --port {port} --num-cpus 1 "
                             "--include-dashboard false "
                             "--block"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert head.poll() is None, f"the head node stopped: {head.stderr.read()[-2000:]}"  # type: ignore[union-attr]
            status = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "status", "--address",
                                     f"127.0.0.1:{port}"], env=_env(), capture_output=True, text=True)
            if status.returncode == 0 and "Active:" in status.stdout:  # the head node is up
                break
            time.sleep(1)
        result = _run(video, "-o", tmp_path / "x.mp4", *NETWORK, "--cache", cache, "--ray", f"127.0.0.1:{port}")
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("vsstylize run: frames 0-5 failed: ") and f"the cache folder {str(cache)!r} is not shared" in last


def test_the_registry_declares_each_methods_chain_kind() -> None:
    """The Ray planner splits units by the chain kind the methods registry declares, not by method names."""
    import inspect

    from vsstylize.cli import run as cli_run
    from vsstylize.methods.registry import specs

    assert {s.label: s.chain for s in specs()} == {
        "optim": "recursive", "optim (equirect)": "recursive", "network": "recursive", "network (equirect)": "recursive",
        "flowfree": "independent", "hybrid": "recursive", "multipass": "shot"}
    planner = inspect.getsource(cli_run._run_ray)
    assert "spec.chain" in planner and "spec.method" not in planner
