"""``stylize(method="hybrid")``: a network's output refined by a few optimization iterations
(fast-artistic-videos).

The network's output initialises ``num_iterations`` iterations of the optimization method with the temporal
loss (:class:`~vsstylize.methods.optim.FrameOptimizer`). Later frames start from the previous *hybrid* result
warped along the flow where it is reliable and from the network's output elsewhere
(``c * warped + (1 - c) * network``, ``c`` the reliability; disocclusions get the network's stylization instead
of stretched border pixels); a prior-image network also gets the warped previous result as its prior.
"""

from __future__ import annotations

import torch
import vapoursynth as vs

from ..media.cache import digest, open_cache
from ..media.frames import DeviceFrames, to_rgbs
from ..networks.inference import apply_network, inference_tag
from ..networks.models import StylizationNetwork
from ..networks.pretrained import StyledNetwork, is_pretrained
from ..networks.scale import scale_tag
from ..opticalflow.warping import warp
from .chain import ChainBounds, FrameInputs, RecursiveFilter
from .flows import check_given, temporal_inputs
from .network import PRETRAINED_OPTIONS, load_model, load_styled, require_network
from .optim import FrameOptimizer, temporal_terms
from .registry import MethodSpec, Request, uses

__all__ = ["HYBRID_ITERATIONS", "SPECS"]

#: Default iterations per frame of the hybrid method (fast-artistic-videos: 30).
HYBRID_ITERATIONS = 30


def _build(req: Request) -> vs.VideoNode:
    func, o = req.func, req.options
    assert req.style is not None and o.network is not None and o.num_iterations is not None
    rgb = to_rgbs(req.clip, func, matrix=o.matrix)
    frame_opt = FrameOptimizer(func, (rgb.width, rgb.height), req.style, o)
    net: StylizationNetwork | StyledNetwork
    if is_pretrained(o.network):
        net = load_styled(req, frame_opt.device)
        net_digest = digest(net.key)
    else:
        net, net_digest = load_model(func, o.network, ("prior", "flowfree", "image"), frame_opt.device)
    indices = o.flow_relative_indices
    frames = DeviceFrames(frame_opt.device, capacity=2 * len(indices) + 4)
    temporal = temporal_inputs(func, rgb, indices, o, frames)
    temporal_weight = frame_opt.loss_weights.temporal
    iterations = o.num_iterations

    def compute(inp: FrameInputs) -> torch.Tensor:
        warped, temporal = temporal_terms(inp, temporal_weight, o.warp_interpolation)
        # the network's prior is warped bilinearly, as in its training (vsstylize.train)
        prior = warped.get(1)
        if prior is not None and o.warp_interpolation != "bilinear":
            prior = warp(inp.previous[1], inp.flows[1])
        network = net.network_for(inp.content) if isinstance(net, StyledNetwork) else net
        init = apply_network(network, inp.content, prior, inp.weights.get(1), o.stroke_scale, o.border_margin)
        if 1 in warped:  # the warped previous result where it is reliable, the network's output elsewhere
            c = inp.weights[1]
            init = c * warped[1] + (1.0 - c) * init
        return frame_opt(inp.n, inp.content, init, temporal, iterations[0 if not warped else 1])

    params = digest("hybrid", inference_tag(o.border_margin), scale_tag(o.stroke_scale), net_digest,
                    o.key("loss", "optimizer", "flow"),
                    frame_opt.key, f"{rgb.width}x{rgb.height}", str(o.flows is not None))
    cache = open_cache(o.cache_dir, func, "stylize")
    return RecursiveFilter(func, rgb, indices, temporal, compute, frame_opt.device, cache, params,
                           bounds=ChainBounds.of(o), frames=frames).out


SPECS = (
    MethodSpec("hybrid", "planar", "network output refined by a few optimization iterations with the temporal loss "
               "(fast-artistic-videos)",
               uses("loss", "optimizer", "flow", "chain", only=("network", "stroke_scale", "border_margin", *PRETRAINED_OPTIONS)),
               _build, chain="recursive",
               defaults={"num_iterations": (HYBRID_ITERATIONS, HYBRID_ITERATIONS)},
               check=lambda o, g: require_network(o, g, "hybrid"),
               inputs=lambda req: check_given(req, req.options.flow_relative_indices)),
)
