"""The method ``vsstylize run`` uses when no ``--method`` is given: the fastest one whose output is temporally
consistent and that exists for the style.

Order of preference (fastest first; all of them keep the style stable from frame to frame):

1. ``network`` with the arbitrary prior-image network (``"arbitrary-prior"``, :mod:`vsstylize.networks.temporal`:
   Ghiasi et al.'s arbitrary-style network with Ruder et al. 2018's prior image; about 0.2-0.5 s/frame at 640x360
   on a 2-core CPU) for any painting, or blend of paintings, on planar video; for 360 video (cube faces) the
   shipped cube-face network trained on the style, when the style is a shipped style or the same image file;
2. ``optim`` (Ruder et al. 2016, optimization with the temporal loss): any style, minutes per frame on a CPU;
   chosen when an option of the optimization is given (``--iterations`` asks for it) or no network fits.

``flowfree`` is faster than ``network`` but is not chosen: without flow its output flickers more (Huang et
al. 2017 trade consistency for speed). This is the one place that decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..options import Method, Projection
from ..resources import package_models_dir, resolve_style, shipped_styles

__all__ = ["MethodChoice", "default_method", "shipped_prior_network"]


@dataclass(frozen=True)
class MethodChoice:
    """What ``run`` uses without ``--method``.

    :ivar method: the method.
    :ivar network: the shipped network it uses in place of the style (``None`` for ``optim`` and for the arbitrary
        network, which takes the style).
    :ivar reason: one line for the user: why this method, and how to choose another.
    """

    method: Method
    network: str | None
    reason: str


@cache
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shipped_prior_network(style: str, projection: Projection = "planar") -> str | None:
    """The shipped prior-image network trained on ``style`` (a shipped style name, or an image file with the same
    bytes as a shipped style), e.g. ``"starry_night-prior"`` (``"starry_night-prior-cube"`` for the cube faces of
    ``projection="equirect"``); ``None`` when there is none or the style is not an existing file or shipped name."""
    path = resolve_style(style)
    if path is None:
        return None
    digest = _digest(path)
    suffix = "-prior-cube" if projection == "equirect" else "-prior"
    for name, shipped in shipped_styles().items():
        candidate = package_models_dir() / f"{name}{suffix}.safetensors"
        if _digest(shipped) == digest and candidate.is_file():
            return candidate.stem
    return None


def default_method(styles: Sequence[str] | None, given: Collection[str] = (),
                   projection: Projection = "planar") -> MethodChoice:
    """The method for ``styles`` (the ``--style`` values; several are a blend): see the module's order.

    :param styles: style image files or shipped style names (``None`` or empty: no style given).
    :param given: names of the other options given (:class:`~vsstylize.options.StylizeOptions` fields); a method
        that does not use one of them is not chosen (``--iterations`` asks for the optimization).
    :param projection: ``"equirect"``: the cube-face network of the style (``-prior-cube``).
    :returns: the choice; with no style, ``optim`` (whose own check then asks for ``--style``).
    """
    from ..methods.registry import find

    if styles and projection == "planar" and set(given) <= find("network", projection).uses:
        return MethodChoice("network", None, "--method network (the arbitrary prior-image network, 'arbitrary-prior': "
                            "any painting, the fastest temporally consistent method; --method optim for the "
                            "optimization, slower and closer to the style image)")
    if styles and len(styles) == 1:
        network = shipped_prior_network(styles[0], projection)
        if network is not None and set(given) <= find("network", projection).uses:
            return MethodChoice("network", network, f"--method network --network {network} (the shipped prior-image "
                                "network of this style: the fastest temporally consistent method; --method optim "
                                "for the optimization, slower and closer to the style image)")
    return MethodChoice("optim", None, "--method optim (optimization with the temporal loss: works for any style image "
                        "but takes minutes per frame on a CPU" + (")" if not styles or projection != "planar" else
                                                                 "; chosen for the options given)"))
