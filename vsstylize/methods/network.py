"""``stylize(method="network" | "flowfree")``: the feed-forward video methods.

* ``"network"`` — Ruder et al. 2018 sec. 5.2, eq. 15: the prior-image network gets the frame, the previous
  stylized frame warped along the backward flow and masked by its reliability, and the mask; the first
  frame of a chain gets an empty prior (the mixed-trained network then acts as the image network).
* ``"flowfree"`` — Huang et al. 2017: a network trained with a temporal loss, applied to each frame
  independently (no flow at inference; every frame can be computed on its own). An ``"image"`` network
  (Johnson et al.) runs the same way, and so does a prior-image network, with an empty prior on every frame
  (the mixed-trained network's image mode, Ruder eq. 18) — per-frame processing, the baseline of both papers.

Frame order, seeking, determinism, caches and scene cuts follow :class:`RecursiveFilter` like the
optimization method; previous outputs stay on the compute device.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import vapoursynth as vs

from ..cache import DiskCache, digest
from ..errors import OptionError, error
from ..frames import DeviceFrames, compute_device, to_rgbs
from ..networks.inference import inference_tag
from ..networks.io import NetworkFileError, load_network, read_spec, resolve_model
from ..networks.models import Kind, StylizationNetwork, apply_network
from ..networks.scale import scale_tag
from ..options import StylizeOptions
from ..resources import shipped_models
from ..warping import warp
from .chain import ChainBounds, FrameInputs, RecursiveFilter
from .flows import temporal_inputs
from .registry import MethodSpec, Request, uses

__all__ = ["SPECS", "load_model", "require_network"]

#: The network options (``network`` and the flow of the previous output, J = {1}).
NETWORK_OPTIONS = ("network", "flows", "weights", "flow_method", "flow_preset", "raft_weights", "flow_cache")


def require_network(options: StylizeOptions, given: Mapping[str, object], method: str,
                    kinds: tuple[Kind, ...] = ("flowfree", "image", "prior")) -> None:
    """:raises OptionError: ``network`` is missing (the message lists the shipped models of ``kinds``)."""
    if options.network is None:
        shipped = [name for name in shipped_models() if read_spec(name).kind in kinds]
        raise OptionError("network", "{set[method]} needs {name} (a .safetensors model file or a shipped model name: "
                          + ", ".join(shipped) + ")", method=method)


def load_model(func: str, network: str, kinds: tuple[Kind, ...], device: torch.device) -> tuple[StylizationNetwork, str]:
    """The network of ``network`` (file or shipped name) on ``device`` and the digest of its file.

    :raises vs.Error: missing, unreadable file or a network of another kind (naming ``network``).
    """
    try:
        net, _card = load_network(network, kinds, device)
        path = resolve_model(network)
    except NetworkFileError as exc:
        raise error(func, f"network: {exc}") from exc
    return net, digest(path.read_bytes())


def _build_network(req: Request) -> vs.VideoNode:
    func, o = req.func, req.options
    assert o.network is not None
    rgb = to_rgbs(req.clip, func, matrix=o.matrix)
    dev = compute_device(o.device)
    net, net_digest = load_model(func, o.network, ("prior",), dev)
    frames = DeviceFrames(dev, capacity=8)
    temporal = temporal_inputs(func, rgb, (1,), o, frames)

    def compute(inp: FrameInputs) -> torch.Tensor:
        if 1 not in inp.previous:
            return apply_network(net, inp.content, stroke_scale=o.stroke_scale, margin=o.border_margin)
        # the recursion stays at full size: the full-size output warped, reduced with the frame (apply_network)
        return apply_network(net, inp.content, warp(inp.previous[1], inp.flows[1]), inp.weights[1], o.stroke_scale,
                             o.border_margin)

    size = f"{rgb.width}x{rgb.height}"
    scale = scale_tag(o.stroke_scale)
    cache = DiskCache(o.cache_dir, func, "stylize", ".png") if o.cache_dir is not None else None
    params = digest("network", inference_tag(o.border_margin), scale, net_digest, size, o.key("flow"), str(o.flows is not None))
    start = digest("network-start", inference_tag(o.border_margin), scale, net_digest, size)
    return RecursiveFilter(func, rgb, (1,), temporal, compute, dev, cache, params, start, ChainBounds.of(o), frames).out


def _build_flowfree(req: Request) -> vs.VideoNode:
    func, o = req.func, req.options
    assert o.network is not None
    rgb = to_rgbs(req.clip, func, matrix=o.matrix)
    dev = compute_device(o.device)
    net, net_digest = load_model(func, o.network, ("flowfree", "image", "prior"), dev)

    def compute(inp: FrameInputs) -> torch.Tensor:
        return apply_network(net, inp.content, stroke_scale=o.stroke_scale, margin=o.border_margin)

    cache = DiskCache(o.cache_dir, func, "stylize", ".png") if o.cache_dir is not None else None
    params = digest("network-start", inference_tag(o.border_margin), scale_tag(o.stroke_scale), net_digest,
                    f"{rgb.width}x{rgb.height}")
    return RecursiveFilter(func, rgb, (), None, compute, dev, cache, params).out


SPECS = (
    MethodSpec("network", "planar", "prior-image network (Ruder et al. 2018): frame + warped previous output",
               uses("chain", only=(*NETWORK_OPTIONS, "stroke_scale", "border_margin")), _build_network, style="unused",
               check=lambda o, g: require_network(o, g, "network", ("prior",))),
    MethodSpec("flowfree", "planar", "network applied to each frame on its own (Huang et al. 2017; no flow)",
               uses(only=("network", "stroke_scale", "border_margin")), _build_flowfree, style="unused",
               check=lambda o, g: require_network(o, g, "flowfree")),
)
