"""A 360-degree video with exact ground truth: an equirectangular photo under a camera yaw over time.

A yaw of the camera turns every direction about the vertical axis, which in the equirectangular image is a
horizontal circular shift: frame ``t`` is the photo rolled by ``t * shift_px`` columns (exact, no
resampling). The optical flow of each cube face is then known exactly (:func:`~.projection.rotation_flow`):
a homography on the side faces, a rotation about the centre on the top and bottom faces. Used by the
spherical benchmark and tests (Ruder et al. 2018 sec. 8.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import vapoursynth as vs

from vsstylize.media.frames import numpy_to_frame
from vsstylize.opticalflow.clips import set_flow_props
from vsstylize.spherical.projection import CubeGeometry, faces_to_strip, rotation_flow, yaw_matrix

__all__ = ["YawSequence", "array_clip", "yaw_sequence"]


def array_clip(frames: list[np.ndarray], fmt: int = vs.RGBS, fps: tuple[int, int] = (25, 1)) -> vs.VideoNode:
    """A clip whose frame ``t`` is ``frames[t]``, each ``(P, H, W)`` float32 (planes first)."""
    _p, h, w = frames[0].shape
    blank = vs.core.std.BlankClip(format=fmt, width=w, height=h, length=len(frames), fpsnum=fps[0],
                                  fpsden=fps[1], keep=True)
    return vs.core.std.ModifyFrame(blank, blank, lambda n, f: numpy_to_frame(frames[n], f))


@dataclass
class YawSequence:
    """Frames of a yawing 360 camera and the exact backward flow of every cube face.

    :ivar frames: ``(T, 3, H, 2 H)`` equirectangular frames, RGB in [0, 1].
    :ivar shift_px: columns the content moves right per frame (longitude + ``2 pi shift_px / W``).
    :ivar geom: the cube geometry the flows are for.
    :ivar face_flow: ``(6, 2, S, S)`` backward flow ``t -> t - 1`` of each extended face, in pixels (the
        same for every ``t >= 1``).
    :ivar face_valid: ``(6, 1, S, S)``: 1 where the partner pixel lies on the same extended face.
    """

    frames: np.ndarray
    shift_px: int
    geom: CubeGeometry
    face_flow: torch.Tensor
    face_valid: torch.Tensor

    @property
    def angle(self) -> float:
        """Yaw per frame in radians."""
        return 2 * math.pi * self.shift_px / self.frames.shape[-1]

    def clip(self) -> vs.VideoNode:
        """The equirectangular frames as an RGBS clip."""
        return array_clip(list(self.frames))

    def flow_clips(self) -> tuple[vs.VideoNode, vs.VideoNode]:
        """``(flow strip, reliability strip)`` clips for ``stylize(projection="equirect", flows=..., reliability=...)``:
        the per-face backward flows (RGBS u, v, 0) and validity (GRAYS) side by side as a cube strip;
        frame 0 has no partner (zero flow, ``FlowValid=0``)."""
        t_count = self.frames.shape[0]
        flow = faces_to_strip(self.face_flow[None])[0].numpy()
        flow = np.concatenate((flow, np.zeros_like(flow[:1])))
        valid = faces_to_strip(self.face_valid[None])[0].numpy()
        flows = array_clip([flow] * t_count)
        rel = array_clip([valid] * t_count, fmt=vs.GRAYS)

        def props(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
            out = f.copy()
            if n == 0:
                for p in range(out.format.num_planes):
                    np.asarray(out[p])[...] = 0
            set_flow_props(out, "backward", 1, n > 0)
            return out

        return (vs.core.std.ModifyFrame(flows, flows, props), vs.core.std.ModifyFrame(rel, rel, props))


def yaw_sequence(equirect: np.ndarray, num_frames: int, shift_px: int, geom: CubeGeometry) -> YawSequence:
    """A yawing 360 video made from one equirectangular image.

    :param equirect: ``(3, H, 2 H)`` float32 RGB in [0, 1].
    :param num_frames: frames ``T >= 2``.
    :param shift_px: columns per frame (positive: content moves right).
    :param geom: the cube geometry the per-face flows are computed for.
    :raises ValueError: bad image shape or frame count.
    """
    if equirect.ndim != 3 or equirect.shape[0] != 3 or equirect.shape[2] != 2 * equirect.shape[1]:
        raise ValueError(f"equirect must be (3, H, 2H), got {equirect.shape}")
    if num_frames < 2:
        raise ValueError(f"num_frames must be >= 2, got {num_frames}")
    frames = np.stack([np.roll(equirect, t * shift_px, axis=2) for t in range(num_frames)]).astype(np.float32)
    angle = 2 * math.pi * shift_px / equirect.shape[2]
    flow, valid = rotation_flow(geom, yaw_matrix(-angle))
    return YawSequence(frames, shift_px, geom, flow, valid)
