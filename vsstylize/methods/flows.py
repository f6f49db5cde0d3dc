"""The optical flow and reliability a chained method works with: computed on the compute device beside the chain
(:class:`~vsstylize.opticalflow.pairs.FlowPairs`), or given by the user as clips (``flows`` / ``reliability``) and
checked."""

from __future__ import annotations

from collections.abc import Sequence

import vapoursynth as vs

from ..errors import error
from ..media.cache import open_cache
from ..media.frames import DeviceFrames, check_same_geometry
from ..opticalflow.clips import Direction, check_flow_clip, flow_meta
from ..opticalflow.estimators import FlowSettings
from ..opticalflow.filters import flow as flow_filter
from ..opticalflow.pairs import FlowPairs
from ..options import StylizeOptions
from .chain import ClipInputs, DeviceInputs, TemporalInputs
from .registry import Request

__all__ = ["check_flow_input", "check_given", "check_weights_input", "estimated_flow", "given_inputs", "temporal_inputs"]


def estimated_flow(clip: vs.VideoNode, direction: Direction, step: int, options: StylizeOptions) -> vs.VideoNode:
    """:func:`vsstylize.flow` of ``clip`` with the flow options (``flow_method``, ``flow_preset``, ``flow_cache``)."""
    return flow_filter(clip, direction, step, method=options.flow_method, preset=options.flow_preset,
                       cache_dir=options.flow_cache, raft_weights=options.raft_weights)


def temporal_inputs(func: str, rgb: vs.VideoNode, indices: Sequence[int], options: StylizeOptions,
                    frames: DeviceFrames) -> TemporalInputs:
    """The backward flows ``n -> n - j`` and their reliabilities for every ``j`` in ``indices``.

    :param rgb: the RGBS clip being stylized.
    :param indices: the set J (ascending).
    :param frames: the chain's frames on the compute device (RAFT reads them there).
    :returns: :class:`ClipInputs` of ``options.flows`` / ``reliability`` (one clip per entry of J, checked), or
        :class:`DeviceInputs`: flow (``flow_method``, ``flow_preset``, ``flow_cache``) and the consistency check
        made on ``frames.device`` beside the chain.
    :raises vs.Error: given clips of the wrong number, size, length, direction or step (naming ``flows`` /
        ``reliability``); a flow method that cannot run (e.g. no RAFT weights).
    """
    if options.flows is not None or options.reliability is not None:
        return given_inputs(func, rgb, indices, options)
    settings = FlowSettings(method=options.flow_method, preset=options.flow_preset or "medium",
                            raft_weights=options.raft_weights, device=str(frames.device))
    cache = open_cache(options.flow_cache, func, "flow")
    try:
        return DeviceInputs({j: FlowPairs(rgb, j, settings, frames, cache) for j in indices})
    except (ValueError, RuntimeError) as exc:
        raise error(func, f"flow_method={options.flow_method!r}: {exc}") from exc


def check_given(request: Request, indices: Sequence[int]) -> None:
    """The user's ``flows`` / ``reliability`` of ``request`` checked against its clip (:func:`given_inputs`), when
    given: a :attr:`~vsstylize.methods.registry.MethodSpec.inputs` check, run before anything is loaded.

    :raises vs.Error: naming ``flows`` / ``reliability``.
    """
    options = request.options
    if options.flows is not None or options.reliability is not None:
        given_inputs(request.func, request.clip, indices, options)


def given_inputs(func: str, clip: vs.VideoNode, indices: Sequence[int], options: StylizeOptions) -> ClipInputs:
    """The user's ``flows`` / ``reliability`` clips (one backward flow clip with step ``j`` and its reliability clip per
    entry of ``indices``), checked against ``clip``.

    :raises vs.Error: clips of the wrong number, size, length, direction or step, or reliability clips without flows.
    """
    if options.flows is None:
        raise error(func, "reliability (the reliability clips) belongs to flows: give both or neither")
    if len(options.flows) != len(indices):
        raise error(func, f"flows must hold one backward flow clip per frame distance {tuple(indices)}, got "
                          f"{len(options.flows)}")
    bw = {j: check_flow_input(func, clip, c, "backward", j) for j, c in zip(indices, options.flows)}
    if options.reliability is None:
        raise error(func, "reliability (the reliability clips) must be given together with flows")
    if len(options.reliability) != len(indices):
        raise error(func, f"reliability must hold one reliability clip per frame distance {tuple(indices)}, got "
                          f"{len(options.reliability)}")
    return ClipInputs(bw, {j: check_weights_input(func, clip, c) for j, c in zip(indices, options.reliability)})


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

    :raises vs.Error: naming the ``reliability`` parameter.
    """
    if not isinstance(clip, vs.VideoNode) or clip.format is None or clip.format.id != vs.GRAYS:
        raise error(func, "reliability must be GRAYS reliability clips (vsstylize.reliability / read_reliability)")
    check_same_geometry(rgb, clip, func, "clip", "reliability")
    return clip
