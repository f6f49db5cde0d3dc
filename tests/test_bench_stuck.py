"""The bench flags settings whose optimisations did not leave their initialisation (loss end/start)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest

from vsstylize.train.sequences import make_sequence
from vsstylize_bench.markdown import _stuck, _stuck_warnings
from vsstylize_bench.runner import MethodResult, add_stuck_counts, evaluate, recording_loss_ratios

from .conftest import DATA

STYLE = DATA / "styles" / "starry_night.jpg"


def _result(name: str = "x") -> MethodResult:
    return MethodResult(name, np.zeros((2, 3, 4, 4), np.float32), np.zeros(1), 0.0, np.zeros(2))


def test_recorder_collects_ratios_without_showing_info_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("vsstylize")
    with caplog.at_level(logging.WARNING, logger="vsstylize"):
        with recording_loss_ratios() as ratios:
            logger.info("frame 0", extra={"loss_ratio": 0.99})
            logger.info("unrelated")
            logger.warning("kept", extra={"loss_ratio": 0.01})
        logger.info("after", extra={"loss_ratio": 0.5})
    assert ratios == [0.99, 0.01]
    assert [r.getMessage() for r in caplog.records] == ["kept"]  # the INFO records stay as hidden as before
    assert logger.getEffectiveLevel() == logging.WARNING


def test_stuck_counts_and_report_cells() -> None:
    r = _result("random")
    add_stuck_counts(r, [1.0, 0.96, 0.2, float("nan")])
    assert r.extra["optimisations"] == 4 and r.extra["stuck_optimisations"] == 3 and r.extra["max_loss_ratio"] == 1.0
    assert _stuck(r) == "**3/4**"
    ok = _result("image")
    add_stuck_counts(ok, [0.01, 0.2])
    assert _stuck(ok) == "0/2" and _stuck(_result()) == "-"

    rep = SimpleNamespace(name="seq", results={"random": r, "image": ok})
    lines = _stuck_warnings([rep])  # type: ignore[list-item]
    assert len(lines) == 1 and "`random`: 3 of 4 optimisations did not leave their initialisation" in lines[0]


@pytest.mark.data
def test_evaluate_counts_frames_that_did_not_move() -> None:
    """One iteration per frame cannot leave the start (the first L-BFGS step is tiny); 40 iterations from
    the content image do."""
    seq = make_sequence("slow_pan", DATA / "content" / "tubingen.jpg", num_frames=2, size=(64, 48), seed=0,
                        texture=DATA / "content" / "golden_gate.jpg")
    res = evaluate(seq, STYLE, {"stuck": {"init": ("random", "random"), "temporal_weight": 0.0, "num_iterations": (1, 1)},
                                "moves": {"init": ("image", "image"), "temporal_weight": 0.0, "num_iterations": (40, 40)}},
                   common={"tol_loss_relative": 0})
    assert res["stuck"].extra["optimisations"] == 2 and res["stuck"].extra["stuck_optimisations"] == 2
    assert res["moves"].extra["optimisations"] == 2 and res["moves"].extra["stuck_optimisations"] == 0
