"""The ``flow`` and ``reliability`` filters (Ruder et al. sec. 4.2; artistic-videos ``makeOptFlow``)."""

from __future__ import annotations

import os

import cv2
import numpy as np
import vapoursynth as vs

from ..errors import error
from ..media.cache import open_cache
from ..media.frames import check_same_geometry, to_rgbs
from .clips import (
    DIRECTIONS,
    PROP_STEP,
    Direction,
    check_flow_clip,
    flow_meta,
    frame_flow,
    frame_valid,
    partner_clip,
    partner_index,
    set_flow_props,
)
from .consistency import consistency_check
from .estimators import DIS_PRESETS, FLOW_METHODS, DisPreset, FlowEngine, FlowMethod, FlowSettings, estimator_array

__all__ = ["flow", "reliability"]


def _check_direction_step(func: str, direction: object, step: object) -> None:
    if direction not in DIRECTIONS:
        raise error(func, f"direction must be 'forward' or 'backward', got {direction!r}")
    if not isinstance(step, int) or isinstance(step, bool) or step < 1:
        raise error(func, f"step must be an integer >= 1, got {step!r}")


def _estimator_input(clip: vs.VideoNode, rgb: vs.VideoNode, settings: FlowSettings) -> vs.VideoNode:
    """What the estimator reads: RGBS for RAFT; 8-bit luma for the OpenCV methods.

    For YUV sources the luma plane is used directly (no RGB round trip); other formats are
    converted to BT.709 luma without dithering.
    """
    if settings.wants_rgb:
        return rgb
    fmt = clip.format
    if fmt.color_family == vs.YUV:
        luma = vs.core.std.ShufflePlanes(clip, 0, vs.GRAY)
        return luma if fmt.bits_per_sample == 8 and fmt.sample_type == vs.INTEGER else vs.core.resize.Point(luma, format=vs.GRAY8)
    return vs.core.resize.Point(rgb, format=vs.GRAY8, matrix_s="709")


def flow(clip: vs.VideoNode, /, direction: Direction = "forward", step: int = 1, method: FlowMethod = "dis",
         preset: DisPreset | None = None, matrix: int | str | None = None,
         cache_dir: str | os.PathLike[str] | None = None, raft_weights: str | None = None,
         device: str | None = None) -> vs.VideoNode:
    """Dense optical flow of ``clip`` as a flow clip (Ruder et al. sec. 4.2; artistic-videos ``makeOptFlow``).

    Frame ``n`` of the result holds the flow from frame ``n`` to frame ``n + step`` (``"forward"``) or
    ``n - step`` (``"backward"``): RGBS, plane 0 = u, plane 1 = v in pixels (x right, y down), plane 2
    unused (0); properties ``FlowDirection``, ``FlowStep``, ``FlowValid``. The first ``step`` frames of
    a backward flow and the last ``step`` frames of a forward flow have no partner: they carry zero flow
    and ``FlowValid = 0``. ``step > 1`` gives the long-term flows of Ruder et al. (sec. 4.3).

    :param clip: any constant-format clip; YUV is converted with ``matrix`` (or its ``_Matrix``).
    :param direction: ``"forward"`` or ``"backward"``.
    :param step: frame distance, >= 1.
    :param method: ``"dis"`` (OpenCV DIS, default), ``"dis_refined"`` (DIS + variational refinement),
        ``"deepflow"`` (OpenCV DeepFlow, as in the papers; slow; needs OpenCV contrib), ``"farneback"`` or
        ``"raft"``.
    :param preset: DIS preset ``"ultrafast"``, ``"fast"`` or ``"medium"`` (default) of the DIS methods.
    :param cache_dir: folder for a flow cache: each flow is stored as a 16-bit PNG keyed by the two frames'
        content and the method settings, so flows are computed once per clip and reused by every style (as
        fast-artistic-videos did). Writes are atomic. Flows are rounded to 1/8 pixel with or without a
        cache (:mod:`vsstylize.media.compact`), so they are the same either way.
    :param raft_weights: RAFT weights file or standard name (``"raft-large"``, ``"raft-small"``) of ``"raft"``.
    :param device: torch device of ``"raft"``.
    :raises vs.Error: for an invalid clip, direction, step, method or preset, an option the method does not
        use, an unwritable cache folder, or missing RAFT weights.
    """
    func = "flow"
    rgb = to_rgbs(clip, func, matrix=matrix)
    _check_direction_step(func, direction, step)
    if method not in FLOW_METHODS:
        raise error(func, f"method must be one of {', '.join(FLOW_METHODS)}, got {method!r}")
    dis = method in ("dis", "dis_refined")
    if preset is not None and not dis:
        raise error(func, f"preset is an option of the DIS methods, not of method={method!r}")
    if dis and preset is not None and preset not in DIS_PRESETS:
        raise error(func, f"preset must be one of {', '.join(DIS_PRESETS)}, got {preset!r}")
    for name, value in (("raft_weights", raft_weights), ("device", device)):
        if value is not None and method != "raft":
            raise error(func, f"{name} is an option of method='raft', not of method={method!r}")
    settings = FlowSettings(method=method, preset=preset or "medium", raft_weights=raft_weights, device=device)
    cache = open_cache(cache_dir, func, "flow")
    try:
        engine = FlowEngine(settings, cache)
    except (ValueError, RuntimeError) as exc:
        raise error(func, str(exc)) from exc

    src = _estimator_input(clip, rgb, settings)
    partner = partner_clip(src, direction, step)
    blank = vs.core.std.BlankClip(rgb, format=vs.RGBS, keep=True)
    num_frames = rgb.num_frames

    def compute(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = vs.core.create_video_frame(blank.format, blank.width, blank.height)
        out.props.update(f[0].props)
        m = partner_index(n, direction, step)
        valid = 0 <= m < num_frames
        if valid:
            a = estimator_array(f[1], settings.wants_rgb)
            b = estimator_array(f[2], settings.wants_rgb)
            uv = engine.flow(a, b, direction, step)
            u, v = cv2.split(uv)  # contiguous planes (a strided numpy copy costs more)
            np.copyto(np.asarray(out[0]), u)
            np.copyto(np.asarray(out[1]), v)
        else:
            np.asarray(out[0])[:] = 0.0
            np.asarray(out[1])[:] = 0.0
        np.asarray(out[2])[:] = 0.0
        set_flow_props(out, direction, step, valid)
        out.props["FlowMethod"] = settings.method
        return out

    return vs.core.std.ModifyFrame(blank, [blank, src, partner], compute)


def reliability(flow: vs.VideoNode, opposite_flow: vs.VideoNode, /, smooth_sigma: float = 0.8) -> vs.VideoNode:
    """Reliability weights c of ``flow`` by the forward-backward consistency check (Ruder et al. eq. 5-7).

    Reproduces the original artistic-videos ``consistencyChecker``: 0 in disoccluded regions (eq. 6),
    at motion boundaries (eq. 7) and where the flow leaves the image; 1 elsewhere; smoothed with a
    Gaussian of ``smooth_sigma`` (0.8), which spreads unreliability outwards from disocclusions.

    Frame ``n`` of the result belongs to frame ``n`` of ``flow``. ``opposite_flow`` is the flow in the
    other direction with the same step (e.g. ``flow(clip, "forward")`` for ``flow(clip, "backward")``);
    the partner frame is picked automatically (for backward flow at ``n``, ``opposite_flow[n - step]``).

    :param flow: flow clip whose reliability is wanted (from :func:`flow` or :func:`read_flow`).
    :param opposite_flow: the opposite flow clip, same size and length.
    :param smooth_sigma: Gaussian sigma in pixels of the final smoothing; 0 disables it.
    :returns: GRAYS clip in [0, 1], properties ``FlowDirection``, ``FlowStep``, ``FlowValid``
        (frames without a partner are 0 everywhere).
    :raises vs.Error: when the clips are not flow clips, differ in size or length, or their
        directions/steps do not form an opposite pair.
    """
    func = "reliability"
    check_flow_clip(flow, func, "flow")
    check_flow_clip(opposite_flow, func, "opposite_flow")
    check_same_geometry(flow, opposite_flow, func, "flow", "opposite_flow")
    if not isinstance(smooth_sigma, (int, float)) or smooth_sigma < 0:
        raise error(func, f"smooth_sigma must be a number >= 0, got {smooth_sigma!r}")
    direction, step = flow_meta(flow, func, "flow")
    opp_direction, opp_step = flow_meta(opposite_flow, func, "opposite_flow")
    if opp_direction == direction or opp_step != step:
        raise error(func, f"opposite_flow must be the {'forward' if direction == 'backward' else 'backward'} "
                          f"flow with step {step}, got {opp_direction} flow with step {opp_step}")
    aligned = partner_clip(opposite_flow, direction, step)
    blank = vs.core.std.BlankClip(flow, format=vs.GRAYS, keep=True)

    def compute(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[0].copy()
        valid = frame_valid(f[1]) and frame_valid(f[2])
        for frame, name in ((f[1], "flow"), (f[2], "opposite_flow")):
            if frame.props.get(PROP_STEP) != step:
                raise error(func, f"{name} frame {n} has step {frame.props.get(PROP_STEP)}, expected {step}")
        if valid:
            c = consistency_check(frame_flow(f[1]), frame_flow(f[2]), smooth_sigma=float(smooth_sigma))
            np.copyto(np.asarray(out[0]), c / 255.0)
        else:
            np.asarray(out[0])[:] = 0.0
        set_flow_props(out, direction, step, valid)
        return out

    return vs.core.std.ModifyFrame(blank, [blank, flow, aligned], compute)

