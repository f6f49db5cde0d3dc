"""Flow visualisation with the Middlebury colour wheel (Baker et al. 2011), for previews."""

from __future__ import annotations

import flow_vis
import numpy as np
import vapoursynth as vs

from ..errors import error
from .clips import check_flow_clip, frame_flow

__all__ = ["flow_to_color", "visualize"]


def flow_to_color(flow: np.ndarray, max_flow: float | None = None) -> np.ndarray:
    """Colour-code a flow field: hue = direction, saturation = magnitude (Baker et al. colour wheel).

    :param flow: ``(H, W, 2)`` float (u, v) pixels.
    :param max_flow: magnitude (pixels) shown fully saturated; ``None`` = the field's own maximum.
    :returns: ``(H, W, 3)`` uint8 RGB.
    :raises ValueError: for other shapes or a non-positive ``max_flow``.
    """
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    if max_flow is not None and max_flow <= 0:
        raise ValueError(f"max_flow must be > 0, got {max_flow}")
    radius = np.sqrt((flow.astype(np.float64) ** 2).sum(axis=2))
    scale = max_flow if max_flow is not None else max(float(radius.max()), 1e-6)
    u = np.clip(flow[..., 0] / scale, -1.0, 1.0)
    v = np.clip(flow[..., 1] / scale, -1.0, 1.0)
    return flow_vis.flow_uv_to_colors(u, v)


def visualize(flow: vs.VideoNode, /, max_flow: float | None = None) -> vs.VideoNode:
    """A viewable RGB24 clip of a flow clip (Middlebury colour wheel; white = no motion).

    :param flow: flow clip from :func:`vsstylize.flow` / :func:`vsstylize.read_flow`.
    :param max_flow: pixels of motion shown fully saturated; ``None`` normalises each frame by its
        own maximum (colours are then not comparable between frames).
    :raises vs.Error: for a non-flow clip or a non-positive ``max_flow``.
    """
    check_flow_clip(flow, "visualize", "flow")
    if max_flow is not None and (not isinstance(max_flow, (int, float)) or max_flow <= 0):
        raise error("visualize", f"max_flow must be a number > 0 or None, got {max_flow!r}")
    blank = vs.core.std.BlankClip(flow, format=vs.RGB24, keep=True)

    def paint(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[0].copy()
        rgb = flow_to_color(frame_flow(f[1]), max_flow)
        for p in range(3):
            np.copyto(np.asarray(out[p]), rgb[..., p])
        out.props.update({k: v for k, v in f[1].props.items() if k.startswith("Flow")})
        return out

    return vs.core.std.ModifyFrame(blank, [blank, flow], paint)
