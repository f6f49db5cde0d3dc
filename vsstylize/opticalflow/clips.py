"""Flow clips: how a flow field travels through a VapourSynth graph.

A **flow clip** is an RGBS clip of the source's size and length. Frame ``n`` holds the flow from
frame ``n`` to its partner frame (``n - step`` for ``"backward"``, ``n + step`` for ``"forward"``):
plane 0 = u (pixels, x to the right), plane 1 = v (pixels, y downwards), plane 2 = 0 (unused).
Frame properties:

* ``FlowDirection``: ``"forward"`` or ``"backward"``;
* ``FlowStep``: the frame distance (``step > 1`` is the long-term flow of Ruder et al. sec. 4.3);
* ``FlowValid``: 1, or 0 for the first (backward) / last (forward) ``step`` frames, which have no
  partner and carry zero flow (their reliability is 0 everywhere).

A **reliability clip** is GRAYS in [0, 1] (1 = reliable) with the same three properties.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import vapoursynth as vs

from ..errors import error
from ..media.frames import check_constant

__all__ = [
    "DIRECTIONS",
    "PROP_DIRECTION",
    "PROP_STEP",
    "PROP_VALID",
    "Direction",
    "check_flow_clip",
    "flow_meta",
    "frame_flow",
    "frame_flow_tensor",
    "partner_clip",
    "partner_index",
    "set_flow_props",
]

Direction = Literal["forward", "backward"]
DIRECTIONS: tuple[str, ...] = ("forward", "backward")
PROP_DIRECTION = "FlowDirection"
PROP_STEP = "FlowStep"
PROP_VALID = "FlowValid"


def partner_index(n: int, direction: str, step: int) -> int:
    """Index of frame ``n``'s partner: ``n - step`` (backward) or ``n + step`` (forward)."""
    return n - step if direction == "backward" else n + step


def partner_clip(clip: vs.VideoNode, direction: str, step: int) -> vs.VideoNode:
    """A clip whose frame ``n`` is ``clip``'s frame ``partner_index(n)``.

    Frames without a partner repeat the first/last frame (they are marked invalid elsewhere).
    Same length as ``clip``.
    """
    num = clip.num_frames
    if step >= num:
        return clip
    if direction == "backward":
        return clip[0] * step + clip[: num - step]
    return clip[step:] + clip[num - 1] * step


def set_flow_props(frame: vs.VideoFrame, direction: str, step: int, valid: bool) -> None:
    """Write the flow clip properties onto a writable frame."""
    frame.props[PROP_DIRECTION] = direction
    frame.props[PROP_STEP] = step
    frame.props[PROP_VALID] = int(valid)


def _prop_str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def flow_meta(clip: vs.VideoNode, func: str, param: str) -> tuple[str, int]:
    """``(direction, step)`` of a flow or reliability clip, read from its first frame's properties.

    :raises vs.Error: when the properties are missing or invalid, naming ``param``.
    """
    props = clip.get_frame(0).props
    if PROP_DIRECTION not in props or PROP_STEP not in props:
        raise error(func, f"{param} has no {PROP_DIRECTION}/{PROP_STEP} frame properties; "
                          "pass a clip made by vsstylize.flow, vsstylize.read_flow or vsstylize.reliability")
    direction = _prop_str(props[PROP_DIRECTION])
    step = int(props[PROP_STEP])
    if direction not in DIRECTIONS or step < 1:
        raise error(func, f"{param} has invalid flow properties (direction {direction!r}, step {step})")
    return direction, step


def check_flow_clip(clip: vs.VideoNode, func: str, param: str) -> None:
    """Check that ``clip`` is an RGBS flow clip of constant size.

    :raises vs.Error: naming ``param`` and what was expected.
    """
    check_constant(clip, func, param)
    if clip.format.id != vs.RGBS:
        raise error(func, f"{param} must be an RGBS flow clip (u, v, unused), got {clip.format.name}")


def frame_flow(frame: vs.VideoFrame) -> np.ndarray:
    """The flow of a flow-clip frame as ``(H, W, 2)`` float32 (u, v) in pixels (a copy)."""
    return np.stack([np.asarray(frame[0]), np.asarray(frame[1])], axis=-1)


def frame_flow_tensor(frame: vs.VideoFrame, device: torch.device | str = "cpu") -> torch.Tensor:
    """The flow of a flow-clip frame as a ``(1, 2, H, W)`` float32 tensor (u, v) in pixels on ``device``
    (the layout of :func:`vsstylize.opticalflow.warping.warp`)."""
    planes = np.stack([np.asarray(frame[0]), np.asarray(frame[1])])
    return torch.from_numpy(planes).unsqueeze(0).to(device)


def frame_valid(frame: vs.VideoFrame) -> bool:
    """Whether a flow/reliability frame has a partner (``FlowValid`` 1; missing counts as valid)."""
    return bool(frame.props.get(PROP_VALID, 1))
