"""The batched consistency check: the artistic-videos golden files, float32 (the device path) against float64,
OpenCV's smoothing, batch independence."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from vsstylize.opticalflow.consistency import (
    consistency_check,
    consistency_check_torch,
    gaussian_kernel,
    gaussian_smooth_torch,
)
from vsstylize.opticalflow.files import read_flo
from vsstylize.train.sequences import make_sequence
from vsstylize_bench.sources import default_photos

from .conftest import DATA, GOLDEN

# (flow1, flow2, reference): reliable_a_b.pgm is flow a->b checked against b->a
GOLDEN_PAIRS = [(f"backward_{a}_{a - 1}", f"forward_{a - 1}_{a}", f"reliable_{a}_{a - 1}") for a in range(2, 6)] + [
    (f"forward_{a - 1}_{a}", f"backward_{a}_{a - 1}", f"reliable_{a - 1}_{a}") for a in range(2, 6)
]


def _batch(flows: list[np.ndarray]) -> torch.Tensor:
    """``(H, W, 2)`` arrays -> ``(N, 2, H, W)`` float32 tensor."""
    return torch.from_numpy(np.stack(flows).astype(np.float32)).permute(0, 3, 1, 2).contiguous()


@pytest.mark.data
def test_golden_pgms_reproduced_in_one_batch() -> None:
    f1 = _batch([read_flo(GOLDEN / f"{a}.flo") for a, _, _ in GOLDEN_PAIRS])
    f2 = _batch([read_flo(GOLDEN / f"{b}.flo") for _, b, _ in GOLDEN_PAIRS])
    got = consistency_check_torch(f1, f2)
    assert got.shape == (len(GOLDEN_PAIRS), 1, 350, 450) and got.dtype == torch.float32
    grey = np.floor(got[:, 0].numpy().astype(np.float64))
    for i, (_, _, name) in enumerate(GOLDEN_PAIRS):
        with Image.open(GOLDEN / f"{name}.pgm") as im:
            ref = np.asarray(im, dtype=np.float64)
        assert np.abs(grey[i] - ref).max() <= 1.0, name
        # The reference files top out at 254 (fully reliable pixels are stored as 254, not 255); below
        # that, truncation gives every grey level exactly.
        assert ref.max() == 254.0
        np.testing.assert_array_equal(np.minimum(grey[i], 254.0), ref, err_msg=name)


def _compare(f1: np.ndarray, f2: np.ndarray) -> tuple[float, float]:
    """(max |float32 batch - float64 single pair|, share of pixels with equal truncated grey level) over a batch:
    the float32 check a device runs against the float64 reference."""
    got = consistency_check_torch(_batch(list(f1)), _batch(list(f2)))[:, 0].numpy().astype(np.float64)
    want = np.stack([consistency_check(a, b) for a, b in zip(f1, f2, strict=True)]).astype(np.float64)
    return float(np.abs(got - want).max()), float((np.floor(got) == np.floor(want)).mean())


def test_float32_matches_float64_on_random_flows() -> None:
    rng = np.random.default_rng(3)
    # rough flows (many disocclusions, motion boundaries, pixels mapped outside) and smooth ones
    rough1 = rng.uniform(-6, 6, (3, 37, 53, 2)).astype(np.float32)
    rough2 = rng.uniform(-6, 6, (3, 37, 53, 2)).astype(np.float32)
    smooth1 = cv2.GaussianBlur(rng.normal(0, 40, (61, 80, 2)).astype(np.float32), (0, 0), 6)[None]
    smooth2 = -smooth1 + rng.normal(0, 0.3, smooth1.shape).astype(np.float32)
    for f1, f2 in ((rough1, rough2), (smooth1, smooth2)):
        diff, equal = _compare(f1, f2)
        assert diff < 1e-3 and equal > 0.999, (diff, equal)
    c = consistency_check_torch(_batch(list(smooth1)), _batch(list(smooth2)))
    assert 0.05 < float((c == 0).float().mean()) < 0.95  # the check really separates pixels here


@pytest.mark.data
def test_float32_matches_float64_on_real_dis_flows() -> None:
    seq = make_sequence("large_occluder", num_frames=3, size=(160, 120), seed=1, photos=default_photos(DATA / "content"))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor((f.transpose(1, 2, 0) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in seq.frames]
    backward = np.stack([dis.calc(grey[t], grey[t - 1], None) for t in (1, 2)])
    forward = np.stack([dis.calc(grey[t - 1], grey[t], None) for t in (1, 2)])
    diff, equal = _compare(backward, forward)
    assert diff < 1e-3 and equal > 0.999, (diff, equal)
    diff, equal = _compare(forward, backward)
    assert diff < 1e-3 and equal > 0.999, (diff, equal)


@pytest.mark.parametrize("shape", [(1, 2, 1, 1), (2, 3, 4, 2), (1, 1, 9, 13), (1, 2, 40, 31)])
def test_smoothing_matches_opencv_reflect(shape: tuple[int, int, int, int]) -> None:
    image = np.random.default_rng(0).uniform(-255, 255, shape)
    got = gaussian_smooth_torch(torch.from_numpy(image), 0.8).numpy()
    kernel = cv2.getGaussianKernel(5, 0.8, cv2.CV_64F)  # the reference checker's smoothing, done by OpenCV
    want = np.stack([[cv2.sepFilter2D(ch, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT) for ch in item]
                     for item in image])
    np.testing.assert_allclose(got, want, atol=1e-9)
    assert gaussian_kernel(0.8).shape == (5,)


def test_batch_items_are_independent_and_float64_is_kept() -> None:
    rng = np.random.default_rng(5)
    f1 = torch.from_numpy(rng.uniform(-3, 3, (3, 2, 20, 24)))
    f2 = torch.from_numpy(rng.uniform(-3, 3, (3, 2, 20, 24)))
    whole = consistency_check_torch(f1, f2)
    assert whole.dtype == torch.float64
    for i in range(3):
        torch.testing.assert_close(whole[i : i + 1], consistency_check_torch(f1[i : i + 1], f2[i : i + 1]))
        want = consistency_check(f1[i].permute(1, 2, 0).numpy(), f2[i].permute(1, 2, 0).numpy())
        np.testing.assert_allclose(whole[i, 0].numpy(), want, atol=1e-4)
    raw = consistency_check_torch(f1, f2, 0.0, clip=False)
    assert set(torch.unique(raw).tolist()) <= {-255.0, 0.0, 255.0}


@pytest.mark.gpu
def test_cuda_equals_cpu() -> None:
    rng = np.random.default_rng(7)
    f1 = torch.from_numpy(rng.uniform(-4, 4, (2, 2, 64, 96)).astype(np.float32))
    f2 = torch.from_numpy(rng.uniform(-4, 4, (2, 2, 64, 96)).astype(np.float32))
    torch.testing.assert_close(consistency_check_torch(f1.cuda(), f2.cuda()).cpu(), consistency_check_torch(f1, f2),
                               atol=1e-3, rtol=0)


def test_bad_input_names_the_parameter() -> None:
    good = torch.zeros(1, 2, 8, 8)
    with pytest.raises(ValueError, match=r"flow1 must be \(N, 2, H, W\)"):
        consistency_check_torch(torch.zeros(8, 8, 2), good)
    with pytest.raises(ValueError, match="flow2 has shape"):
        consistency_check_torch(good, torch.zeros(1, 2, 8, 9))
    with pytest.raises(ValueError, match="flow2 must be a floating-point tensor"):
        consistency_check_torch(good, torch.zeros(1, 2, 8, 8, dtype=torch.int32))
    with pytest.raises(TypeError, match=r"flow1 must be a torch\.Tensor"):
        consistency_check_torch(np.zeros((1, 2, 8, 8)), good)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="smooth_sigma must be >= 0"):
        consistency_check_torch(good, good, -1.0)
