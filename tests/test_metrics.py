"""Metrics on hand-made cases with known answers, on a ground-truth sequence, and their errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from vsstylize.train.sequences import make_sequence
from vsstylize_bench import monitor
from vsstylize_bench.metrics import (
    border_contrast,
    e_gradient,
    e_temporal,
    long_term_error,
    relative_losses,
    temporal_error,
    warping_error,
)
from vsstylize_bench.monitor import PeakMemory, timed

from .conftest import DATA

T, H, W = 4, 12, 16


def _noise_video(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 0.8, (T, 3, H, W)).astype(np.float32)


def _zeros_flow(n: int = T) -> np.ndarray:
    return np.zeros((n, 2, H, W), np.float32)


def _ones(n: int = T) -> np.ndarray:
    return np.ones((n, H, W), np.float32)


def test_identical_frames_zero_flow_give_zero() -> None:
    frame = _noise_video()[:1]
    video = np.repeat(frame, T, axis=0)
    # grid_sample's normalised coordinates reproduce a zero-flow warp up to float32 rounding only
    np.testing.assert_allclose(temporal_error(video, _zeros_flow(), _ones()), np.zeros(T - 1), atol=1e-12)
    assert e_temporal(video, _zeros_flow(), _ones()) < 1e-6
    np.testing.assert_allclose(warping_error(video, _zeros_flow(), _ones()), np.zeros(T - 1), atol=1e-12)
    np.testing.assert_allclose(long_term_error(video, _zeros_flow(), _ones(), k=2), np.zeros(T - 2), atol=1e-12)


def test_constant_difference_gives_known_mse() -> None:
    base = np.full((3, H, W), 0.3, np.float32)
    video = np.stack([base + 0.1 * t for t in range(T)])  # each frame 0.1 brighter than the previous
    err = temporal_error(video, _zeros_flow(), _ones())
    np.testing.assert_allclose(err, 0.01, rtol=1e-5)
    # Huang eq. 8: sqrt of the mean over pairs and all D = C*H*W samples
    assert e_temporal(video, _zeros_flow(), _ones()) == pytest.approx(0.1, rel=1e-5)
    half = _ones()
    half[:, :, : W // 2] = 0.0
    np.testing.assert_allclose(temporal_error(video, _zeros_flow(), half), 0.01, rtol=1e-5)
    assert e_temporal(video, _zeros_flow(), half) == pytest.approx(math.sqrt(0.005), rel=1e-5)
    # long-term: k = 2 frames apart differ by 0.2
    np.testing.assert_allclose(long_term_error(video, _zeros_flow(), _ones(), k=2), 0.04, rtol=1e-5)
    # only one channel differing: averaged over the three channels
    one = np.repeat(base[None], T, axis=0)
    one[1::2, 0] += 0.3
    np.testing.assert_allclose(temporal_error(one, _zeros_flow(), _ones()), 0.09 / 3, rtol=1e-5)


def test_mask_excludes_pixels() -> None:
    video = np.repeat(_noise_video()[:1], T, axis=0)
    video[2:, :, 3:6, 4:9] = 1.0  # an object appears in frame 2
    masks = _ones()
    assert temporal_error(video, _zeros_flow(), masks)[1] > 0.0
    masks[2, 3:6, 4:9] = 0.0  # disoccluded there
    np.testing.assert_allclose(temporal_error(video, _zeros_flow(), masks), np.zeros(T - 1), atol=1e-12)
    masks[:] = 0.0
    assert np.isnan(temporal_error(video, _zeros_flow(), masks)).all()


def test_flow_is_applied_backward() -> None:
    """Frame t = frame t-1 moved right by 2 px; the flow t -> t-1 is u = -2: zero error where defined."""
    first = _noise_video()[0]
    video = np.stack([np.roll(first, 2 * t, axis=2) for t in range(T)])
    flows = _zeros_flow()
    flows[:, 0] = -2.0
    masks = _ones()
    masks[:, :, :2] = 0.0  # source left of the image / wrapped-around content
    np.testing.assert_allclose(temporal_error(video, flows, masks), 0.0, atol=1e-10)
    assert (temporal_error(video, -flows, masks) > 1e-3).all()  # the opposite convention is wrong
    # the (T-1)-long layout (entry i = frame i+1) gives the same numbers
    np.testing.assert_array_equal(temporal_error(video, flows[1:], masks[1:]), temporal_error(video, flows, masks))


def test_long_term_region() -> None:
    base = np.full((3, H, W), 0.5, np.float32)
    video = np.repeat(base[None], T, axis=0)
    video[3, :, :, :4] = 0.8  # only the left band changes at t = 3
    region = np.zeros((H, W), np.float32)
    region[:, :4] = 1.0
    err = long_term_error(video, _zeros_flow(), _ones(), k=2, region=region)
    np.testing.assert_allclose(err, [0.0, 0.09], rtol=1e-5)  # frames 2 and 3
    outside = long_term_error(video, _zeros_flow(), _ones(), k=2, region=1.0 - region)
    np.testing.assert_allclose(outside, [0.0, 0.0])


def test_warping_error_weights() -> None:
    base = np.full((3, H, W), 0.5, np.float32)
    video = np.repeat(base[None], T, axis=0)
    video[1:, :, :, : W // 2] += 0.2  # left half changes at t = 1
    c = np.full((T, 1, H, W), 0.5, np.float32)
    np.testing.assert_allclose(warping_error(video, _zeros_flow(), c)[0], 0.02, rtol=1e-5)  # uniform: plain mean
    c[:, :, :, : W // 2] = 0.0
    np.testing.assert_allclose(warping_error(video, _zeros_flow(), c), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="reliability"):
        warping_error(video, _zeros_flow(), _ones() * 2.0)


@pytest.mark.data
def test_sequence_ground_truth_has_small_error() -> None:
    seq = make_sequence("large_occluder", DATA / "content" / "tubingen.jpg", num_frames=6, size=(64, 48), seed=2,
                        texture=DATA / "content" / "hoovertowernight.jpg", long_steps=())
    masked = temporal_error(seq.frames, seq.flow_backward, seq.mask_backward)
    unmasked = temporal_error(seq.frames, seq.flow_backward, np.ones_like(seq.mask_backward))
    assert masked.max() < 2e-4  # interpolation error only
    assert unmasked.max() > 5 * masked.max()  # disocclusions and out-of-view pixels dominate without the mask
    assert e_temporal(seq.frames, seq.flow_backward, seq.mask_backward) < 0.015


@pytest.mark.parametrize(("call", "match"), [
    (lambda: temporal_error(_noise_video(), np.zeros((T, 2, H, W + 1)), _ones()), "flows"),
    (lambda: temporal_error(_noise_video(), _zeros_flow(), np.ones((T + 1, H, W))), "masks"),
    (lambda: temporal_error(_noise_video(), _zeros_flow(T - 2), _ones()), "flows"),
    (lambda: temporal_error(_noise_video()[0], _zeros_flow(), _ones()), "stylized"),
    (lambda: temporal_error(_noise_video()[:1], _zeros_flow(1), _ones(1)), "stylized"),
    (lambda: long_term_error(_noise_video(), _zeros_flow(), _ones(), k=T), "k"),
    (lambda: long_term_error(_noise_video(), _zeros_flow(), _ones(), k=1, region=np.ones((H, W + 1))), "region"),
    (lambda: warping_error(_noise_video(), _zeros_flow(), _ones(), step=0), "step"),
    (lambda: e_temporal(_noise_video(), _zeros_flow(), "mask"), "masks"),
])
def test_bad_inputs(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_border_contrast() -> None:
    rng = np.random.default_rng(1)
    video = rng.uniform(0.0, 1.0, (2, 3, 40, 64)).astype(np.float32)
    np.testing.assert_allclose(border_contrast(video, "right", 8), 1.0, atol=0.2)
    video[1, :, :, -8:] = 0.9  # flat, washed-out band where new content enters
    ratios = border_contrast(video, "right", 8)
    assert ratios[1] == 0.0 and ratios[0] > 0.8
    # an inset band skips the edge pixels: the flat 8 px are outside a band 8 px inside the edge ...
    assert border_contrast(video, "right", 8, inset_px=8)[1] > 0.8
    # ... and it is columns W-12 .. W-5 for inset 4
    band, centre = video[1, :, :, -12:-4], video[1, :, 10:30, 16:48]
    expected = np.mean([band[c].std() for c in range(3)]) / np.mean([centre[c].std() for c in range(3)])
    assert border_contrast(video, "right", 8, inset_px=4)[1] == pytest.approx(expected, rel=1e-5)
    assert border_contrast(video[1], "left", 8).shape == (1,)
    video[:, :, :10] = 0.5
    assert border_contrast(video, "top", 8)[0] == 0.0
    with pytest.raises(ValueError, match="side"):
        border_contrast(video, "middle", 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="band_px"):
        border_contrast(video, "top", 11)
    with pytest.raises(ValueError, match="band_px"):
        border_contrast(video, "right", 8, inset_px=9)  # band and centre box would overlap (W // 4 = 16)
    with pytest.raises(ValueError, match="inset_px"):
        border_contrast(video, "right", 4, inset_px=-1)


def test_e_gradient() -> None:
    ramp = np.tile(np.linspace(0.0, 1.0, 32, dtype=np.float32), (3, 24, 1))  # constant x gradient
    region = np.zeros((24, 32), bool)
    region[:, 10:12] = True
    assert e_gradient(ramp, region, np.zeros_like(region)) == pytest.approx(1.0)
    img = np.random.default_rng(0).uniform(0.45, 0.55, (3, 24, 32)).astype(np.float32)
    img[:, :, 16:] += 0.3  # a seam between columns 15 and 16
    seam = np.zeros((24, 32), bool)
    seam[:, 15] = True
    assert e_gradient(img, seam, np.zeros_like(seam)) > 5.0
    # weighted average of the x and y ratios by region size (eq. 23)
    rows = np.zeros((24, 32), bool)
    rows[5, :] = True
    ex, ey = e_gradient(img, seam, np.zeros_like(seam)), e_gradient(img, np.zeros_like(rows), rows)
    both = e_gradient(img, seam, rows)
    assert both == pytest.approx((24 * ex + 32 * ey) / (24 + 32))
    with pytest.raises(ValueError, match="empty"):
        e_gradient(img, np.zeros_like(seam), np.zeros_like(seam))
    with pytest.raises(ValueError, match="region_x"):
        e_gradient(img, np.zeros((24, 31), bool), seam)


def test_peak_memory() -> None:
    import mmap

    size = 40 * 2**20
    with PeakMemory() as mem:
        # fresh anonymous pages (a numpy block may reuse heap pages that earlier tests left resident)
        block = mmap.mmap(-1, size)
        block.write(b"\1" * size)
        block.close()
    assert mem.peak_rss_bytes is not None and mem.peak_rss_bytes > 0
    if mem.rss_reset:
        assert mem.peak_rss_delta_bytes is not None and mem.peak_rss_delta_bytes > 30 * 2**20


def test_timing_reads_the_clock_at_both_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """timed() is the difference of two perf_counter readings (a fake clock: no wall-clock assertion)."""
    readings = itertools.count(10.0, 2.5)
    monkeypatch.setattr(monitor.time, "perf_counter", lambda: next(readings))
    with timed(frames=5) as tm:
        pass
    assert tm.seconds == 2.5 and tm.seconds_per_frame == pytest.approx(0.5)
    with timed() as tm2:
        pass
    with pytest.raises(ValueError, match="frames"):
        _ = tm2.seconds_per_frame


def test_relative_losses() -> None:
    from vsstylize.optim.losses import StyleTarget
    from vsstylize.optim.vgg import LossNetwork

    torch.manual_seed(0)
    net = LossNetwork("vgg16", last_layer="relu2_1")  # random weights: the API, not the numbers
    rng = np.random.default_rng(0)
    content = rng.uniform(0, 1, (2, 3, 16, 16)).astype(np.float32)
    stylized = np.clip(content + rng.normal(0, 0.05, content.shape), 0, 1).astype(np.float32)
    style = torch.rand(1, 3, 20, 20)
    target = StyleTarget(net, [style], (16, 16), layers=("relu1_1", "relu2_1"))
    same = relative_losses(stylized, stylized, content, net, target, content_layers=("relu2_1",))
    assert same.content == pytest.approx(1.0) and same.style == pytest.approx(1.0)
    assert same.content_stylized.shape == (2,)
    worse = relative_losses(np.clip(stylized + 0.3, 0, 1), stylized, content, net, target, content_layers=("relu2_1",))
    assert worse.content > 1.0
    with pytest.raises(ValueError, match="baseline"):
        relative_losses(stylized, stylized[:1], content, net, target, content_layers=("relu2_1",))


@pytest.mark.data
def test_bench_relative_losses_report_the_last_frame() -> None:
    """``add_relative_losses`` stores the mean ratio and the last frame's (degeneration over time): a method
    equal to the baseline except for a washed-out last frame has mean ratios between 1 and its last ratio."""
    from vsstylize_bench.runner import MethodResult, add_relative_losses

    from .conftest import DATA

    rng = np.random.default_rng(1)
    content = rng.uniform(0, 1, (3, 3, 32, 32)).astype(np.float32)
    base = np.clip(content + rng.normal(0, 0.1, content.shape), 0, 1).astype(np.float32)
    late = base.copy()
    late[-1] = 0.5 * late[-1] + 0.25  # contrast halved on the last frame
    results = {name: MethodResult(name, frames, np.zeros(2), 0.0, np.zeros(3))
               for name, frames in (("base", base), ("late", late))}
    rel = add_relative_losses(results, content, DATA / "styles" / "starry_night.jpg", baseline="base", model="vgg16")
    b, e = results["base"].extra, results["late"].extra
    assert e["style_relative_last"] == pytest.approx(rel["late"].style_stylized[-1] / rel["late"].style_baseline[-1])
    assert b["style_relative"] == pytest.approx(1.0) and b["style_relative_last"] == pytest.approx(1.0)
    assert e["style_relative_last"] > 1.0
    assert e["style_relative"] == pytest.approx((2.0 + e["style_relative_last"]) / 3.0, rel=1e-4)
    assert e["content_relative_last"] != pytest.approx(1.0)
