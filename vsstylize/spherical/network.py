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

from collections.abc import Callable

import torch

from ..networks.inference import apply_network, takes_prior
from ..networks.models import StylizationNetwork
from .borders import border_prior, combine_priors
from .optim import SphericalSettings

__all__ = ["NetworkCubeStylizer"]


class NetworkCubeStylizer:
    """Stylizes the six extended faces of one frame in order with a prior-image network.

    :param net: a ``"prior"`` network (eval mode), or a network of the prior-image input bound to a style (a
        callable with a true ``takes_prior``: the arbitrary prior variant,
        :meth:`vsstylize.networks.pretrained.StyledNetwork.network_for`).
    :param settings: geometry and border options (:class:`~.optim.SphericalSettings`).
    :raises ValueError: a network that takes no prior.
    """

    def __init__(self, net: StylizationNetwork | Callable[[torch.Tensor], torch.Tensor],
                 settings: SphericalSettings) -> None:
        if not takes_prior(net):
            got = f", got a {net.spec.kind!r} network" if isinstance(net, StylizationNetwork) else ""
            raise ValueError(f"the cube stylizer needs a prior-image network{got}")
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
