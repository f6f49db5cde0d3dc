"""Border-consistent stylization of spherical images and videos with the optimization method
(Ruder et al. 2018 sec. 6.1 and 6.3).

Each equirectangular frame is projected to six extended cube faces (:mod:`.projection`). The faces are
stylized one after another (:data:`~.borders.DEFAULT_ORDER`); face ``k`` gets the already stylized
overlapping borders of its neighbours, reprojected into its plane, as prior image and mask
(:func:`~.borders.border_prior`), and the optimization method treats that pair exactly like the warped
previous frame of a video: a temporal-loss term ``gamma (1/D) sum mask (x - prior)^2`` (eq. 8) in the
per-face objective (:class:`~vsstylize.losses.VideoObjective` through
:class:`~vsstylize.stylize.optim_filter.FrameOptimizer`), and the prior pasted into the initial image.

For spherical video, optical flow is computed per cube face and every face's previous stylized result is
warped along it as for planar video (temporal loss with reliability weights, long-term indices J); the
border prior and the warped frames become disjoint temporal-loss terms, the border first
(:func:`~vsstylize.losses.long_term_weights`, as :func:`~.borders.combine_priors` blends them for a
prior-image network). The recursive graph, the caches and the per-face optimisation are those of
``stylize`` (:class:`~vsstylize.stylize.chain.RecursiveFilter`), run on the cube strip.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import torch
import vapoursynth as vs

from ..cache import DiskCache, digest
from ..errors import error
from ..flow.filter import flow as flow_filter
from ..flow.filter import reliability as reliability_filter
from ..losses import long_term_weights
from ..optim import make_init
from ..stylize import stylize as _planar_stylize
from ..stylize.chain import FrameInputs, RecursiveFilter
from ..stylize.optim_filter import (
    FrameOptimizer,
    OptimOptions,
    _as_list,
    _flows_and_weights,
    _options,
)
from ..stylize.style import StyleSource, style_digest
from ..warp import warp
from .borders import DEFAULT_ORDER, border_prior
from .filters import (
    check_equirect_clip,
    cube_geometry_for,
    cube_to_equirect,
    equirect_to_cube,
)
from .projection import CubeGeometry, faces_to_strip, strip_to_faces

__all__ = ["CubeStylizer", "SphericalSettings", "face_clip", "stylize_spherical"]

OUTPUTS: tuple[str, ...] = ("equirect", "cube")
#: ``optim``: the optimization method per face (this module); ``network``: the prior-image network
#: (:mod:`.network`).
SPHERICAL_METHODS: tuple[str, ...] = ("optim", "network")

#: stylize()'s defaults of the optimization options (one place defines them).
_OPTION_NAMES = tuple(f.name for f in fields(OptimOptions)) + ("loss_weights",)
_OPTION_DEFAULTS = {name: p.default for name, p in inspect.signature(_planar_stylize).parameters.items()
                    if name in _OPTION_NAMES}
if _OPTION_DEFAULTS.get("num_iterations") is None:  # stylize() picks it per method; optim's is 2000,1000
    _OPTION_DEFAULTS["num_iterations"] = (2000, 1000)


@dataclass(frozen=True)
class SphericalSettings:
    """What the spherical method adds to the optimization options.

    :ivar geom: face size and overlap.
    :ivar border_consistency: give each face the stylized borders of the faces before it as prior
        (False: the six faces are stylized independently, the baseline of Table 6).
    :ivar border_feather: pixels over which the border mask ramps down to 0 at the prior's inner edge.
    :ivar border_blend: after the optimisation, blend the face with its prior image by the (feathered)
        mask, so the face continues its neighbours exactly at the cube edges and fades into its own
        stylization over ``border_feather`` pixels at the inner edge of the prior.
    :ivar order: stylization order of the faces (indices into :data:`~.projection.FACES`).
    """

    geom: CubeGeometry
    border_consistency: bool = True
    border_feather: float = 0.0
    border_blend: bool = False
    order: tuple[int, ...] = DEFAULT_ORDER


class CubeStylizer:
    """Stylizes the six extended faces of one frame in order, with border priors and temporal terms.

    :param frame_opt: the per-face optimisation (loss network and style target for ``S x S`` faces).
    :param settings: geometry and border options.
    """

    def __init__(self, frame_opt: FrameOptimizer, settings: SphericalSettings) -> None:
        self.frame_opt = frame_opt
        self.settings = settings

    def __call__(self, n: int, content: torch.Tensor, first: bool, previous: torch.Tensor | None = None,
                 temporal: Sequence[tuple[torch.Tensor, torch.Tensor]] = ()) -> torch.Tensor:
        """Stylize frame ``n``.

        :param content: ``(6, 3, S, S)`` extended faces, RGB in [0, 1].
        :param first: a chain start (first-frame init and iterations).
        :param previous: ``(6, 3, S, S)`` stylized faces of frame ``n - 1`` (for the ``prev`` init).
        :param temporal: ``(warped (6, 3, S, S), c (6, 1, S, S))`` per previous frame, nearest first;
            ``c`` are already the long-term weights of eq. 12.
        :returns: ``(6, 3, S, S)`` stylized faces.
        """
        opts, st = self.frame_opt.opts, self.settings
        kind = opts.init[0] if first else opts.init[1]
        iterations = opts.num_iterations[0 if first else 1]
        out = torch.zeros_like(content)
        for i, k in enumerate(st.order):
            face = content[k:k + 1].contiguous()
            constraints = [(w[k:k + 1].contiguous(), c[k:k + 1].contiguous()) for w, c in temporal]
            init = make_init(kind, face, prev=None if previous is None else previous[k:k + 1],
                             prev_warped=constraints[0][0] if constraints else None,
                             seed=opts.seed + 6 * n + k)
            prior = mask = None
            if st.border_consistency and i > 0:
                prior, mask = border_prior(out, st.order[:i], k, st.geom, st.border_feather)
                init = init + (prior - init) * mask
                constraints.insert(0, (prior, mask))
            masks = long_term_weights([c for _, c in constraints]) if constraints else []
            terms = [(p, m) for (p, _), m in zip(constraints, masks)]
            result = self.frame_opt(n, face, init, terms, iterations)
            if st.border_blend and prior is not None and mask is not None:
                result = result + (prior - result) * mask
            out[k:k + 1] = result
        return out


def face_clip(cube: vs.VideoNode, face: int) -> vs.VideoNode:
    """Face ``face`` (index into :data:`~.projection.FACES`) of a cube strip, as its own clip."""
    size = cube.height
    return vs.core.std.Crop(cube, left=face * size, right=(5 - face) * size)


def _face_flows(cube: vs.VideoNode, indices: Sequence[int], method: str, preset: str,
                cache: str | os.PathLike[str] | None) -> tuple[dict[int, vs.VideoNode], dict[int, vs.VideoNode]]:
    """Backward flows and reliabilities computed per cube face (sec. 6.3), stacked into strips."""
    bw: dict[int, vs.VideoNode] = {}
    rel: dict[int, vs.VideoNode] = {}
    for j in indices:
        faces = [face_clip(cube, k) for k in range(6)]
        back = [flow_filter(f, "backward", j, method=method, preset=preset, cache_dir=cache) for f in faces]
        fore = [flow_filter(f, "forward", j, method=method, preset=preset, cache_dir=cache) for f in faces]
        bw[j] = vs.core.std.StackHorizontal(back)
        rel[j] = vs.core.std.StackHorizontal([reliability_filter(b, f) for b, f in zip(back, fore)])
    return bw, rel


def stylize_spherical(clip: vs.VideoNode, style: StyleSource | Sequence[StyleSource] | None = None, /, *,
                      method: str = "optim", network: str | os.PathLike[str] | None = None,
                      face_size: int | None = None, overlap: int | None = None,
                      border_consistency: bool = True, border_feather: float | None = None,
                      border_blend: bool = True, temporal: bool = True,
                      output: str = "equirect", flows: vs.VideoNode | Sequence[vs.VideoNode] | None = None,
                      weights: vs.VideoNode | Sequence[vs.VideoNode] | None = None, flow_method: str = "dis",
                      flow_preset: str = "medium", flow_cache: str | os.PathLike[str] | None = None,
                      cache_dir: str | os.PathLike[str] | None = None, device: str | None = None,
                      matrix: int | str | None = None, **options: object) -> vs.VideoNode:
    """Stylize a 360-degree (equirectangular) clip on a cube map with border consistency (Ruder et al.
    2018 sec. 6) and, for video, temporal consistency per cube face (sec. 6.3).

    :param clip: equirectangular clip (``W = 2 H``, even ``H``), any constant format.
    :param style: as :func:`vsstylize.stylize` (required by ``method="optim"``, unused by ``"network"``).
    :param method: ``"optim"``: the optimization method per face, the border prior as a temporal-loss term;
        ``"network"``: the prior-image network ``network`` (Ruder sec. 6), one forward pass per face with the
        border prior (video: combined with the warped previous face, sec. 6.3) as its prior input
        (:mod:`vsstylize.spherical.network`); best with a model fine-tuned on border samples
        (``vsstylize train --border-fraction``), e.g. ``"starry_night-prior-cube"``.
    :param network: ``method="network"``: a prior-image model file or shipped name.
    :param face_size: inner cube-face side in pixels (even; default ``W / pi``). Each face is optimised at
        ``face_size + 2 overlap`` pixels.
    :param overlap: margin in pixels on every side of every face, ``< face_size / 2`` (default a tenth of
        the face, as in the paper); the border prior is about ``2 overlap`` pixels wide.
    :param border_consistency: stylize the faces one after another, each with its neighbours' stylized
        borders as prior image and mask in the temporal loss (weight ``temporal_weight``); False stylizes
        the six faces independently.
    :param border_feather: pixels (of the neighbouring face) over which the border mask ramps down to 0
        towards the inner edge of the prior, in ``[0, overlap]`` (default ``overlap / 2``; 0: a binary
        mask). The mask weighs the border's temporal-loss term and the blend.
    :param border_blend: blend each face with its prior image by the mask after optimising it (default):
        the optimisation pulls the border region towards the prior, the blend makes it continue the
        neighbour exactly at the cube edge and fade into the face over ``border_feather`` pixels.
        False: the temporal-loss constraint alone.
    :param temporal: temporal consistency between frames (per-face flow, warped previous faces, temporal
        loss and ``prevWarped`` init); False stylizes every frame on its own (still images).
    :param output: ``"equirect"`` (stitched, the input's size) or ``"cube"`` (the stylized cube strip,
        ``6 S x S`` with ``CubeFaceSize`` / ``CubeOverlap``).
    :param flows: backward flow *strips* (six per-face flow clips side by side, ``6 S x S``), one per entry
        of ``flow_relative_indices``, e.g. exact flows of a camera rotation
        (:func:`~.projection.rotation_flow`); default: per-face flow with ``flow_method``/``flow_preset``.
    :param weights: reliability strips matching ``flows``.
    :param options: (``method="optim"`` only) every option of the optimization method of :func:`vsstylize.stylize` (``num_iterations``,
        ``init``, ``content_weight``, ``style_weight``, ``temporal_weight``, ``model``, ``scales`` ...) with
        the same defaults; sizes (``style_scale``, ``loss_weights="resolution"``) refer to one extended face.
    :raises vs.Error: a clip that is not 2:1 or has an odd height, a bad face size or an overlap of half a
        face or more, ``border_consistency`` with ``temporal_weight=0``, an unknown option, and everything
        :func:`vsstylize.stylize` rejects — naming the parameter.
    """
    func = "stylize_spherical"
    check_equirect_clip(clip, func)
    geom = cube_geometry_for(func, clip.height, face_size, overlap)
    if output not in OUTPUTS:
        raise error(func, f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    if method not in SPHERICAL_METHODS:
        raise error(func, f"method must be one of {', '.join(SPHERICAL_METHODS)}, got {method!r}")
    if border_feather is None:
        border_feather = geom.overlap / 2
    if not isinstance(border_feather, (int, float)) or not 0 <= border_feather <= geom.overlap:
        raise error(func, f"border_feather must be a number of pixels in [0, overlap = {geom.overlap}], "
                          f"got {border_feather!r}")
    unknown = sorted(set(options) - set(_OPTION_DEFAULTS))
    if unknown:
        raise error(func, f"unknown option(s) {', '.join(unknown)}; see vsstylize.stylize for the options")
    if method == "network":
        from .network import stylize_spherical_network

        given_opts = sorted(k for k, v in options.items() if v is not None)
        if given_opts:
            raise error(func, f"option(s) {', '.join(given_opts)} belong to method='optim', not 'network'")
        settings = SphericalSettings(geom, bool(border_consistency), float(border_feather), bool(border_blend))
        cube = equirect_to_cube(clip, face_size=geom.face_size, overlap=geom.overlap, matrix=matrix)
        out = stylize_spherical_network(func, cube, settings, network, bool(temporal), flows, weights, flow_method,
                                        flow_preset, flow_cache, cache_dir, device)
        return out if output == "cube" else cube_to_equirect(out, overlap=geom.overlap, height=clip.height)
    if style is None:
        raise error(func, "style is required for method='optim' (an image file, a clip, or a list of them)")
    if network is not None:
        raise error(func, "network is used by method='network' only")
    given = {k: v for k, v in options.items() if v is not None}  # None = the default, as in stylize()
    opts = _options(func, geom.size, geom.size, {**_OPTION_DEFAULTS, **given})
    if border_consistency and opts.temporal_weight <= 0:
        raise error(func, "border_consistency needs temporal_weight > 0 (the border prior is a temporal-loss term)")
    settings = SphericalSettings(geom, bool(border_consistency), float(border_feather), bool(border_blend))
    cube = equirect_to_cube(clip, face_size=geom.face_size, overlap=geom.overlap, matrix=matrix)
    face_shape = vs.core.std.BlankClip(format=vs.RGBS, width=geom.size, height=geom.size, length=1)
    frame_opt = FrameOptimizer(func, face_shape, style, opts, device)
    stylizer = CubeStylizer(frame_opt, settings)
    chained = temporal and opts.needs_chain
    indices = opts.flow_relative_indices if chained else ()
    bw: dict[int, vs.VideoNode] = {}
    rel: dict[int, vs.VideoNode] = {}
    if chained and opts.needs_flow:
        if flows is None:
            bw, rel = _face_flows(cube, indices, flow_method, flow_preset, flow_cache)
        else:
            bw, rel = _flows_and_weights(func, cube, opts, _as_list(flows), _as_list(weights), flow_method,
                                         flow_preset, flow_cache)

    def compute(inp: FrameInputs) -> torch.Tensor:
        content = strip_to_faces(inp.content)[0]
        js = [j for j in sorted(inp.previous) if j in inp.flows]
        temporal_terms: list[tuple[torch.Tensor, torch.Tensor]] = []
        if js:
            warped = [warp(strip_to_faces(inp.previous[j])[0].contiguous(), strip_to_faces(inp.flows[j])[0].contiguous())
                      for j in js]
            c_long = long_term_weights([strip_to_faces(inp.weights[j])[0].contiguous() for j in js])
            temporal_terms = list(zip(warped, c_long))
        prev = inp.previous.get(1)
        faces = stylizer(inp.n, content, first=not inp.previous,
                         previous=None if prev is None else strip_to_faces(prev)[0].contiguous(),
                         temporal=temporal_terms)
        return faces_to_strip(faces[None])

    sph = repr(sorted(asdict(settings).items()))
    params = digest("spherical", repr(sorted(asdict(opts).items())), sph, str(chained), style_digest(frame_opt.styles),
                    frame_opt.net.weights_name, flow_method, flow_preset, str(flows is not None))
    cache = DiskCache(cache_dir, func, "spherical", ".npz") if cache_dir is not None else None
    chain = RecursiveFilter(func, cube, indices, bw, rel, compute, frame_opt.device, cache, params)
    if output == "cube":
        return chain.out
    return cube_to_equirect(chain.out, overlap=geom.overlap, height=clip.height)

