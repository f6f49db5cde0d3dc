"""``stylize(method="optim")``: per-frame optimization with the temporal loss (Ruder et al. sec. 4)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Protocol

import torch
import vapoursynth as vs

from ..cache import DiskCache, digest
from ..errors import error
from ..flow.clips import check_flow_clip, flow_meta
from ..flow.filter import flow as flow_filter
from ..flow.filter import reliability as reliability_filter
from ..frames import check_same_geometry, to_rgbs
from ..losses import (
    ARTISTIC_VIDEOS_WEIGHTS,
    LossWeights,
    StyleTarget,
    default_loss_weights,
    long_term_weights,
)
from ..optim import INIT_KINDS, OptimizerSettings, make_init, stylize_image
from ..vgg import load_loss_network
from ..warp import warp
from .chain import FrameInputs, RecursiveFilter
from .style import StyleSource, load_styles, style_digest

__all__ = ["FrameOptimizer", "OptimOptions", "stylize_optim", "temporal_terms"]

log = logging.getLogger("vsstylize")


@dataclass(frozen=True)
class OptimOptions:
    """Validated options of the optimization method (artistic-videos names in snake case)."""

    content_weight: float
    style_weight: float
    temporal_weight: float
    tv_weight: float
    temporal_loss_criterion: str
    num_iterations: tuple[int, int]
    init: tuple[str, str]
    optimizer: str
    learning_rate: float
    tol_loss_relative: float
    tol_loss_relative_interval: int
    flow_relative_indices: tuple[int, ...]
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_blend_weights: tuple[float, ...] | None
    style_scale: float
    pooling: str
    model: str
    model_weights: str | None
    original_colors: bool
    seed: int
    scales: tuple[float, ...]
    precision: str
    lbfgs_history: int

    @property
    def needs_chain(self) -> bool:
        """Frames depend on earlier stylized frames (temporal loss or prev/prevWarped init)."""
        return self.temporal_weight > 0 or self.init[1] in ("prev", "prevWarped")

    @property
    def needs_flow(self) -> bool:
        return self.temporal_weight > 0 or self.init[1] == "prevWarped"


def _pair(func: str, name: str, value: object, kind: type) -> tuple:
    """One value or two (first frame, later frames), as a list or a comma-separated string."""
    if isinstance(value, str):
        items: list[object] = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    if len(items) == 1:
        items *= 2
    if len(items) != 2:
        raise error(func, f"{name} takes one value or two (first frame, later frames), got {value!r}")
    try:
        return tuple(kind(v) for v in items)
    except (TypeError, ValueError) as exc:
        raise error(func, f"{name} must hold {kind.__name__} values, got {value!r}") from exc


def _options(func: str, width: int, height: int, kw: dict) -> OptimOptions:
    preset = kw.pop("loss_weights")
    if preset not in ("artistic-videos", "resolution"):
        raise error(func, f"loss_weights must be 'artistic-videos' or 'resolution', got {preset!r}")
    base = ARTISTIC_VIDEOS_WEIGHTS if preset == "artistic-videos" else default_loss_weights(width, height)
    for name, default in (("content_weight", base.content), ("style_weight", base.style),
                          ("temporal_weight", base.temporal), ("tv_weight", base.tv)):
        value = default if kw[name] is None else kw[name]
        if not isinstance(value, (int, float)) or value < 0:
            raise error(func, f"{name} must be a number >= 0, got {value!r}")
        kw[name] = float(value)
    kw["num_iterations"] = _pair(func, "num_iterations", kw["num_iterations"], int)
    if min(kw["num_iterations"]) < 1:
        raise error(func, f"num_iterations must be >= 1, got {kw['num_iterations']}")
    kw["init"] = _pair(func, "init", kw["init"], str)
    if kw["init"][0] not in ("random", "image"):
        raise error(func, f"init for the first frame must be 'random' or 'image', got {kw['init'][0]!r}")
    if kw["init"][1] not in INIT_KINDS:
        raise error(func, f"init for later frames must be one of {', '.join(INIT_KINDS)}, got {kw['init'][1]!r}")
    if kw["temporal_loss_criterion"] not in ("mse", "smoothl1"):
        raise error(func, f"temporal_loss_criterion must be 'mse' or 'smoothl1', got {kw['temporal_loss_criterion']!r}")
    if kw["optimizer"] not in ("lbfgs", "adam"):
        raise error(func, f"optimizer must be 'lbfgs' or 'adam', got {kw['optimizer']!r}")
    indices = kw["flow_relative_indices"]
    indices = tuple(int(j) for j in (indices.split(",") if isinstance(indices, str) else indices))
    if any(j < 1 for j in indices):
        raise error(func, f"flow_relative_indices must be positive frame distances, got {indices}")
    if 1 not in indices:
        raise error(func, f"flow_relative_indices must contain 1 (the previous frame), got {indices}")
    kw["flow_relative_indices"] = tuple(sorted(set(indices)))
    for name in ("content_layers", "style_layers"):
        value = kw[name]
        kw[name] = tuple(value.split(",") if isinstance(value, str) else value)
    if kw["style_blend_weights"] is not None:
        kw["style_blend_weights"] = tuple(float(w) for w in kw["style_blend_weights"])
    if not kw["style_scale"] > 0:
        raise error(func, f"style_scale must be > 0, got {kw['style_scale']!r}")
    kw["scales"] = tuple(float(s) for s in kw["scales"])
    try:
        OptimizerSettings(optimizer=kw["optimizer"], num_iterations=max(kw["num_iterations"]),
                          tol_loss_relative=kw["tol_loss_relative"],
                          tol_loss_relative_interval=kw["tol_loss_relative_interval"],
                          learning_rate=kw["learning_rate"], scales=kw["scales"], precision=kw["precision"],
                          lbfgs_history=kw["lbfgs_history"])
    except ValueError as exc:
        raise error(func, str(exc)) from exc
    return OptimOptions(**kw)


def _as_list(value: vs.VideoNode | Sequence[vs.VideoNode] | None) -> list[vs.VideoNode] | None:
    if value is None:
        return None
    return [value] if isinstance(value, vs.VideoNode) else list(value)


class FlowIndices(Protocol):
    """Options that name the set J of frame distances (``flow_relative_indices``)."""

    @property
    def flow_relative_indices(self) -> tuple[int, ...]: ...


def _flows_and_weights(func: str, rgb: vs.VideoNode, opts: FlowIndices, flows: list[vs.VideoNode] | None,
                       weights: list[vs.VideoNode] | None, flow_method: str, flow_preset: str,
                       flow_cache: str | os.PathLike[str] | None) -> tuple[dict[int, vs.VideoNode], dict[int, vs.VideoNode]]:
    indices = opts.flow_relative_indices
    if flows is None:
        bw = {j: flow_filter(rgb, "backward", j, method=flow_method, preset=flow_preset, cache_dir=flow_cache) for j in indices}
        fw = {j: flow_filter(rgb, "forward", j, method=flow_method, preset=flow_preset, cache_dir=flow_cache) for j in indices}
        return bw, {j: reliability_filter(bw[j], fw[j]) for j in indices}
    if len(flows) != len(indices):
        raise error(func, f"flows must hold one backward flow clip per flow_relative_indices entry {indices}, got {len(flows)}")
    bw = {j: check_flow_input(func, rgb, clip, "backward", j) for j, clip in zip(indices, flows)}
    if weights is None:
        raise error(func, "weights (reliability clips) must be given together with flows")
    if len(weights) != len(indices):
        raise error(func, f"weights must hold one reliability clip per flow_relative_indices entry {indices}, got {len(weights)}")
    return bw, {j: check_weights_input(func, rgb, clip) for j, clip in zip(indices, weights)}


def check_flow_input(func: str, rgb: vs.VideoNode, clip: vs.VideoNode, direction: str, step: int) -> vs.VideoNode:
    """A user-given flow clip for ``rgb``: a flow clip of its size with ``direction`` and ``step``.

    :raises vs.Error: naming the ``flows`` parameter.
    """
    check_flow_clip(clip, func, "flows")
    check_same_geometry(rgb, clip, func, "clip", "flows")
    got_direction, got_step = flow_meta(clip, func, "flows")
    if got_direction != direction or got_step != step:
        raise error(func, f"flows entry must be a {direction} flow with step {step}, got {got_direction} step {got_step}")
    return clip


def check_weights_input(func: str, rgb: vs.VideoNode, clip: vs.VideoNode) -> vs.VideoNode:
    """A user-given reliability clip for ``rgb``: GRAYS of its size.

    :raises vs.Error: naming the ``weights`` parameter.
    """
    if not isinstance(clip, vs.VideoNode) or clip.format is None or clip.format.id != vs.GRAYS:
        raise error(func, "weights must be GRAYS reliability clips (vsstylize.reliability / read_reliability)")
    check_same_geometry(rgb, clip, func, "clip", "weights")
    return clip


class FrameOptimizer:
    """The per-frame optimisation of a filter instance: validated options, the loss network and the style
    target on the compute device, and :meth:`__call__` running :func:`vsstylize.optim.stylize_image`.

    :raises vs.Error: unreadable styles, blend weights that do not match, weights that do not fit.
    """

    def __init__(self, func: str, rgb: vs.VideoNode, style: StyleSource | Sequence[StyleSource], opts: OptimOptions,
                 device: str | None) -> None:
        self.func = func
        self.opts = opts
        self.styles = load_styles(func, style)
        if opts.style_blend_weights is not None and len(opts.style_blend_weights) != len(self.styles):
            raise error(func, f"style_blend_weights has {len(opts.style_blend_weights)} entries for "
                              f"{len(self.styles)} style images")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        try:
            self.net = load_loss_network(opts.model, weights=opts.model_weights, pooling=opts.pooling,  # type: ignore[arg-type]
                                         device=self.device)
            layers = tuple(dict.fromkeys(opts.style_layers))
            self.target = StyleTarget(self.net, [s.to(self.device) for s in self.styles], (rgb.height, rgb.width),
                                      blend_weights=opts.style_blend_weights, style_scale=opts.style_scale, layers=layers)
            self.net.check_layers(opts.content_layers)
        except (ValueError, RuntimeError) as exc:
            raise error(func, str(exc)) from exc
        self.loss_weights = LossWeights(content=opts.content_weight, style=opts.style_weight,
                                        temporal=opts.temporal_weight, tv=opts.tv_weight)

    def __call__(self, n: int, content: torch.Tensor, init: torch.Tensor | str,
                 temporal: Sequence[tuple[torch.Tensor, torch.Tensor]], iterations: int) -> torch.Tensor:
        """Stylize frame ``n`` (``(1, 3, H, W)`` RGB [0, 1]) from ``init`` (an image or ``"random"`` /
        ``"image"``, seeded with ``seed + n``) with the temporal terms ``(warped, c)``."""
        opts = self.opts
        settings = OptimizerSettings(optimizer=opts.optimizer, num_iterations=iterations,  # type: ignore[arg-type]
                                     tol_loss_relative=opts.tol_loss_relative,
                                     tol_loss_relative_interval=opts.tol_loss_relative_interval,
                                     learning_rate=opts.learning_rate, scales=opts.scales,
                                     precision=opts.precision,  # type: ignore[arg-type]
                                     lbfgs_history=opts.lbfgs_history)
        result, info = stylize_image(self.net, content, self.target, init, temporal=list(temporal),
                                     weights=self.loss_weights, settings=settings,
                                     content_layers=opts.content_layers, style_layers=opts.style_layers,
                                     criterion=opts.temporal_loss_criterion,  # type: ignore[arg-type]
                                     original_colors=opts.original_colors, seed=opts.seed + n)
        log.info("vsstylize.%s: frame %d: %d iterations, %.1f s, loss %.4g", self.func, n, info.iterations,
                 info.seconds, float(info.losses[-1]) if len(info.losses) else float("nan"))
        return result


def temporal_terms(inp: FrameInputs, temporal_weight: float) -> tuple[dict[int, torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
    """The previous stylized frames of ``inp`` warped into frame ``n`` and the temporal-loss terms.

    :returns: ``({j: (1, 3, H, W) warped frame n - j}, [(warped, c_long)])`` — ``c_long`` the long-term
        weights of eq. 12 over ``J`` (nearest frame first); no terms when ``temporal_weight`` is 0.
    """
    warped = {j: warp(inp.previous[j], inp.flows[j]) for j in sorted(inp.previous) if j in inp.flows}
    if temporal_weight <= 0 or not warped:
        return warped, []
    js = sorted(warped)
    return warped, list(zip((warped[j] for j in js), long_term_weights([inp.weights[j] for j in js])))


def stylize_optim(clip: vs.VideoNode, style: StyleSource | Sequence[StyleSource], *, flows=None, weights=None,
                  flow_method: str = "dis", flow_preset: str = "medium", flow_cache: str | None = None,
                  cache_dir: str | os.PathLike[str] | None = None, device: str | None = None,
                  matrix: int | str | None = None, **kw: object) -> vs.VideoNode:
    """The optimization method; see :func:`vsstylize.stylize` for the parameters."""
    func = "stylize"
    rgb = to_rgbs(clip, func, matrix=matrix)
    opts = _options(func, rgb.width, rgb.height, dict(kw))
    indices = opts.flow_relative_indices if opts.needs_chain else ()
    frame_opt = FrameOptimizer(func, rgb, style, opts, device)
    styles, net = frame_opt.styles, frame_opt.net
    bw, rel = ({}, {})
    if opts.needs_flow:
        bw, rel = _flows_and_weights(func, rgb, opts, _as_list(flows), _as_list(weights), flow_method, flow_preset, flow_cache)
    cache = DiskCache(cache_dir, func, "stylize", ".npz") if cache_dir is not None else None
    dev = frame_opt.device

    def compute(inp: FrameInputs) -> torch.Tensor:
        first = not inp.previous
        warped, temporal = temporal_terms(inp, opts.temporal_weight)
        kind = opts.init[0] if first else opts.init[1]
        init = make_init(kind, inp.content, prev=inp.previous.get(1), prev_warped=warped.get(1), seed=opts.seed + inp.n)
        return frame_opt(inp.n, inp.content, init, temporal, opts.num_iterations[0 if first else 1])

    params = digest("optim", repr(sorted(asdict(opts).items())), style_digest(styles), net.weights_name,
                    f"{rgb.width}x{rgb.height}", flow_method, flow_preset, str(flows is not None))
    # A chain start sees none of the later-frame settings: leave them out of its cache key.
    start_opts = replace(opts, temporal_weight=0.0, temporal_loss_criterion="", flow_relative_indices=(),
                         num_iterations=(opts.num_iterations[0],) * 2, init=(opts.init[0],) * 2)
    start_params = digest("optim-start", repr(sorted(asdict(start_opts).items())), style_digest(styles),
                          net.weights_name, f"{rgb.width}x{rgb.height}")
    chain = RecursiveFilter(func, rgb, indices, bw, rel, compute, dev, cache, params, start_params)
    return chain.out
