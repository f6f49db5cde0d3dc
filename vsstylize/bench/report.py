"""``vsstylize bench``: run stylization settings over sequences and real clips, write a report folder.

The report follows the papers' evaluation protocol (``docs/DESIGN.md``, "Evaluation protocol"):

* generated sequences (:func:`vsstylize.bench.make_sequence`) and user sequence folders
  (:func:`vsstylize.bench.load_sequence`) have exact ground truth: short-term temporal error and its ratio
  to per-frame random init (Ruder et al. 2018 Tables 2/4), Huang's ``E_temporal``, long-term error for
  ``k`` in {5, 10} where the sequence is long enough;
* real clips have none: the warping error with DIS flow (``vsstylize.flow``) weighted by its
  forward-backward reliability (``vsstylize.reliability``);
* content and style loss relative to per-frame processing in percent (Ruder Table 5, baseline ``random``),
  seconds per frame and peak CPU RSS for every setting.

Output folder: ``report.md`` (command, machine, settings, tables), ``results.json`` (the numbers),
``temporal_error_<sequence>.png`` (error per frame over time, one line per method) and
``strip_<sequence>.png`` (stylized frames with their error maps, like Ruder et al. Fig. 2). Every file
is written atomically.

Python use::

    from vsstylize.bench.report import BenchConfig, run_bench
    run_bench(BenchConfig(out=Path("bench/x"), width=128, frames=4, iterations=(100, 50)))
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence as Seq
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .runner import BASELINES, MATCHED_ITERATIONS, MethodResult

__all__ = ["SETTINGS", "LONG_TERM_K", "BenchConfig", "BenchInputError", "ClipSpec", "add_bench_parser",
           "config_from_args", "run_bench", "bench_command", "format_report_table", "error_maps", "border_band",
           "relative_border_contrast", "format_border_table", "plot_border_contrast"]

#: Named settings (``vsstylize.stylize`` keyword arguments) selectable with ``--methods``; the four
#: baselines of :data:`vsstylize.bench.runner.BASELINES` are always run.
SETTINGS: dict[str, dict[str, Any]] = {
    **BASELINES,
    # Ruder et al. 2018 sec. 4.3: long-term consistency with J = {1, 2, 4} (scaled to short sequences).
    "longterm": {"init": ("random", "prevWarped"), "flow_relative_indices": (1, 2, 4)},
    # the short-term temporal loss with a 10x stronger weight (gamma = 1e4 instead of 1e3).
    "temporal_strong": {"init": ("random", "prevWarped"), "temporal_weight": 1e4},
    # short-term temporal loss, first frame initialised with the content image instead of noise.
    "temporal_image": {"init": ("image", "prevWarped")},
    # Ruder et al. 2018 sec. 4.3 with the paper's J = {1, 10, 20, 40} (needs sequences longer than 10 frames).
    "longterm_paper": {"init": ("random", "prevWarped"), "flow_relative_indices": (1, 10, 20, 40)},
    # Ruder et al. sec. 4.4: the multi-pass algorithm (later-frame iterations per pass), paper's delta 0.5.
    "multipass": {"method": "multipass", "num_passes": 6, "use_temporal_loss_after": 4, "blend_weight": 0.5,
                  "init": "image"},
    # per-frame processing from the content image (neural-style's -init image).
    "image": {"init": ("image", "image"), "temporal_weight": 0.0},
    # the same with frame t given first + t * later iterations, as many as a chain has spent on it: the
    # quality reference of --first-init image (Ruder Table 5 compares converged per-frame results).
    "image_matched": {"init": ("image", "image"), "temporal_weight": 0.0, MATCHED_ITERATIONS: True},
}
#: First-frame initialisations selectable with ``--first-init``.
FIRST_INITS = ("random", "image")
#: Long-term distances reported where a sequence is long enough (``T > k``).
LONG_TERM_K: tuple[int, ...] = (5, 10)
DEFAULT_SEQUENCES = ("slow_pan", "fast_pan_zoom", "large_occluder")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASELINE = "random"
MAX_STRIP_FRAMES = 5


class BenchInputError(ValueError):
    """Bad ``vsstylize bench`` input; ``option`` names the command-line option."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


@dataclass(frozen=True)
class ClipSpec:
    """A real clip: ``path`` and the frame range ``[start, end)`` (``end=None``: ``start + frames``)."""

    path: Path
    start: int = 0
    end: int | None = None

    @property
    def label(self) -> str:
        return f"{self.path.name}#{self.start}:{self.end}" if self.end is not None else self.path.name


@dataclass
class BenchConfig:
    """Settings of one bench run (the ``vsstylize bench`` options)."""

    out: Path
    width: int = 256
    frames: int = 6
    iterations: tuple[int, int] = (200, 100)
    sequences: tuple[str, ...] = DEFAULT_SEQUENCES
    clips: tuple[ClipSpec, ...] = ()
    sequence_dirs: tuple[Path, ...] = ()
    methods: tuple[str, ...] = ()
    style: Path = EXAMPLES / "starry_night.jpg"
    image: str | None = None
    seed: int = 0
    tol_loss_relative: float = 1e-4
    temporal_weight: float | None = None
    first_init: str = "random"
    sequence_height: int | None = None
    cache_dir: Path | None = None
    command: str = ""
    extra_common: dict[str, Any] = field(default_factory=dict)

    def method_settings(self) -> dict[str, dict[str, Any]]:
        """``name -> stylize() kwargs``: the baselines, then the extra ``methods`` in the given order.

        :raises BenchInputError: an unknown method name (``--methods``).
        """
        unknown = [m for m in self.methods if m not in SETTINGS]
        if unknown:
            raise BenchInputError("--methods", f"unknown method(s) {', '.join(map(repr, unknown))}; "
                                               f"choose from {', '.join(SETTINGS)}")
        if self.first_init not in FIRST_INITS:
            raise BenchInputError("--first-init", f"must be one of {', '.join(FIRST_INITS)}, got {self.first_init!r}")
        names = list(BASELINES) + [self.reference] + [m for m in self.methods if m not in BASELINES]
        out = {n: dict(SETTINGS[n]) for n in dict.fromkeys(names)}
        for kw in out.values():
            # the chains (settings whose later frames start from the previous result) start like the
            # per-frame reference
            init = kw.get("init")
            if isinstance(init, tuple) and init[0] == "random" and init[1] in ("prev", "prevWarped"):
                kw["init"] = (self.first_init, init[1])
        return out

    @property
    def reference(self) -> str:
        """The per-frame method the content / style losses are relative to (Ruder Table 5): per-frame
        processing with the chains' first-frame initialisation: ``random`` (the paper's baseline), or for
        ``--first-init image`` ``image_matched`` (init image, frame ``t`` given the ``first + t * later``
        iterations a chain has spent on it). Frame 0 of every chain equals the reference's frame 0."""
        return "random" if self.first_init == "random" else "image_matched"

    def run_kwargs(self) -> dict[str, Any]:
        """:meth:`common` plus the run's shared stylized-frame cache (``cache_dir``), through which the
        methods share their identical first frames."""
        return {**self.common(), **({"cache_dir": str(self.cache_dir)} if self.cache_dir is not None else {})}

    def common(self) -> dict[str, Any]:
        """Keyword arguments shared by every method."""
        c: dict[str, Any] = {"num_iterations": tuple(self.iterations), "seed": self.seed,
                             "tol_loss_relative": self.tol_loss_relative}
        if self.temporal_weight is not None:
            c["temporal_weight"] = self.temporal_weight
        c.update(self.extra_common)
        return c

    @property
    def height(self) -> int:
        """Height of the generated sequences: ``sequence_height``, else 4:3 at ``width``, even."""
        if self.sequence_height is not None:
            return self.sequence_height
        return max(16, int(round(self.width * 3 / 4 / 2)) * 2)


# ----------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------
def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def parse_iterations(text: str, option: str = "--iterations") -> tuple[int, int]:
    """``"first,later"`` iteration counts (one number: both) as a pair of ints >= 1.

    :raises BenchInputError: anything else, naming ``option``.
    """
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        raise BenchInputError(option, f"must be 'first,later' integers, got {text!r}") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) < 1:
        raise BenchInputError(option, f"must be 'first,later' with integers >= 1, got {text!r}")
    return vals[0], vals[1]


def _parse_clip(text: str) -> ClipSpec:
    path_text, start, end = text, 0, None
    if "#" in text and not Path(text).exists():
        path_text, _, rng = text.rpartition("#")
        a, sep, b = rng.partition(":")
        try:
            start = int(a) if a else 0
            end = int(b) if b else None
        except ValueError:
            raise BenchInputError("--clips", f"frame range after '#' must look like START:END, got {rng!r} in {text!r}") from None
        if not sep and a:
            raise BenchInputError("--clips", f"frame range after '#' must look like START:END, got {rng!r} in {text!r}")
        if start < 0 or (end is not None and end - start < 2):
            raise BenchInputError("--clips", f"frame range {rng!r} of {path_text} must hold at least 2 frames (frames < 2)")
    path = Path(path_text)
    if not path.is_file():
        raise BenchInputError("--clips", f"clip file {str(path)!r} not found")
    return ClipSpec(path, start, end)


def config_from_args(args: argparse.Namespace, command: str = "") -> BenchConfig:
    """Build and check a :class:`BenchConfig` from the parsed ``bench`` options.

    :raises BenchInputError: naming the offending option.
    """
    from .sequences import PRESETS

    if args.frames < 2:
        raise BenchInputError("--frames", f"need at least 2 frames to measure temporal consistency, got {args.frames}")
    if args.width < 32:
        raise BenchInputError("--width", f"must be >= 32 pixels, got {args.width}")
    if args.height is not None and not 16 <= args.height <= 4 * args.width:
        raise BenchInputError("--height", f"must be between 16 and 4 x --width pixels, got {args.height}")
    if args.seed < 0:
        raise BenchInputError("--seed", f"must be >= 0, got {args.seed}")
    style = Path(args.style)
    if not style.is_file():
        raise BenchInputError("--style", f"style image {str(style)!r} not found")
    sequences = tuple(s for s in _split(args.sequences) if s.lower() != "none")
    bad = [s for s in sequences if s not in PRESETS]
    if bad:
        raise BenchInputError("--sequences", f"unknown sequence preset(s) {', '.join(map(repr, bad))}; "
                                             f"choose from {', '.join(PRESETS)}")
    if args.image is not None and not Path(args.image.rpartition("#")[0] or args.image).exists():
        raise BenchInputError("--image", f"background photo {args.image!r} not found")
    dirs = tuple(Path(d) for d in _split(args.sequence_dirs))
    for d in dirs:
        if not (d / "manifest.json").is_file():
            raise BenchInputError("--sequence-dirs", f"{str(d)!r} is not a saved sequence folder (no manifest.json)")
    cfg = BenchConfig(
        out=Path(args.out), width=args.width, frames=args.frames, iterations=parse_iterations(args.iterations),
        sequences=sequences, clips=tuple(_parse_clip(c) for c in _split(args.clips)), sequence_dirs=dirs,
        methods=tuple(_split(args.methods)), style=style, image=args.image, seed=args.seed,
        tol_loss_relative=args.tol_loss_relative, temporal_weight=args.temporal_weight,
        first_init=args.first_init, sequence_height=args.height, command=command,
    )
    cfg.method_settings()  # unknown names
    if not (cfg.sequences or cfg.clips or cfg.sequence_dirs):
        raise BenchInputError("--sequences", "nothing to run: give sequences, --clips or --sequence-dirs")
    return cfg


# ----------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------
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


def _load_dir(cfg: BenchConfig, folder: Path) -> Any:
    from .sequences import load_sequence

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


def _open_clip(cfg: BenchConfig, spec: ClipSpec) -> Any:
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


# ----------------------------------------------------------------------------------------
# measurements
# ----------------------------------------------------------------------------------------
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


def border_band(seq: Any) -> tuple[str, int] | None:
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

    The raw ratio (:func:`vsstylize.metrics.border_contrast`) follows the content: a photo's entering band
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
    from ..metrics import squared_warp_difference

    d = np.sqrt(squared_warp_difference(frames, flow_backward, 1).numpy().astype(np.float64))
    w = np.asarray(weights)[-d.shape[0]:]
    return np.where(w > 0.5, d, np.nan)


def _log(msg: str) -> None:
    print(f"vsstylize bench: {msg}", file=sys.stderr, flush=True)


def _measure_sequence(cfg: BenchConfig, seq: Any, methods: Mapping[str, Mapping[str, Any]], desc: str) -> SequenceReport:
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
        from ..metrics import border_contrast

        border = {name: border_contrast(frames, *band)
                  for name, frames in {"content": seq.frames, **{n: r.frames for n, r in results.items()}}.items()}
        relative = relative_border_contrast(border, cfg.reference)
    return SequenceReport(seq.name, "ground truth", seq.frames, seq.flow_backward, seq.mask_backward, results, desc,
                          border, relative, cfg.reference if band is not None else "")


def _measure_clip(cfg: BenchConfig, spec: ClipSpec, methods: Mapping[str, Mapping[str, Any]]) -> SequenceReport:
    from .runner import add_relative_losses, estimate_truth, evaluate_clip

    clip, end = _open_clip(cfg, spec)
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


# ----------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------
def _fmt(v: float | None, spec: str) -> str:
    return "—" if v is None or not math.isfinite(v) else format(v, spec)


def _pct(v: float | None) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{100 * v:.1f} %"


def format_report_table(reports: Seq[SequenceReport]) -> str:
    """Markdown table: one row per (sequence, method) with every measure of the report."""
    ks = list(LONG_TERM_K)
    head = (["sequence", "method", "temporal error", "vs random", "E_temporal"] + [f"long-term k={k}" for k in ks]
            + ["content loss vs per-frame", "style loss vs per-frame", "s/frame", "peak RSS (MiB)"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rep in reports:
        ref = rep.results.get(BASELINE)
        for name, r in rep.results.items():
            ratio = r.mean_temporal_error / ref.mean_temporal_error if ref is not None and ref.mean_temporal_error > 0 else None
            longs = [_fmt(float(np.nanmean(r.long_term_error[k])) if k in r.long_term_error else None, ".5f") for k in ks]
            rss = r.peak_rss_bytes / 2**20 if r.peak_rss_bytes is not None else None
            cells = [rep.name + ("" if rep.kind == "ground truth" else " (est.)"), name,
                     _fmt(r.mean_temporal_error, ".5f"), _fmt(ratio, ".3f") + ("x" if ratio is not None else ""),
                     _fmt(r.e_temporal, ".4f"), *longs, _pct(r.extra.get("content_relative")),
                     _pct(r.extra.get("style_relative")), _fmt(r.seconds_per_frame, ".2f"), _fmt(rss, ".0f")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _summary_table(reports: Seq[SequenceReport]) -> str:
    """Methods x sequences: mean temporal error (ratio to per-frame random init)."""
    names = list(reports[0].results)
    lines = ["| method | " + " | ".join(r.name for r in reports) + " |", "|---" * (len(reports) + 1) + "|"]
    for name in names:
        cells = []
        for rep in reports:
            r, ref = rep.results[name], rep.results.get(BASELINE)
            ratio = f" ({r.mean_temporal_error / ref.mean_temporal_error:.2f}x)" if ref is not None and ref.mean_temporal_error > 0 else ""
            cells.append(f"{r.mean_temporal_error:.5f}{ratio}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _machine() -> dict[str, str]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = str(len(os.sched_getaffinity(0)))
    except AttributeError:
        cores = str(os.cpu_count())
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none (CPU only)"
    return {"cpu": cpu, "cores": f"{cores} usable ({os.cpu_count()} logical)", "torch threads": str(torch.get_num_threads()),
            "gpu": gpu, "python": platform.python_version(), "torch": torch.__version__, "os": platform.platform()}


def _assessment(reports: Seq[SequenceReport], reference: str = BASELINE) -> list[str]:
    """Plain statements about Ruder's targets (temporal ~10x below random, losses within 15 %)."""
    out = []
    for rep in reports:
        r, t = rep.results.get(BASELINE), rep.results.get("temporal")
        if r is None or t is None or not r.mean_temporal_error > 0:
            continue
        ratio = t.mean_temporal_error / r.mean_temporal_error
        c, s = t.extra.get("content_relative", float("nan")), t.extra.get("style_relative", float("nan"))
        out.append(f"- {rep.name}: temporal / random = {ratio:.3f} ({1 / ratio:.1f}x lower; target ~10x: "
                   f"{'met' if ratio <= 0.1 else 'not met'}); content {100 * c:.0f} %, style {100 * s:.0f} % of per-frame `{reference}` "
                   f"(target at most 115 %: {'met' if c <= 1.15 and s <= 1.15 else 'not met'})")
    return out


def _caveats(cfg: BenchConfig, weights_name: str) -> list[str]:
    """Automatic notes on settings that make the comparison with the paper weaker."""
    out = []
    if cfg.iterations[1] < 1000 or cfg.iterations[0] < 2000:
        out.append(f"- iterations {cfg.iterations[0]},{cfg.iterations[1]} are far below the paper's 2000,1000: "
                   "per-frame results are not converged. From noise (`random`) a frame can stay close to the flat "
                   "mean colour, which lowers its temporal error"
                   + ("; a chain accumulates iterations over its frames, so later frames are further converged than "
                      "the per-frame reference, which lowers their relative style loss and raises their relative "
                      "content loss (`--first-init image` compares with `image_matched`, which gives per-frame "
                      "processing the same iterations)" if cfg.reference == "random" else
                      "; the relative losses compare with `image_matched`, per-frame processing given the "
                      "iterations a chain has spent on each frame"))
    if "vgg19" not in weights_name:
        out.append(f"- loss network `{weights_name}` is the offline fallback, not the papers' VGG-19 "
                   "(`vsstylize download vgg19-caffe`)")
    return (["Caveats:", "", *out, ""]) if out else []


def _write_text(path: Path, text: str) -> Path:
    from ..cache import atomic_write

    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _save_fig(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from ..cache import atomic_write

    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def plot_temporal_error(rep: SequenceReport, path: Path) -> Path:
    """Temporal (or warping) error per frame over time, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, r in rep.results.items():
        t = np.arange(1, len(r.temporal_error) + 1)
        ax.plot(t, r.temporal_error, marker="o", label=name)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("frame t")
    what = "short-term temporal error (ground-truth flow)" if rep.kind == "ground truth" else "warping error (DIS flow, reliability)"
    ax.set_ylabel(what)
    ax.set_title(rep.name)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save_fig(fig, path)


def plot_border_contrast(rep: SequenceReport, path: Path) -> Path:
    """Border/centre standard deviation ratio per frame (Ruder et al. 2018 Fig. 10), one line per method
    and the content frames' ratio dashed; beside it each method's ratio relative to the per-frame
    reference's (:func:`relative_border_contrast`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(rep.border_contrast, "std in the entering band / std in the centre", "raw")]
    if rep.border_contrast_relative:
        panels.append((rep.border_contrast_relative, f"ratio / ratio of per-frame {rep.border_reference}",
                       f"relative to per-frame {rep.border_reference}"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.0), squeeze=False)
    methods = [n for n in rep.border_contrast if n != "content"]
    colour = {n: f"C{i % 10}" for i, n in enumerate(methods)}  # one colour per method in both panels
    for ax, (ratios, ylabel, title) in zip(axes[0], panels):
        for name, ratio in ratios.items():
            ax.plot(np.arange(len(ratio)), ratio, marker="o", markersize=3, label=name,
                    **({"linestyle": "--", "color": "grey"} if name == "content" else {"color": colour[name]}))
        ax.axhspan(0.9, 1.1, color="green", alpha=0.1, label="within 10 %")
        ax.set_xlabel("frame t")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{rep.name}: border contrast, {title}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save_fig(fig, path)


def format_border_table(ratios: Mapping[str, np.ndarray]) -> str:
    """Markdown table: per frame, each entry's border/centre std ratio (``rep.border_contrast``: the content's
    and each method's; ``rep.border_contrast_relative``: relative to per-frame), then the mean over the last
    half and the share of frames within 10 % of 1."""
    names = list(ratios)
    lines = ["| t | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    t_count = len(next(iter(ratios.values())))
    for t in range(t_count):
        lines.append(f"| {t} | " + " | ".join(_fmt(float(ratios[n][t]), ".3f") for n in names) + " |")
    lines.append("| mean, last half | " + " | ".join(
        _fmt(float(np.mean(ratios[n][t_count // 2:])), ".3f") for n in names) + " |")
    lines.append("| frames within 10 % | " + " | ".join(
        f"{np.mean(np.abs(np.asarray(ratios[n]) - 1.0) <= 0.1):.0%}" for n in names) + " |")
    return "\n".join(lines)


def plot_strip(rep: SequenceReport, path: Path) -> Path:
    """Stylized frames of each method with their error maps below (Ruder et al. Fig. 2): ``|s_t -
    warp(s_{t-1})|``, disoccluded / unreliable pixels in blue, one shared contrast-enhanced scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_count = rep.content.shape[0]
    picks = np.unique(np.linspace(1, t_count - 1, num=min(MAX_STRIP_FRAMES, t_count - 1)).round().astype(int))
    maps = {n: error_maps(r.frames, rep.flow_backward, rep.weights) for n, r in rep.results.items()}
    valid = np.concatenate([m[picks - 1][np.isfinite(m[picks - 1])] for m in maps.values()])
    vmax = float(np.percentile(valid, 99)) if valid.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    cmap = matplotlib.colormaps["inferno"].copy()
    cmap.set_bad((0.2, 0.35, 0.7))
    rows = 1 + 2 * len(rep.results)
    h, w = rep.content.shape[-2:]
    cell = 1.8
    fig, axes = plt.subplots(rows, len(picks), figsize=(max(cell * len(picks) + 1.2, 5.0), cell * h / w * rows + 0.8),
                             squeeze=False)
    img = lambda a: np.clip(a.transpose(1, 2, 0), 0, 1)  # noqa: E731
    labels = ["content"] + [lab for n in rep.results for lab in (n, f"{n} error")]
    for j, t in enumerate(picks):
        axes[0, j].imshow(img(rep.content[t]))
        axes[0, j].set_title(f"t = {t}", fontsize=8)
        for i, (name, r) in enumerate(rep.results.items()):
            axes[1 + 2 * i, j].imshow(img(r.frames[t]))
            enhanced = np.sqrt(np.clip(maps[name][t - 1] / vmax, 0, 1))  # gamma 0.5: contrast-enhanced
            axes[2 + 2 * i, j].imshow(np.ma.masked_invalid(enhanced), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    for i, ax in enumerate(axes[:, 0]):
        ax.set_ylabel(labels[i], fontsize=7, rotation=0, ha="right", va="center")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{rep.name}: error maps |s_t - warp(s_t-1)|\n(full scale = 99th pct. = {vmax:.3f}, gamma 0.5; "
                 "blue = masked)", fontsize=8)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.5 / fig.get_figheight()))
    return _save_fig(fig, path)


def _render_report(cfg: BenchConfig, reports: Seq[SequenceReport], plots: Mapping[str, Seq[str]],
                   machine: Mapping[str, str], wall: float, weights_name: str,
                   partial: tuple[int, int] | None = None) -> str:
    methods = cfg.method_settings()
    now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    status = (f"Finished {now}; total wall time {wall:.0f} s ({wall / 60:.1f} min)." if partial is None else
              f"**Partial report** ({partial[0]} of {partial[1]} sequences done) written {now} after {wall:.0f} s; "
              "the run was still going (or was stopped).")
    lines = [
        "# vsstylize bench report", "",
        "Made with:", "", "```", cfg.command or "(called from Python: run_bench)", "```", "",
        status, "",
        "## Machine", "",
        *[f"- {k}: {v}" for k, v in machine.items()], "",
        "## Settings", "",
        f"- width {cfg.width} px (generated sequences {cfg.width}x{cfg.height}; clips keep their aspect ratio), "
        f"{cfg.frames} frames per sequence, iterations {cfg.iterations[0]},{cfg.iterations[1]} (first, later frames), "
        f"chains start from `{cfg.first_init}` init; relative losses against per-frame `{cfg.reference}`",
        f"- style `{cfg.style}`, seed {cfg.seed}, tol_loss_relative {cfg.tol_loss_relative:g}, loss network weights "
        f"`{weights_name}`",
        f"- common stylize() arguments: `{cfg.common()}`",
        "- methods (stylize() arguments on top of the common ones):",
        *[f"  - `{n}`: `{kw}`" for n, kw in methods.items()],
        "- the methods see DIS flow estimated from the frames; generated sequences are measured with their exact "
        "ground-truth flow and disocclusion mask, real clips (marked *est.*) with the DIS flow and its "
        "forward-backward reliability (warping error)", "",
        "## Results", "",
        "Mean short-term temporal error (ratio to per-frame random init):", "",
        _summary_table(reports), "",
        "All measures. *temporal error*: mean over frames of Ruder's short-term error (pixels in [0, 1]); "
        "*E_temporal*: Huang's; *long-term k*: error between frames t and t-k (ground truth only, where T > k); "
        f"*content / style loss vs per-frame*: Ruder Table 5, mean over frames of the loss relative to the `{cfg.reference}` "
        "per-frame result (100 % = as good as per-frame); *peak RSS*: peak resident memory of the whole process "
        "while stylizing.", "",
        format_report_table(reports), "",
        "## Against the paper's findings", "",
        "Ruder et al.: the temporal loss gives about an order of magnitude lower temporal error than per-frame "
        "random init, with content and style loss within about 15 % of per-frame processing (a loss below "
        "100 % is better than per-frame, so only an increase above 115 % counts as missing the target).", "",
        *_assessment(reports, cfg.reference), "",
        *_caveats(cfg, weights_name),
        "## Sequences and plots", "",
    ]
    for rep in reports:
        lines.append(f"### {rep.name}")
        lines.append("")
        if rep.description:
            lines += [rep.description, ""]
        if rep.border_contrast:
            lines += [("Border contrast (Ruder et al. 2018 Fig. 10): standard deviation in the band entering from the "
                       "border (an eighth of the frame) divided by that in the image centre, per frame "
                       "(`vsstylize.metrics.border_contrast`); 1 = as much contrast as the centre. The `content` "
                       "column is the input frames' ratio: the scene itself is not uniform."), "",
                      format_border_table(rep.border_contrast), ""]
            if rep.border_contrast_relative:
                lines += [(f"The same ratios relative to those of per-frame `{rep.border_reference}` (each frame "
                           "stylized independently, so no contrast can drift away over time), frame by frame "
                           "(`vsstylize.bench.report.relative_border_contrast`): independent of the content; 1 = "
                           "the entering band keeps the contrast a fresh stylization gives it, below 1 = Ruder's "
                           "contrast loss."), "", format_border_table(rep.border_contrast_relative), ""]
        for p in plots.get(rep.name, ()):
            lines += [f"![{p}]({p})", ""]
    return "\n".join(lines) + "\n"


def _results_json(cfg: BenchConfig, reports: Seq[SequenceReport], machine: Mapping[str, str], wall: float) -> str:
    def num(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(v) else float(v)

    data = {
        "command": cfg.command, "machine": dict(machine), "wall_seconds": wall,
        "settings": {"width": cfg.width, "frames": cfg.frames, "iterations": list(cfg.iterations),
                     "style": str(cfg.style), "seed": cfg.seed, "common": {k: repr(v) for k, v in cfg.common().items()},
                     "methods": {n: repr(kw) for n, kw in cfg.method_settings().items()}},
        "sequences": {
            rep.name: {"kind": rep.kind, "description": rep.description, "methods": {
                n: {"temporal_error": [num(v) for v in r.temporal_error], "mean_temporal_error": num(r.mean_temporal_error),
                    "e_temporal": num(r.e_temporal),
                    "long_term_error": {str(k): num(float(np.nanmean(v))) for k, v in r.long_term_error.items()},
                    "seconds_per_frame": num(r.seconds_per_frame), "peak_rss_bytes": r.peak_rss_bytes,
                    **{k: num(v) for k, v in r.extra.items()}}
                for n, r in rep.results.items()},
                "border_contrast": {n: [num(float(v)) for v in ratio] for n, ratio in rep.border_contrast.items()},
                "border_contrast_reference": rep.border_reference,
                "border_contrast_relative": {n: [num(float(v)) for v in ratio]
                                             for n, ratio in rep.border_contrast_relative.items()}}
            for rep in reports},
    }
    return json.dumps(data, indent=1) + "\n"


def run_bench(cfg: BenchConfig) -> Path:
    """Run every method on every sequence / clip of ``cfg`` and write the report folder.

    Inputs are all checked before the first (slow) stylization.

    :returns: the path of ``report.md``.
    :raises BenchInputError: bad input, naming the option.
    """
    from ..vgg import load_loss_network
    from .sequences import make_sequence

    if cfg.cache_dir is None:  # a cache shared by the methods of this run: identical first frames run once
        with tempfile.TemporaryDirectory(prefix="vsstylize-bench-") as tmp:
            return run_bench(replace(cfg, cache_dir=Path(tmp)))

    t_start = time.perf_counter()
    methods = cfg.method_settings()
    loaded = [_load_dir(cfg, d) for d in cfg.sequence_dirs]
    for spec in cfg.clips:
        _open_clip(cfg, spec)  # range / decoding checks up front
    cfg.out.mkdir(parents=True, exist_ok=True)
    weights_name = load_loss_network("vgg19").weights_name

    total = len(cfg.sequences) + len(loaded) + len(cfg.clips)
    machine = _machine()
    reports: list[SequenceReport] = []
    plots: dict[str, list[str]] = {}
    report_path = cfg.out / "report.md"

    def add(rep: SequenceReport) -> None:
        """Plot ``rep`` and rewrite the report with everything so far (a killed run keeps its results)."""
        reports.append(rep)
        names = [f"temporal_error_{_safe(rep.name)}.png", f"strip_{_safe(rep.name)}.png"]
        plot_temporal_error(rep, cfg.out / names[0])
        plot_strip(rep, cfg.out / names[1])
        if rep.border_contrast:
            names.append(f"border_contrast_{_safe(rep.name)}.png")
            plot_border_contrast(rep, cfg.out / names[-1])
        plots[rep.name] = names
        wall = time.perf_counter() - t_start
        partial = None if len(reports) == total else (len(reports), total)
        _write_text(cfg.out / "results.json", _results_json(cfg, reports, machine, wall))
        _write_text(report_path, _render_report(cfg, reports, plots, machine, wall, weights_name, partial))

    for preset in cfg.sequences:
        try:
            seq = make_sequence(preset, cfg.image, num_frames=cfg.frames, size=(cfg.width, cfg.height), seed=cfg.seed)
        except (OSError, ValueError) as exc:
            raise BenchInputError("--sequences", f"cannot make {preset!r}: {exc}") from exc
        desc = f"generated `{preset}` ({seq.metadata.get('description', '')}), background {seq.metadata.get('image')}"
        add(_measure_sequence(cfg, seq, methods, desc))
    for seq in loaded:
        add(_measure_sequence(cfg, seq, methods, f"sequence folder {seq.metadata.get('name', seq.name)}"))
    for spec in cfg.clips:
        add(_measure_clip(cfg, spec, methods))
    return report_path


# ----------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------
def add_bench_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to the ``vsstylize`` parser."""
    p = sub.add_parser("bench", help="benchmark settings on ground-truth sequences and real clips; write a report",
                       description="Run stylization settings over ground-truth sequences and real clips and write a report folder.")
    p.add_argument("--out", required=True, type=Path, help="report folder (report.md, results.json, PNG plots)")
    p.add_argument("--width", type=int, default=256, help="processing width in pixels (default 256)")
    p.add_argument("--height", type=int, help="height of the generated sequences (default 4:3 at --width)")
    p.add_argument("--frames", type=int, default=6, help="frames per sequence / clip (default 6, >= 2)")
    p.add_argument("--iterations", default="200,100", help="max iterations first,later frames (default 200,100)")
    p.add_argument("--sequences", default=",".join(DEFAULT_SEQUENCES),
                   help="generated sequence presets, comma separated ('none' for no generated sequence)")
    p.add_argument("--clips", default="", help="real clips path[#start:end],... (resized to --width)")
    p.add_argument("--sequence-dirs", default="", help="saved sequence folders (Sequence.save) of size --width")
    p.add_argument("--methods", default="", help=f"extra named settings besides the baselines: {', '.join(k for k in SETTINGS if k not in BASELINES)}")
    p.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"), help="style image")
    p.add_argument("--image", help="background photo of the generated sequences (default: drawn from the shared photos with --seed)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sequences and of the random init")
    p.add_argument("--tol-loss-relative", type=float, default=1e-4, help="optimizer stopping tolerance (stylize default 1e-4)")
    p.add_argument("--temporal-weight", type=float, help="temporal loss weight of the temporal methods (stylize default 1e3)")
    p.add_argument("--first-init", default="random", choices=FIRST_INITS,
                   help="first-frame init of the chained methods; 'image' also adds the per-frame 'image_matched' "
                        "method (frame t given the chain's first + t * later iterations) and makes it the reference "
                        "of the relative losses (default random, as the paper)")
    return p


def bench_command(args: argparse.Namespace, argv: Seq[str] | None = None) -> int:
    """Run ``vsstylize bench``; exit code 2 with a message naming the option for bad input."""
    words = list(sys.argv[1:] if argv is None else argv)
    command = "vsstylize " + shlex.join(words)
    try:
        cfg = config_from_args(args, command)
        report = run_bench(cfg)
    except BenchInputError as exc:
        print(f"vsstylize bench: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {report}")
    return 0
