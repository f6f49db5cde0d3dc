"""Per-frame optimisation (Gatys et al.; Ruder et al. 2018 sec. 4): minimise the
:class:`~vsstylize.losses.VideoObjective` over the image with L-BFGS or Adam.

The image is optimised in the loss network's input space (for Caffe weights: BGR, 0..255, mean
subtracted, as neural-style / artistic-videos do), so step sizes and the Adam learning rate (given in
0..255 pixel units) behave as users of those tools know.

Stopping rule (artistic-videos ``-tol_loss_relative`` / ``-tol_loss_relative_interval``; Ruder 2018
sec. 7.2.1): stop when ``|L_{i-K} - L_i| / |L_{i-K}| < tol`` for the loss ``L`` at iteration ``i`` and
``K`` = the interval, checked every ``K`` iterations; or after ``num_iterations``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from .losses import (
    ARTISTIC_VIDEOS_WEIGHTS,
    DEFAULT_CONTENT_LAYERS,
    Criterion,
    LossWeights,
    StyleTarget,
    TemporalTerm,
    VideoObjective,
    original_colors as _original_colors,
    resize_image,
)
from .vgg import LossNetwork

__all__ = ["OptimizerSettings", "Progress", "OptimResult", "make_init", "stylize_image", "INIT_KINDS"]

InitKind = Literal["random", "image", "prev", "prevWarped"]
INIT_KINDS: tuple[str, ...] = ("random", "image", "prev", "prevWarped")

#: ImageNet mean colour, RGB in [0, 1] (the Caffe mean [123.68, 116.779, 103.939] / 255): the image
#: whose Caffe-preprocessed input is zero.
_MEAN_RGB = (123.68 / 255.0, 116.779 / 255.0, 103.939 / 255.0)
#: neural-style's ``torch.randn(...):mul(0.001)`` in 0..255 units, expressed in [0, 1] units.
RANDOM_INIT_STD = 0.001 / 255.0


@dataclass(frozen=True)
class Progress:
    """What the progress callback receives, every ``tol_loss_relative_interval`` iterations.

    :ivar scale_index: index into :attr:`OptimizerSettings.scales`.
    :ivar iteration: iterations done at this scale.
    :ivar loss: current total loss.
    """

    scale_index: int
    iteration: int
    loss: float


@dataclass
class OptimizerSettings:
    """Optimiser options (artistic-videos names).

    :ivar optimizer: ``"lbfgs"`` (default; history 100, unit step, no line search, as neural-style)
        or ``"adam"``.
    :ivar num_iterations: maximum iterations (loss evaluations) per scale.
    :ivar tol_loss_relative: relative loss change below which the optimisation stops (0 disables).
    :ivar tol_loss_relative_interval: iterations between two checks of the relative change.
    :ivar learning_rate: Adam step size in 0..255 pixel units (artistic-videos default 1e1).
    :ivar scales: coarse-to-fine sizes relative to the frame, ascending, ending at 1.0, e.g.
        ``(0.5, 1.0)``; each scale's result, upsampled, initialises the next.
    :ivar lbfgs_history: L-BFGS memory (neural-style ``nCorrection`` 100).
    :ivar progress: called with a :class:`Progress` every interval.
    """

    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    num_iterations: int = 1000
    tol_loss_relative: float = 1e-4
    tol_loss_relative_interval: int = 50
    learning_rate: float = 1e1
    scales: tuple[float, ...] = (1.0,)
    lbfgs_history: int = 100
    progress: Callable[[Progress], None] | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {self.optimizer!r}")
        if self.num_iterations < 1:
            raise ValueError(f"num_iterations must be >= 1, got {self.num_iterations}")
        if self.tol_loss_relative < 0:
            raise ValueError(f"tol_loss_relative must be >= 0, got {self.tol_loss_relative}")
        if self.tol_loss_relative_interval < 1:
            raise ValueError(f"tol_loss_relative_interval must be >= 1, got {self.tol_loss_relative_interval}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.lbfgs_history < 1:
            raise ValueError(f"lbfgs_history must be >= 1, got {self.lbfgs_history}")
        scales = tuple(float(s) for s in self.scales)
        if not scales or any(not 0 < s <= 1 for s in scales) or list(scales) != sorted(scales) or scales[-1] != 1.0:
            raise ValueError(f"scales must be ascending in (0, 1] and end with 1.0, got {self.scales}")
        self.scales = scales


@dataclass
class OptimResult:
    """Outcome of :func:`stylize_image`.

    :ivar iterations: loss evaluations over all scales.
    :ivar losses: total loss per iteration, in order (all scales).
    :ivar seconds: wall time of the optimisation.
    :ivar stopped_early: the relative-tolerance rule stopped the last scale before ``num_iterations``.
    :ivar components: weighted loss components at the last evaluation.
    :ivar iterations_per_scale: iterations spent at each scale.
    """

    iterations: int
    losses: list[float]
    seconds: float
    stopped_early: bool
    components: dict[str, float] = field(default_factory=dict)
    iterations_per_scale: list[int] = field(default_factory=list)


def make_init(
    kind: str,
    content: torch.Tensor,
    prev: torch.Tensor | None = None,
    prev_warped: torch.Tensor | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Initial image of the optimisation (artistic-videos ``-init``; Ruder 2018 sec. 4.1).

    * ``"random"``: neural-style's noise init: the image whose network input is
      ``N(0, 0.001^2)`` in Caffe space, i.e. the ImageNet mean colour plus Gaussian noise of standard
      deviation 0.001 / 255 per channel (RGB [0, 1] units). Reproducible from ``seed`` (CPU generator,
      independent of the global RNG).
    * ``"image"``: the content frame.
    * ``"prev"``: the previous stylized frame, not warped.
    * ``"prevWarped"``: the previous stylized frame warped by the optical flow (``omega(x^(i-1))``).

    :param content: ``(1, 3, H, W)`` RGB in [0, 1].
    :param prev: ``(1, 3, H, W)`` previous stylized frame (for ``"prev"``).
    :param prev_warped: ``(1, 3, H, W)`` warped previous stylized frame (for ``"prevWarped"``).
    :returns: ``(1, 3, H, W)`` float32 RGB on ``content``'s device (a new tensor).
    :raises ValueError: unknown ``kind``, missing or mis-shaped previous frame.
    """
    if content.dim() != 4 or content.shape[:2] != (1, 3):
        raise ValueError(f"content must be (1, 3, H, W) RGB in [0, 1], got {tuple(content.shape)}")
    if kind == "random":
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        noise = torch.randn(tuple(content.shape), generator=gen, dtype=torch.float32) * RANDOM_INIT_STD
        mean = torch.tensor(_MEAN_RGB, dtype=torch.float32).view(1, 3, 1, 1)
        return (mean + noise).to(content.device)
    if kind == "image":
        return content.detach().to(torch.float32).clone(memory_format=torch.contiguous_format)
    if kind in ("prev", "prevWarped"):
        src = prev if kind == "prev" else prev_warped
        arg = "prev" if kind == "prev" else "prev_warped"
        if src is None:
            raise ValueError(f"init {kind!r} needs {arg} (the previous stylized frame{' warped' * (kind != 'prev')})")
        if tuple(src.shape) != tuple(content.shape):
            raise ValueError(f"{arg} {tuple(src.shape)} must have the content's shape {tuple(content.shape)}")
        return src.detach().to(device=content.device, dtype=torch.float32).clone(memory_format=torch.contiguous_format)
    raise ValueError(f"init must be one of {', '.join(INIT_KINDS)}, got {kind!r}")


def _relative_change(old: float, new: float) -> float:
    return abs(old - new) / abs(old) if old != 0 else math.inf


def _converged(losses: list[torch.Tensor], settings: OptimizerSettings) -> bool:
    k = settings.tol_loss_relative_interval
    if settings.tol_loss_relative <= 0 or len(losses) <= k:
        return False
    return _relative_change(float(losses[-1 - k]), float(losses[-1])) < settings.tol_loss_relative


def _run_lbfgs(
    x: torch.Tensor,
    objective: VideoObjective,
    settings: OptimizerSettings,
    losses: list[torch.Tensor],
    last: dict[str, dict[str, torch.Tensor]],
    scale_index: int,
) -> tuple[int, bool]:
    """L-BFGS in chunks of ``tol_loss_relative_interval`` iterations (one loss evaluation each)."""
    chunk = settings.tol_loss_relative_interval
    opt = torch.optim.LBFGS(
        [x],
        lr=1.0,
        max_iter=chunk,
        max_eval=10 * chunk,
        tolerance_grad=-1.0,
        tolerance_change=-1.0,
        history_size=settings.lbfgs_history,
        line_search_fn=None,
    )
    done = 0
    start = len(losses)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=False)
        total, parts = objective(x)
        total.backward()
        losses.append(total.detach())
        last["parts"] = parts
        return total

    while done < settings.num_iterations:
        opt.param_groups[0]["max_iter"] = min(chunk, settings.num_iterations - done)
        opt.param_groups[0]["max_eval"] = 10 * opt.param_groups[0]["max_iter"]
        opt.step(closure)
        done = len(losses) - start
        _report(settings, scale_index, done, losses)
        if _converged(losses[start:], settings):
            return done, done < settings.num_iterations
    return done, False


def _run_adam(
    x: torch.Tensor,
    objective: VideoObjective,
    settings: OptimizerSettings,
    losses: list[torch.Tensor],
    last: dict[str, dict[str, torch.Tensor]],
    scale_index: int,
    lr: float,
) -> tuple[int, bool]:
    """Adam; the loss is read back to the host only every ``tol_loss_relative_interval`` iterations."""
    opt = torch.optim.Adam([x], lr=lr)
    start = len(losses)
    k = settings.tol_loss_relative_interval
    for i in range(1, settings.num_iterations + 1):
        opt.zero_grad(set_to_none=False)
        total, parts = objective(x)
        total.backward()
        opt.step()
        losses.append(total.detach())
        if i % k == 0:
            last["parts"] = parts
            _report(settings, scale_index, i, losses)
            if _converged(losses[start:], settings):
                return i, i < settings.num_iterations
        elif i == settings.num_iterations:
            last["parts"] = parts
    return settings.num_iterations, False


def _report(settings: OptimizerSettings, scale_index: int, done: int, losses: list[torch.Tensor]) -> None:
    if settings.progress is not None:
        settings.progress(Progress(scale_index, done, float(losses[-1])))


def _scale_size(full: tuple[int, int], s: float) -> tuple[int, int]:
    """``(H, W)`` of scale ``s`` of a frame of size ``full``."""
    return full if s == 1.0 else (max(1, round(full[0] * s)), max(1, round(full[1] * s)))


def stylize_image(
    loss_net: LossNetwork,
    content: torch.Tensor,
    style_target: StyleTarget,
    init: torch.Tensor | str,
    *,
    temporal: Sequence[TemporalTerm] = (),
    weights: LossWeights = ARTISTIC_VIDEOS_WEIGHTS,
    settings: OptimizerSettings | None = None,
    content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
    style_layers: Sequence[str] | None = None,
    criterion: Criterion = "mse",
    original_colors: bool = False,
    seed: int = 0,
) -> tuple[torch.Tensor, OptimResult]:
    """Stylize one frame by minimising Ruder eq. 9/11 (+ TV) over the image.

    :param loss_net: the loss network (its device is used).
    :param content: ``(1, 3, H, W)`` RGB in [0, 1], the content frame.
    :param style_target: Gram targets (:class:`~vsstylize.losses.StyleTarget`).
    :param init: ``(1, 3, H, W)`` RGB in [0, 1] initial image (:func:`make_init`), or ``"random"`` /
        ``"image"`` (made here with ``seed``).
    :param temporal: ``(warped_prev (1, 3, H, W) RGB [0, 1], c (1, 1, H, W) in [0, 1])`` terms.
    :param weights: loss weights (default artistic-videos': 5 / 100 / 1e3 / 1e-3).
    :param settings: :class:`OptimizerSettings` (default L-BFGS, 1000 iterations, tol 1e-4 / 50).
    :param content_layers: content layers (default ``relu4_2``).
    :param style_layers: style layers (default those of ``style_target``).
    :param criterion: temporal loss criterion ``"mse"`` or ``"smoothl1"``.
    :param original_colors: keep the content's chroma (luminance-only transfer) in the result.
    :param seed: seed of the random init when ``init="random"``.
    :returns: ``(result (1, 3, H, W) RGB clamped to [0, 1], OptimResult)``. On CPU the same inputs give
        a bitwise-identical result.
    :raises ValueError: bad shapes, init kind, layers or settings.
    """
    settings = settings if settings is not None else OptimizerSettings()
    if content.dim() != 4 or content.shape[:2] != (1, 3):
        raise ValueError(f"content must be (1, 3, H, W) RGB in [0, 1], got {tuple(content.shape)}")
    device = next(loss_net.parameters()).device
    content = content.to(device=device, dtype=torch.float32)
    if isinstance(init, str):
        if init not in ("random", "image"):
            raise ValueError(f"init given by name must be 'random' or 'image' (got {init!r}); pass an image otherwise")
        init = make_init(init, content, seed=seed)
    if tuple(init.shape) != tuple(content.shape):
        raise ValueError(f"init {tuple(init.shape)} must have the content's shape {tuple(content.shape)}")
    current = init.detach().to(device=device, dtype=torch.float32)
    full = (int(content.shape[-2]), int(content.shape[-1]))
    losses: list[torch.Tensor] = []
    last: dict[str, dict[str, torch.Tensor]] = {}
    per_scale: list[int] = []
    stopped = False
    lr = settings.learning_rate / float(loss_net.input_to_pixel255.mean())
    t0 = time.perf_counter()
    for si, s in enumerate(settings.scales):
        size = _scale_size(full, s)
        objective = VideoObjective(
            loss_net,
            resize_image(content, size),
            style_target,
            weights,
            content_layers,
            style_layers,
            [(resize_image(w.to(device), size), resize_image(c.to(device), size).clamp(0, 1)) for w, c in temporal],
            criterion,
        )
        # Each scale starts from the previous scale's result, upsampled (coarse-to-fine).
        x = loss_net.preprocess(resize_image(current, size)).detach().clone(memory_format=torch.contiguous_format)
        x.requires_grad_(True)
        if settings.optimizer == "lbfgs":
            n, stopped = _run_lbfgs(x, objective, settings, losses, last, si)
        else:
            n, stopped = _run_adam(x, objective, settings, losses, last, si, lr)
        per_scale.append(n)
        current = loss_net.deprocess(x.detach())
    result = current.clamp(0.0, 1.0)
    if original_colors:
        result = _original_colors(content, result)
    loss_values = torch.stack(losses).tolist() if losses else []
    seconds = time.perf_counter() - t0
    components = {k: float(v.detach()) for k, v in last.get("parts", {}).items()}
    return result, OptimResult(len(loss_values), loss_values, seconds, stopped, components, per_scale)
