"""An interrupted vspipe render (SIGKILL) leaves no corrupt cache entry, and the next render resumes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vsstylize.methods.chain import read_entry

from .conftest import DATA

pytestmark = pytest.mark.data

SCRIPT = """
import vapoursynth as vs
import vsstylize
core = vs.core
src = core.bs.VideoSource({video!r})[40:45]
rgb = core.resize.Bicubic(src, 64, 40, format=vs.RGBS, matrix_in_s="170m")
vsstylize.stylize(rgb, {style!r}, num_iterations=(30, 15), tol_loss_relative=0, init=("image", "prevWarped"),
                  cache_dir={cache!r}).set_output()
"""


def _vspipe() -> str:
    return str(Path(sys.executable).with_name("vspipe"))


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    script = tmp_path / "s.vpy"
    script.write_text(SCRIPT.format(video=str(DATA / "videos" / "bikes.mp4"),
                                    style=str(DATA / "styles" / "starry_night.jpg"), cache=str(cache)))
    proc = subprocess.Popen([_vspipe(), str(script), str(tmp_path / "first.raw")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(cache.rglob("*.png"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    entries = list(cache.rglob("*.png"))
    assert 2 <= len(entries) < 5, "the render was not interrupted mid-way"
    for entry in entries:  # every entry under a valid name is complete
        assert read_entry(entry)[0].shape == (3, 40, 64)
    done = subprocess.run([_vspipe(), str(script), str(tmp_path / "second.raw")], capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert len(list(cache.rglob("*.png"))) == 5
    resumed = np.fromfile(tmp_path / "second.raw", np.float32)
    # The same script without a cache gives the same frames.
    fresh_script = tmp_path / "fresh.vpy"
    fresh_script.write_text(script.read_text().replace(f"cache_dir={str(cache)!r}", "cache_dir=None"))
    fresh = subprocess.run([_vspipe(), str(fresh_script), str(tmp_path / "fresh.raw")], capture_output=True, timeout=600)
    assert fresh.returncode == 0, fresh.stderr.decode()[-2000:]
    # bit for bit: the chain always sees the stored (8-bit) values
    assert np.array_equal(resumed, np.fromfile(tmp_path / "fresh.raw", np.float32))
