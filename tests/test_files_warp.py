""".flo / PGM files, clip loading and saving, warping, visualisation, and vspipe end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsstylize
from vsstylize.opticalflow.files import read_flo, read_pgm, write_flo, write_pgm
from vsstylize.opticalflow.visualize import flow_to_color
from vsstylize.opticalflow.warping import warp as warp_tensor

from .conftest import DATA, GOLDEN, clip_from_arrays


def test_flo_round_trip(tmp_path: Path) -> None:
    flow = np.random.default_rng(0).normal(size=(7, 11, 2)).astype(np.float32)
    path = write_flo(tmp_path / "a.flo", flow)
    assert np.array_equal(read_flo(path), flow)
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


@pytest.mark.data
def test_flo_wrong_magic_and_truncated(tmp_path: Path) -> None:
    bad = tmp_path / "bad.flo"
    bad.write_bytes(b"HEIP" + (4).to_bytes(4, "little") * 2 + b"\0" * 128)
    with pytest.raises(ValueError, match="wrong magic number"):
        read_flo(bad)
    data = (GOLDEN / "backward_2_1.flo").read_bytes()
    short = tmp_path / "short.flo"
    short.write_bytes(data[:5000])
    with pytest.raises(ValueError, match="truncated"):
        read_flo(short)
    tiny = tmp_path / "tiny.flo"
    tiny.write_bytes(b"PIE")
    with pytest.raises(ValueError, match=r"not a \.flo file"):
        read_flo(tiny)


@pytest.mark.data
def test_read_flow_clip_errors(tmp_path: Path) -> None:
    with pytest.raises(vs.Error, match=r"vsstylize\.read_flow: pattern: 4 file\(s\) missing"):
        vsstylize.read_flow(str(tmp_path / "backward_[%d]_{%d}.flo"), num_frames=5)
    shutil.copy(GOLDEN / "backward_2_1.flo", tmp_path / "backward_2_1.flo")
    (tmp_path / "backward_3_2.flo").write_bytes((GOLDEN / "backward_3_2.flo").read_bytes()[:900])
    clip = vsstylize.read_flow(str(tmp_path / "backward_[%d]_{%d}.flo"), num_frames=3)
    with pytest.raises(vs.Error, match="truncated"):
        clip.get_frame(2)
    with pytest.raises(vs.Error, match=r"needs a \[\.\.\] placeholder"):
        vsstylize.read_flow(str(tmp_path / "flow.flo"), num_frames=3)


@pytest.mark.data
def test_pgm_round_trip(tmp_path: Path) -> None:
    ref = read_pgm(GOLDEN / "reliable_2_1.pgm")
    out = write_pgm(tmp_path / "r.pgm", ref)
    assert np.array_equal(read_pgm(out), ref)
    assert out.read_bytes()[:2] == b"P5"


@pytest.mark.data
def test_write_and_read_clips_round_trip(tmp_path: Path) -> None:
    bw = vsstylize.read_flow(str(GOLDEN / "backward_[%d]_{%d}.flo"), num_frames=5)
    fw = vsstylize.read_flow(str(GOLDEN / "forward_[%d]_{%d}.flo"), num_frames=5, direction="forward")
    rel = vsstylize.reliability(bw, fw)
    written = vsstylize.write_flow(bw, str(tmp_path / "b_[%02d]_{%02d}.flo"), progress=False)
    assert [p.name for p in written] == ["b_02_01.flo", "b_03_02.flo", "b_04_03.flo", "b_05_04.flo"]
    assert np.array_equal(read_flo(written[0]), read_flo(GOLDEN / "backward_2_1.flo"))
    pgms = vsstylize.write_reliability(rel, str(tmp_path / "reliable_[%d]_{%d}.pgm"), progress=False)
    back = vsstylize.read_reliability(str(tmp_path / "reliable_[%d]_{%d}.pgm"), num_frames=5)
    got = np.asarray(back.get_frame(1)[0])
    golden = read_pgm(GOLDEN / "reliable_2_1.pgm")
    assert len(pgms) == 4
    assert np.mean(np.abs(got - golden) <= 1 / 255 + 1e-6) >= 0.995


def test_warp_tensor_translation() -> None:
    torch.manual_seed(0)
    img = torch.rand(1, 3, 20, 30)
    flow = torch.zeros(1, 2, 20, 30)
    flow[:, 0] = 2.0  # sample two pixels to the right
    out = warp_tensor(img, flow)
    # float32 round trip through grid_sample's normalised coordinates: up to ~2e-6 off an integer position
    assert torch.allclose(out[..., :, :-2], img[..., :, 2:], atol=1e-5)
    assert torch.allclose(out[..., :, -1], img[..., :, -1], atol=1e-5)  # border padding
    zeros = warp_tensor(img, flow, padding="zeros")
    assert torch.all(zeros[..., :, -1] == 0)


@pytest.mark.data
def test_warp_filter_brings_previous_frame(photo: np.ndarray) -> None:
    import cv2

    big = cv2.resize(photo, (200, 120))
    a = big[10:90, 10:170].copy()
    b = big[10:90, 13:173].copy()  # content moved 3 px left: b(x) = a(x + 3)
    clip = clip_from_arrays([a, b])
    bw = vsstylize.flow(clip, "backward")
    warped = vsstylize.warp(clip, bw)
    first = np.asarray(warped.get_frame(0)[0])
    assert np.array_equal(first, a[..., 0])  # no partner: unchanged
    w1 = np.stack([np.asarray(warped.get_frame(1)[p]) for p in range(3)], axis=-1)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(w1[inner] - b[inner]).mean() < 0.01
    assert np.abs(a[inner] - b[inner]).mean() > 0.03


def test_flow_to_color_wheel() -> None:
    flow = np.zeros((4, 8, 2), np.float32)
    flow[:, 4:, 0] = 1.0
    rgb = flow_to_color(flow)
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 8, 3)
    assert np.all(rgb[:, :4] == 255)  # no motion is white
    right = rgb[0, 5].astype(int)
    assert right[0] > right[2]  # motion to the right is reddish in the Middlebury wheel
    with pytest.raises(ValueError, match="max_flow"):
        flow_to_color(flow, max_flow=0)


@pytest.mark.data
def test_vspipe_renders_flow_visualization(tmp_path: Path) -> None:
    script = tmp_path / "flow.vpy"
    script.write_text(
        "import vapoursynth as vs\nimport vsstylize\ncore = vs.core\n"
        f"src = core.bs.VideoSource({str(DATA / 'videos' / 'bikes.mp4')!r})[:6]\n"
        "fw = vsstylize.flow(src, 'forward')\nbw = vsstylize.flow(src, 'backward')\n"
        "rel = vsstylize.reliability(bw, fw)\n"
        "vis = vsstylize.visualize(bw, max_flow=8)\n"
        "mask = core.std.ShufflePlanes([rel] * 3, [0, 0, 0], vs.RGB).resize.Point(format=vs.RGB24)\n"
        "core.std.StackVertical([vis, mask]).set_output()\n"
    )
    vspipe = Path(sys.executable).with_name("vspipe")
    result = subprocess.run([str(vspipe), str(script), "-"], capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    frame_bytes = 640 * 272 * 2 * 3
    assert len(result.stdout) == 6 * frame_bytes
    frames = np.frombuffer(result.stdout, np.uint8).reshape(6, 3, 272 * 2, 640)
    assert frames[1, :, :272].std() > 5  # the flow of a moving scene is not blank
    assert frames[1, :, 272:].mean() > 100  # most pixels are reliable
