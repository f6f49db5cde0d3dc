"""Shared fixtures: the ../shared test data, small real clips, a VapourSynth core."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

REPO = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    env = os.environ.get("VSSTYLIZE_SHARED")
    path = Path(env) if env else REPO.parent / "shared"
    if not (path / "data").is_dir():
        raise RuntimeError(f"test data not found at {path}: put ../shared beside the repo or set VSSTYLIZE_SHARED")
    return path


SHARED = _shared()
DATA = SHARED / "data"
GOLDEN = DATA / "golden" / "artistic-videos-example"


@pytest.fixture
def core() -> vs.Core:
    return vs.core


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo (tubingen.jpg) as (H, W, 3) float32 RGB in [0, 1]."""
    from PIL import Image

    with Image.open(DATA / "content" / "tubingen.jpg") as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def clip_from_arrays(frames: list[np.ndarray], fmt: int = vs.RGBS) -> vs.VideoNode:
    """A clip whose frames are the given (H, W, C) float32 arrays."""
    h, w = frames[0].shape[:2]
    blank = vs.core.std.BlankClip(format=fmt, width=w, height=h, length=len(frames), fpsnum=25, fpsden=1, keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        arr = frames[n] if frames[n].ndim == 3 else frames[n][..., None]
        for p in range(out.format.num_planes):
            np.copyto(np.asarray(out[p]), arr[..., p])
        return out

    return vs.core.std.ModifyFrame(blank, blank, fill)
