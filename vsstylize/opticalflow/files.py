"""Middlebury ``.flo`` flow files and PGM reliability maps (the artistic-videos formats).

Flows are ``(H, W, 2)`` float32 arrays (u right, v down, pixels), read and written by OpenCV
(``cv2.readOpticalFlow`` / ``cv2.writeOpticalFlow``) after checking the header ourselves so a bad
file gives a clear message. Reliability maps are 8-bit PGM, 255 = reliable, read and written with
Pillow. All writes go to a temporary file that is renamed into place.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..media.cache import atomic_write

__all__ = ["FLO_MAGIC", "encode_flo", "read_flo", "read_pgm", "write_flo", "write_pgm"]

FLO_MAGIC = 202021.25
_HEADER = struct.Struct("<fii")


def _check_flo_header(path: Path) -> tuple[int, int]:
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise ValueError(f"{path}: not a .flo file (only {len(header)} bytes, the header needs {_HEADER.size})")
    magic, width, height = _HEADER.unpack(header)
    if magic != FLO_MAGIC:
        raise ValueError(f"{path}: wrong magic number {magic!r} (a Middlebury .flo file starts with {FLO_MAGIC})")
    if not (0 < width < 1 << 16 and 0 < height < 1 << 16):
        raise ValueError(f"{path}: implausible size {width}x{height} in the .flo header")
    expected = _HEADER.size + width * height * 2 * 4
    if size != expected:
        raise ValueError(f"{path}: truncated or padded .flo data ({size} bytes, expected {expected} for {width}x{height})")
    return width, height


def read_flo(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a Middlebury ``.flo`` file.

    :returns: ``(H, W, 2)`` float32, (u, v) in pixels.
    :raises FileNotFoundError: when the file does not exist.
    :raises ValueError: for a wrong magic number, an implausible size or truncated data.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such .flo file")
    width, height = _check_flo_header(p)
    flow = cv2.readOpticalFlow(str(p))
    if flow is None or flow.shape != (height, width, 2):
        raise ValueError(f"{p}: OpenCV could not read the flow data")
    return flow


def write_flo(path: str | os.PathLike[str], flow: np.ndarray) -> Path:
    """Write ``flow`` ``(H, W, 2)`` (u, v pixels) as a Middlebury ``.flo`` file, atomically.

    :raises ValueError: for other shapes.
    :raises OSError: when the file cannot be written.
    """
    return atomic_write(path, lambda tmp: encode_flo(tmp, flow))


def encode_flo(path: Path, flow: np.ndarray) -> None:
    """Write ``flow`` ``(H, W, 2)`` to ``path`` in place (no temp file; callers make it atomic).

    :raises ValueError: for other shapes.
    :raises OSError: when OpenCV cannot write the file.
    """
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    if not cv2.writeOpticalFlow(str(path), np.ascontiguousarray(flow, dtype=np.float32)):
        raise OSError(f"OpenCV could not write {path}")


def read_pgm(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a reliability map (8-bit PGM or any grey image Pillow reads).

    :returns: ``(H, W)`` float32 weights in [0, 1] (grey level / 255).
    :raises FileNotFoundError: when the file does not exist.
    :raises ValueError: when Pillow cannot decode it.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such reliability file")
    try:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("L"), dtype=np.float32)
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{p}: not a readable grey image ({exc})") from exc
    return arr / 255.0


def write_pgm(path: str | os.PathLike[str], weights: np.ndarray) -> Path:
    """Write reliability weights ``(H, W)`` in [0, 1] as an 8-bit PGM, atomically.

    Grey levels are ``floor(255 * c)`` like the reference checker (which truncates when saving).

    :raises ValueError: for other shapes.
    """
    if weights.ndim != 2:
        raise ValueError(f"weights must be (H, W), got {weights.shape}")
    grey = np.floor(np.clip(weights.astype(np.float64), 0.0, 1.0) * 255.0 + 1e-4).astype(np.uint8)
    return atomic_write(path, lambda tmp: Image.fromarray(grey, mode="L").save(tmp, format="PPM"))
