"""Run stylization settings over ground-truth sequences and measure them the papers' way.

The baselines of Ruder et al. (2018, Tables 2 and 4) are always available by name:

* ``random``: per-frame optimization from random noise (each frame independent);
* ``prev``: initialised with the previous stylized frame, no temporal loss;
* ``prevWarped``: initialised with the previous stylized frame warped along the flow, no temporal loss;
* ``temporal``: prevWarped initialisation plus the temporal loss (Ruder et al.'s short-term method).

The method sees flows estimated from the frames (``vsstylize.flow``, as the paper used DeepFlow); the
temporal error is measured with the sequence's exact ground-truth flow and disocclusion mask.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import vapoursynth as vs

from .. import metrics
from .sequences import Sequence

__all__ = ["BASELINES", "MethodResult", "stylize_sequence", "evaluate", "format_table"]

#: stylize() keyword arguments of the named baselines.
BASELINES: dict[str, dict[str, Any]] = {
    "random": {"init": ("random", "random"), "temporal_weight": 0.0},
    "prev": {"init": ("random", "prev"), "temporal_weight": 0.0},
    "prevWarped": {"init": ("random", "prevWarped"), "temporal_weight": 0.0},
    "temporal": {"init": ("random", "prevWarped")},
}


@dataclass
class MethodResult:
    """Measurements of one setting on one sequence.

    :ivar frames: ``(T, 3, H, W)`` stylized frames in [0, 1].
    :ivar temporal_error: ``(T-1,)`` Ruder's short-term error per frame (ground-truth flow and mask).
    :ivar seconds_per_frame: wall time of the stylization divided by ``T``.
    """

    name: str
    frames: np.ndarray
    temporal_error: np.ndarray
    e_temporal: float
    seconds_per_frame: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def mean_temporal_error(self) -> float:
        return float(np.nanmean(self.temporal_error))


def _to_array(clip: vs.VideoNode) -> np.ndarray:
    return np.stack([np.stack([np.asarray(f[p]) for p in range(3)]) for f in clip.frames(close=True)])


def stylize_sequence(sequence: Sequence, style: str | Path, settings: Mapping[str, Any]) -> tuple[np.ndarray, float]:
    """Stylize a sequence's frames with ``vsstylize.stylize(**settings)``; returns ``(frames, seconds)``."""
    import vsstylize

    clips = sequence.to_clips(vs.core)
    out = vsstylize.stylize(clips.frames, str(style), **settings)
    t0 = time.perf_counter()
    frames = _to_array(out)
    return frames, time.perf_counter() - t0


def evaluate(sequence: Sequence, style: str | Path, methods: Mapping[str, Mapping[str, Any]],
             common: Mapping[str, Any] | None = None) -> dict[str, MethodResult]:
    """Stylize ``sequence`` with each setting and measure the temporal error against ground truth.

    :param methods: ``name -> stylize() keyword arguments`` (e.g. :data:`BASELINES` entries).
    :param common: keyword arguments shared by every method (iterations, weights, seed ...).
    :raises vs.Error: whatever ``stylize`` raises for bad settings.
    """
    results: dict[str, MethodResult] = {}
    for name, kwargs in methods.items():
        settings = {**(common or {}), **kwargs}
        frames, seconds = stylize_sequence(sequence, style, settings)
        err = metrics.temporal_error(frames, sequence.flow_backward, sequence.mask_backward)
        e_t = metrics.e_temporal(frames, sequence.flow_backward, sequence.mask_backward)
        results[name] = MethodResult(name, frames, err, e_t, seconds / sequence.num_frames)
    return results


def format_table(rows: Mapping[str, Mapping[str, MethodResult]], baseline: str = "random") -> str:
    """Markdown table: methods x sequences, mean temporal error (and ratio to ``baseline``)."""
    seqs = list(rows)
    names = list(next(iter(rows.values())))
    lines = ["| method | " + " | ".join(seqs) + " | s/frame |", "|---" * (len(seqs) + 2) + "|"]
    for name in names:
        cells = []
        for s in seqs:
            r = rows[s][name]
            ref = rows[s].get(baseline)
            ratio = f" ({r.mean_temporal_error / ref.mean_temporal_error:.2f}x)" if ref is not None else ""
            cells.append(f"{r.mean_temporal_error:.5f}{ratio}")
        spf = np.mean([rows[s][name].seconds_per_frame for s in seqs])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {spf:.2f} |")
    return "\n".join(lines)

