"""Seeking into a chain: a request for a far frame says which frames it computes first (a previewer waits on
it), in-order rendering says nothing, and concurrent requests leave no walk open."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import vsstylize
from vsstylize.methods import chain

from .conftest import DATA

pytestmark = pytest.mark.data

NETWORK = dict(method="network", network="starry_night-prior")
WALK = re.compile(r"computing frames (\d+)\.\.(\d+) of the chain for frame (\d+)")


def _clip(length: int = 12) -> vs.VideoNode:
    src = vs.core.bs.VideoSource(str(DATA / "videos" / "bikes.mp4"))[60:60 + length]
    return vs.core.resize.Bicubic(src, 64, 28, format=vs.RGBS, matrix_in_s="170m")


def _walks(err: str) -> list[tuple[int, int]]:
    return sorted({(int(m[1]), int(m[2])) for m in WALK.finditer(err)})


def _array(frame: vs.VideoFrame) -> np.ndarray:
    return np.stack([np.asarray(frame[p]) for p in range(3)])


def test_far_request_shows_the_walk(capsys: pytest.CaptureFixture[str], recursive_filters: list[chain.RecursiveFilter]) -> None:
    out = vsstylize.stylize(_clip(20), **NETWORK)
    out.get_frame(8)
    err = capsys.readouterr().err
    assert _walks(err) == [(0, 8)] and "9/9" in err
    assert recursive_filters[0].computed == 9
    out.get_frame(9)  # its predecessor is cached: quiet
    out.get_frame(10)
    assert _walks(capsys.readouterr().err) == []
    out.get_frame(15)  # the walk starts after the nearest cached frame
    assert _walks(capsys.readouterr().err) == [(11, 15)]
    out.get_frame(17)  # one frame before it is missing: quiet
    assert _walks(capsys.readouterr().err) == []
    assert recursive_filters[0].computed == 18


def test_in_order_rendering_is_quiet(capsys: pytest.CaptureFixture[str], recursive_filters: list[chain.RecursiveFilter]) -> None:
    out = vsstylize.stylize(_clip(), **NETWORK)
    for _ in out.frames():  # prefetching in parallel, as vspipe does
        pass
    assert _walks(capsys.readouterr().err) == []
    assert recursive_filters[0].computed == 12


def test_concurrent_seeks_close_their_walks(capsys: pytest.CaptureFixture[str],
                                            recursive_filters: list[chain.RecursiveFilter]) -> None:
    reference = [_array(f) for f in vsstylize.stylize(_clip(), **NETWORK).frames()]
    out = vsstylize.stylize(_clip(), **NETWORK)
    order = list(range(12))
    random.Random(5).shuffle(order)
    results: dict[int, np.ndarray] = {}
    done = threading.Event()
    lock = threading.Lock()

    def callback(n: int):  # type: ignore[no-untyped-def]
        def cb(frame: vs.VideoFrame | None, exc: BaseException | None) -> None:
            with lock:
                results[n] = exc if frame is None else _array(frame)  # type: ignore[assignment]
                if len(results) == len(order):
                    done.set()
        return cb

    for n in order:
        out.get_frame_async(n, callback(n))
    assert done.wait(600)
    for n in order:
        np.testing.assert_array_equal(results[n], reference[n])
    walked = recursive_filters[1]
    assert walked._walks == [] and walked._pending == set()
    assert _walks(capsys.readouterr().err)  # the first far request walked


@pytest.mark.slow
def test_vspipe_start_in_the_middle_says_why_it_waits(tmp_path: Path) -> None:
    script = tmp_path / "s.vpy"
    script.write_text(
        "import vapoursynth as vs\nimport vsstylize\n"
        f"src = vs.core.bs.VideoSource({str(DATA / 'videos' / 'bikes.mp4')!r})[60:72]\n"
        "src = vs.core.resize.Bicubic(src, 64, 28)\n"
        "vsstylize.stylize(src, method='network', network='starry_night-prior').set_output()\n")
    vspipe = str(Path(sys.executable).with_name("vspipe"))
    result = subprocess.run([vspipe, "-c", "y4m", "-s", "6", "-e", "8", str(script), "-"], capture_output=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    # one walk from the chain start to whichever of frames 6-8 vspipe's threads requested first
    walks = _walks(result.stderr.decode())
    assert len(walks) == 1 and walks[0][0] == 0 and walks[0][1] in (6, 7, 8), walks
    assert result.stdout.count(b"FRAME") == 3
