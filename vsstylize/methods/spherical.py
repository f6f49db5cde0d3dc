"""``stylize(projection="equirect")``: 360-degree images and videos stylized on cube faces with border
consistency (Ruder et al. 2018 sec. 6) and, for video, temporal consistency per cube face (sec. 6.3).

* ``method="optim"``: the optimization method per face, the border prior of the faces before it as a
  temporal-loss term (:class:`~vsstylize.spherical.optim.CubeStylizer`);
* ``method="network"``: the prior-image network, one forward pass per face with the border prior (video:
  combined with the warped previous face) as its prior input
  (:class:`~vsstylize.spherical.network.NetworkCubeStylizer`); best with a model fine-tuned on border samples
  (``vsstylize train --border-fraction``), e.g. ``starry_night-prior-cube``.

The clip (``W = 2 H``, even ``H``) becomes a cube strip (:func:`vsstylize.equirect_to_cube`); the recursive
graph and caches are those of the planar methods (:class:`~vsstylize.methods.chain.RecursiveFilter`), run on
the strip; the result is stitched back (:func:`vsstylize.cube_to_equirect`) unless ``cube_output``. Sizes
(``style_scale``, ``loss_weights="resolution"``) refer to one extended face.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import vapoursynth as vs

from ..errors import OptionError, error
from ..media.cache import digest, open_cache
from ..media.frames import compute_device
from ..networks.inference import inference_tag
from ..opticalflow.filters import reliability as reliability_filter
from ..opticalflow.warping import warp
from ..optim.losses import long_term_weights
from ..options import StylizeOptions
from ..spherical.filters import check_equirect_clip, cube_geometry_for, cube_to_equirect, equirect_to_cube
from ..spherical.network import NetworkCubeStylizer
from ..spherical.optim import CubeStylizer, SphericalSettings
from ..spherical.projection import CubeGeometry, faces_to_strip, strip_to_faces
from .chain import ClipInputs, FrameInputs, RecursiveFilter
from .flows import estimated_flow, given_inputs
from .network import DEFAULT_NETWORK, NETWORK_OPTIONS, load_prior_network, require_network
from .optim import FrameOptimizer, needs_chain, needs_flow
from .registry import MethodSpec, Request, uses

__all__ = ["SPECS", "face_clip"]


def face_clip(cube: vs.VideoNode, face: int) -> vs.VideoNode:
    """Face ``face`` (index into :data:`~vsstylize.spherical.projection.FACES`) of a cube strip, as its own clip."""
    size = cube.height
    return vs.core.std.Crop(cube, left=face * size, right=(5 - face) * size)


def _face_flows(cube: vs.VideoNode, indices: tuple[int, ...], options: StylizeOptions) -> ClipInputs:
    """Backward flows and reliabilities computed per cube face (sec. 6.3), stacked into strips."""
    bw: dict[int, vs.VideoNode] = {}
    rel: dict[int, vs.VideoNode] = {}
    for j in indices:
        faces = [face_clip(cube, k) for k in range(6)]
        back = [estimated_flow(f, "backward", j, options) for f in faces]
        fore = [estimated_flow(f, "forward", j, options) for f in faces]
        bw[j] = vs.core.std.StackHorizontal(back)
        rel[j] = vs.core.std.StackHorizontal([reliability_filter(b, f) for b, f in zip(back, fore)])
    return ClipInputs(bw, rel)


def _temporal_flows(func: str, cube: vs.VideoNode, indices: tuple[int, ...], options: StylizeOptions) -> ClipInputs:
    """Per-face flows (computed), or the user's flow strips (``flows`` / ``reliability``, six faces side by side)."""
    if options.flows is None and options.reliability is None:
        return _face_flows(cube, indices, options)
    return given_inputs(func, cube, indices, options)


def _geometry(req: Request) -> tuple[CubeGeometry, SphericalSettings, vs.VideoNode]:
    """The cube geometry, the border settings and the cube strip of the request's clip."""
    func, o = req.func, req.options
    check_equirect_clip(req.clip, func)
    geom = cube_geometry_for(func, req.clip.height, o.face_size, o.overlap)
    feather = geom.overlap / 2 if o.border_feather is None else o.border_feather
    if not 0 <= feather <= geom.overlap:
        raise OptionError("border_feather", "{name} must be a number of pixels in [0, {opt[overlap]} = {overlap}], "
                          "got {value!r}", overlap=geom.overlap, value=feather)
    settings = SphericalSettings(geom, o.border_consistency, float(feather), o.border_blend)
    cube = equirect_to_cube(req.clip, face_size=geom.face_size, overlap=geom.overlap, matrix=o.matrix)
    return geom, settings, cube


def _output(req: Request, geom: CubeGeometry, strip: vs.VideoNode) -> vs.VideoNode:
    return strip if req.options.cube_output else cube_to_equirect(strip, overlap=geom.overlap, height=req.clip.height)


def _check_optim(options: StylizeOptions, given: Mapping[str, object]) -> None:
    if options.border_consistency and not options.uses_temporal_loss:
        raise OptionError("border_consistency", "{name} needs {opt[temporal_weight]} > 0 (the border prior is a "
                          "temporal-loss term)")


def _build_optim(req: Request) -> vs.VideoNode:
    func, o = req.func, req.options
    assert req.style is not None and o.num_iterations is not None
    geom, settings, cube = _geometry(req)
    frame_opt = FrameOptimizer(func, (geom.size, geom.size), req.style, o)
    stylizer = CubeStylizer(frame_opt, settings, o.init, o.num_iterations, o.seed)
    chained = o.temporal_consistency and needs_chain(o)
    indices = o.flow_relative_indices if chained else ()
    temporal = _temporal_flows(func, cube, indices, o) if chained and needs_flow(o) else None

    def compute(inp: FrameInputs) -> torch.Tensor:
        content = strip_to_faces(inp.content)[0]
        js = [j for j in sorted(inp.previous) if j in inp.flows]
        terms: list[tuple[torch.Tensor, torch.Tensor]] = []
        if js:
            warped = [warp(strip_to_faces(inp.previous[j])[0].contiguous(), strip_to_faces(inp.flows[j])[0].contiguous(),
                           mode=o.warp_interpolation) for j in js]
            c_long = long_term_weights([strip_to_faces(inp.weights[j])[0].contiguous() for j in js])
            terms = list(zip(warped, c_long))
        prev = inp.previous.get(1)
        faces = stylizer(inp.n, content, first=not inp.previous,
                         previous=None if prev is None else strip_to_faces(prev)[0].contiguous(), temporal=terms)
        return faces_to_strip(faces[None])

    params = digest("spherical", o.key("loss", "optimizer", "flow", "spherical"), repr(settings), str(chained),
                    frame_opt.key, str(o.flows is not None))
    cache = open_cache(o.cache_dir, func, "spherical")
    chain = RecursiveFilter(func, cube, indices, temporal, compute, frame_opt.device, cache, params)
    return _output(req, geom, chain.out)


def _build_network(req: Request) -> vs.VideoNode:
    func, o = req.func, req.options
    geom, settings, cube = _geometry(req)
    dev = compute_device(o.device)
    # one style for every face and frame (style_strength, a per-frame vector, is not an option here)
    net, net_digest = load_prior_network(req, dev)
    network = net(torch.zeros(1, 3, 4, 4))
    try:
        stylizer = NetworkCubeStylizer(network, settings)
    except ValueError as exc:
        raise error(func, f"network: {exc}") from exc
    indices: tuple[int, ...] = (1,) if o.temporal_consistency else ()
    temporal = _temporal_flows(func, cube, indices, o) if indices else None

    def compute(inp: FrameInputs) -> torch.Tensor:
        content = strip_to_faces(inp.content)[0].contiguous()
        previous = None
        if 1 in inp.previous and 1 in inp.flows:
            warped = warp(strip_to_faces(inp.previous[1])[0].contiguous(), strip_to_faces(inp.flows[1])[0].contiguous())
            previous = (warped, strip_to_faces(inp.weights[1])[0].contiguous())
        return faces_to_strip(stylizer(content, previous)[None])

    sph = repr(settings)
    start = digest("spherical-network-start", inference_tag(), net_digest, sph)
    params = digest("spherical-network", inference_tag(), net_digest, sph, str(o.temporal_consistency), o.key("flow"),
                    str(o.flows is not None))
    cache = open_cache(o.cache_dir, func, "spherical")
    return _output(req, geom, RecursiveFilter(func, cube, indices, temporal, compute, dev, cache, params, start).out)


SPECS = (
    MethodSpec("optim", "equirect", "optimization per cube face with the neighbours' borders as prior (Ruder et al. "
               "2018 sec. 6)", uses("loss", "optimizer", "flow", "spherical"), _build_optim, chain="recursive",
               defaults={"num_iterations": (2000, 1000)}, check=_check_optim),
    MethodSpec("network", "equirect", "prior-image network per cube face with the border prior (sec. 6.2-6.3)",
               uses("spherical", only=(*NETWORK_OPTIONS, "style_blend")), _build_network, chain="recursive",
               style="optional", check=lambda o, g: require_network(o, g, "network", ("prior",), DEFAULT_NETWORK)),
)
