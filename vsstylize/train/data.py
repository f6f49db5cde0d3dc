"""Training data for the video networks: frame tuples with backward flow and reliability.

Two sources (Ruder et al. 2018 sec. 5.2.3):

* **real clips**: tuples of consecutive frames of the videos in the dataset folders, with backward and
  forward DIS flow and the reliability of the forward-backward consistency check
  (:func:`vsstylize.opticalflow.consistency.consistency_check`, the same as the ``reliability`` filter); per clip
  the tuples with the largest frame differences are kept (Ruder: "the five most differing frame tuples per
  shot");
* **synthetic sequences** from still images (the photos of the dataset folders, and frames of its videos)
  with exact flow and occlusion masks: a moving, zooming crop window plus an independently moving object
  (the bench generator, :func:`vsstylize.sequences.make_sequence`), rendered on the fly.

A sample is a :class:`Tuple`: ``frames (T, 3, H, W)`` RGB in [0, 1], ``flows (T, 2, H, W)`` backward flow
``t -> t-1`` in pixels and ``masks (T, 1, H, W)`` its reliability (entry 0 unused). Sampling is a pure
function of ``(seed, iteration)``, so a resumed training sees the same data as an uninterrupted one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..opticalflow.consistency import consistency_check
from ..opticalflow.estimators import DisPreset, FlowSettings, make_estimator
from ..sequences import load_image, make_sequence

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "DatasetError", "TrainingData", "Tuple"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".y4m", ".mpg", ".mpeg"})
#: Synthetic motion presets used for training (the generator's, without the long-term/border tests).
SYNTHETIC_PRESETS: tuple[str, ...] = ("slow_pan", "fast_pan_zoom", "large_occluder")


class DatasetError(ValueError):
    """No usable training data (names the folder and what was looked for)."""


@dataclass
class Tuple:
    """``frames (T, 3, H, W)``, ``flows (T, 2, H, W)`` (``t -> t-1``), ``masks (T, 1, H, W)``; float32."""

    frames: np.ndarray
    flows: np.ndarray
    masks: np.ndarray


def _files(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
    images: list[Path] = []
    videos: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise DatasetError(f"data: no such file or folder {p}")
        found = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        images += [f for f in found if f.suffix.lower() in IMAGE_SUFFIXES]
        videos += [f for f in found if f.suffix.lower() in VIDEO_SUFFIXES]
    return images, videos


def _read_video(path: Path, short_side: int, max_frames: int) -> list[np.ndarray]:
    """Frames of ``path`` as ``(H, W, 3)`` float32 RGB, resized so the short side is ``short_side``."""
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        while cap.isOpened() and len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            h, w = bgr.shape[:2]
            f = short_side / min(h, w)
            bgr = cv2.resize(bgr, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
    finally:
        cap.release()
    return frames


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor((rgb * 255.0).round().astype(np.uint8), cv2.COLOR_RGB2GRAY)


def _real_tuple(frames: Sequence[np.ndarray], estimator: object) -> Tuple:
    grays = [_gray(f) for f in frames]
    h, w = grays[0].shape
    flows = np.zeros((len(frames), 2, h, w), np.float32)
    masks = np.zeros((len(frames), 1, h, w), np.float32)
    for t in range(1, len(frames)):
        back = estimator(grays[t], grays[t - 1])  # type: ignore[operator]
        fwd = estimator(grays[t - 1], grays[t])  # type: ignore[operator]
        flows[t] = back.transpose(2, 0, 1)
        masks[t, 0] = consistency_check(back, fwd) / 255.0
    return Tuple(np.stack([f.transpose(2, 0, 1) for f in frames]), flows, masks)


class TrainingData:
    """Training tuples from image and video files.

    :param paths: files or folders (searched recursively) of images and videos.
    :param size: ``(H, W)`` of the training crops.
    :param length: frames per tuple (the longest multi-frame step, e.g. 5).
    :param tuples_per_clip: real tuples kept per video (the most differing).
    :param max_video_frames: frames read per video.
    :param flow_preset: DIS preset of the real clips' flow.
    :param synthetic_fraction: share of synthetic samples when both kinds exist.
    :raises DatasetError: a missing path, or no usable image or video (names what was searched).
    """

    def __init__(self, paths: Iterable[str | os.PathLike[str]], size: tuple[int, int], length: int = 5,
                 tuples_per_clip: int = 24, max_video_frames: int = 300, flow_preset: DisPreset = "medium",
                 synthetic_fraction: float = 0.5) -> None:
        paths = list(paths)
        if not paths:
            raise DatasetError("data: no dataset folders or files given")
        if length < 2:
            raise DatasetError(f"data: tuple length must be >= 2, got {length}")
        self.size = (int(size[0]), int(size[1]))
        self.length = int(length)
        images, videos = _files(paths)
        h, w = self.size
        self.stills: list[np.ndarray] = []
        for f in images:
            try:
                img = load_image(f)
            except (ValueError, OSError):
                continue
            if min(img.shape[:2]) >= min(h, w):
                self.stills.append(img)
        self.real: list[Tuple] = []
        estimator = make_estimator(FlowSettings(method="dis", preset=flow_preset))
        for v in videos:
            frames = _read_video(v, max(h, w) + max(h, w) // 4, max_video_frames)
            if len(frames) < self.length or min(frames[0].shape[:2]) < min(h, w):
                continue
            self.stills += frames[:: max(1, len(frames) // 8)]
            starts = list(range(0, len(frames) - self.length + 1, max(1, self.length // 2)))
            motion = [float(np.mean([np.square(frames[s + i + 1] - frames[s + i]).mean() for i in range(self.length - 1)]))
                      for s in starts]
            best = sorted(np.argsort(motion)[::-1][:tuples_per_clip])
            for i in best:
                s = starts[i]
                self.real.append(_real_tuple(frames[s : s + self.length], estimator))
        if not self.stills and not self.real:
            raise DatasetError(
                f"data: no usable frames in {', '.join(map(str, paths))}: need images ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                f"or videos ({', '.join(sorted(VIDEO_SUFFIXES))}) of at least {w}x{h} pixels"
                + (f" and {self.length} frames" if videos else ""))
        self.synthetic_fraction = synthetic_fraction if self.real and self.stills else (1.0 if self.stills else 0.0)
        self.sources = {"images": [str(f) for f in images], "videos": [str(f) for f in videos],
                        "real_tuples": len(self.real), "stills": len(self.stills)}

    def _synthetic(self, rng: np.random.Generator, length: int) -> Tuple:
        h, w = self.size
        photo = self.stills[int(rng.integers(len(self.stills)))]
        texture = self.stills[int(rng.integers(len(self.stills)))]
        preset = SYNTHETIC_PRESETS[int(rng.integers(len(SYNTHETIC_PRESETS)))]
        seq = make_sequence(preset, photo, num_frames=length, size=(w, h), seed=int(rng.integers(2**31)),
                            texture=texture, long_steps=())
        return Tuple(seq.frames, seq.flow_backward, seq.mask_backward[:, None])

    def _crop_real(self, rng: np.random.Generator, length: int) -> Tuple:
        tup = self.real[int(rng.integers(len(self.real)))]
        h, w = self.size
        th, tw = tup.frames.shape[-2:]
        y, x = int(rng.integers(th - h + 1)), int(rng.integers(tw - w + 1))
        s = int(rng.integers(tup.frames.shape[0] - length + 1))
        sl = (slice(s, s + length), slice(None), slice(y, y + h), slice(x, x + w))
        masks = tup.masks[sl].copy()
        masks[0] = 0.0
        return Tuple(tup.frames[sl], tup.flows[sl], masks)

    def batch(self, seed: int, iteration: int, batch_size: int, length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch of ``iteration``: ``frames (B, T, 3, H, W)``, ``flows (B, T, 2, H, W)``,
        ``masks (B, T, 1, H, W)`` (a pure function of ``seed`` and ``iteration``)."""
        if not 2 <= length <= self.length:
            raise ValueError(f"length must be in [2, {self.length}], got {length}")
        rng = np.random.default_rng([int(seed), int(iteration)])
        samples = []
        for _ in range(batch_size):
            synthetic = rng.random() < self.synthetic_fraction
            samples.append(self._synthetic(rng, length) if synthetic else self._crop_real(rng, length))
        stack = lambda name: torch.from_numpy(np.stack([getattr(s, name) for s in samples]).astype(np.float32))
        return stack("frames"), stack("flows"), stack("masks")
