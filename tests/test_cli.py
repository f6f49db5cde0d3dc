"""`vsstylize run` end to end: a real clip in, a playable stylized video and a contact sheet out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from .conftest import DATA

pytestmark = pytest.mark.data


def _frames(clip: vs.VideoNode) -> np.ndarray:
    rgb = vs.core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s="709")
    return np.stack([np.stack([np.asarray(rgb.get_frame(n)[p]) for p in range(3)]) for n in range(rgb.num_frames)])


@pytest.mark.slow
def test_run_writes_playable_stylized_video(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    sheet = tmp_path / "sheet.png"
    cmd = [sys.executable, "-m", "vsstylize", "run", str(DATA / "videos" / "bikes.mp4"),
           "--style", str(DATA / "styles" / "starry_night.jpg"), "-o", str(out), "--width", "96",
           "--frames", "10:14", "--iterations", "60,15", "--init", "image,prevWarped", "--matrix", "170m",
           "--sheet", str(sheet)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.is_file() and sheet.is_file()
    assert not list(tmp_path.glob(".*partial*"))
    video = vs.core.bs.VideoSource(str(out))
    assert (video.num_frames, video.width, video.height) == (4, 96, 40)
    src = vs.core.resize.Bicubic(vs.core.bs.VideoSource(str(DATA / "videos" / "bikes.mp4"))[10:14], 96, 40)
    got, ref = _frames(video), _frames(src)
    # strongly stylized ...
    assert np.abs(got - ref).mean() > 0.08
    # ... while keeping the scene's structure: luminance still correlates with the input's
    lum_got, lum_ref = got.mean(axis=1).ravel(), ref.mean(axis=1).ravel()
    assert np.corrcoef(lum_got, lum_ref)[0, 1] > 0.3


def test_run_reports_bad_input(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "vsstylize", "run", str(DATA / "videos" / "bikes.mp4"),
           "--style", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "o.mp4"), "--frames", "0:2", "--width", "64"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "vsstylize.stylize: style file" in result.stderr
    assert not (tmp_path / "o.mp4").exists()
