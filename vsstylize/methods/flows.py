"""The optical flow and reliability clips a method works with: computed with :func:`vsstylize.flow` and
:func:`vsstylize.reliability`, or given by the user (``flows`` / ``weights``) and checked."""

from __future__ import annotations

from collections.abc import Sequence

import vapoursynth as vs

from ..errors import error
from ..frames import check_same_geometry
from ..opticalflow.clips import Direction, check_flow_clip, flow_meta
from ..opticalflow.filters import flow as flow_filter
from ..opticalflow.filters import reliability as reliability_filter
from ..options import StylizeOptions

__all__ = ["check_flow_input", "check_weights_input", "estimated_flow", "flows_and_weights"]


def estimated_flow(clip: vs.VideoNode, direction: Direction, step: int, options: StylizeOptions) -> vs.VideoNode:
    """:func:`vsstylize.flow` of ``clip`` with the flow options (``flow_method``, ``flow_preset``, ``flow_cache``)."""
    return flow_filter(clip, direction, step, method=options.flow_method, preset=options.flow_preset,
                       cache_dir=options.flow_cache)


def flows_and_weights(func: str, rgb: vs.VideoNode, indices: Sequence[int],
                      options: StylizeOptions) -> tuple[dict[int, vs.VideoNode], dict[int, vs.VideoNode]]:
    """Backward flow clips ``n -> n - j`` and their reliability clips for every ``j`` in ``indices``.

    :param rgb: the RGBS clip being stylized.
    :param indices: the set J (ascending).
    :returns: ``({j: backward flow with step j}, {j: reliability of it})``: ``options.flows`` / ``weights``
        (one clip per entry of J) checked, or computed (:func:`estimated_flow`, forward-backward check).
    :raises vs.Error: given clips of the wrong number, size, length, direction or step (naming ``flows`` /
        ``weights``).
    """
    if options.flows is None:
        if options.weights is not None:
            raise error(func, "weights (reliability clips) belong to flows: give both or neither")
        bw = {j: estimated_flow(rgb, "backward", j, options) for j in indices}
        fw = {j: estimated_flow(rgb, "forward", j, options) for j in indices}
        return bw, {j: reliability_filter(bw[j], fw[j]) for j in indices}
    if len(options.flows) != len(indices):
        raise error(func, f"flows must hold one backward flow clip per frame distance {tuple(indices)}, got "
                          f"{len(options.flows)}")
    bw = {j: check_flow_input(func, rgb, clip, "backward", j) for j, clip in zip(indices, options.flows)}
    if options.weights is None:
        raise error(func, "weights (reliability clips) must be given together with flows")
    if len(options.weights) != len(indices):
        raise error(func, f"weights must hold one reliability clip per frame distance {tuple(indices)}, got "
                          f"{len(options.weights)}")
    return bw, {j: check_weights_input(func, rgb, clip) for j, clip in zip(indices, options.weights)}


def check_flow_input(func: str, rgb: vs.VideoNode, clip: vs.VideoNode, direction: Direction, step: int) -> vs.VideoNode:
    """A user-given flow clip for ``rgb``: a flow clip of its size with ``direction`` and ``step``.

    :raises vs.Error: naming the ``flows`` parameter.
    """
    check_flow_clip(clip, func, "flows")
    check_same_geometry(rgb, clip, func, "clip", "flows")
    got_direction, got_step = flow_meta(clip, func, "flows")
    if got_direction != direction or got_step != step:
        raise error(func, f"flows entry must be a {direction} flow with step {step}, got {got_direction} step {got_step}")
    return clip


def check_weights_input(func: str, rgb: vs.VideoNode, clip: vs.VideoNode) -> vs.VideoNode:
    """A user-given reliability clip for ``rgb``: GRAYS of its size.

    :raises vs.Error: naming the ``weights`` parameter.
    """
    if not isinstance(clip, vs.VideoNode) or clip.format is None or clip.format.id != vs.GRAYS:
        raise error(func, "weights must be GRAYS reliability clips (vsstylize.reliability / read_reliability)")
    check_same_geometry(rgb, clip, func, "clip", "weights")
    return clip
