"""Border-consistent stylization of spherical images and videos with the optimization method
(Ruder et al. 2018 sec. 6.1 and 6.3).

Each equirectangular frame is projected to six extended cube faces (:mod:`.projection`). The faces are
stylized one after another (:data:`~.borders.DEFAULT_ORDER`); face ``k`` gets the already stylized
overlapping borders of its neighbours, reprojected into its plane, as prior image and mask
(:func:`~.borders.border_prior`), and the optimization method treats that pair exactly like the warped
previous frame of a video: a temporal-loss term ``gamma (1/D) sum mask (x - prior)^2`` (eq. 8) in the
per-face objective (:class:`~vsstylize.optim.losses.VideoObjective` through
:class:`~vsstylize.methods.optim.FrameOptimizer`), and the prior pasted into the initial image.

For spherical video, optical flow is computed per cube face and every face's previous stylized result is
warped along it as for planar video (temporal loss with reliability weights, long-term indices J); the
border prior and the warped frames become disjoint temporal-loss terms, the border first
(:func:`~vsstylize.optim.losses.long_term_weights`, as :func:`~.borders.combine_priors` blends them for a
prior-image network). The recursive graph, the caches and the per-face optimisation are those of
``stylize`` (:class:`~vsstylize.methods.chain.RecursiveFilter`), run on the cube strip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..optim.losses import long_term_weights
from ..optim.optimizer import make_init
from .borders import DEFAULT_ORDER, border_prior
from .projection import CubeGeometry

__all__ = ["CubeStylizer", "FaceOptimizer", "SphericalSettings"]

#: ``(frame n, face (1, 3, S, S), init, temporal terms, iterations, fresh start) -> stylized face``: the
#: per-frame optimisation (:class:`vsstylize.methods.optim.FrameOptimizer`); ``fresh start``: a chain start
#: (noise or content init, warned about when it does not leave its initialisation).
FaceOptimizer = Callable[[int, torch.Tensor, "torch.Tensor | str", list[tuple[torch.Tensor, torch.Tensor]], int,
                          bool], torch.Tensor]


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

    :param optimize: the per-face optimisation (loss network and style target for ``S x S`` faces).
    :param settings: geometry and border options.
    :param init: initialisation of the first frame of a chain and of later frames (``stylize``'s ``init``).
    :param num_iterations: iterations of the first frame and of later frames.
    :param seed: seed of the random init (face ``k`` of frame ``n`` uses ``seed + 6 n + k``).
    """

    def __init__(self, optimize: FaceOptimizer, settings: SphericalSettings, init: tuple[str, str],
                 num_iterations: tuple[int, int], seed: int = 0) -> None:
        self.optimize = optimize
        self.settings = settings
        self.init = init
        self.num_iterations = num_iterations
        self.seed = seed

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
        st = self.settings
        kind = self.init[0] if first else self.init[1]
        iterations = self.num_iterations[0 if first else 1]
        out = torch.zeros_like(content)
        for i, k in enumerate(st.order):
            face = content[k:k + 1].contiguous()
            constraints = [(w[k:k + 1].contiguous(), c[k:k + 1].contiguous()) for w, c in temporal]
            init = make_init(kind, face, prev=None if previous is None else previous[k:k + 1],
                             prev_warped=constraints[0][0] if constraints else None,
                             seed=self.seed + 6 * n + k)
            prior = mask = None
            if st.border_consistency and i > 0:
                prior, mask = border_prior(out, st.order[:i], k, st.geom, st.border_feather)
                init = init + (prior - init) * mask
                constraints.insert(0, (prior, mask))
            masks = long_term_weights([c for _, c in constraints]) if constraints else []
            terms = [(p, m) for (p, _), m in zip(constraints, masks)]
            result = self.optimize(n, face, init, terms, iterations, first)
            if st.border_blend and prior is not None and mask is not None:
                result = result + (prior - result) * mask
            out[k:k + 1] = result
        return out
