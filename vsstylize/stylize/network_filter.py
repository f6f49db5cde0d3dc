"""``stylize(method="network" | "flowfree" | "hybrid")``: the feed-forward video methods.

* ``"network"`` — Ruder et al. 2018 sec. 5.2, eq. 15: the prior-image network gets the frame, the previous
  stylized frame warped along the backward flow and masked by its reliability, and the mask; the first
  frame of a chain gets an empty prior (the mixed-trained network then acts as the image network).
* ``"flowfree"`` — Huang et al. 2017: a network trained with a temporal loss, applied to each frame
  independently (no flow at inference; every frame can be computed on its own). An ``"image"`` network
  (Johnson et al.) runs the same way, and so does a prior-image network, with an empty prior on every frame
  (the mixed-trained network's image mode, Ruder eq. 18) — per-frame processing, the baseline of both papers.
* ``"hybrid"`` — the fast-artistic-videos recipe: the network's output initialises a few iterations of the
  optimization method with the temporal loss (:class:`FrameOptimizer`). Later frames start from the previous
  *hybrid* result warped along the flow where it is reliable and from the network's output elsewhere
  (``c * warped + (1 - c) * network``, ``c`` the reliability; disocclusions get the network's stylization
  instead of stretched border pixels); a prior-image network also gets the warped previous result as its prior.

Frame order, seeking, determinism, caches and scene cuts follow :class:`RecursiveFilter` like the
optimization method; previous outputs stay on the compute device.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import vapoursynth as vs

from ..cache import DiskCache, digest
from ..errors import error
from ..frames import to_rgbs
from ..networks.io import NetworkFileError, load_network, resolve_model
from ..networks.models import StylizationNetwork, network_input
from ..warp import warp
from .chain import FrameInputs, RecursiveFilter
from .optim_filter import (
    FrameOptimizer,
    _as_list,
    _flows_and_weights,
    _options,
    temporal_terms,
)
from .style import StyleSource, style_digest

__all__ = ["HYBRID_ITERATIONS", "NETWORK_METHODS", "stylize_network"]

NETWORK_METHODS: tuple[str, ...] = ("network", "flowfree", "hybrid")
#: Default iterations per frame of the hybrid method (fast-artistic-videos: 30).
HYBRID_ITERATIONS = 30

_KINDS = {"network": ("prior",), "flowfree": ("flowfree", "image", "prior"), "hybrid": ("prior", "flowfree", "image")}


def _load(func: str, method: str, network: str | os.PathLike[str] | None, device: torch.device) -> tuple[StylizationNetwork, str]:
    if network is None:
        raise error(func, f"method={method!r} needs network= (a .safetensors model file or a shipped model name)")
    try:
        net, _card = load_network(network, _KINDS[method], device)  # type: ignore[arg-type]
        path = resolve_model(network)
    except NetworkFileError as exc:
        raise error(func, f"network: {exc}") from exc
    return net, digest(path.read_bytes())


def apply_network(net: StylizationNetwork, content: torch.Tensor, prior: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """Run a stylization network on one frame.

    :param content: ``(1, 3, H, W)`` RGB in [0, 1].
    :param prior: / :param mask: the warped previous output ``(1, 3, H, W)`` and its reliability
        ``(1, 1, H, W)`` for a prior-image network (``None``: empty prior); ignored by other kinds.
    :returns: ``(1, 3, H, W)`` RGB in [0, 1].
    """
    with torch.inference_mode():
        x = network_input(content, prior, mask) if net.spec.kind == "prior" else content
        return net(x).clone()


def stylize_network(clip: vs.VideoNode, style: StyleSource | Sequence[StyleSource] | None, *, method: str,
                    network: str | os.PathLike[str] | None, flows=None, weights=None, flow_method: str = "dis",
                    flow_preset: str = "medium", flow_cache: str | os.PathLike[str] | None = None,
                    cache_dir: str | os.PathLike[str] | None = None, device: str | None = None,
                    matrix: int | str | None = None, **kw: object) -> vs.VideoNode:
    """The network methods; see :func:`vsstylize.stylize` for the parameters."""
    func = "stylize"
    rgb = to_rgbs(clip, func, matrix=matrix)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net, net_digest = _load(func, method, network, dev)
    cache = DiskCache(cache_dir, func, "stylize", ".npz") if cache_dir is not None else None
    size = f"{rgb.width}x{rgb.height}"

    if method == "hybrid":
        if style is None:
            raise error(func, "method='hybrid' needs style images (the optimization refines the network's output)")
        opts = _options(func, rgb.width, rgb.height, dict(kw))
        frame_opt = FrameOptimizer(func, rgb, style, opts, str(dev))
        indices = opts.flow_relative_indices
        bw, rel = _flows_and_weights(func, rgb, opts, _as_list(flows), _as_list(weights), flow_method,
                                     flow_preset, flow_cache)

        def compute(inp: FrameInputs) -> torch.Tensor:
            warped, temporal = temporal_terms(inp, opts.temporal_weight)
            init = apply_network(net, inp.content, warped.get(1), inp.weights.get(1))
            if 1 in warped:  # the warped previous result where it is reliable, the network's output elsewhere
                c = inp.weights[1]
                init = c * warped[1] + (1.0 - c) * init
            return frame_opt(inp.n, inp.content, init, temporal, opts.num_iterations[0 if not warped else 1])

        params = digest("hybrid", net_digest, repr(sorted(asdict(opts).items())), style_digest(frame_opt.styles),
                        frame_opt.net.weights_name, size, flow_method, flow_preset, str(flows is not None))
        chain = RecursiveFilter(func, rgb, indices, bw, rel, compute, dev, cache, params)
        return chain.out

    if method == "network":
        bw, rel = _flows_and_weights(func, rgb, _PriorOptions(), _as_list(flows), _as_list(weights), flow_method,
                                     flow_preset, flow_cache)

        def compute(inp: FrameInputs) -> torch.Tensor:
            if 1 not in inp.previous:
                return apply_network(net, inp.content)
            return apply_network(net, inp.content, warp(inp.previous[1], inp.flows[1]), inp.weights[1])

        params = digest("network", net_digest, size, flow_method, flow_preset, str(flows is not None))
        start = digest("network-start", net_digest, size)
        return RecursiveFilter(func, rgb, (1,), bw, rel, compute, dev, cache, params, start).out

    def compute_single(inp: FrameInputs) -> torch.Tensor:
        return apply_network(net, inp.content)

    params = digest("network-start", net_digest, size)
    return RecursiveFilter(func, rgb, (), {}, {}, compute_single, dev, cache, params).out


@dataclass(frozen=True)
class _PriorOptions:
    """The flow options of the prior-image network: J = {1}."""

    flow_relative_indices: tuple[int, ...] = (1,)
