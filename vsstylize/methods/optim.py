"""``stylize(method="optim")``: per-frame optimization with the temporal loss (Ruder et al. 2016, 2018 sec. 4).

Each frame minimises ``alpha L_content + beta L_style + gamma sum_j L_temporal(x, omega(x^(n-j)), c_long)
+ tv L_tv`` (eq. 9/11) with L-BFGS or Adam (:func:`vsstylize.optim.optimizer.stylize_image`), initialised with the
previous stylized frame warped along the flow (``init`` of later frames). :class:`FrameOptimizer` is the
per-frame optimisation shared by the optimization-based methods (``hybrid``, ``multipass``, the cube faces of
``projection="equirect"``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import vapoursynth as vs

from ..errors import error
from ..media.cache import digest, open_cache
from ..media.frames import DeviceFrames, compute_device, to_rgbs
from ..opticalflow.warping import DEFAULT_STYLIZED_WARP, StylizedWarp, warp
from ..optim.losses import StyleTarget, long_term_weights
from ..optim.optimizer import make_init, stylize_image
from ..optim.vgg import load_loss_network
from ..options import StylizeOptions
from .chain import ChainBounds, FrameInputs, RecursiveFilter
from .flows import check_given, temporal_inputs
from .network import INIT_NETWORK_OPTIONS, network_init, require_init_network
from .registry import MethodSpec, Request, uses
from .style import StyleSource, load_styles, style_digest

__all__ = ["SPECS", "FrameOptimizer", "needs_chain", "needs_flow", "temporal_terms"]

log = logging.getLogger("vsstylize")


def needs_chain(options: StylizeOptions) -> bool:
    """Frames depend on earlier stylized frames (temporal loss or ``prev``/``prevWarped`` init)."""
    return options.uses_temporal_loss or options.init[1] in ("prev", "prevWarped")


def needs_flow(options: StylizeOptions) -> bool:
    """Frames need the flow to earlier frames (temporal loss or ``prevWarped`` init)."""
    return options.uses_temporal_loss or options.init[1] == "prevWarped"


class FrameOptimizer:
    """The per-frame optimisation of a filter instance: the loss network and the style target on the compute
    device, and :meth:`__call__` running :func:`vsstylize.optim.optimizer.stylize_image`.

    :param func: public filter name (errors, log).
    :param size: ``(width, height)`` of the frames it optimises (style target size, loss weights of
        ``loss_weights="resolution"``).
    :param style: style image(s) (:func:`~vsstylize.methods.style.load_styles`).
    :param options: the options (loss, optimizer and ``device`` fields are used).
    :raises vs.Error: unreadable styles, blend weights that do not match, loss-network weights that do not fit.
    """

    def __init__(self, func: str, size: tuple[int, int], style: StyleSource | Sequence[StyleSource],
                 options: StylizeOptions) -> None:
        self.func = func
        self.options = options
        self.styles = load_styles(func, style)
        self.device = compute_device(options.device)
        try:
            self.net = load_loss_network(options.model, weights=options.model_file, pooling=options.pooling,
                                         device=self.device)
            layers = tuple(dict.fromkeys(options.style_layers))
            self.target = StyleTarget(self.net, [s.to(self.device) for s in self.styles], (size[1], size[0]),
                                      blend_weights=options.style_blend, style_scale=options.style_scale,
                                      layers=layers)
            self.net.check_layers(options.content_layers)
        except (ValueError, RuntimeError) as exc:
            raise error(func, str(exc)) from exc
        self.loss_weights = options.loss_weights_for(*size)

    @property
    def key(self) -> str:
        """Digest of what the optimisation depends on besides the options: the style images and the loss
        network's weights."""
        return digest(style_digest(self.styles), self.net.weights_name)

    def __call__(self, n: int, content: torch.Tensor, init: torch.Tensor | str,
                 temporal: Sequence[tuple[torch.Tensor, torch.Tensor]], iterations: int,
                 fresh_start: bool | None = None) -> torch.Tensor:
        """Stylize frame ``n`` (``(1, 3, H, W)`` RGB [0, 1]) from ``init`` (an image or ``"random"`` /
        ``"image"``, seeded with ``seed + n``) with the temporal terms ``(warped, c)``.

        ``fresh_start``: ``init`` is noise or the content image (a chain start), see
        :func:`~vsstylize.optim.optimizer.stylize_image`. The per-frame log record (logger ``vsstylize``, INFO)
        carries the optimisation's end/start loss ratio as ``record.loss_ratio``, the frame number as
        ``record.frame`` (the bench counts frames that did not leave their initialisation with it), and its
        ``record.iterations`` and ``record.seconds`` (the time estimate of ``vsstylize run``)."""
        o = self.options
        result, info = stylize_image(self.net, content, self.target, init, temporal=list(temporal),
                                     weights=self.loss_weights, settings=o.optimizer_settings(iterations),
                                     content_layers=o.content_layers, style_layers=o.style_layers,
                                     criterion=o.temporal_loss_criterion, original_colors=o.original_colors,
                                     seed=o.seed + n, fresh_start=fresh_start)
        log.info("vsstylize.%s: frame %d: %d iterations, %.1f s, loss %.4g (%.3g of its start)", self.func, n,
                 info.iterations, info.seconds, float(info.losses[-1]) if len(info.losses) else float("nan"),
                 info.loss_ratio, extra={"loss_ratio": info.loss_ratio, "frame": n, "iterations": info.iterations,
                        "seconds": info.seconds})
        return result


def temporal_terms(inp: FrameInputs, temporal_weight: float, mode: StylizedWarp = DEFAULT_STYLIZED_WARP,
                   ) -> tuple[dict[int, torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
    """The previous stylized frames of ``inp`` warped into frame ``n`` and the temporal-loss terms.

    :param mode: the interpolation of the warp (``warp_interpolation``: ``"bilinear"`` or ``"bicubic"``, which
        keeps more of the texture bilinear sampling blurs), for the init and the temporal target alike.
    :returns: ``({j: (1, 3, H, W) warped frame n - j}, [(warped, c_long)])`` — ``c_long`` the long-term
        weights of eq. 12 over ``J`` (nearest frame first); no terms when ``temporal_weight`` is 0.
    """
    warped = {j: warp(inp.previous[j], inp.flows[j], mode=mode) for j in sorted(inp.previous) if j in inp.flows}
    if temporal_weight <= 0 or not warped:
        return warped, []
    js = sorted(warped)
    return warped, list(zip((warped[j] for j in js), long_term_weights([inp.weights[j] for j in js])))


def chain_start_key(options: StylizeOptions) -> str:
    """The options a chain start depends on: the first-frame settings, none of the later-frame ones (so settings
    that differ only in what later frames do share their first frames' cache entries)."""
    first_iterations = (options.num_iterations or (0, 0))[0]
    start = options.replace(temporal_weight=None, temporal_loss_criterion="mse", init=(options.init[0],) * 2,
                            num_iterations=(first_iterations,) * 2, warp_interpolation=DEFAULT_STYLIZED_WARP)
    return start.key("loss", "optimizer")


def flow_indices(options: StylizeOptions) -> tuple[int, ...]:
    """The frame distances J the chain looks back (``flow_relative_indices``; none without a chain)."""
    return tuple(options.flow_relative_indices) if needs_chain(options) else ()


def _build(req: Request) -> vs.VideoNode:
    func, o = req.func, req.options
    assert req.style is not None and o.num_iterations is not None
    rgb = to_rgbs(req.clip, func, matrix=o.matrix)
    indices = flow_indices(o)
    frame_opt = FrameOptimizer(func, (rgb.width, rgb.height), req.style, o)
    frames = DeviceFrames(frame_opt.device, capacity=2 * len(indices) + 4)
    temporal = temporal_inputs(func, rgb, indices, o, frames) if needs_flow(o) else None
    cache = open_cache(o.cache_dir, func, "stylize")
    temporal_weight = frame_opt.loss_weights.temporal
    iterations = o.num_iterations
    start_network, network_key = network_init(req, frame_opt.device) if o.init[0] == "network" else (None, "")

    def compute(inp: FrameInputs) -> torch.Tensor:
        first = not inp.previous
        warped, temporal = temporal_terms(inp, temporal_weight, o.warp_interpolation)
        if first and start_network is not None:  # a network's output starts the chain (not a fresh start)
            return frame_opt(inp.n, inp.content, start_network(inp.content), temporal, iterations[0], fresh_start=False)
        kind = o.init[0] if first else o.init[1]
        init = make_init(kind, inp.content, prev=inp.previous.get(1), prev_warped=warped.get(1), seed=o.seed + inp.n)
        return frame_opt(inp.n, inp.content, init, temporal, iterations[0 if first else 1], fresh_start=first)

    size = f"{rgb.width}x{rgb.height}"
    params = digest("optim", o.key("loss", "optimizer", "flow"), frame_opt.key, size, str(o.flows is not None),
                    network_key)
    start_params = digest("optim-start", chain_start_key(o), frame_opt.key, size, network_key)
    return RecursiveFilter(func, rgb, indices, temporal, compute, frame_opt.device, cache, params, start_params,
                           ChainBounds.of(o), frames).out


SPECS = (
    MethodSpec("optim", "planar", "optimization with the temporal loss (Ruder et al.): the best quality, seconds "
               "to minutes per frame", uses("loss", "optimizer", "flow", "chain", only=INIT_NETWORK_OPTIONS), _build,
               chain="recursive", defaults={"num_iterations": (2000, 1000)},
               check=lambda o, g: require_init_network(o, g, "optim"),
               inputs=lambda req: check_given(req, flow_indices(req.options)) if needs_flow(req.options) else None),
)
