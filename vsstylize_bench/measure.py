"""``vsstylize bench`` measurements: each setting over one generated sequence, saved sequence or real clip."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .config import LONG_TERM_K, BenchConfig, BenchInputError, ClipSpec
from .metrics import Side
from .runner import MethodResult

__all__ = ["SequenceReport", "border_band", "error_maps", "load_dir", "measure_clip", "measure_sequence", "open_clip",
           "relative_border_contrast"]


def _truncate(seq: Any, frames: int) -> Any:
    """A loaded sequence cut to its first ``frames`` frames (long-term flows with ``k >= frames`` dropped)."""
    if seq.num_frames <= frames:
        return seq
    fw = seq.flow_forward[:frames].copy()
    mf = seq.mask_forward[:frames].copy()
    fw[-1] = 0.0
    mf[-1] = 0.0
    return replace(seq, frames=seq.frames[:frames], flow_backward=seq.flow_backward[:frames], flow_forward=fw,
                   mask_backward=seq.mask_backward[:frames], mask_forward=mf,
                   long_flows={k: v[:frames] for k, v in seq.long_flows.items() if k < frames},
                   long_masks={k: v[:frames] for k, v in seq.long_masks.items() if k < frames},
                   alpha=seq.alpha[:frames], camera=seq.camera[:frames], object_inverse=seq.object_inverse[:frames])


def load_dir(cfg: BenchConfig, folder: Path) -> Any:
    from vsstylize.train.sequences import load_sequence

    try:
        seq = load_sequence(folder)
    except (OSError, ValueError) as exc:
        raise BenchInputError("--sequence-dirs", f"cannot load {str(folder)!r}: {exc}") from exc
    w, h = seq.size
    if w != cfg.width:
        raise BenchInputError("--sequence-dirs", f"sequence {str(folder)!r} is {w}x{h} but --width is {cfg.width}; "
                                                 f"sequence folders are not resized: pass --width {w} or regenerate it")
    if seq.num_frames < 2:
        raise BenchInputError("--sequence-dirs", f"sequence {str(folder)!r} has {seq.num_frames} frame(s) (frames < 2)")
    return _truncate(seq, cfg.frames)


def open_clip(cfg: BenchConfig, spec: ClipSpec) -> Any:
    """The clip's frame range as RGBS at ``--width`` (height keeps the aspect ratio, even)."""
    import vapoursynth as vs

    core = vs.core
    try:
        src = core.bs.VideoSource(str(spec.path))
    except (vs.Error, AttributeError) as exc:
        raise BenchInputError("--clips", f"cannot decode {str(spec.path)!r}: {exc}") from exc
    end = spec.end if spec.end is not None else spec.start + cfg.frames
    if not 0 <= spec.start < end <= src.num_frames:
        raise BenchInputError("--clips", f"frame range {spec.start}:{end} is outside the {src.num_frames} frames of {spec.path}")
    if end - spec.start < 2:
        raise BenchInputError("--clips", f"{spec.path} range {spec.start}:{end} holds fewer than 2 frames (frames < 2)")
    src = src[spec.start:end]
    height = max(16, int(round(src.height * cfg.width / src.width / 2)) * 2)
    kwargs: dict[str, Any] = {}
    if src.format.color_family == vs.YUV and src.get_frame(0).props.get("_Matrix", 2) == 2:  # unspecified
        kwargs["matrix_in_s"] = "170m" if src.height < 720 else "709"
    return core.resize.Bicubic(src, cfg.width, height, format=vs.RGBS, **kwargs), end


@dataclass
class SequenceReport:
    """Results of all methods on one sequence or clip."""

    name: str
    kind: str  # "ground truth" or "estimated flow"
    content: np.ndarray
    flow_backward: np.ndarray
    weights: np.ndarray  # mask (ground truth) or reliability (estimated)
    results: dict[str, MethodResult]
    description: str = ""
    #: ``{"content" or method: (T,) border/centre std ratio}`` for sequences with an entering side
    #: (:func:`border_band`), else empty.
    border_contrast: dict[str, np.ndarray] = field(default_factory=dict)
    #: ``{method: (T,) ratio / the per-frame reference's ratio}`` (:func:`relative_border_contrast`) and
    #: the name of that reference; empty / ``""`` without an entering side.
    border_contrast_relative: dict[str, np.ndarray] = field(default_factory=dict)
    border_reference: str = ""


def border_band(seq: Any) -> tuple[Side, int] | None:
    """``(side, band_px)`` of a sequence whose camera pans so that new content keeps entering from one side
    (``fast_pan``: ``metadata["params"]["entering_side"]``), else ``None``. The band is an eighth of the
    frame width (left / right) or height (top / bottom): about the content entering over one frame."""
    if seq.metadata.get("preset") != "fast_pan":
        return None
    side = seq.metadata["params"]["entering_side"]
    w, h = seq.size
    return side, max(1, (w if side in ("left", "right") else h) // 8)


def relative_border_contrast(ratios: Mapping[str, np.ndarray], reference: str) -> dict[str, np.ndarray]:
    """Border/centre std ratios relative to those of per-frame stylization, frame by frame.

    The raw ratio (:func:`vsstylize_bench.metrics.border_contrast`) follows the content: a photo's entering band
    can hold a sky while the centre holds a facade. Stylizing every frame independently (``reference``, e.g.
    per-frame processing from the content image) cannot lose contrast over time, so
    ``(std_band / std_centre)_method / (std_band / std_centre)_reference`` isolates what a method does to the
    entering content (Ruder et al. 2018 Fig. 10): 1 = the border keeps the contrast a fresh stylization
    gives it; single-pass drifting below 1 is the paper's contrast loss.

    :param ratios: ``{name: (T,) ratio}``, holding ``reference``; a ``"content"`` entry (the input frames)
        is skipped, as is the reference itself.
    :param reference: the per-frame method's name.
    :returns: ``{name: (T,) float64 relative ratio}`` for the other methods, in the input order.
    :raises KeyError: ``reference`` is not in ``ratios``.
    """
    if reference not in ratios:
        raise KeyError(f"border contrast: the per-frame reference {reference!r} was not measured "
                       f"(have {', '.join(ratios)})")
    ref = np.asarray(ratios[reference], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {n: np.asarray(r, dtype=np.float64) / ref for n, r in ratios.items() if n not in ("content", reference)}


def error_maps(frames: np.ndarray, flow_backward: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(T-1, H, W)`` absolute difference between stylized frame ``t`` and the warped frame ``t-1``
    (root of the channel-mean squared difference), ``nan`` where ``weights <= 0.5`` (disoccluded or
    unreliable)."""
    from vsstylize_bench.metrics import squared_warp_difference

    d = np.sqrt(squared_warp_difference(frames, flow_backward, 1).numpy().astype(np.float64))
    w = np.asarray(weights)[-d.shape[0]:]
    return np.where(w > 0.5, d, np.nan)


def _log(msg: str) -> None:
    print(f"vsstylize bench: {msg}", file=sys.stderr, flush=True)


def measure_sequence(cfg: BenchConfig, seq: Any, methods: Mapping[str, Mapping[str, Any]], desc: str) -> SequenceReport:
    from .runner import add_relative_losses, evaluate

    t0 = time.perf_counter()
    results = {}
    for name, kwargs in methods.items():  # one at a time, for progress output
        results.update(evaluate(seq, cfg.style, {name: kwargs}, cfg.run_kwargs(), long_steps=LONG_TERM_K))
        _log(f"{seq.name}: {name} {results[name].seconds_per_frame:.1f} s/frame, "
             f"temporal error {results[name].mean_temporal_error:.5f}")
    add_relative_losses(results, seq.frames, cfg.style, baseline=cfg.reference)
    _log(f"{seq.name}: done in {time.perf_counter() - t0:.0f} s")
    border: dict[str, np.ndarray] = {}
    relative: dict[str, np.ndarray] = {}
    band = border_band(seq)
    if band is not None:
        from vsstylize_bench.metrics import border_contrast

        border = {name: border_contrast(frames, *band)
                  for name, frames in {"content": seq.frames, **{n: r.frames for n, r in results.items()}}.items()}
        relative = relative_border_contrast(border, cfg.reference)
    return SequenceReport(seq.name, "ground truth", seq.frames, seq.flow_backward, seq.mask_backward, results, desc,
                          border, relative, cfg.reference if band is not None else "")


def measure_clip(cfg: BenchConfig, spec: ClipSpec, methods: Mapping[str, Mapping[str, Any]]) -> SequenceReport:
    from .runner import add_relative_losses, estimate_truth, evaluate_clip

    clip, end = open_clip(cfg, spec)
    name = f"{spec.path.stem}-{spec.start}-{end}"
    t0 = time.perf_counter()
    truth = estimate_truth(clip, name)
    results = {}
    for mname, kwargs in methods.items():
        results.update(evaluate_clip(truth, cfg.style, {mname: kwargs}, cfg.run_kwargs()))
        _log(f"{name}: {mname} {results[mname].seconds_per_frame:.1f} s/frame, "
             f"warping error {results[mname].mean_temporal_error:.5f}")
    add_relative_losses(results, truth.frames, cfg.style, baseline=cfg.reference)
    _log(f"{name}: done in {time.perf_counter() - t0:.0f} s")
    desc = (f"real clip {spec.path.name}, frames {spec.start}:{end}, {clip.width}x{clip.height}; "
            "no ground truth: warping error with DIS flow and its reliability weights")
    return SequenceReport(name, "estimated flow", truth.frames, truth.flow_backward, truth.reliability, results, desc)
