"""The benchmark's inputs that are not generated: the real photos sequences are drawn from (the evaluation
data, named explicitly or through ``$VSSTYLIZE_SHARED``) and a stationary texture made from a photo."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vsstylize.train.sequences import ImageSource, check_size, load_image

__all__ = ["SHARED_ENV", "default_photos", "shared_data", "shared_file", "stationary_texture"]

#: Environment variable naming the shared evaluation data folder (``<it>/data/content/*.jpg`` ...).
SHARED_ENV = "VSSTYLIZE_SHARED"
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp"}


def shared_data() -> Path | None:
    """``$VSSTYLIZE_SHARED/data`` when the variable names a folder that has it, else ``None``."""
    env = os.environ.get(SHARED_ENV)
    if not env:
        return None
    data = Path(env).expanduser() / "data"
    return data if data.is_dir() else None


def shared_file(relative: str) -> str | None:
    """``$VSSTYLIZE_SHARED/data/<relative>`` as a string (a script's default input), ``None`` without the data."""
    data = shared_data()
    return str(data / relative) if data is not None else None


def default_photos(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """The photos generated sequences are drawn from: the images in ``folder``, else in
    ``$VSSTYLIZE_SHARED/data/content``, sorted by name; empty when neither is there."""
    if folder is None:
        data = shared_data()
        if data is None:
            return []
        folder = data / "content"
    path = Path(folder)
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def stationary_texture(source: ImageSource, size: tuple[int, int], max_period: float, seed: int = 0) -> np.ndarray:
    """A texture with the colours and fine structure of a photo but the same statistics everywhere.

    Random-phase synthesis (Galerne et al. 2011): the photo (resized to ``size``, ``INTER_AREA``) keeps the
    amplitude spectrum of each colour channel, one random phase field is added to all channels (so colours
    stay correlated), and a fourth-order high-pass ``1 / (1 + (f0 / f)^4)`` with ``f0 = 1 / max_period``
    (cycles per pixel) removes the structures longer than ``max_period`` pixels (skies, shadows), which make
    a photo's local contrast differ between regions. The local standard deviation of windows a few
    ``max_period`` wide is then about the same everywhere: content for the border-contrast test of the
    multi-pass algorithm (Ruder et al. 2018 Fig. 10) whose band/centre std ratio is ~1 by construction.

    :param source: photo (see :func:`load_image`).
    :param size: ``(W, H)`` of the texture, each >= 16.
    :param max_period: longest period kept, in texture pixels, > 0.
    :param seed: seed of the random phase.
    :returns: ``(H, W, 3)`` float32 RGB in [0, 1], each channel with the photo's mean and standard deviation
        (before clipping to [0, 1]).
    :raises ValueError: bad ``size`` or ``max_period``, or a bad image.
    """
    w, h = check_size(size)
    if not max_period > 0:
        raise ValueError(f"max_period must be > 0 pixels, got {max_period!r}")
    src = cv2.resize(load_image(source), (w, h), interpolation=cv2.INTER_AREA).astype(np.float64)
    mean, std = src.mean(axis=(0, 1)), src.std(axis=(0, 1))
    spectrum = np.fft.fft2(src - mean, axes=(0, 1))
    # the phase of white noise's spectrum is Hermitian-symmetric, so the synthesis stays real
    phase = np.angle(np.fft.fft2(np.random.default_rng(int(seed)).standard_normal((h, w))))
    freq = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    with np.errstate(divide="ignore"):
        high_pass = 1.0 / (1.0 + (1.0 / (max_period * freq)) ** 4)  # 0 at f = 0
    out = np.real(np.fft.ifft2(spectrum * (np.exp(1j * phase) * high_pass)[..., None], axes=(0, 1)))
    out *= std / np.maximum(out.std(axis=(0, 1)), 1e-12)
    return np.clip(out + mean, 0.0, 1.0).astype(np.float32)
