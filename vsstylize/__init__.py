"""vsstylize: temporally consistent artistic style transfer for VapourSynth.

Filters (all take and return ``vs.VideoNode``):

* :func:`flow` — dense optical flow as a flow clip (RGBS: u, v, unused);
* :func:`reliability` — forward-backward consistency weights c (Ruder et al. eq. 5-7);
* :func:`warp` — backward warping along a flow clip;
* :func:`stylize` — optimization-based video style transfer (Ruder et al.);
* :func:`multipass` — Ruder et al.'s multi-pass algorithm (alternating passes, eq. 13-14);
* :func:`visualize` — Middlebury colour-wheel view of a flow clip;
* :func:`equirect_to_cube` / :func:`cube_to_equirect` — 360-degree projection with overlapping cube faces;
* :func:`stylize_spherical` — border-consistent stylization of 360 images and videos (Ruder et al. sec. 6);
* :func:`read_flow` / :func:`read_reliability` and :func:`write_flow` / :func:`write_reliability` —
  artistic-videos ``.flo``/PGM files.
"""

from __future__ import annotations

from . import warp as _warp_module  # noqa: F401  (tensor warping; imported before the filter shadows the name)
from .errors import StylizeError
from .flow.filter import flow, reliability
from .flow.io import read_flow, read_reliability, write_flow, write_reliability
from .flow.visualize import visualize
from .flow.warp_filter import warp
from .stylize import stylize
from .stylize.multipass_filter import multipass
from .spherical import cube_to_equirect, equirect_to_cube, stylize_spherical

__all__ = [
    "StylizeError",
    "stylize",
    "multipass",
    "equirect_to_cube",
    "cube_to_equirect",
    "stylize_spherical",
    "flow",
    "reliability",
    "warp",
    "visualize",
    "read_flow",
    "read_reliability",
    "write_flow",
    "write_reliability",
]
__version__ = "0.1.0"
