"""Spherical (360-degree) images and videos (Ruder et al. 2018 sec. 6 and 8, appendix A.8-A.9).

* :mod:`.projection` — equirectangular <-> cube map with an overlap margin on every face (torch);
* :mod:`.filters` — the VapourSynth filters :func:`equirect_to_cube` / :func:`cube_to_equirect`;
* :mod:`.borders` — border priors (prior image + mask) of cube faces, usable by any method;
* :mod:`.stylize` — :func:`stylize_spherical`, border-consistent (and, for video, temporally consistent)
  stylization with the optimization method;
* :mod:`.network` — ``stylize_spherical(method="network")``: the same with the prior-image network, the border
  prior as its prior input (fine-tuned on border samples: :mod:`vsstylize.train.border_data`);
* :mod:`.seams` — the E_gradient regions of appendix A.9 (cube edges, inner edges of the prior).
"""

from __future__ import annotations

from .filters import cube_to_equirect, equirect_to_cube
from .stylize import stylize_spherical

__all__ = ["cube_to_equirect", "equirect_to_cube", "stylize_spherical"]
