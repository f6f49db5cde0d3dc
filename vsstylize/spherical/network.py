"""Border-consistent stylization of cube faces with the prior-image network (Ruder et al. 2018 sec. 6.1-6.3).

The faces are stylized one after another (:data:`~.borders.DEFAULT_ORDER`) in one forward pass each. Face
``k``'s input prior (eq. 15's ``omega(x)`` and ``c``) is the border prior of the already stylized neighbours
(:func:`~.borders.border_prior`: reprojected into ``k``'s plane, eq. 22); for spherical video it is blended
with ``k``'s previous stylized face warped along the per-face flow and masked by its reliability,
the border first (:func:`~.borders.combine_priors`, sec. 6.3). The first face of a still image gets an
empty prior (the mixed-trained network's image mode). Networks fine-tuned on border samples
(:mod:`vsstylize.train.border_data`, ``vsstylize train --border-fraction``) are what sec. 6.2 uses here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict

import torch
import vapoursynth as vs

from ..cache import DiskCache, digest
from ..networks.models import StylizationNetwork
from ..stylize.chain import FrameInputs, RecursiveFilter
from ..stylize.network_filter import _load, _PriorOptions, apply_network
from ..stylize.optim_filter import _as_list, _flows_and_weights
from ..warp import warp
from .borders import border_prior, combine_priors
from .projection import faces_to_strip, strip_to_faces
from .stylize import SphericalSettings, _face_flows

__all__ = ["NetworkCubeStylizer", "stylize_spherical_network"]


class NetworkCubeStylizer:
    """Stylizes the six extended faces of one frame in order with a prior-image network.

    :param net: a ``"prior"`` network (eval mode).
    :param settings: geometry and border options (:class:`~.stylize.SphericalSettings`).
    """

    def __init__(self, net: StylizationNetwork, settings: SphericalSettings) -> None:
        if net.spec.kind != "prior":
            raise ValueError(f"the cube stylizer needs a prior-image network, got a {net.spec.kind!r} network")
        self.net = net
        self.settings = settings

    def __call__(self, content: torch.Tensor,
                 previous: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Stylize one frame's faces.

        :param content: ``(6, 3, S, S)`` extended faces, RGB in [0, 1].
        :param previous: ``(warped (6, 3, S, S), reliability (6, 1, S, S))``: the previous frame's stylized
            faces warped into this frame and their reliability in [0, 1]; ``None`` at a chain start.
        :returns: ``(6, 3, S, S)`` stylized faces, RGB in [0, 1].
        """
        st = self.settings
        out = torch.zeros_like(content)
        for i, k in enumerate(st.order):
            terms: list[tuple[torch.Tensor, torch.Tensor]] = []
            border = None
            if st.border_consistency and i > 0:
                border = border_prior(out, st.order[:i], k, st.geom, st.border_feather)
                terms.append(border)
            if previous is not None:
                terms.append((previous[0][k:k + 1], previous[1][k:k + 1]))
            face = content[k:k + 1]
            if terms:
                prior, mask = combine_priors(terms)
                result = apply_network(self.net, face, prior, mask)
            else:
                result = apply_network(self.net, face)
            if st.border_blend and border is not None:
                result = result + (border[0] - result) * border[1]
            out[k:k + 1] = result
        return out


def stylize_spherical_network(func: str, cube: vs.VideoNode, settings: SphericalSettings, network: str | os.PathLike[str] | None,
                              temporal: bool, flows: vs.VideoNode | Sequence[vs.VideoNode] | None,
                              weights: vs.VideoNode | Sequence[vs.VideoNode] | None, flow_method: str,
                              flow_preset: str, flow_cache: str | os.PathLike[str] | None,
                              cache_dir: str | os.PathLike[str] | None, device: str | None) -> vs.VideoNode:
    """The cube strip ``cube`` (RGBS) stylized by :class:`NetworkCubeStylizer` (``stylize_spherical``'s
    ``method="network"``); returns the stylized cube strip.

    For video (``temporal``), the previous frame's faces are warped along per-face backward flow (computed,
    or ``flows``/``weights`` strips with step 1) as for planar video; scene cuts restart the chain.

    :raises vs.Error: no or an unusable network file, flows that do not fit (names the parameter).
    """
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net, net_digest = _load(func, "network", network, dev)
    stylizer = NetworkCubeStylizer(net, settings)
    indices: tuple[int, ...] = (1,) if temporal else ()
    bw: dict[int, vs.VideoNode] = {}
    rel: dict[int, vs.VideoNode] = {}
    if temporal:
        if flows is None:
            bw, rel = _face_flows(cube, indices, flow_method, flow_preset, flow_cache)
        else:  # the network uses the previous frame only: one backward flow strip with step 1
            bw, rel = _flows_and_weights(func, cube, _PriorOptions(), _as_list(flows), _as_list(weights), flow_method,
                                         flow_preset, flow_cache)

    def compute(inp: FrameInputs) -> torch.Tensor:
        content = strip_to_faces(inp.content)[0].contiguous()
        previous = None
        if 1 in inp.previous and 1 in inp.flows:
            warped = warp(strip_to_faces(inp.previous[1])[0].contiguous(), strip_to_faces(inp.flows[1])[0].contiguous())
            previous = (warped, strip_to_faces(inp.weights[1])[0].contiguous())
        return faces_to_strip(stylizer(content, previous)[None])

    sph = repr(sorted(asdict(settings).items()))
    start = digest("spherical-network-start", net_digest, sph)
    params = digest("spherical-network", net_digest, sph, str(temporal), flow_method, flow_preset, str(flows is not None))
    cache = DiskCache(cache_dir, func, "spherical", ".npz") if cache_dir is not None else None
    return RecursiveFilter(func, cube, indices, bw, rel, compute, dev, cache, params, start).out
