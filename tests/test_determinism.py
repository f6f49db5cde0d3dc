"""Frames depend on the settings and the cache key alone, not on what the process did before: the optimization
method's frames computed at 1 thread after an optimization at 2 threads (VapourSynth's worker threads then still
had torch's 2-thread count) equal a fresh process's, bit for bit, whatever the access order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from vsstylize.media.frames import ComputeEnvironment

from .conftest import REPO

# 160x96: large enough that torch's parallel reductions split across 2 threads (at 64x40 1 and 2 threads agree)
SIZE = (160, 96)
FRAMES = 6

# Run in a fresh interpreter with a JSON argument: "before", the thread counts of optimizations of the same
# frames run first (each result saved as <out>-before<i>.npy), then the frames at 1 thread (<out>.npy), in a
# shuffled order on 4 VapourSynth threads when "shuffled".
_SCRIPT = """
import json, random, sys
import numpy as np
import torch
import vapoursynth as vs
import vsstylize
from tests.test_stylize import FAST, STYLE, frames_of, small_clip

run = json.loads(sys.argv[1])
count = run["frames"]
clip = small_clip(count, *run["size"])
stylize = lambda: vsstylize.stylize(clip, str(STYLE), flow_relative_indices=(1, 2), **FAST)
for i, threads in enumerate(run["before"]):
    torch.set_num_threads(threads)
    result = frames_of(stylize())
    np.save(f"{run['out']}-before{i}.npy", np.stack([result[n] for n in range(count)]))
torch.set_num_threads(1)
order = list(range(count))
if run["shuffled"]:
    random.Random(3).shuffle(order)
    vs.core.num_threads = 4
result = frames_of(stylize(), order, threads=4 if run["shuffled"] else None)
np.save(f"{run['out']}.npy", np.stack([result[n] for n in range(count)]))
"""


def _frames(tmp_path: Path, name: str, before: list[int], shuffled: bool) -> Path:
    out = tmp_path / name
    run = {"before": before, "shuffled": shuffled, "out": str(out), "frames": FRAMES, "size": SIZE}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(run)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_apply_sets_the_calling_threads_count() -> None:
    """A thread that ran a parallel operation keeps its thread count when another thread calls
    torch.set_num_threads (the cause of the order dependence: VapourSynth's worker threads kept 2 after the main
    thread set 1). ComputeEnvironment.apply sets the calling thread's count to the one in the key."""
    threads = torch.get_num_threads()
    started, go, seen = threading.Event(), threading.Event(), []

    def worker() -> None:
        x = torch.rand(512, 512)
        (x @ x).sum()  # a parallel region at the process's count (2)
        started.set()
        go.wait(60)
        seen.append(torch.get_num_threads())
        env.apply()
        seen.append(torch.get_num_threads())

    try:
        torch.set_num_threads(2)
        t = threading.Thread(target=worker)
        t.start()
        assert started.wait(60)
        torch.set_num_threads(1)
        env = ComputeEnvironment(torch.device("cpu"))
        assert env.threads == 1 and "threads=1" in env.key()
        go.set()
        t.join(60)
    finally:
        torch.set_num_threads(threads)
    assert seen == [2, 1]


@pytest.mark.data
@pytest.mark.slow
def test_optim_frames_do_not_depend_on_an_earlier_thread_count(tmp_path: Path) -> None:
    used = _frames(tmp_path, "used", [2], shuffled=True)  # a 2-thread optimization first, then 1 thread
    fresh = _frames(tmp_path, "fresh", [], shuffled=False)
    after, alone = np.load(f"{used}.npy"), np.load(f"{fresh}.npy")
    assert after.shape == (FRAMES, 3, SIZE[1], SIZE[0])
    assert np.array_equal(after, alone), [float(np.abs(after[n] - alone[n]).max() * 255) for n in range(FRAMES)]
    # the check can fail: at this size the 2-thread run's frames differ from the 1-thread ones
    two = np.load(f"{used}-before0.npy")
    assert not np.array_equal(two, alone)
