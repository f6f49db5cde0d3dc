"""Border priors of cube faces (Ruder et al. 2018 sec. 6.1, Fig. 7; reprojection of appendix A.8).

Cube faces are stylized one after another. Before face ``k`` is stylized, the already stylized extended
faces that overlap it are reprojected into its plane: a pixel of face ``k`` looking in direction ``v``
lands on an earlier face ``j`` at the pinhole coordinates ``(<v, right_j>, <v, down_j>) / <v, forward_j>``
(eq. 22, the neighbour standing at 90 degrees to ``k``'s plane). Where that point lies on ``j``'s
extended face, ``j``'s stylized pixel (bilinear) is the *prior image* and the *mask* is 1 (or ramps
down towards the inner edge of the prior region with ``feather``). The prior covers ``k``'s margin
(the neighbours' inner pixels) and a strip of ``k``'s inner face (the neighbours'
margins, foreshortened to ``(s / 2) (1 - 1 / (1 + 2 m / s))`` pixels), so a band of a little under
``2 overlap`` pixels along every edge shared with an earlier face.

The prior image and mask are method-agnostic: the optimization method uses them as a temporal-loss term
``(prior, mask)`` (:mod:`vsstylize.spherical.optim`); a prior-image network (sec. 5.2 / 6.2) takes the
same pair as its extra input, blended with the warped previous frame by :func:`combine_priors` for
spherical video (sec. 6.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F

from ..optim.losses import long_term_weights
from .projection import CubeGeometry, face_directions, plane_coordinates

__all__ = ["DEFAULT_ORDER", "BorderMap", "border_map", "border_prior", "combine_priors"]

#: Stylization order: the four side faces around the horizon (each after its left neighbour, L between
#: B and F), then U and D, which get priors on all four edges.
DEFAULT_ORDER: tuple[int, ...] = (0, 1, 2, 3, 4, 5)


class BorderMap:
    """Where each earlier face lands in face ``target``'s extended plane (geometry only, no pixels).

    :ivar grids: ``source -> (1, S, S, 2)`` ``grid_sample`` coordinates into the source's extended face.
    :ivar reach: ``source -> (1, 1, S, S)`` how far inside the source's extended face the point lies, in
        plane units (``extent - max(|a|, |b|)``, > 0 inside; -1 where the source does not see it).
    """

    def __init__(self, geom: CubeGeometry, target: int) -> None:
        self.geom = geom
        self.target = target
        v = face_directions(geom)[target]  # (S, S, 3)
        self.grids: dict[int, torch.Tensor] = {}
        self.reach: dict[int, torch.Tensor] = {}
        for source in range(6):
            if source == target:
                continue
            a, b, depth = plane_coordinates(v, source)
            reach = geom.extent - torch.maximum(a.abs(), b.abs())
            # the outermost half pixel has no bilinear partner on the source face: leave it out
            reach = reach - 1.0 / geom.face_size
            reach = torch.where(depth > 0, reach, torch.full_like(reach, -1.0))
            if bool((reach > 0).any()):
                self.grids[source] = geom.to_grid(torch.stack((a, b), -1)).float()[None]
                self.reach[source] = reach.float()[None, None]


@lru_cache(maxsize=64)
def border_map(geom: CubeGeometry, target: int) -> BorderMap:
    """The :class:`BorderMap` of face ``target`` (cached per geometry)."""
    return BorderMap(geom, target)


def border_prior(faces: torch.Tensor, done: Sequence[int], target: int, geom: CubeGeometry,
                 feather: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Prior image and mask of cube face ``target`` from the already stylized faces ``done``.

    Where several earlier faces see a pixel (near cube corners) the one that sees it farthest inside its
    extended face is used.

    :param faces: ``(6, C, S, S)`` extended faces (only the entries in ``done`` are read), RGB in [0, 1].
    :param done: indices (into :data:`~.projection.FACES`) of the faces stylized so far.
    :param target: the face to build the prior for.
    :param geom: face size and overlap.
    :param feather: width in pixels (of the source face) over which the mask ramps from 1 down to 0 at the
        inner edge of the prior region; 0 = a binary mask.
    :returns: ``(prior (1, C, S, S), mask (1, 1, S, S) in [0, 1])``; the prior is 0 where the mask is 0.
    :raises ValueError: bad shapes, indices or feather.
    """
    size = geom.size
    if faces.dim() != 4 or faces.shape[0] != 6 or tuple(faces.shape[-2:]) != (size, size):
        raise ValueError(f"faces must be (6, C, {size}, {size}), got {tuple(faces.shape)}")
    if not 0 <= target < 6 or any(not 0 <= j < 6 or j == target for j in done):
        raise ValueError(f"done {list(done)} and target {target} must be distinct face indices in 0..5")
    if feather < 0:
        raise ValueError(f"feather must be >= 0 pixels, got {feather}")
    bmap = border_map(geom, target)
    device, dtype = faces.device, faces.dtype
    prior = faces.new_zeros(1, faces.shape[1], size, size)
    best = torch.zeros(1, 1, size, size, device=device, dtype=dtype)
    for source in done:
        if source not in bmap.grids:
            continue
        reach = bmap.reach[source].to(device=device, dtype=dtype)
        take = reach > best
        if not bool(take.any()):
            continue
        sampled = F.grid_sample(faces[source:source + 1], bmap.grids[source].to(device=device, dtype=dtype),
                                mode="bilinear", padding_mode="border", align_corners=False)
        prior = torch.where(take, sampled, prior)
        best = torch.where(take, reach, best)
    if feather > 0:
        mask = (best * (geom.face_size / 2) / feather).clamp(0.0, 1.0)
    else:
        mask = (best > 0).to(dtype)
    return prior * (mask > 0), mask


def combine_priors(terms: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend several (prior image, mask) pairs into one, nearest constraint first (sec. 6.3: the border
    of the neighbouring faces and the warped previous frame).

    The masks are made disjoint as the long-term weights of eq. 12 (:func:`~vsstylize.optim.losses.long_term_weights`):
    each pixel keeps the weight of the first pair that covers it, the next pairs only what is left. This is
    the single prior image + mask a prior-image network takes; the optimization method passes the
    disjoint pairs to the objective as separate temporal-loss terms.

    :param terms: ``(prior (1, C, H, W), mask (1, 1, H, W) in [0, 1])``, most important first.
    :returns: ``(prior (1, C, H, W), mask (1, 1, H, W))``: ``sum_i m'_i p_i / sum_i m'_i`` (0 where
        nothing covers) and ``sum_i m'_i`` (<= 1).
    :raises ValueError: no terms.
    """
    if not terms:
        raise ValueError("combine_priors needs at least one (prior, mask) pair")
    masks = long_term_weights([m for _, m in terms])
    total = torch.stack(masks).sum(0)
    prior = sum((m * p for (p, _), m in zip(terms, masks)), torch.zeros_like(terms[0][0]))
    return prior / total.clamp_min(1e-12) * (total > 0), total
