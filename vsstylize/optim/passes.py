"""The multi-pass algorithm of Ruder et al. 2018 sec. 4.4 (eq. 13-14), on one shot held in memory.

Pass 1 stylizes every frame independently. Each later pass runs over the shot in the direction opposite to
the previous one (pass 2 forward, pass 3 backward, ...) and initialises frame ``i`` with the blend of
eq. 13 (forward) / 14 (backward)::

    x'^(i,j) = delta c o w(x^(n,j)) + (1 - delta c) o x^(i,j-1)

where ``n`` is the neighbour already processed in this pass (``i-1`` forward, ``i+1`` backward), ``w`` warps
it into frame ``i`` along the optical flow, ``c`` is the reliability of that flow (``c^(i-1,i)`` or
``c^(i+1,i)``) and ``delta`` the blend weight (``(1 - delta) 1 + delta (1 - c) = 1 - delta c``). The first
frame in processing order keeps its previous-pass result. From pass ``use_temporal_loss_after`` on, the
temporal loss against ``w(x^(n,j))`` with weights ``c`` is added (sec. 4.4, last paragraph).

A shot can be continued from a fixed *prior*: the final result of the frame just before it (the overlap
frame of the previous chunk of a long shot, see :mod:`vsstylize.methods.multipass`). It is never
re-optimised; it is frame 0's neighbour in forward passes (eq. 13 with ``c^(-1,0)``), and from pass
``use_temporal_loss_after`` on frame 0 also keeps the temporal loss against it in backward passes. A shot
with a prior runs its passes so that the *last* one is forward (pass ``j >= 2`` forward iff
``num_passes - j`` is even): the final sweep starts at the fixed prior and carries it through the shot.
Ending with a backward sweep, the prior is reached last and can only pull frame 0, which leaves the seam
several times less consistent than the frame pairs inside the shot (measured on a 48x32 pan, two chunks of
3 frames, 3 passes of 20 iterations: temporal error of the seam 0.0072 ending backward, 0.0013 ending
forward, frame pairs inside the chunks 0.0013-0.0017, independent chunks 0.016).

Options and defaults follow artistic-videos' ``artistic_video_multiPass.lua``: ``-num_passes 15
-use_temporalLoss_after 8 -blendWeight 1``; the paper used 100 iterations per pass and ``delta = 0.5``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import get_args

import torch

from ..errors import OptionError
from ..opticalflow.warping import DEFAULT_STYLIZED_WARP, StylizedWarp, warp

__all__ = ["MultipassSettings", "PassProgress", "StylizeFrame", "blend_init", "multipass_shot", "pass_is_forward"]

#: ``(frame index, content (1, 3, H, W), init (1, 3, H, W) or "random"/"image", temporal terms) -> result``;
#: temporal terms are ``(warped neighbour (1, 3, H, W), c (1, 1, H, W))`` as in
#: :func:`vsstylize.optim.optimizer.stylize_image`.
StylizeFrame = Callable[[int, torch.Tensor, "torch.Tensor | str", list[tuple[torch.Tensor, torch.Tensor]]], torch.Tensor]


@dataclass(frozen=True)
class MultipassSettings:
    """Multi-pass options (artistic-videos names in snake case).

    :ivar num_passes: passes over the shot (>= 1; artistic-videos 15).
    :ivar use_temporal_loss_after: first pass (1-based) with the temporal loss (artistic-videos 8); must
        not exceed ``num_passes``.
    :ivar blend_weight: ``delta`` of eq. 13/14 in [0, 1] (artistic-videos 1, the paper 0.5).
    :ivar first_init: ``"random"``, ``"image"`` or ``"network"`` (the caller's ``stylize_frame`` makes the network's
        output), the initialisation of pass 1.
    :ivar warp_interpolation: ``"bilinear"`` or ``"bicubic"``: how the neighbour's result (init blend and
        temporal-loss target) and the prior are warped (:data:`~vsstylize.opticalflow.warping.DEFAULT_STYLIZED_WARP`).
    :raises vsstylize.errors.OptionError: out-of-range values, naming the option.
    """

    num_passes: int = 15
    use_temporal_loss_after: int = 8
    blend_weight: float = 1.0
    first_init: str = "random"
    warp_interpolation: StylizedWarp = DEFAULT_STYLIZED_WARP

    def __post_init__(self) -> None:
        if not isinstance(self.num_passes, int) or self.num_passes < 1:
            raise OptionError("num_passes", "{name} must be an integer >= 1, got {value!r}", value=self.num_passes)
        if not isinstance(self.use_temporal_loss_after, int) or not 1 <= self.use_temporal_loss_after <= self.num_passes:
            raise OptionError("use_temporal_loss_after", "{name} must be between 1 and {opt[num_passes]} ({passes}), "
                              "got {value!r}", passes=self.num_passes, value=self.use_temporal_loss_after)
        if not 0.0 <= float(self.blend_weight) <= 1.0:
            raise OptionError("blend_weight", "{name} must lie in [0, 1], got {value!r}", value=self.blend_weight)
        if self.first_init not in ("random", "image", "network"):
            raise OptionError("init", "{name} of pass 1 must be 'random', 'image' or 'network', got {value!r}",
                              value=self.first_init)
        if self.warp_interpolation not in get_args(StylizedWarp):
            raise OptionError("warp_interpolation", "{name} must be 'bilinear' or 'bicubic', got {value!r}",
                              value=self.warp_interpolation)


@dataclass(frozen=True)
class PassProgress:
    """What the progress callback receives after each frame: pass (1-based), frames done in it, total."""

    pass_index: int
    frames_done: int
    num_frames: int
    forward: bool


def blend_init(previous_pass: torch.Tensor, warped_neighbour: torch.Tensor, c: torch.Tensor, delta: float) -> torch.Tensor:
    """Ruder eq. 13/14: ``delta c o warped + (1 - delta c) o previous``.

    :param previous_pass: ``(1, 3, H, W)`` this frame's result of the previous pass.
    :param warped_neighbour: ``(1, 3, H, W)`` the neighbour's result of this pass, warped into this frame.
    :param c: ``(1, 1, H, W)`` reliability of that warp in [0, 1].
    :param delta: blend weight in [0, 1].
    :returns: ``(1, 3, H, W)``.
    """
    weight = c * float(delta)
    return weight * warped_neighbour + (1.0 - weight) * previous_pass


def pass_is_forward(j: int, num_passes: int, continued: bool) -> bool:
    """Direction of pass ``j >= 2`` (module docstring): forward for even ``j`` (pass 2 forward, as
    artistic-videos); for a shot continued from a prior so that the last pass, ``num_passes``, is forward."""
    return (num_passes - j) % 2 == 0 if continued else j % 2 == 0


def multipass_shot(
    contents: Sequence[torch.Tensor],
    flows_backward: Sequence[torch.Tensor],
    weights_backward: Sequence[torch.Tensor],
    flows_forward: Sequence[torch.Tensor],
    weights_forward: Sequence[torch.Tensor],
    stylize_frame: StylizeFrame,
    settings: MultipassSettings,
    progress: Callable[[PassProgress], None] | None = None,
    start: tuple[int, Sequence[torch.Tensor]] | None = None,
    after_pass: Callable[[int, list[torch.Tensor]], None] | None = None,
    prior: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Stylize a shot with the multi-pass algorithm.

    :param contents: ``N`` content frames ``(1, 3, H, W)`` RGB in [0, 1].
    :param flows_backward: ``N`` backward flows ``(1, 2, H, W)`` of frame ``i`` to ``i-1`` (pixels; entry 0 is
        the flow to the ``prior`` frame, unused without one).
    :param weights_backward: their reliabilities ``c^(i-1,i)``, ``(1, 1, H, W)`` in [0, 1].
    :param flows_forward: ``N`` forward flows of frame ``i`` to ``i+1`` (entry ``N-1`` unused).
    :param weights_forward: their reliabilities ``c^(i+1,i)``.
    :param stylize_frame: runs the per-frame optimisation (:data:`StylizeFrame`).
    :param settings: :class:`MultipassSettings`.
    :param progress: called after every frame of every pass.
    :param start: ``(passes already done, their last results)`` to resume after an interruption.
    :param after_pass: called with ``(pass index, results)`` after each pass (e.g. to save them).
    :param prior: ``(1, 3, H, W)`` the fixed final result of the frame before the shot (module docstring),
        warped into frame 0 with ``flows_backward[0]`` and weighted with ``weights_backward[0]``.
    :returns: ``N`` stylized frames ``(1, 3, H, W)``.
    :raises ValueError: lists of different lengths or an empty shot.
    """
    n = len(contents)
    if n == 0:
        raise ValueError("the shot has no frames")
    for name, seq in (("flows_backward", flows_backward), ("weights_backward", weights_backward),
                      ("flows_forward", flows_forward), ("weights_forward", weights_forward)):
        if len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries for {n} frames")
    results: list[torch.Tensor | None] = [None] * n if start is None else list(start[1])
    done = 0 if start is None else int(start[0])
    if start is not None and (len(results) != n or not 1 <= done <= settings.num_passes):
        raise ValueError(f"start must hold 1..{settings.num_passes} done passes and {n} frames")
    # the prior warped into frame 0 and its reliability, the same in every pass
    mode = settings.warp_interpolation
    fixed = (warp(prior, flows_backward[0], mode=mode), weights_backward[0]) if prior is not None else None
    for j in range(done + 1, settings.num_passes + 1):
        forward = pass_is_forward(j, settings.num_passes, prior is not None)
        use_temporal = j >= settings.use_temporal_loss_after
        new: list[torch.Tensor | None]
        if j == 1:
            new = []
            for i in range(n):
                new.append(stylize_frame(i, contents[i], settings.first_init, []))
                if progress is not None:
                    progress(PassProgress(j, i + 1, n, True))
        else:
            new = list(results)
            order = range(n) if forward else range(n - 1, -1, -1)
            for k, i in enumerate(order):
                nb = i - 1 if forward else i + 1
                previous = results[i]
                assert previous is not None
                neighbour: tuple[torch.Tensor, torch.Tensor] | None = None  # (warped, c)
                if 0 <= nb < n:
                    flow, c = (flows_backward[i], weights_backward[i]) if forward else (flows_forward[i], weights_forward[i])
                    done_nb = new[nb]
                    assert done_nb is not None
                    neighbour = (warp(done_nb, flow, mode=mode), c)
                elif nb == -1 and fixed is not None:
                    neighbour = fixed
                init = previous if neighbour is None else blend_init(previous, *neighbour, settings.blend_weight)
                temporal = [neighbour] if use_temporal and neighbour is not None else []
                if use_temporal and i == 0 and fixed is not None and not forward:
                    temporal.append(fixed)
                new[i] = stylize_frame(i, contents[i], init, temporal)
                if progress is not None:
                    progress(PassProgress(j, k + 1, n, forward))
        results = new
        if after_pass is not None:
            after_pass(j, _done(results))
    return _done(results)


def _done(results: Sequence[torch.Tensor | None]) -> list[torch.Tensor]:
    """The results of a finished pass (every frame stylized)."""
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]
