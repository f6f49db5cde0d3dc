"""Training data for the video networks: frame tuples with backward flow and reliability, sampled on the device.

Two sources (Ruder et al. 2018 sec. 5.2.3):

* **real clips**: tuples of consecutive frames of the videos in the dataset folders, with DIS flow and the
  reliability of the forward-backward consistency check, the most differing tuples of each clip — computed
  once and kept in the content-addressed data cache (:mod:`vsstylize.train.data_cache`), then held on the
  compute device (frames and masks uint8, flows float16);
* **synthetic sequences** from still images (the photos of the dataset folders and frames of its videos) with
  exact flow and occlusion masks: a moving, zooming camera over one photo plus an independently moving object
  cut from another — a new scene for every sample, drawn on the host and rendered on the device
  (:mod:`vsstylize.train.synthetic`).

A batch is made in two steps. :meth:`TrainingData.plan` (host, cheap) draws everything random from
``(seed, iteration)``: which source, which tuple and crop, the scene of a synthetic sample, a horizontal flip
(frames mirrored, flows mirrored with ``u`` negated, masks mirrored) and the mixed-training empty-prior flags.
:meth:`TrainingData.assemble` (device) crops the real tuples and renders the scenes. A batch is therefore a pure
function of ``(seed, iteration)``, so a resumed training sees the same data as an uninterrupted one, and the
plan/assemble split lets :class:`~vsstylize.train.prefetch.Prefetcher` make the next batches in the background.

Arrays: ``frames (B, T, 3, H, W)`` RGB in [0, 1], ``flows (B, T, 2, H, W)`` backward flow ``t -> t-1`` in
pixels, ``masks (B, T, 1, H, W)`` its reliability in [0, 1] (entry 0 unused, zero); float32 on the device.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np
import torch

from .data_cache import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    DatasetError,
    TupleSettings,
    open_data_cache,
)
from .sequences import build_scene
from .synthetic import SceneBatch, pack_scenes, render_scenes

__all__ = ["IMAGE_SUFFIXES", "SYNTHETIC_PRESETS", "VIDEO_SUFFIXES", "Batch", "BatchPlan", "DatasetError",
           "TrainingData"]

#: Synthetic motion presets used for training (the generator's, without the long-term/border tests).
SYNTHETIC_PRESETS: tuple[str, ...] = ("slow_pan", "fast_pan_zoom", "large_occluder")


@dataclass
class BatchPlan:
    """Everything random about one batch, drawn on the host (:meth:`TrainingData.plan`).

    :ivar length: frames per sample ``T``.
    :ivar real: ``(slot, clip, tuple, first frame, y, x)`` of each real sample.
    :ivar synthetic: slots of the synthetic samples, in the order of ``scenes``.
    :ivar scenes: their scenes (host tensors), ``None`` without synthetic samples.
    :ivar flip: ``(B,)`` bool, mirrored samples.
    :ivar keep_prior: ``(B,)`` float32, 0 for the samples that get an empty prior (mixed training), else 1.
    """

    length: int
    real: list[tuple[int, int, int, int, int, int]]
    synthetic: list[int]
    scenes: SceneBatch | None
    flip: np.ndarray
    keep_prior: np.ndarray


@dataclass
class Batch:
    """A batch on the device: ``frames``, ``flows``, ``masks`` (module docstring) and ``keep_prior`` ``(B,)``
    float32 (0 = empty prior)."""

    frames: torch.Tensor
    flows: torch.Tensor
    masks: torch.Tensor
    keep_prior: torch.Tensor

    def tensors(self) -> list[torch.Tensor]:
        return [getattr(self, f.name) for f in fields(self)]


def _upload(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device``: through page-locked memory and asynchronously on CUDA (no host sync)."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class TrainingData:
    """Training tuples from image and video files.

    :param paths: files or folders (searched recursively) of images and videos.
    :param size: ``(H, W)`` of the training crops.
    :param length: frames per real tuple (the longest multi-frame step, 5); batches take sub-windows.
    :param tuples_per_clip: real tuples kept per video (the most differing).
    :param max_video_frames: frames read per video.
    :param flow_preset: DIS preset of the real clips' flow.
    :param synthetic_fraction: share of synthetic samples when both kinds exist.
    :param cache_root: folder of the data cache (default
        :func:`~vsstylize.train.data_cache.default_cache_root`).
    :param device: where the tuples are kept and the batches made.
    :param workers: threads building the cache (default: the CPU count).
    :raises DatasetError: a missing or unreadable path, no usable image or video (names what was searched), or
        a damaged cache.
    """

    def __init__(self, paths: Iterable[str | os.PathLike[str]], size: tuple[int, int], length: int = 5,
                 tuples_per_clip: int = 24, max_video_frames: int = 300, flow_preset: str = "medium",
                 synthetic_fraction: float = 0.5, cache_root: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu", workers: int | None = None) -> None:
        if length < 2:
            raise DatasetError(f"data: tuple length must be >= 2, got {length}")
        self.size = (int(size[0]), int(size[1]))
        self.length = int(length)
        self.device = torch.device(device)
        settings = TupleSettings(self.size, self.length, tuples_per_clip, max_video_frames, flow_preset)  # type: ignore[arg-type]
        cached = open_data_cache(paths, settings, cache_root, workers)
        self.key = cached.key
        self.cache_folder = cached.folder
        #: ``(H, W, 3)`` uint8 RGB still images (photos, then clip frames), on the host.
        self.stills = cached.stills
        self.clips = [tuple(torch.from_numpy(a).to(self.device) for a in (c.frames, c.flows, c.masks))
                      for c in cached.clips]
        self._tuples = [(c, i) for c, clip in enumerate(cached.clips) for i in range(clip.frames.shape[0])]
        self.synthetic_fraction = synthetic_fraction if self._tuples and self.stills else (1.0 if self.stills else 0.0)
        self.sources = cached.sources

    # -- host -------------------------------------------------------------------------------
    def plan(self, seed: int, iteration: int, batch_size: int, length: int, mixed_fraction: float = 0.0) -> BatchPlan:
        """Draw the batch of ``iteration`` (a pure function of the arguments; see the module docstring).

        :param mixed_fraction: probability of an empty prior per sample (Ruder eq. 18's mixed training).
        :raises ValueError: ``length`` outside ``[2, self.length]``.
        """
        if not 2 <= length <= self.length:
            raise ValueError(f"length must be in [2, {self.length}], got {length}")
        h, w = self.size
        rng = np.random.default_rng([int(seed), int(iteration)])
        real: list[tuple[int, int, int, int, int, int]] = []
        synthetic: list[int] = []
        scenes = []
        flip = np.zeros(batch_size, bool)
        for slot in range(batch_size):
            if rng.random() < self.synthetic_fraction:
                photo = self.stills[int(rng.integers(len(self.stills)))]
                texture = self.stills[int(rng.integers(len(self.stills)))]
                preset = SYNTHETIC_PRESETS[int(rng.integers(len(SYNTHETIC_PRESETS)))]
                scene_rng = np.random.default_rng(int(rng.integers(2**31)))
                scenes.append(build_scene(preset, photo, texture, length, (w, h), scene_rng))
                synthetic.append(slot)
            else:
                c, i = self._tuples[int(rng.integers(len(self._tuples)))]
                th, tw = self.clips[c][0].shape[-2:]
                y, x = int(rng.integers(th - h + 1)), int(rng.integers(tw - w + 1))
                start = int(rng.integers(self.length - length + 1))
                real.append((slot, c, i, start, y, x))
            flip[slot] = rng.random() < 0.5
        empty = np.random.default_rng([int(seed), int(iteration), 1]).random(batch_size) < mixed_fraction
        return BatchPlan(length, real, synthetic, pack_scenes(scenes) if scenes else None, flip,
                         (~empty).astype(np.float32))

    # -- device -----------------------------------------------------------------------------
    def assemble(self, plan: BatchPlan) -> Batch:
        """Make the batch of ``plan`` on the device (crops of the real tuples, rendered scenes, flips)."""
        h, w = self.size
        n, b, dev = plan.length, len(plan.flip), self.device
        frames = torch.empty((b, n, 3, h, w), device=dev)
        flows = torch.empty((b, n, 2, h, w), device=dev)
        masks = torch.empty((b, n, 1, h, w), device=dev)
        for slot, c, i, start, y, x in plan.real:
            f, fl, m = self.clips[c]
            window = (i, slice(start, start + n), slice(None), slice(y, y + h), slice(x, x + w))
            frames[slot] = f[window].float() / 255.0
            flows[slot] = fl[window].float()
            masks[slot] = m[window].float() / 255.0
            masks[slot, 0] = 0.0
        if plan.scenes is not None:
            rendered = render_scenes(plan.scenes.to(dev, non_blocking=True), self.size)
            for j, slot in enumerate(plan.synthetic):
                for out, r in zip((frames, flows, masks), rendered):
                    out[slot] = r[j]
        for slot in map(int, np.flatnonzero(plan.flip)):
            frames[slot] = frames[slot].flip(-1)
            masks[slot] = masks[slot].flip(-1)
            flows[slot] = flows[slot].flip(-1)
            flows[slot, :, 0] *= -1.0
        return Batch(frames, flows, masks, _upload(torch.from_numpy(plan.keep_prior), dev))

    def make_batch(self, seed: int, iteration: int, batch_size: int, length: int, mixed_fraction: float = 0.0) -> Batch:
        """:meth:`plan` then :meth:`assemble`."""
        plan = self.plan(seed, iteration, batch_size, length, mixed_fraction)
        if plan.scenes is not None and self.device.type == "cuda":
            plan.scenes = plan.scenes.pin_memory()
        return self.assemble(plan)

    def batch(self, seed: int, iteration: int, batch_size: int, length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch of ``iteration``: ``frames (B, T, 3, H, W)``, ``flows (B, T, 2, H, W)``,
        ``masks (B, T, 1, H, W)`` on the device (a pure function of ``seed`` and ``iteration``)."""
        out = self.make_batch(seed, iteration, batch_size, length)
        return out.frames, out.flows, out.masks
