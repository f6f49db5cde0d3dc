"""VapourSynth filters of the cube-map projection: ``equirect_to_cube`` and ``cube_to_equirect``.

A cube map travels through a graph as a *cube strip*: one frame ``6 S`` wide and ``S`` high holding the
six extended faces F R B L U D side by side (``S = face_size + 2 overlap``), with the frame properties
``CubeFaceSize`` and ``CubeOverlap``. Any per-face filter can work on ``std.Crop`` of one face.
"""

from __future__ import annotations

import math

import torch
import vapoursynth as vs

from ..errors import error
from ..media.frames import check_constant, frame_to_tensor, tensor_to_frame, to_rgbs
from .projection import (
    CubeGeometry,
    check_cube_geometry,
    default_overlap,
    equirect_to_faces,
    faces_to_equirect,
    faces_to_strip,
    strip_to_faces,
)

__all__ = [
    "INTERPOLATIONS",
    "PROP_FACE_SIZE",
    "PROP_OVERLAP",
    "check_equirect_clip",
    "cube_geometry_for",
    "cube_to_equirect",
    "equirect_to_cube",
]

PROP_FACE_SIZE = "CubeFaceSize"
PROP_OVERLAP = "CubeOverlap"
INTERPOLATIONS: tuple[str, ...] = ("bicubic", "bilinear", "nearest")


def _float_clip(clip: vs.VideoNode, func: str, matrix: int | str | None) -> vs.VideoNode:
    """RGBS and GRAYS clips as they are (frames, masks); anything else converted to RGBS."""
    check_constant(clip, func, "clip")
    if clip.format.id in (vs.RGBS, vs.GRAYS):
        return clip
    return to_rgbs(clip, func, matrix=matrix)


def check_equirect_clip(clip: vs.VideoNode, func: str) -> None:
    """An equirectangular clip: constant size, twice as wide as high, even height.

    :raises vs.Error: naming ``clip``.
    """
    check_constant(clip, func, "clip")
    if clip.width != 2 * clip.height:
        raise error(func, f"clip must be equirectangular (width = 2 x height), got {clip.width}x{clip.height}")
    if clip.height % 2:
        raise error(func, f"clip must have an even height (equirectangular {clip.width}x{clip.height})")


def cube_geometry_for(func: str, height: int, face_size: int | None, overlap: int | None) -> CubeGeometry:
    """The cube geometry for an equirectangular image ``height`` pixels high.

    Default ``face_size``: ``2 H / pi`` (= ``W / pi``) rounded to even, the face whose centre pixel spans
    the same angle as an equirectangular pixel at the equator (``W / 4`` would undersample the faces by
    ``4 / pi`` and blur a round trip). Default ``overlap``: :func:`~.projection.default_overlap`.

    :raises vs.Error: naming ``face_size`` / ``overlap``.
    """
    if face_size is None:
        face_size = max(8, 2 * round(height / math.pi))
    if overlap is None and isinstance(face_size, int):
        overlap = default_overlap(face_size)
    problem = check_cube_geometry(face_size, overlap)
    if problem is not None:
        raise error(func, problem)
    return CubeGeometry(face_size, overlap)


def _check_interpolation(func: str, interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        raise error(func, f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")


def equirect_to_cube(clip: vs.VideoNode, /, face_size: int | None = None, overlap: int | None = None,
                     interpolation: str = "bicubic", matrix: int | str | None = None) -> vs.VideoNode:
    """Equirectangular clip -> cube strip of six extended cube faces (F R B L U D side by side).

    :param clip: equirectangular clip (``W = 2 H``, ``H`` even), any constant format (YUV is converted to
        RGBS with ``matrix`` or its ``_Matrix``; RGBS and GRAYS are kept).
    :param face_size: inner face side ``s`` in pixels, even (default ``W / pi`` rounded to even).
    :param overlap: margin ``m`` in pixels added on every side of every face, ``0 <= m < s / 2``
        (default ``s / 10`` rounded to even, the paper's 64 px on 640).
    :param interpolation: ``"bicubic"`` (default), ``"bilinear"`` or ``"nearest"``.
    :returns: RGBS (or GRAYS) clip ``6 S x S`` (``S = s + 2 m``) with props ``CubeFaceSize``, ``CubeOverlap``.
    :raises vs.Error: not 2:1, odd height, odd or too small ``face_size``, ``overlap`` of half a face or
        more, unknown interpolation.
    """
    func = "equirect_to_cube"
    check_equirect_clip(clip, func)
    geom = cube_geometry_for(func, clip.height, face_size, overlap)
    _check_interpolation(func, interpolation)
    src = _float_clip(clip, func, matrix)
    blank = vs.core.std.BlankClip(src, width=6 * geom.size, height=geom.size)

    def compute(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        with torch.no_grad():
            strip = faces_to_strip(equirect_to_faces(frame_to_tensor(f[1]), geom, interpolation))
        out = tensor_to_frame(strip, f[0])
        out.props.update(f[1].props)
        out.props[PROP_FACE_SIZE] = geom.face_size
        out.props[PROP_OVERLAP] = geom.overlap
        return out

    return vs.core.std.ModifyFrame(blank, [blank, src], compute)


def cube_to_equirect(cube: vs.VideoNode, /, overlap: int, height: int | None = None,
                     interpolation: str = "bicubic") -> vs.VideoNode:
    """Cube strip -> equirectangular clip; each pixel is taken from the face that owns its direction
    (margins are not blended, so seams between independently processed faces stay visible).

    :param cube: RGBS/GRAYS cube strip (``6 S x S``), e.g. from :func:`equirect_to_cube` or a filter
        applied to it.
    :param overlap: the strip's margin ``m`` in pixels (``face_size = S - 2 m``); checked against the
        ``CubeOverlap`` property of each frame where it is set.
    :param height: output height ``H`` (width ``2 H``); default ``pi s / 2`` rounded to even, the inverse
        of :func:`equirect_to_cube`'s default face size.
    :param interpolation: ``"bicubic"`` (default), ``"bilinear"`` or ``"nearest"``.
    :returns: clip of the strip's format, ``2 H x H``.
    :raises vs.Error: a strip that is not six faces side by side, a bad ``overlap`` or ``height``, a
        frame whose ``CubeOverlap`` differs from ``overlap``.
    """
    func = "cube_to_equirect"
    check_constant(cube, func, "cube")
    if cube.format.id not in (vs.RGBS, vs.GRAYS):
        raise error(func, f"cube must be an RGBS or GRAYS cube strip (equirect_to_cube), got {cube.format.name}")
    size = cube.height
    if cube.width != 6 * size:
        raise error(func, f"cube must be a strip of six square faces (width = 6 x height), got {cube.width}x{size}")
    if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0:
        raise error(func, f"overlap must be an integer >= 0 (pixels), got {overlap!r}")
    problem = check_cube_geometry(size - 2 * overlap, overlap)
    if problem is not None:
        raise error(func, f"a {size}-pixel face with overlap {overlap}: {problem}")
    geom = CubeGeometry(size - 2 * overlap, overlap)
    if height is None:
        height = 2 * round(math.pi * geom.face_size / 4)
    if not isinstance(height, int) or isinstance(height, bool) or height < 4 or height % 2:
        raise error(func, f"height must be an even integer >= 4, got {height!r}")
    _check_interpolation(func, interpolation)
    blank = vs.core.std.BlankClip(cube, width=2 * height, height=height)

    def compute(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        prop = f[1].props.get(PROP_OVERLAP)
        if prop is not None and int(prop) != overlap:
            raise error(func, f"frame {n} of cube has CubeOverlap {prop} but overlap={overlap} was given")
        with torch.no_grad():
            equi = faces_to_equirect(strip_to_faces(frame_to_tensor(f[1])), geom, height, interpolation)
        out = tensor_to_frame(equi, f[0])
        out.props.update(f[1].props)
        for name in (PROP_FACE_SIZE, PROP_OVERLAP):
            if name in out.props:
                del out.props[name]
        return out

    return vs.core.std.ModifyFrame(blank, [blank, cube], compute)
