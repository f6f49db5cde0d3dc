"""Training of the stylization networks, resumable from checkpoints.

* ``kind="image"``: perceptual loss only (Johnson et al. 2016).
* ``kind="prior"`` (Ruder et al. 2018 sec. 5.2): the network gets the frame, the previous output warped
  along the backward flow and masked by the reliability, and the mask (eq. 15). **Multi-frame training**
  (sec. 5.2.2): frames ``1 .. T-1`` of a tuple are stylized recursively without gradient (the first with an
  empty prior), and the loss of frame ``T`` — perceptual loss plus the temporal loss against its prior — is
  back-propagated ("back-propagating only one frame already improves the quality"); ``T`` follows the
  schedule 2 -> 3 -> 5 (Table 1 / Fig. A.6: 0–5/12 of the iterations 2 frames, to 1/2 3 frames, then 5).
  **Mixed training** (sec. 5.2.1, eq. 18): a share ``mixed_fraction`` of the samples gets an empty prior
  (prior and mask zero, no temporal loss); the temporal weight is divided by ``1 - mixed_fraction`` so the
  expected consistency pressure stays the same.
* ``kind="flowfree"`` (Huang et al. 2017 sec. 3, eq. 1): two-frame synergic training — two consecutive frames
  go through the network, both get the perceptual (spatial) loss, and the temporal loss ties the second
  output to the first warped along the flow. No flow at inference.

**Fine-tuning** (sec. 6.2 / 7.2.2: "for spherical image fine-tuning, we started from the trained multi-frame
model"): ``init_from`` starts from the weights of an existing model of the same architecture (a prior-image
network also from the image network of the same layout, Ruder eq. 17's pre-trained ``Phi^img``, its prior channels
starting at zero), and with
``border_fraction`` a share of the iterations trains a prior-image network on *border samples*
(:mod:`vsstylize.train.border_data`): a still-image crop as the frame, a stylized, perspective-transformed
neighbouring cube face along one to four of its borders as prior (the network itself stylizes the
neighbours), and the temporal loss against that prior weighted by its mask. The other iterations are the
video iterations above.

**Data path** (:mod:`vsstylize.train.data`): the real tuples come from the content-addressed data cache (built
once, :mod:`vsstylize.train.data_cache`) and live on the device; synthetic sequences are rendered there; a
background thread (:class:`~vsstylize.train.prefetch.Prefetcher`) makes the next ``prefetch`` batches while the
current one trains. The step reads nothing back to the host: the loss values stay on the device and are read
once per ``log_every`` iterations and at each checkpoint (one synchronisation instead of one per iteration).
Options for the device: ``precision="bf16"`` (autocast of the networks' convolutions; Gram matrices and losses
in float32) and ``channels_last``; ``vsstylize_bench/suites/train_speed.py`` measures what they give.

The batch of iteration ``i`` is a pure function of ``(seed, i)`` (:meth:`TrainingData.plan`), and a
checkpoint holds the network, the Adam state, the loss history and the data cache's key, written atomically
every ``checkpoint_every`` iterations; a run killed at any moment resumes from its last checkpoint with no other
loss of progress (on a CPU bit for bit the run it would have been; on CUDA up to the non-determinism of cuDNN's
kernels). At the end the network and its model card are written (:func:`save_network`) with a PNG
of the loss curves (with matplotlib, the ``plots`` extra; without it the card holds the final losses only).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..media.cache import atomic_write, digest
from ..networks.io import NetworkFileError, load_network, read_spec, resolve_model, save_network, weights_path
from ..networks.models import (
    ARCHITECTURES,
    StylizationNetwork,
    can_fine_tune,
    load_fine_tune,
    network_input,
)
from ..opticalflow.warping import warp
from ..optim.losses import LossWeights
from ..optim.optimizer import PRECISIONS, Precision
from ..optim.vgg import load_loss_network
from ..resources import read_style_image
from .border_data import BorderSamples
from .data import Batch, DatasetError, TrainingData
from .loss import HUANG_LAYERS, RUDER_LAYERS, TrainingObjective
from .prefetch import Prefetcher

__all__ = ["TRAIN_PRECISIONS", "TrainError", "TrainSettings", "card_sources", "frames_for_iteration",
           "machine_description", "plot_losses", "portable_command", "train"]

log = logging.getLogger("vsstylize")

#: Ruder et al. 2018 Fig. A.6: (fraction of the iterations from which it applies, tuple length).
MULTI_FRAME_SCHEDULE: tuple[tuple[float, int], ...] = ((0.0, 2), (5 / 12, 3), (0.5, 5))
#: Frames of the cached real tuples (the schedule's longest; shorter steps and the two-frame procedures use
#: sub-windows), the same for every architecture so their trainings share one data cache.
TUPLE_LENGTH = max(n for _, n in MULTI_FRAME_SCHEDULE)
#: The precisions training runs in (:data:`~vsstylize.optim.optimizer.Precision` but ``fp16``, which needs loss
#: scaling the trainer does not do).
TRAIN_PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16")


class TrainError(ValueError):
    """Bad training settings (names the option)."""


@dataclass
class TrainSettings:
    """Options of :func:`train` (``vsstylize train``).

    :ivar arch: network architecture, a key of :data:`vsstylize.networks.models.ARCHITECTURES`.
    :ivar styles: style image files (blended with equal weights).
    :ivar data: dataset files/folders of images and videos (:class:`TrainingData`).
    :ivar out: output model path (``.safetensors``; the model card goes beside it as ``.json``).
    :ivar size: side in pixels of the square training crops.
    :ivar batch_size: samples per iteration.
    :ivar iterations: Adam iterations in total.
    :ivar learning_rate: Adam step (1e-3 in both papers).
    :ivar content_weight: / :ivar style_weight: / :ivar temporal_weight: / :ivar tv_weight: loss weights
        (neural-style normalisation, temporal loss on 0..255 pixels).
    :ivar mixed_fraction: share of empty-prior samples (prior networks; Ruder: 0.5).
    :ivar multi_frame: use the 2 -> 3 -> 5 multi-frame schedule (prior networks); else 2 frames throughout.
    :ivar style_scale: style image size relative to the crop size.
    :ivar checkpoint_every: iterations between checkpoints.
    :ivar seed: seed of the data order and the initial weights.
    :ivar loss_model: / :ivar loss_model_weights: loss network (``vgg16`` as in both papers' training
        setups here; weights as :func:`vsstylize.optim.vgg.load_loss_network`).
    :ivar device: torch device (default CUDA when available).
    :ivar init_from: start from this model's weights (file or shipped name; same architecture, or for a
        prior-image arch the image network of the same layout:
        :func:`~vsstylize.networks.models.can_fine_tune`) instead of random ones
        (fine-tuning); ``None``: random initialisation.
    :ivar border_fraction: share of the iterations (prior networks) trained on border samples of cube faces
        (Ruder sec. 6.2, :mod:`vsstylize.train.border_data`) instead of video tuples; 0: none.
    :ivar data_cache: folder of the training-data cache (default: the per-user cache folder,
        :func:`~vsstylize.train.data_cache.default_cache_root`).
    :ivar precision: ``"fp32"`` or ``"bf16"`` (autocast of the stylization and loss networks; losses, Gram
        matrices and Adam in float32). Part of the checkpoint identity when not ``"fp32"``.
    :ivar channels_last: keep activations in NHWC layout (cuDNN's tensor-core layout on GPUs).
    :ivar prefetch: batches made ahead by a background thread (0: made in the loop).
    :ivar log_every: iterations between two reads of the loss values (progress bar); checkpoints read them too.
    """

    arch: str
    styles: list[str]
    data: list[str]
    out: str
    size: int = 128
    batch_size: int = 4
    iterations: int = 2000
    learning_rate: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 10.0
    temporal_weight: float = 50.0
    tv_weight: float = 1e-5
    mixed_fraction: float = 0.5
    multi_frame: bool = True
    style_scale: float = 1.0
    checkpoint_every: int = 50
    seed: int = 0
    loss_model: str = "vgg16"
    loss_model_weights: str | None = None
    device: str | None = None
    init_from: str | None = None
    border_fraction: float = 0.0
    data_cache: str | None = None
    precision: Precision = "fp32"
    channels_last: bool = False
    prefetch: int = 3
    log_every: int = 25
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """:raises TrainError: an option out of range or a missing style image (names the option)."""
        if self.arch not in ARCHITECTURES:
            raise TrainError(f"arch must be one of {', '.join(ARCHITECTURES)}, got {self.arch!r}")
        if not self.styles:
            raise TrainError("style: at least one style image is needed for training")
        for s in self.styles:
            if not Path(s).is_file():
                raise TrainError(f"style: no such style image {s}")
        for name in ("size", "batch_size", "iterations", "checkpoint_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise TrainError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.size < 16:
            raise TrainError(f"size must be >= 16 pixels, got {self.size}")
        if not 0.0 <= self.mixed_fraction < 1.0:
            raise TrainError(f"mixed_fraction must be in [0, 1), got {self.mixed_fraction}")
        for name in ("learning_rate", "content_weight", "style_weight", "temporal_weight", "tv_weight", "style_scale"):
            v = float(getattr(self, name))
            if not np.isfinite(v) or v < 0 or (name in ("learning_rate", "style_scale") and v == 0):
                bound = "> 0" if name in ("learning_rate", "style_scale") else ">= 0"
                raise TrainError(f"{name} must be a finite number {bound}, got {v}")
        if self.precision not in TRAIN_PRECISIONS:
            raise TrainError(f"precision must be one of {', '.join(TRAIN_PRECISIONS)}, got {self.precision!r}")
        if int(self.prefetch) < 0:
            raise TrainError(f"prefetch must be >= 0, got {self.prefetch}")
        if not 0.0 <= float(self.border_fraction) <= 1.0:
            raise TrainError(f"border_fraction must be in [0, 1], got {self.border_fraction}")
        if self.border_fraction > 0 and self.kind != "prior":
            raise TrainError(f"border_fraction needs a prior-image network (arch ruder-prior*), got {self.arch!r}")
        if self.init_from is not None:
            path = self._init_path()
            try:
                spec = read_spec(path)
            except NetworkFileError as exc:
                raise TrainError(f"init_from: {exc}") from exc
            if not can_fine_tune(spec, ARCHITECTURES[self.arch]):
                raise TrainError(f"init_from: {path} is a {spec.arch!r} network, which cannot start arch {self.arch!r} "
                                 "(same architecture, or for a prior-image network the image network of the same "
                                 "layout)")
            if weights_path(self.out).resolve() == path.resolve():
                raise TrainError(f"out must differ from init_from ({path})")

    def _init_path(self) -> Path:
        try:
            return resolve_model(str(self.init_from))
        except NetworkFileError as exc:
            raise TrainError(f"init_from: {exc}") from exc

    @property
    def kind(self) -> str:
        return ARCHITECTURES[self.arch].kind

    def identity(self) -> str:
        """Digest of everything that determines the trained weights except the iteration count (a
        checkpoint of the same identity can be resumed, also with more iterations)."""
        d = asdict(self)
        for k in ("iterations", "checkpoint_every", "out", "device", "extra", "data_cache", "channels_last", "prefetch",
                  "log_every"):
            d.pop(k)
        if self.precision == "fp32":  # identities of earlier checkpoints stay the same
            d.pop("precision")
        # fine-tuning options enter only when used (identities of earlier checkpoints stay the same)
        if self.init_from is None:
            d.pop("init_from")
        else:
            d["init_from"] = digest(self._init_path().read_bytes())
        if not self.border_fraction:
            d.pop("border_fraction")
        hashes = [digest(Path(s).read_bytes()) for s in self.styles]
        return digest(json.dumps(d, sort_keys=True), *hashes)


def frames_for_iteration(settings: TrainSettings, iteration: int) -> int:
    """Tuple length at ``iteration``: 2 for image/flow-free networks and without multi-frame training,
    else :data:`MULTI_FRAME_SCHEDULE` over ``settings.iterations``."""
    if settings.kind != "prior" or not settings.multi_frame:
        return 2
    frac = iteration / settings.iterations
    length = 2
    for start, n in MULTI_FRAME_SCHEDULE:
        if frac >= start:
            length = n
    return length


def machine_description(device: torch.device) -> str:
    """The device and torch of a training run for its model card (no paths)."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()} CPU"
    return f"{name}, {os.cpu_count()} cores, torch {torch.__version__}"


class _Run:
    """One training run: network, optimizer, objective, data and the step of each network kind."""

    def __init__(self, s: TrainSettings, device: torch.device) -> None:
        self.s = s
        self.device = device
        torch.manual_seed(s.seed)
        self.net = StylizationNetwork(ARCHITECTURES[s.arch]).to(device)
        self.init_card: dict[str, Any] = {}
        if s.init_from is not None:
            try:  # check() read the header only; here the weights are read
                start, self.init_card = load_network(s._init_path(), device=device)
            except NetworkFileError as exc:
                raise TrainError(f"init_from: {exc}") from exc
            load_fine_tune(self.net, start)
        # on CUDA the fused kernel updates every parameter in one launch (the same update as the default one)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=s.learning_rate, fused=device.type == "cuda" or None)
        self.loss_net = load_loss_network(s.loss_model, s.loss_model_weights, device=device)  # type: ignore[arg-type]
        self.memory_format = torch.channels_last if s.channels_last else torch.contiguous_format
        if s.channels_last:
            self.net.to(memory_format=torch.channels_last)
            self.loss_net.to(memory_format=torch.channels_last)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed sizes: each convolution's fastest algorithm, found once
        self.autocast = PRECISIONS[s.precision]
        content_layers, style_layers = HUANG_LAYERS if s.kind == "flowfree" else RUDER_LAYERS
        weights = LossWeights(content=s.content_weight, style=s.style_weight, temporal=s.temporal_weight, tv=s.tv_weight)
        styles = [read_style_image(st).to(device) for st in s.styles]
        self.objective = TrainingObjective(self.loss_net, styles, (s.size, s.size), weights,
                                           content_layers, style_layers, s.style_scale, autocast=self.autocast)
        self.data = TrainingData(s.data, (s.size, s.size), length=TUPLE_LENGTH, cache_root=s.data_cache, device=device)
        self.border: BorderSamples | None = None
        if s.border_fraction > 0:
            if not self.data.stills:
                raise DatasetError(f"data: border samples need still images or video frames in {', '.join(s.data)}")
            self.border = BorderSamples(self.data.stills, s.size)

    def is_border(self, iteration: int) -> bool:
        """Whether ``iteration`` trains on border samples (a pure function of the seed and the iteration)."""
        return self.border is not None and \
            float(np.random.default_rng([self.s.seed, iteration, 2]).random()) < self.s.border_fraction

    def length(self, iteration: int) -> int:
        """Frames of the samples of ``iteration`` (1 for border samples)."""
        return 1 if self.is_border(iteration) else frames_for_iteration(self.s, iteration)

    def make_batch(self, iteration: int) -> Batch | None:
        """The video batch of ``iteration`` on the device (``None`` for a border iteration, whose samples need the
        current weights); called by the prefetch thread."""
        if self.is_border(iteration):
            return None
        mixed = self.s.mixed_fraction if self.s.kind == "prior" else 0.0
        return self.data.make_batch(self.s.seed, iteration, self.s.batch_size, self.length(iteration), mixed)

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        """The stylization network in the run's precision and layout; float32 output."""
        x = x.contiguous(memory_format=self.memory_format)
        with self._autocast():
            return self.net(x).float()

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast)

    def step(self, iteration: int, batch: Batch | None = None) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """One Adam step on the batch of ``iteration`` (made here when not given).

        :returns: the weighted loss parts and their ``"total"`` as 0-d tensors on the device (not read back),
            and ``{"frames": T}`` (plus ``"border"`` with border samples) on the host.
        """
        s = self.s
        border = self.is_border(iteration)
        length = self.length(iteration)
        if border:
            parts = self._border(iteration)
        else:
            if batch is None:
                batch = self.make_batch(iteration)
                assert batch is not None
            self.net.train()
            if s.kind == "image":
                last = batch.frames[:, -1]
                parts = self.objective.spatial(self._net(last), last)
            elif s.kind == "flowfree":
                parts = self._flowfree(batch)
            else:
                parts = self._prior(batch)
        total = self.objective.total(parts)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        out = {k: v.detach() for k, v in parts.items()}
        out["total"] = total.detach()
        meta = {"frames": float(length)}
        if self.border is not None:
            meta["border"] = float(border)
        return out, meta

    def _border(self, iteration: int) -> dict[str, torch.Tensor]:
        """Border samples (sec. 6.2): the neighbouring views stylized by the network itself (empty prior, no
        gradient), then the frame with the border prior; perceptual loss plus the temporal loss against the
        prior weighted by its mask."""
        assert self.border is not None

        def stylize_view(view: torch.Tensor) -> torch.Tensor:
            return self._net(network_input(view.to(self.device))).cpu()

        self.net.eval()
        with torch.no_grad():
            frames, priors, masks = (t.to(self.device) for t in
                                     self.border.batch(self.s.seed, iteration, self.s.batch_size, stylize_view))
        self.net.train()
        out = self._net(network_input(frames, priors, masks))
        parts = self.objective.spatial(out, frames)
        parts["temporal"] = self.objective.temporal(out, priors, masks)
        return parts

    def _flowfree(self, batch: Batch) -> dict[str, torch.Tensor]:
        frames, flows, masks = batch.frames, batch.flows, batch.masks
        b = frames.shape[0]
        pair = torch.cat((frames[:, -2], frames[:, -1]))
        out = self._net(pair)
        parts = self.objective.spatial(out, pair)
        parts = {k: 2.0 * v for k, v in parts.items()}  # Huang eq. 1 sums the spatial loss of both frames
        prior = warp(out[:b], flows[:, -1])
        parts["temporal"] = self.objective.temporal(out[b:], prior, masks[:, -1])
        return parts

    def _prior(self, batch: Batch) -> dict[str, torch.Tensor]:
        s = self.s
        frames, flows, masks = batch.frames, batch.flows, batch.masks
        n = frames.shape[1]
        with torch.no_grad():
            self.net.eval()
            x = self._net(network_input(frames[:, 0]))
            for t in range(1, n - 1):
                x = self._net(network_input(frames[:, t], warp(x, flows[:, t]), masks[:, t]))
            self.net.train()
        prior = warp(x, flows[:, -1])
        # mixed training: the empty-prior samples get c = 0 (a product, not a masked assignment: no host sync)
        c = masks[:, -1] * batch.keep_prior.view(-1, 1, 1, 1)
        out = self._net(network_input(frames[:, -1], prior, c))
        parts = self.objective.spatial(out, frames[:, -1])
        parts["temporal"] = self.objective.temporal(out, prior, c) / (1.0 - s.mixed_fraction)
        return parts


class _History:
    """The loss history: read-back values, and the steps since the last read kept on the device."""

    def __init__(self, values: list[dict[str, float]]) -> None:
        self.values = values
        self._pending: list[tuple[dict[str, torch.Tensor], dict[str, float]]] = []

    def add(self, parts: dict[str, torch.Tensor], meta: dict[str, float]) -> None:
        self._pending.append((parts, meta))

    def read(self) -> list[dict[str, float]]:
        """Read the pending values back (one synchronisation) and return the whole history."""
        if self._pending:
            flat = torch.stack([v.float() for parts, _ in self._pending for v in parts.values()]).tolist()
            i = 0
            for parts, meta in self._pending:
                row = dict(zip(parts, flat[i:i + len(parts)]))
                i += len(parts)
                self.values.append({**row, **meta})
            self._pending = []
        return self.values


def _checkpoint_path(out: Path) -> Path:
    return out.with_suffix(".ckpt")


def plot_losses(history: Sequence[dict[str, float]], path: Path, title: str,
                keys: Sequence[str] = ("total", "content", "style", "temporal", "tv"),
                unit: str = "weighted loss") -> Path | None:
    """The loss curves (``keys`` of each history row; absent ones skipped) as a PNG; ``None`` (and nothing written)
    without matplotlib (the ``plots`` extra)."""
    try:
        import matplotlib
    except ImportError:
        log.info("no loss curve for %s: matplotlib is not installed (pip install 'vsstylize[plots]')", path)
        return None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    its = np.arange(1, len(history) + 1)
    window = max(1, len(history) // 50)
    for key in keys:
        vals = np.array([h.get(key, np.nan) for h in history], dtype=np.float64)
        if np.all(np.isnan(vals)):
            continue
        smooth = np.convolve(np.nan_to_num(vals), np.ones(window) / window, mode="valid")
        ax.plot(its[window - 1 :], smooth, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"{unit} (moving average of {window})")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)
    return path



def card_sources(sources: dict[str, Any]) -> dict[str, Any]:
    """The training data of a model card without a machine's paths: the ``images`` and ``videos`` files relative to
    their common folder, whose name is ``root`` (the data set's folder, e.g. ``data`` of the shared test data).

    :param sources: :attr:`TrainingData.sources` (absolute or relative paths as strings, counts).
    :returns: a copy with the paths relative (POSIX separators); unchanged where it lists no file.
    """
    files = {k: [Path(p) for p in sources.get(k, ())] for k in ("images", "videos") if sources.get(k)}
    if not files:
        return dict(sources)
    root = _data_root(sources)
    return {**sources, **{k: [p.resolve().relative_to(root).as_posix() for p in ps] for k, ps in files.items()},
            "root": root.name}


def _data_root(sources: dict[str, Any]) -> Path:
    return Path(os.path.commonpath([Path(p).resolve().parent for k in ("images", "videos") for p in sources.get(k, ())]))


def portable_command(command: str, sources: dict[str, Any]) -> str:
    """``command`` (the ``vsstylize train ...`` line of a model card) with every absolute path written relative
    to the data set's folder (:func:`card_sources`' ``root``) where it lies below it, else as its last part."""
    root = _data_root(sources) if any(sources.get(k) for k in ("images", "videos")) else None

    def portable(token: str) -> str:
        path = Path(token)
        if not path.is_absolute():
            return token
        if root is not None and path.resolve().is_relative_to(root):
            return path.resolve().relative_to(root).as_posix()
        return path.name

    return " ".join(portable(token) for token in command.split(" "))
def train(settings: TrainSettings, progress: bool = True,
          on_checkpoint: Callable[[int], None] | None = None) -> Path:
    """Train (or resume training) a stylization network; see the module docstring for the procedures.

    :param settings: :class:`TrainSettings`.
    :param progress: show a tqdm progress bar.
    :param on_checkpoint: called with the iteration count after each checkpoint is written.
    :returns: the written model path (``settings.out``, ``.safetensors``); beside it ``.json`` (model
        card) and ``.losses.png``; the checkpoint ``.ckpt`` is kept so training can be extended.
    :raises TrainError: bad settings, or a checkpoint from different settings.
    :raises vsstylize.train.data.DatasetError: no usable training data.
    """
    from tqdm import tqdm

    settings.check()
    device = torch.device(settings.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = weights_path(settings.out)
    ckpt = _checkpoint_path(out)
    run = _Run(settings, device)
    identity = settings.identity()
    history = _History([])
    start, wall = 0, 0.0
    if ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state.get("identity") != identity:
            raise TrainError(f"checkpoint {ckpt} was made with other settings; delete it to start over")
        if state.get("data_key") != run.data.key:
            raise TrainError(f"checkpoint {ckpt} was made with other training data (or an older data pipeline); "
                             "delete it to start over")
        run.net.load_state_dict(state["net"])
        run.opt.load_state_dict(state["opt"])
        history, start, wall = _History(state["history"]), int(state["iteration"]), float(state["wall"])
        if start > settings.iterations:
            raise TrainError(f"checkpoint {ckpt} holds {start} iterations, more than iterations={settings.iterations}")
        log.info("resuming %s from iteration %d", ckpt, start)

    def save_checkpoint(iteration: int, elapsed: float) -> None:
        state = {"identity": identity, "data_key": run.data.key, "net": run.net.state_dict(), "opt": run.opt.state_dict(),
                 "history": history.read(), "iteration": iteration, "wall": elapsed}
        atomic_write(ckpt, lambda tmp: torch.save(state, tmp))
        if on_checkpoint is not None:
            on_checkpoint(iteration)

    t0 = time.perf_counter() - wall
    bar = tqdm(total=settings.iterations, initial=start, desc=f"train {out.stem}", disable=not progress, unit="it")
    order = range(start, settings.iterations)
    prefetch = Prefetcher(run.make_batch, order, device, settings.prefetch) if settings.prefetch > 0 else None
    try:
        for it in order:
            parts, meta = run.step(it, prefetch.get(it) if prefetch is not None else None)
            history.add(parts, meta)
            if (it + 1) % settings.log_every == 0 or it + 1 == settings.iterations:
                last = history.read()[-1]
                bar.set_postfix(loss=f"{last['total']:.3g}", frames=int(last["frames"]), refresh=False)
            bar.update(1)
            if (it + 1) % settings.checkpoint_every == 0 and it + 1 < settings.iterations:
                save_checkpoint(it + 1, time.perf_counter() - t0)
    finally:
        if prefetch is not None:
            prefetch.close()
    bar.close()
    elapsed = time.perf_counter() - t0
    save_checkpoint(settings.iterations, elapsed)
    history_values = history.read()
    card = {
        "kind": settings.kind,
        "style_images": [Path(s).name for s in settings.styles],
        "loss_network": f"{settings.loss_model} ({run.loss_net.weights_name})",
        "content_layers": list(run.objective.content_layers),
        "style_layers": list(run.objective.style_layers),
        "weights": {"content": settings.content_weight, "style": settings.style_weight,
                    "temporal": settings.temporal_weight, "tv": settings.tv_weight},
        "training": {"procedure": {"prior": "Ruder et al. 2018 " + ("multi-frame" if settings.multi_frame else "two-frame")
                                            + (" + mixed" if settings.mixed_fraction else ""),
                                   "flowfree": "Huang et al. 2017 two-frame synergic",
                                   "image": "Johnson et al. 2016 perceptual loss"}[settings.kind]
                     + (" + border samples of cube faces (sec. 6.2)" if settings.border_fraction else ""),
                     **({"init_from": {"model": settings._init_path().name,
                                       "sha": digest(settings._init_path().read_bytes())}} if settings.init_from else {}),
                     **({"border_fraction": settings.border_fraction,
                         "border_iterations": int(sum(h.get("border", 0.0) for h in history_values)),
                         "border_geometry": {"face_size": run.border.geom.face_size, "overlap": run.border.geom.overlap,
                                             "feather": run.border.feather, "view": run.border.view}}
                        if run.border is not None else {}),
                     "data": card_sources(run.data.sources), "iterations": settings.iterations, "batch_size": settings.batch_size,
                     "crop_size": settings.size, "learning_rate": settings.learning_rate,
                     "mixed_fraction": settings.mixed_fraction if settings.kind == "prior" else None,
                     "multi_frame_schedule": ([list(p) for p in MULTI_FRAME_SCHEDULE]
                                              if settings.kind == "prior" and settings.multi_frame else None),
                     "seed": settings.seed, "wall_seconds": round(elapsed, 1), "machine": machine_description(device),
                     **({"init_from_card": {"training": run.init_card.get("training"),
                                            "weights": run.init_card.get("weights")}} if settings.init_from else {}),
                     "precision": settings.precision,
                     "final_loss": {k: float(np.mean([h[k] for h in history_values[-50:] if k in h]))
                                    for k in ("total", "content", "style", "temporal", "tv") if k in history_values[-1]}},
        **{k: portable_command(v, run.data.sources) if k == "command" and isinstance(v, str) else v
           for k, v in settings.extra.items()},
    }
    run.net.eval()
    path = save_network(out, run.net, card)
    plot_losses(history_values, out.with_suffix(".losses.png"), f"{out.stem} ({settings.arch}, {settings.kind})")
    return path
