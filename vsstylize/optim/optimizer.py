"""Per-frame optimisation (Gatys et al.; Ruder et al. 2018 sec. 4): minimise the
:class:`~vsstylize.optim.losses.VideoObjective` over the image with L-BFGS or Adam.

The image is optimised in the loss network's input space (for Caffe weights: BGR, 0..255, mean
subtracted, as neural-style / artistic-videos do), so step sizes and the Adam learning rate (given in
0..255 pixel units) behave as users of those tools know.

Stopping rule (artistic-videos ``-tol_loss_relative`` / ``-tol_loss_relative_interval``; Ruder 2018
sec. 7.2.1): stop when ``|L_{i-K} - L_i| / |L_{i-K}| < tol`` for the loss ``L`` at iteration ``i`` and
``K`` = the interval, checked every ``K`` iterations; or after ``num_iterations``. Both options keep
artistic-videos' meaning; vsstylize only *arms* the test once the optimisation has left its start
(:func:`_converged`): once the loss has fallen to :data:`LEFT_START_FRACTION` (half) of the first
iteration's loss, or after :data:`TOL_MIN_INTERVALS` intervals (200 iterations at the default 50). A
noise start sits on a plateau (the style loss's gradient vanishes with the image's variation) where
the loss changes little for tens of iterations; the unarmed rule could stop there and return a flat
frame. An init that is already converged (a still scene's warped previous result) still stops, after
``TOL_MIN_INTERVALS * K`` iterations.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import torch

from ..media.interrupt import check_interrupt
from ..option_errors import OptionError
from .lbfgs import DeviceLBFGS
from .losses import (
    ARTISTIC_VIDEOS_WEIGHTS,
    DEFAULT_CONTENT_LAYERS,
    Criterion,
    LossWeights,
    StyleTarget,
    TemporalTerm,
    VideoObjective,
    resize_image,
)
from .losses import (
    original_colors as _original_colors,
)
from .vgg import LossNetwork

log = logging.getLogger("vsstylize")

__all__ = [
    "INIT_KINDS",
    "PRECISIONS",
    "OptimResult",
    "OptimizerName",
    "OptimizerSettings",
    "Precision",
    "Progress",
    "make_init",
    "prepare_device",
    "stylize_image",
]

InitKind = Literal["random", "image", "prev", "prevWarped"]
OptimizerName = Literal["lbfgs", "adam"]
#: The init kinds, from the Literal.
INIT_KINDS: tuple[InitKind, ...] = get_args(InitKind)
Precision = Literal["fp32", "bf16", "fp16"]
#: Loss-network precisions (:attr:`OptimizerSettings.precision`) and their autocast dtypes.
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: ImageNet mean colour, RGB in [0, 1] (the Caffe mean [123.68, 116.779, 103.939] / 255): the image
#: whose Caffe-preprocessed input is zero.
_MEAN_RGB = (123.68 / 255.0, 116.779 / 255.0, 103.939 / 255.0)
#: Standard deviation of the noise init (:func:`make_init` ``"random"``) in [0, 1] units: one grey level
#: (1.0 in Caffe's 0..255 input units). neural-style / artistic-videos use ``torch.randn(...):mul(0.001)``,
#: 1000x smaller (:data:`NEURAL_STYLE_INIT_STD`); from that start the features deviate from the flat
#: image's by ~1e-3 relative, so the style loss's gradient (linear in that deviation) is tiny and
#: the optimisation sits on the start plateau: 100 px cube faces stayed within 16 % of their start
#: loss for 100 L-BFGS iterations on a float32 CPU, and with TF32 convolutions (cuDNN's default for
#: float32 on NVIDIA GPUs, emulated on the CPU) a 256x192 frame ended at 99.4 % of its start, a flat
#: grey frame (style loss 440x that of the image init). With one grey level every first frame of the
#: bench sequences and of the faces measured left the plateau within ~10 iterations
#: (``bench/optim-convergence/README.md``).
RANDOM_INIT_STD = 1.0 / 255.0
#: neural-style's noise init, ``0.001`` in 0..255 units, in [0, 1] units (for reproducing it).
NEURAL_STYLE_INIT_STD = 0.001 / 255.0
#: The relative-tolerance test is armed once the loss is at most this fraction of its start ...
LEFT_START_FRACTION = 0.5
#: ... or after this many ``tol_loss_relative_interval`` intervals, whichever comes first.
TOL_MIN_INTERVALS = 4
#: A result whose last loss is at least this fraction of its first did not leave its initialisation
#: (:attr:`OptimResult.left_start`; a warning for a fresh start, a flag in the bench).
STUCK_LOSS_RATIO = 0.95


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

    :ivar optimizer: ``"lbfgs"`` (default; history 100, unit step, no line search, as neural-style;
        :class:`~vsstylize.optim.lbfgs.DeviceLBFGS`)
        or ``"adam"``.
    :ivar num_iterations: maximum iterations (loss evaluations) per scale.
    :ivar tol_loss_relative: relative loss change below which the optimisation stops (0 disables).
    :ivar tol_loss_relative_interval: iterations between two checks of the relative change.
    :ivar learning_rate: Adam step size in 0..255 pixel units (artistic-videos default 1e1).
    :ivar scales: coarse-to-fine sizes relative to the frame, ascending, ending at 1.0, e.g.
        ``(0.5, 1.0)``; each scale's result, upsampled, initialises the next.
    :ivar lbfgs_history: L-BFGS memory (neural-style ``nCorrection`` 100).
    :ivar precision: ``"fp32"`` (default), ``"bf16"`` or ``"fp16"``: precision of the loss network's
        forward and backward passes (mixed precision; Gram matrices, losses and the optimizer's state
        stay float32). ``"bf16"`` is the one to use on GPUs that have it (Ampere and newer); on a CPU it
        is usually slower than float32.
    :ivar cuda_graphs: on CUDA, capture the iteration as a CUDA graph after a few eager iterations
        (removes the per-kernel launch cost of the host; results equal eager ones up to rounding).
    :ivar progress: called with a :class:`Progress` every interval.
    """

    optimizer: OptimizerName = "lbfgs"
    num_iterations: int = 1000
    tol_loss_relative: float = 1e-4
    tol_loss_relative_interval: int = 50
    learning_rate: float = 1e1
    scales: tuple[float, ...] = (1.0,)
    lbfgs_history: int = 100
    precision: Precision = "fp32"
    cuda_graphs: bool = True
    progress: Callable[[Progress], None] | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in get_args(OptimizerName):
            raise OptionError("optimizer", "{name} must be 'lbfgs' or 'adam', got {value!r}", value=self.optimizer)
        if self.num_iterations < 1:
            raise OptionError("num_iterations", "{name} must be >= 1, got {value}", value=self.num_iterations)
        if self.tol_loss_relative < 0:
            raise OptionError("tol_loss_relative", "{name} must be >= 0, got {value}", value=self.tol_loss_relative)
        if self.tol_loss_relative_interval < 1:
            raise OptionError("tol_loss_relative_interval", "{name} must be >= 1, got {value}",
                              value=self.tol_loss_relative_interval)
        if not self.learning_rate > 0:
            raise OptionError("learning_rate", "{name} must be > 0, got {value}", value=self.learning_rate)
        if self.lbfgs_history < 1:
            raise OptionError("lbfgs_history", "{name} must be >= 1, got {value}", value=self.lbfgs_history)
        if self.precision not in PRECISIONS:
            raise OptionError("precision", "{name} must be one of " + ", ".join(PRECISIONS) + ", got {value!r}",
                              value=self.precision)
        scales = tuple(float(s) for s in self.scales)
        if not scales or any(not 0 < s <= 1 for s in scales) or list(scales) != sorted(scales) or scales[-1] != 1.0:
            raise OptionError("scales", "{name} must be ascending in (0, 1] and end with 1.0, got {value}", value=self.scales)
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

    @property
    def loss_ratio(self) -> float:
        """Last loss / first loss (of the first scale's first iteration; NaN without losses). Near 1: the
        optimisation did not leave its initialisation."""
        if not self.losses or self.losses[0] == 0:
            return float("nan")
        return float(self.losses[-1] / self.losses[0])

    @property
    def left_start(self) -> bool:
        """The loss ended below :data:`STUCK_LOSS_RATIO` of its start (False: stuck at the init, or no
        losses)."""
        return bool(self.loss_ratio < STUCK_LOSS_RATIO)


def make_init(
    kind: str,
    content: torch.Tensor,
    prev: torch.Tensor | None = None,
    prev_warped: torch.Tensor | None = None,
    seed: int = 0,
    noise_std: float = RANDOM_INIT_STD,
) -> torch.Tensor:
    """Initial image of the optimisation (artistic-videos ``-init``; Ruder 2018 sec. 4.1).

    * ``"random"``: a noise init: the ImageNet mean colour (the image whose Caffe network input is
      zero) plus Gaussian noise of standard deviation ``noise_std`` per channel (default
      :data:`RANDOM_INIT_STD`, one grey level; neural-style's 0.001 in 0..255 units is
      :data:`NEURAL_STYLE_INIT_STD`). Reproducible from ``seed`` (CPU generator, independent of the
      global RNG).
    * ``"image"``: the content frame.
    * ``"prev"``: the previous stylized frame, not warped.
    * ``"prevWarped"``: the previous stylized frame warped by the optical flow (``omega(x^(i-1))``).

    :param content: ``(1, 3, H, W)`` RGB in [0, 1].
    :param prev: ``(1, 3, H, W)`` previous stylized frame (for ``"prev"``).
    :param prev_warped: ``(1, 3, H, W)`` warped previous stylized frame (for ``"prevWarped"``).
    :param noise_std: standard deviation of the ``"random"`` noise, RGB [0, 1] units (> 0).
    :returns: ``(1, 3, H, W)`` float32 RGB on ``content``'s device (a new tensor).
    :raises ValueError: unknown ``kind``, missing or mis-shaped previous frame, ``noise_std`` <= 0.
    """
    if content.dim() != 4 or content.shape[:2] != (1, 3):
        raise ValueError(f"content must be (1, 3, H, W) RGB in [0, 1], got {tuple(content.shape)}")
    if kind == "random":
        if not noise_std > 0:
            raise ValueError(f"noise_std must be > 0, got {noise_std!r}")
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        noise = torch.randn(tuple(content.shape), generator=gen, dtype=torch.float32) * float(noise_std)
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


def _converged(losses: Sequence[torch.Tensor | float], settings: OptimizerSettings) -> bool:
    """artistic-videos' relative-tolerance test on the losses of one scale, in order, armed only once the
    optimisation has left its start.

    Stop when ``|L_{i-K} - L_i| / |L_{i-K}| < tol_loss_relative`` (``K`` = ``tol_loss_relative_interval``,
    ``i`` = the last iteration), provided the loss has reached :data:`LEFT_START_FRACTION` of the first
    loss at some iteration or ``i >= TOL_MIN_INTERVALS * K``. A start plateau (noise init: the loss
    changes by well under 1 % per interval for tens of iterations) therefore never stops the run.
    """
    k = settings.tol_loss_relative_interval
    if settings.tol_loss_relative <= 0 or len(losses) <= k:
        return False
    # one read-back of the device losses (not one per value)
    values = ([float(v) for v in torch.stack([torch.as_tensor(v) for v in losses]).tolist()]
              if isinstance(losses[0], torch.Tensor) else [float(v) for v in losses])
    armed = len(values) >= TOL_MIN_INTERVALS * k or min(values) <= LEFT_START_FRACTION * values[0]
    return armed and _relative_change(values[-1 - k], values[-1]) < settings.tol_loss_relative


def _iterate(
    x: torch.Tensor,
    objective: VideoObjective,
    settings: OptimizerSettings,
    losses: list[torch.Tensor],
    last: dict[str, dict[str, torch.Tensor]],
    scale_index: int,
    update: Callable[[torch.Tensor], None],
) -> tuple[int, bool]:
    """Evaluate the loss and its gradient, then ``update(x.grad)``, up to ``num_iterations`` times.

    The loss stays on the device; it is read back to the host only every ``tol_loss_relative_interval``
    iterations, for the stopping rule and the progress callback. On CUDA (``settings.cuda_graphs``),
    after :data:`_GRAPH_WARMUP` eager iterations the whole iteration (forward, backward, optimizer
    update) is captured once as a CUDA graph and replayed, so the host only launches one graph per
    iteration; a capture that fails falls back to eager iterations.

    :returns: ``(iterations done, stopped early by the tolerance rule)``.
    """
    start = len(losses)
    k = settings.tol_loss_relative_interval
    graph: _GraphedIteration | None = None
    use_graph = settings.cuda_graphs and x.device.type == "cuda" and settings.num_iterations > _GRAPH_WARMUP + 1
    # warm-up iterations run on a side stream, as CUDA graph capture wants
    side = torch.cuda.Stream(device=x.device) if use_graph else None
    if side is not None:
        side.wait_stream(torch.cuda.current_stream(x.device))
    for i in range(1, settings.num_iterations + 1):
        check_interrupt()  # a SIGINT/SIGTERM of `vsstylize run` stops here within one iteration
        if use_graph and graph is None and i == _GRAPH_WARMUP + 1:
            torch.cuda.current_stream(x.device).wait_stream(side)  # type: ignore[arg-type]
            side = None
            graph = _GraphedIteration.capture(x, objective, update)
            use_graph = graph is not None
        if graph is not None:
            losses.append(graph.replay())
            parts = graph.parts
        else:
            with torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
                parts = _eager_iteration(x, objective, update, losses)
        if i % k == 0 or i == settings.num_iterations:
            if side is not None:
                torch.cuda.current_stream(x.device).wait_stream(side)
            last["parts"] = {n: v.clone() for n, v in parts.items()}
            _report(settings, scale_index, i, losses)
            if _converged(losses[start:], settings):
                return i, i < settings.num_iterations
    if side is not None:
        torch.cuda.current_stream(x.device).wait_stream(side)
    return settings.num_iterations, False


def _eager_iteration(x: torch.Tensor, objective: VideoObjective, update: Callable[[torch.Tensor], None],
                     losses: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """One iteration without graph capture; appends the loss, returns the loss components."""
    x.grad = None
    total, parts = objective(x)
    total.backward()
    losses.append(total.detach())
    assert x.grad is not None
    with torch.no_grad():
        update(x.grad)
    return parts


#: Eager iterations before a CUDA graph is captured (cuDNN autotuning, allocator warm-up, the
#: optimizer's first step, which differs from the later ones).
_GRAPH_WARMUP = 3


_graphs_broken = False  # a capture failed in this process: do not try again


class _GraphedIteration:
    """One optimizer iteration (zero grad, objective, backward, update) captured as a CUDA graph."""

    def __init__(self, graph: torch.cuda.CUDAGraph, loss: torch.Tensor, parts: dict[str, torch.Tensor]) -> None:
        self.graph = graph
        self.loss = loss
        self.parts = parts

    @classmethod
    def capture(cls, x: torch.Tensor, objective: VideoObjective,
                update: Callable[[torch.Tensor], None]) -> _GraphedIteration | None:
        """Capture, or ``None`` (after a warning in the log) when this objective cannot be captured."""
        global _graphs_broken
        if _graphs_broken:
            return None
        graph = torch.cuda.CUDAGraph()
        x.grad = None  # the backward pass inside the graph allocates it from the graph's pool (static)
        try:
            torch.cuda.synchronize(x.device)
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                total, parts = objective(x)
                total.backward()
                assert x.grad is not None
                with torch.no_grad():
                    update(x.grad)
                loss = total.detach()
        except RuntimeError as exc:  # some op cannot be captured: stay eager, from now on
            _graphs_broken = True
            log.warning("vsstylize: CUDA graph capture failed (%s); running iterations eagerly from now on",
                        str(exc).splitlines()[0])
            del graph
            x.grad = None
            torch.cuda.synchronize(x.device)
            torch.cuda.empty_cache()
            return None
        # Capturing records the kernels without running them: x and the optimizer state are unchanged.
        return cls(graph, loss, {n: v.detach() for n, v in parts.items()})

    def replay(self) -> torch.Tensor:
        """Run one iteration; returns its loss (a new device tensor)."""
        self.graph.replay()
        return self.loss.clone()


def _lbfgs_update(x: torch.Tensor, settings: OptimizerSettings) -> Callable[[torch.Tensor], None]:
    """L-BFGS without line search (:class:`~vsstylize.optim.lbfgs.DeviceLBFGS`: the algorithm of
    ``torch.optim.LBFGS`` / neural-style with a unit step), computed on the device."""
    opt = DeviceLBFGS(x.numel(), settings.lbfgs_history, lr=1.0, device=x.device)
    flat = x.detach().view(-1)

    def update(grad: torch.Tensor) -> None:
        flat.add_(opt.step(grad.view(-1)))

    return update


def _adam_update(x: torch.Tensor, lr: float) -> Callable[[torch.Tensor], None]:
    """``torch.optim.Adam`` with step ``lr`` (in the network's input units)."""
    opt = torch.optim.Adam([x], lr=lr, capturable=x.device.type == "cuda")

    def update(grad: torch.Tensor) -> None:
        opt.step()

    return update


def _report(settings: OptimizerSettings, scale_index: int, done: int, losses: list[torch.Tensor]) -> None:
    if settings.progress is not None:
        settings.progress(Progress(scale_index, done, float(losses[-1])))


def prepare_device(loss_net: LossNetwork, precision: str = "fp32") -> None:
    """GPU settings for the loss network's device: on CUDA, cuDNN autotuning
    (``torch.backends.cudnn.benchmark``) and the network's weights in channels_last layout, so its
    convolutions (and their backward passes) run as NHWC tensor-core kernels; the image being
    optimised stays a plain contiguous ``(1, 3, H, W)`` tensor. With a mixed ``precision`` also TF32
    float32 matrix products (``torch.backends.cuda.matmul.allow_tf32``, process-wide). Nothing changes
    on a CPU."""
    device = next(loss_net.parameters()).device
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    if precision != "fp32":
        # float32 matrix products (the Gram matrices of the mixed-precision objective) on the tensor
        # cores in TF32: inputs rounded to 10 mantissa bits, products accumulated in float32.
        torch.backends.cuda.matmul.allow_tf32 = True
    first = next(m for m in loss_net.features if isinstance(m, torch.nn.Conv2d))
    if not first.weight.is_contiguous(memory_format=torch.channels_last):
        loss_net.to(memory_format=torch.channels_last)


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
    fresh_start: bool | None = None,
) -> tuple[torch.Tensor, OptimResult]:
    """Stylize one frame by minimising Ruder eq. 9/11 (+ TV) over the image.

    :param loss_net: the loss network (its device is used).
    :param content: ``(1, 3, H, W)`` RGB in [0, 1], the content frame.
    :param style_target: Gram targets (:class:`~vsstylize.optim.losses.StyleTarget`).
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
    :param fresh_start: ``init`` is a fresh start (noise or the content image, not an earlier result):
        then a result that did not leave its start (:attr:`OptimResult.left_start` false) is logged as a
        warning. Default: true when ``init`` is given by name. (A converged init, e.g. the previous
        result of a still scene, legitimately ends near its start loss.)
    :returns: ``(result (1, 3, H, W) RGB clamped to [0, 1], OptimResult)``. On CPU the same inputs give
        a bitwise-identical result.
    :raises ValueError: bad shapes, init kind or layers.
    """
    settings = settings if settings is not None else OptimizerSettings()
    if content.dim() != 4 or content.shape[:2] != (1, 3):
        raise ValueError(f"content must be (1, 3, H, W) RGB in [0, 1], got {tuple(content.shape)}")
    device = next(loss_net.parameters()).device
    prepare_device(loss_net, settings.precision)
    content = content.to(device=device, dtype=torch.float32)
    if fresh_start is None:
        fresh_start = isinstance(init, str)
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
            autocast=PRECISIONS[settings.precision],
        )
        # Each scale starts from the previous scale's result, upsampled (coarse-to-fine).
        x = loss_net.preprocess(resize_image(current, size)).detach().clone(memory_format=torch.contiguous_format)
        x.requires_grad_(True)
        update = _lbfgs_update(x, settings) if settings.optimizer == "lbfgs" else _adam_update(x, lr)
        n, stopped = _iterate(x, objective, settings, losses, last, si, update)
        per_scale.append(n)
        current = loss_net.deprocess(x.detach())
    result = current.clamp(0.0, 1.0)
    if original_colors:
        result = _original_colors(content, result)
    loss_values = torch.stack(losses).tolist() if losses else []
    seconds = time.perf_counter() - t0
    components = {k: float(v.detach()) for k, v in last.get("parts", {}).items()}
    info = OptimResult(len(loss_values), loss_values, seconds, stopped, components, per_scale)
    if fresh_start and not info.left_start:
        log.warning("vsstylize: the optimisation ended at %.1f %% of its start loss after %d iterations: the "
                    "frame did not converge from its initialisation (raise num_iterations)", 100 * info.loss_ratio,
                    info.iterations)
    return result, info
