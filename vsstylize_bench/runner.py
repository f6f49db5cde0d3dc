"""Run stylization settings over ground-truth sequences and measure them the papers' way.

The baselines of Ruder et al. (2018, Tables 2 and 4) are always available by name:

* ``random``: per-frame optimization from random noise (each frame independent);
* ``prev``: initialised with the previous stylized frame, no temporal loss;
* ``prevWarped``: initialised with the previous stylized frame warped along the flow, no temporal loss;
* ``temporal``: prevWarped initialisation plus the temporal loss (Ruder et al.'s short-term method).

The method sees flows estimated from the frames (``vsstylize.flow``, as the paper used DeepFlow); the
temporal error is measured with the sequence's exact ground-truth flow and disocclusion mask
(:func:`evaluate`). Real clips have no ground truth: :func:`estimate_truth` measures their flow with
``vsstylize.flow`` and weights it with ``vsstylize.reliability``, and :func:`evaluate_clip` reports the
warping error (:func:`vsstylize_bench.metrics.warping_error`) instead. :func:`add_relative_losses` adds Ruder
et al.'s content and style loss relative to per-frame processing (Table 5).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import vapoursynth as vs

from vsstylize.methods.registry import find
from vsstylize.opticalflow.estimators import DisPreset, FlowMethod
from vsstylize.train.sequences import Sequence

from . import metrics, monitor

__all__ = [
    "BASELINES",
    "MATCHED_ITERATIONS",
    "EstimatedTruth",
    "MethodResult",
    "add_relative_losses",
    "add_stuck_counts",
    "clip_array",
    "estimate_truth",
    "evaluate",
    "evaluate_clip",
    "format_table",
    "recording_loss_ratios",
    "stylize_clip",
    "stylize_sequence",
]

#: Setting key (not a stylize() argument) asking for per-frame processing with the chains' cumulative
#: iterations, see :func:`stylize_clip`.
MATCHED_ITERATIONS = "matched_iterations"

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
    :ivar peak_rss_bytes: peak CPU resident set size of the process while stylizing (``None`` if unknown).
    :ivar long_term_error: ``{k: (T-k,)}`` long-term error between frames ``t`` and ``t-k`` (ground truth only).
    :ivar extra: further scalars, e.g. ``content_relative`` / ``style_relative`` (:func:`add_relative_losses`).
    :ivar frame_seconds: ``(T,)`` wall time of each frame, rendered in order (:func:`stylize_clip`).
    """

    name: str
    frames: np.ndarray
    temporal_error: np.ndarray
    e_temporal: float
    frame_seconds: np.ndarray
    extra: dict[str, float] = field(default_factory=dict)
    peak_rss_bytes: int | None = None
    long_term_error: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def mean_temporal_error(self) -> float:
        return float(np.nanmean(self.temporal_error))

    @property
    def seconds_per_frame(self) -> float:
        """Wall time of the stylization divided by ``T``."""
        return float(np.mean(self.frame_seconds))

    @property
    def later_seconds_per_frame(self) -> float:
        """Mean seconds of frames ``1 .. T-1``: the steady state of a recursive chain, whose first frame
        gets its own (larger) iteration count; NaN with one frame."""
        if len(self.frame_seconds) < 2:
            return float("nan")
        return float(np.mean(self.frame_seconds[1:]))


def _planes(frame: vs.VideoFrame) -> np.ndarray:
    """``(3, H, W)`` copy of a three-plane frame."""
    return np.stack([np.asarray(frame[p]) for p in range(3)])


def clip_array(clip: vs.VideoNode) -> np.ndarray:
    """``(T, 3, H, W)`` copy of every frame of a three-plane clip, in order."""
    return np.stack([_planes(f) for f in clip.frames(close=True)])


def _render(clips: Iterable[vs.VideoNode]) -> tuple[np.ndarray, np.ndarray]:
    """Request the frames of ``clips`` one after another, in order, timing each.

    :returns: ``(frames (T, 3, H, W), seconds (T,))`` over the frames of all clips.
    """
    arrays, seconds = [], []
    for clip in clips:
        for n in range(clip.num_frames):
            with monitor.timed(1) as timing, clip.get_frame(n) as f:
                arrays.append(_planes(f))
            seconds.append(timing.seconds)
    return np.stack(arrays), np.asarray(seconds)


def stylize_clip(clip: vs.VideoNode, style: str | Path, settings: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Stylize an RGBS clip with ``vsstylize.stylize(**settings)``.

    With ``settings["method"] == "multipass"`` the clip is one shot (``max_shot_length``), ``num_iterations[1]``
    iterations per pass and the first ``init`` for pass 1. With ``settings[MATCHED_ITERATIONS]`` true the frames are
    stylized independently, frame ``t`` with
    ``num_iterations[0] + t * num_iterations[1]`` iterations (a per-frame reference as converged as a chain).

    :returns: ``(frames (T, 3, H, W), seconds (T,), peak_rss_bytes)``: the wall time of each frame (frames
        are requested in order; a multipass shot is processed when its first frame is requested); the times
        and the peak memory cover rendering the frames (flow estimation and optimization), not building the
        filter graph.
    """
    import vsstylize

    settings = dict(settings)
    if settings.pop(MATCHED_ITERATIONS, False):
        return _stylize_matched(clip, style, settings)
    if settings.get("method") == "multipass":
        iterations = settings.pop("num_iterations", (100, 100))
        settings["num_iterations"] = int(iterations[1] if isinstance(iterations, (tuple, list)) else iterations)
        init = settings.pop("init", "random")
        settings["init"] = init[0] if isinstance(init, (tuple, list)) else init
        settings["max_shot_length"] = max(2, clip.num_frames)
    spec = find(settings.get("method", "optim"), settings.get("projection", "planar"))
    from vsstylize.networks.pretrained import is_pretrained

    # flowfree takes a style only for a pretrained style network (network="arbitrary")
    uses_style = spec.style == "required" or (spec.style == "optional" and is_pretrained(settings.get("network")))
    out = vsstylize.stylize(clip, str(style) if uses_style else None, **settings)
    with monitor.PeakMemory() as mem:
        frames, seconds = _render([out])
    return frames, seconds, mem.peak_rss_bytes


def _stylize_matched(clip: vs.VideoNode, style: str | Path,
                     settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Per-frame processing where frame ``t`` gets ``first + t * later`` iterations: the iterations a
    chain (prev / prevWarped init) has spent on its frame ``t`` in total, so the per-frame reference
    of the relative losses is as far converged as the chain (the paper compares converged results)."""
    import vsstylize

    first, later = settings.pop("num_iterations", (2000, 1000))
    seed = int(settings.pop("seed", 0))
    outs = [vsstylize.stylize(clip[t], str(style), num_iterations=first + t * later, seed=seed + t, **settings)
            for t in range(clip.num_frames)]
    with monitor.PeakMemory() as mem:
        frames, seconds = _render(outs)
    return frames, seconds, mem.peak_rss_bytes


@contextlib.contextmanager
def recording_loss_ratios() -> Iterator[list[float]]:
    """Collect, while the block runs, the end/start loss ratio of every per-frame optimisation that
    vsstylize logs (:meth:`vsstylize.methods.optim.FrameOptimizer.__call__` attaches
    ``record.loss_ratio``; one per frame, per face of a spherical frame, per pass of multipass).

    The ``vsstylize`` logger is lowered to INFO for the block through a logger filter that lets only the
    records through that would have passed before, so no handler sees more than it used to. Frames
    served from a cache are not optimised and not counted.

    :yields: the list the ratios are appended to.
    """
    logger = logging.getLogger("vsstylize")
    ratios: list[float] = []
    old_level, passes = logger.level, logger.getEffectiveLevel()

    def capture(record: logging.LogRecord) -> bool:
        ratio = getattr(record, "loss_ratio", None)
        if ratio is not None:
            ratios.append(float(ratio))
        return record.levelno >= passes

    logger.addFilter(capture)
    logger.setLevel(min(passes, logging.INFO))
    try:
        yield ratios
    finally:
        logger.removeFilter(capture)
        logger.setLevel(old_level)


def add_stuck_counts(result: MethodResult, ratios: Iterable[float]) -> None:
    """Store in ``result.extra`` how many optimisations did not leave their initialisation: ``optimisations``
    (counted), ``stuck_optimisations`` (end/start loss ratio >= :data:`vsstylize.optim.optimizer.STUCK_LOSS_RATIO`)
    and ``max_loss_ratio``; nothing when none was counted."""
    from vsstylize.optim.optimizer import STUCK_LOSS_RATIO

    values = np.asarray(list(ratios), dtype=np.float64)
    if values.size == 0:
        return
    result.extra["optimisations"] = float(values.size)
    result.extra["stuck_optimisations"] = float(np.sum(~(values < STUCK_LOSS_RATIO)))  # NaN counts as stuck
    result.extra["max_loss_ratio"] = float(np.nanmax(values)) if np.isfinite(values).any() else float("nan")


def stylize_sequence(sequence: Sequence, style: str | Path, settings: Mapping[str, Any]) -> tuple[np.ndarray, float]:
    """Stylize a sequence's frames with ``vsstylize.stylize(**settings)``; returns ``(frames, seconds)``."""
    frames, seconds, _ = stylize_clip(sequence.to_clips(vs.core).frames, style, settings)
    return frames, float(seconds.sum())


def evaluate(sequence: Sequence, style: str | Path, methods: Mapping[str, Mapping[str, Any]],
             common: Mapping[str, Any] | None = None, long_steps: Iterable[int] = ()) -> dict[str, MethodResult]:
    """Stylize ``sequence`` with each setting and measure the temporal error against ground truth.

    :param methods: ``name -> stylize() keyword arguments`` (e.g. :data:`BASELINES` entries).
    :param common: keyword arguments shared by every method (iterations, weights, seed ...).
    :param long_steps: frame distances ``k`` for :attr:`MethodResult.long_term_error`; those the sequence
        was not generated with (``sequence.long_steps``) are skipped.
    :raises vs.Error: whatever ``stylize`` raises for bad settings.
    """
    steps = [k for k in long_steps if k in sequence.long_flows and k < sequence.num_frames]
    clip = sequence.to_clips(vs.core).frames
    results: dict[str, MethodResult] = {}
    for name, kwargs in methods.items():
        settings = {**(common or {}), **kwargs}
        with recording_loss_ratios() as ratios:
            frames, seconds, peak = stylize_clip(clip, style, settings)
        err = metrics.temporal_error(frames, sequence.flow_backward, sequence.mask_backward)
        e_t = metrics.e_temporal(frames, sequence.flow_backward, sequence.mask_backward)
        long = {k: metrics.long_term_error(frames, sequence.long_flows[k], sequence.long_masks[k], k) for k in steps}
        results[name] = MethodResult(name, frames, err, e_t, seconds, peak_rss_bytes=peak, long_term_error=long)
        add_stuck_counts(results[name], ratios)
    return results


@dataclass
class EstimatedTruth:
    """A real clip with estimated flow: the reference of :func:`evaluate_clip`.

    :ivar clip: the RGBS clip that is stylized.
    :ivar frames: ``(T, 3, H, W)`` its frames in [0, 1].
    :ivar flow_backward: ``(T, 2, H, W)`` estimated flow ``t -> t-1`` (zero at ``t = 0``).
    :ivar reliability: ``(T, H, W)`` forward-backward consistency weights in [0, 1] (zero at ``t = 0``).
    """

    name: str
    clip: vs.VideoNode
    frames: np.ndarray
    flow_backward: np.ndarray
    reliability: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def estimate_truth(clip: vs.VideoNode, name: str, flow_method: FlowMethod = "dis",
                   flow_preset: DisPreset = "medium") -> EstimatedTruth:
    """Estimate the backward flow of an RGBS clip (``vsstylize.flow``) and its reliability
    (``vsstylize.reliability``, forward-backward check) for measuring the warping error.

    :raises vs.Error: bad clip or flow settings.
    """
    import vsstylize

    bw = vsstylize.flow(clip, "backward", 1, method=flow_method, preset=flow_preset)
    fw = vsstylize.flow(clip, "forward", 1, method=flow_method, preset=flow_preset)
    rel = vsstylize.reliability(bw, fw)
    frames = clip_array(clip)
    flows = clip_array(bw)[:, :2]
    weights = np.stack([np.asarray(f[0]).copy() for f in rel.frames(close=True)])
    return EstimatedTruth(name, clip, frames, np.ascontiguousarray(flows), np.clip(weights, 0.0, 1.0))


def evaluate_clip(truth: EstimatedTruth, style: str | Path, methods: Mapping[str, Mapping[str, Any]],
                  common: Mapping[str, Any] | None = None) -> dict[str, MethodResult]:
    """Like :func:`evaluate` for a real clip without ground truth: ``temporal_error`` is the
    reliability-weighted warping error (:func:`vsstylize_bench.metrics.warping_error`) with the estimated flow,
    ``e_temporal`` uses the reliability weights as Huang's ``c``.

    :raises vs.Error: whatever ``stylize`` raises for bad settings.
    """
    results: dict[str, MethodResult] = {}
    for name, kwargs in methods.items():
        settings = {**(common or {}), **kwargs}
        with recording_loss_ratios() as ratios:
            frames, seconds, peak = stylize_clip(truth.clip, style, settings)
        err = metrics.warping_error(frames, truth.flow_backward, truth.reliability)
        e_t = metrics.e_temporal(frames, truth.flow_backward, truth.reliability)
        results[name] = MethodResult(name, frames, err, e_t, seconds, peak_rss_bytes=peak)
        add_stuck_counts(results[name], ratios)
    return results


def add_relative_losses(results: Mapping[str, MethodResult], content: np.ndarray, style: str | Path,
                        baseline: str = "random", model: str = "vgg19",
                        model_weights: str | None = None) -> dict[str, metrics.RelativeLosses]:
    """Store Ruder et al.'s content and style loss relative to per-frame processing (Table 5) in each
    result's ``extra["content_relative"]`` / ``extra["style_relative"]`` (1.0 = as per-frame ``baseline``;
    mean over frames) and ``extra["content_relative_last"]`` / ``extra["style_relative_last"]`` (the last
    frame alone, where a method that degenerates over time is worst).

    The loss network is the one ``stylize`` uses by default (:func:`vsstylize.optim.vgg.load_loss_network`).

    :param content: ``(T, 3, H, W)`` the content frames that were stylized.
    :returns: ``{method: RelativeLosses}`` with the per-frame losses behind the stored ratios.
    :raises KeyError: ``baseline`` is not among ``results``.
    """
    from vsstylize.methods.style import load_styles
    from vsstylize.optim.losses import StyleTarget
    from vsstylize.optim.vgg import load_loss_network

    if baseline not in results:
        raise KeyError(f"baseline {baseline!r} is not among the results {list(results)}")
    net = load_loss_network(model, weights=model_weights)  # type: ignore[arg-type]
    h, w = content.shape[-2:]
    target = StyleTarget(net, load_styles("bench", str(style)), (h, w))
    ref = results[baseline].frames
    out = {}
    for name, r in results.items():
        rel = out[name] = metrics.relative_losses(r.frames, ref, content, net, target)
        r.extra["content_relative"] = rel.content
        r.extra["style_relative"] = rel.style
        r.extra["content_relative_last"] = float(rel.content_per_frame[-1])  # degeneration over time
        r.extra["style_relative_last"] = float(rel.style_per_frame[-1])
    return out


def format_table(rows: Mapping[str, Mapping[str, MethodResult]], baseline: str = "random") -> str:
    """Markdown table: methods x sequences, mean temporal error (and ratio to ``baseline``), the mean seconds
    per frame and those of the frames after the first (:attr:`MethodResult.later_seconds_per_frame`, the
    steady state of a long chain) averaged over the sequences."""
    seqs = list(rows)
    names = list(next(iter(rows.values())))
    lines = ["| method | " + " | ".join(seqs) + " | s/frame | s/frame after the first |", "|---" * (len(seqs) + 3) + "|"]
    for name in names:
        cells = []
        for s in seqs:
            r = rows[s][name]
            ref = rows[s].get(baseline)
            ratio = f" ({r.mean_temporal_error / ref.mean_temporal_error:.2f}x)" if ref is not None else ""
            cells.append(f"{r.mean_temporal_error:.5f}{ratio}")
        spf = np.mean([rows[s][name].seconds_per_frame for s in seqs])
        later = np.mean([rows[s][name].later_seconds_per_frame for s in seqs])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {spf:.2f} | {later:.2f} |")
    return "\n".join(lines)

