"""vsstylize: temporally consistent artistic style transfer for VapourSynth.

Filters (all take and return ``vs.VideoNode``), in pipeline order:

* :func:`flow` — dense optical flow as a flow clip (RGBS: u, v, unused);
* :func:`reliability` — forward-backward consistency weights c (Ruder et al. eq. 5-7);
* :func:`warp` — backward warping along a flow clip;
* :func:`scenes` — mark the shots (scene cuts detected by FFmpeg's ``scdet`` or read from a file), where chains
  restart;
* :func:`stylize` — video style transfer by any method (optimization, prior-image network, flow-free network,
  hybrid, multi-pass; planar or 360-degree), options in :class:`StylizeOptions`;
* :func:`multipass` — the multi-pass method (Ruder et al. 2018 sec. 4.4) as a filter: ``num_passes`` and the other
  multi-pass options, checked as ``stylize(method="multipass")``;
* :func:`visualize` — Middlebury colour-wheel view of a flow clip;
* :func:`equirect_to_cube` / :func:`cube_to_equirect` — 360-degree projection with overlapping cube faces;
* :func:`read_flow` / :func:`read_reliability` and :func:`write_flow` / :func:`write_reliability` —
  artistic-videos ``.flo``/PGM files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import StylizeError
    from .media.shots import scenes
    from .opticalflow.filters import flow, reliability
    from .opticalflow.io import read_flow, read_reliability, write_flow, write_reliability
    from .opticalflow.visualize import visualize
    from .opticalflow.warp_filter import warp
    from .options import StylizeOptions
    from .spherical.filters import cube_to_equirect, equirect_to_cube
    from .stylization import multipass, stylize

#: Public name -> the module defining it. The filters need VapourSynth; they are imported on first use, so the
#: parts that do not (training, evaluation, ``python -m vsstylize download``) run where it is not installed.
_EXPORTS: dict[str, str] = {
    "StylizeError": ".errors",
    "StylizeOptions": ".options",
    "cube_to_equirect": ".spherical.filters",
    "equirect_to_cube": ".spherical.filters",
    "flow": ".opticalflow.filters",
    "multipass": ".stylization",
    "read_flow": ".opticalflow.io",
    "read_reliability": ".opticalflow.io",
    "reliability": ".opticalflow.filters",
    "scenes": ".media.shots",
    "stylize": ".stylization",
    "visualize": ".opticalflow.visualize",
    "warp": ".opticalflow.warp_filter",
    "write_flow": ".opticalflow.io",
    "write_reliability": ".opticalflow.io",
}

__all__ = [
    "StylizeError",
    "StylizeOptions",
    "cube_to_equirect",
    "equirect_to_cube",
    "flow",
    "multipass",
    "read_flow",
    "read_reliability",
    "reliability",
    "scenes",
    "stylize",
    "visualize",
    "warp",
    "write_flow",
    "write_reliability",
]


def __getattr__(name: str) -> Any:
    """Import a public filter on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vsstylize' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__version__ = "0.2.0"
