"""`reliability` reproduces the original artistic-videos consistencyChecker on real DeepFlow flows."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import vsstylize
from vsstylize.opticalflow.consistency import consistency_check
from vsstylize.opticalflow.files import read_flo

from .conftest import GOLDEN


def _ref(a: int, b: int) -> np.ndarray:
    with Image.open(GOLDEN / f"reliable_{a}_{b}.pgm") as im:
        return np.asarray(im, dtype=np.float64)


def _agreement(weights: np.ndarray, ref: np.ndarray) -> float:
    grey = np.floor(np.clip(weights.astype(np.float64), 0, 1) * 255.0 + 1e-4)
    return float((np.abs(grey - ref) <= 1).mean())


@pytest.mark.data
def test_consistency_check_matches_reference_arrays() -> None:
    for a in range(2, 6):
        c = consistency_check(read_flo(GOLDEN / f"backward_{a}_{a - 1}.flo"), read_flo(GOLDEN / f"forward_{a - 1}_{a}.flo"))
        assert _agreement(c / 255.0, _ref(a, a - 1)) >= 0.995


@pytest.mark.data
@pytest.mark.parametrize("direction", ["backward", "forward"])
def test_reliability_filter_matches_every_golden_pgm(direction: str) -> None:
    bw = vsstylize.read_flow(str(GOLDEN / "backward_[%d]_{%d}.flo"), num_frames=5, direction="backward")
    fw = vsstylize.read_flow(str(GOLDEN / "forward_[%d]_{%d}.flo"), num_frames=5, direction="forward")
    rel = vsstylize.reliability(bw, fw) if direction == "backward" else vsstylize.reliability(fw, bw)
    checked = 0
    for n in range(5):
        frame = rel.get_frame(n)
        partner = n - 1 if direction == "backward" else n + 1
        if not 0 <= partner < 5:
            assert frame.props["FlowValid"] == 0
            assert np.asarray(frame[0]).max() == 0.0
            continue
        got = np.asarray(frame[0])
        agreement = _agreement(got, _ref(n + 1, partner + 1))
        assert agreement >= 0.995, f"frame {n}: only {agreement:.4f} of pixels within 1 grey level"
        checked += 1
    assert checked == 4


def test_reliability_marks_disocclusions_zero_and_static_regions_one() -> None:
    h, w = 40, 60
    f1 = np.zeros((h, w, 2), np.float32)
    f2 = np.zeros((h, w, 2), np.float32)
    f1[10:20, 10:20] = (5.0, 0.0)  # this block's opposite flow disagrees: disocclusion
    c = consistency_check(f1, f2)
    assert c[15, 15] == 0.0
    assert c[30, 40] == pytest.approx(255.0, abs=1e-3)
    # a flow pointing outside the image is unreliable too
    f1[:, -3:] = (10.0, 0.0)
    assert consistency_check(f1, f2)[30, -1] == 0.0
