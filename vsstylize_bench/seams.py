"""Regions of the E_gradient measure for spherical images (Ruder et al. 2018 sec. 8.1, appendix A.9):
the cube edges (cut edges, two pixels wide) of a stitched equirectangular image, and the inner edges of
the prior region (four pixels wide) in the stylized cube faces. The measure itself is
:func:`vsstylize_bench.metrics.e_gradient`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vsstylize.spherical.borders import DEFAULT_ORDER, border_prior
from vsstylize.spherical.projection import CubeGeometry, face_index_map
from vsstylize_bench.metrics import e_gradient

__all__ = [
    "crossing_regions",
    "cube_edge_e_gradient",
    "cube_edge_regions",
    "prior_edge_e_gradient",
    "prior_edge_regions",
]


def crossing_regions(labels: torch.Tensor, width: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """E_gradient regions along the boundaries of a label map.

    A horizontal gradient (pixel ``(y, x)`` -> ``(y, x + 1)``, :func:`~vsstylize_bench.metrics.e_gradient`'s
    ``region_x`` convention) is in the region when it crosses a boundary, or lies within the band of
    ``width`` pixels centred on one (``width = 2``: the crossing gradient alone, between the two pixels
    that touch the cut; ``width = 4``: also the gradient on either side); vertical gradients likewise.

    :param labels: ``(H, W)`` integer labels (face index, covered / not covered ...).
    :param width: band width in pixels, an even number >= 2.
    :returns: ``(region_x, region_y)``, ``(H, W)`` bool.
    :raises ValueError: a bad ``width``.
    """
    if not isinstance(width, int) or width < 2 or width % 2:
        raise ValueError(f"width must be an even number of pixels >= 2, got {width!r}")
    reach = width // 2 - 1
    h, w = labels.shape
    cross_x = torch.zeros(h, w, dtype=torch.bool)
    cross_y = torch.zeros(h, w, dtype=torch.bool)
    cross_x[:, :-1] = labels[:, 1:] != labels[:, :-1]
    cross_y[:-1, :] = labels[1:, :] != labels[:-1, :]
    region_x, region_y = cross_x.clone(), cross_y.clone()
    for d in range(1, reach + 1):
        region_x[:, d:] |= cross_x[:, :-d]
        region_x[:, :-d] |= cross_x[:, d:]
        region_y[d:, :] |= cross_y[:-d, :]
        region_y[:-d, :] |= cross_y[d:, :]
    region_x[:, -1] = False
    region_y[-1, :] = False
    return region_x, region_y


def cube_edge_regions(height: int, width: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Regions of the cube edges (cut edges) in an equirectangular image ``height x 2 height`` stitched by
    :func:`~.projection.faces_to_equirect` (each pixel from the face that owns it)."""
    return crossing_regions(face_index_map(height, 2 * height), width)


def prior_edge_regions(geom: CubeGeometry, order: Sequence[int] = DEFAULT_ORDER,
                       width: int = 4) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """Per extended face (:data:`~.projection.FACES` order) the regions of the inner edge of its border
    prior when the faces are stylized in ``order`` (``None`` for the first face, which has no prior)."""
    out: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * 6
    blank = torch.zeros(6, 1, geom.size, geom.size)
    for i, k in enumerate(order):
        if i == 0:
            continue
        _, mask = border_prior(blank, order[:i], k, geom)
        out[k] = crossing_regions((mask[0, 0] > 0).to(torch.int64), width)
    return out


def cube_edge_e_gradient(equirect: torch.Tensor | np.ndarray, width: int = 2) -> float:
    """E_gradient (eq. 23) at the cube edges of a stitched equirectangular image ``(3, H, 2 H)`` in [0, 1]."""
    h = int(equirect.shape[-2])
    region_x, region_y = cube_edge_regions(h, width)
    return e_gradient(equirect, region_x, region_y)


def stitched_face_views(faces: torch.Tensor, geom: CubeGeometry) -> torch.Tensor:
    """What a viewer of the stitched sphere sees through each extended face: the face's own inner square,
    and in its margin the pixels of the faces that own those directions, reprojected into its plane
    (:func:`~.borders.border_prior` from all other faces). The cut edges lie on the inner square's border.

    :param faces: ``(6, C, S, S)`` extended faces.
    :returns: ``(6, C, S, S)``.
    """
    m, s = geom.overlap, geom.face_size
    inner = torch.zeros(geom.size, geom.size, dtype=torch.bool)
    inner[m:m + s, m:m + s] = True
    views = []
    for k in range(6):
        others, _ = border_prior(faces, [j for j in range(6) if j != k], k, geom)
        views.append(torch.where(inner, faces[k], others[0]))
    return torch.stack(views)


def face_cut_e_gradient(faces: torch.Tensor, geom: CubeGeometry, width: int = 2) -> float:
    """E_gradient at the cut edges measured in the cube-face planes (:func:`stitched_face_views`), each
    face relative to its own gradients, averaged weighted by region size. Unlike the equirectangular
    measure (:func:`cube_edge_e_gradient`) it does not see the cube map's own change of scale (a face
    pixel near a cube edge covers half the angle of one at the centre, so a texture of constant size in
    the faces has larger gradients near the edges once resampled to equirectangular)."""
    if geom.overlap < 2:
        raise ValueError(f"measuring in the face planes needs overlap >= 2 pixels, got {geom.overlap}")
    views = stitched_face_views(faces, geom)
    labels = torch.zeros(geom.size, geom.size, dtype=torch.int64)
    labels[geom.overlap:geom.overlap + geom.face_size, geom.overlap:geom.overlap + geom.face_size] = 1
    regions = crossing_regions(labels, width)
    return _weighted_over_faces(views, [regions] * 6)


def _weighted_over_faces(faces: torch.Tensor | np.ndarray,
                         regions: Sequence[tuple[torch.Tensor, torch.Tensor] | None]) -> float:
    """eq. 23 per face, averaged weighted by the region sizes (``||s||_1``) over the faces."""
    total, count = 0.0, 0.0
    for k, reg in enumerate(regions):
        if reg is None:
            continue
        n = float(reg[0][:, :-1].sum() + reg[1][:-1, :].sum())
        total += n * e_gradient(faces[k], *reg)
        count += n
    return total / count


def prior_edge_e_gradient(faces: torch.Tensor | np.ndarray, geom: CubeGeometry,
                          order: Sequence[int] = DEFAULT_ORDER, width: int = 4) -> float:
    """E_gradient at the inner edges of the border priors, in the stylized extended faces ``(6, 3, S, S)``:
    each face's ratio relative to that face's own gradients, averaged weighted by the region sizes (the
    ``||s||_1`` weighting of eq. 23 carried over the faces)."""
    return _weighted_over_faces(faces, prior_edge_regions(geom, order, width))
