"""The ``warp`` filter: bring a clip's partner frames into each frame along a flow clip."""

from __future__ import annotations

import vapoursynth as vs

from ..errors import error
from ..media.frames import check_float_clip, check_same_geometry, frame_to_tensor, tensor_to_frame
from .clips import check_flow_clip, flow_meta, frame_flow_tensor, frame_valid, partner_clip
from .warping import warp as warp_tensor

__all__ = ["warp"]

_PADDINGS = ("border", "zeros", "reflection")


def warp(clip: vs.VideoNode, flow: vs.VideoNode, /, padding: str = "border") -> vs.VideoNode:
    """Backward-warp ``clip`` along ``flow`` (bilinear, torch ``grid_sample``).

    Frame ``n`` of the result is the partner frame of ``n`` (``clip[n - step]`` for a backward flow,
    ``clip[n + step]`` for a forward one) warped into frame ``n``:
    ``out_n(x) = clip_partner(x + flow_n(x))`` — the warp function omega of Ruder et al. Frames
    without a partner (``FlowValid = 0``) are returned unchanged (frame ``n`` of ``clip``).

    :param clip: RGBS/RGBH/GRAYS/GRAYH clip, e.g. the source or stylized frames.
    :param flow: flow clip of the same size and length.
    :param padding: what positions outside the image read: ``"border"`` (nearest edge pixel, default),
        ``"zeros"`` or ``"reflection"``. Those pixels are unreliable; the reliability clip marks them 0.
    :raises vs.Error: for unsupported formats, mismatched sizes/lengths or an unknown padding.
    """
    func = "warp"
    check_float_clip(clip, func, "clip")
    check_flow_clip(flow, func, "flow")
    check_same_geometry(flow, clip, func, "flow", "clip")
    if padding not in _PADDINGS:
        raise error(func, f"padding must be one of {', '.join(_PADDINGS)}, got {padding!r}")
    direction, step = flow_meta(flow, func, "flow")
    partner = partner_clip(clip, direction, step)

    def compute(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        if not frame_valid(f[2]):
            return f[0]
        image = frame_to_tensor(f[1])
        uv = frame_flow_tensor(f[2])
        return tensor_to_frame(warp_tensor(image, uv, padding=padding), f[0])  # type: ignore[arg-type]

    return vs.core.std.ModifyFrame(clip, [clip, partner, flow], compute)
