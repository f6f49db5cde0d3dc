"""Compact, lossless storage of what chains and resumes need: stylized frames and optical flows.

A float32 cache stores a 1920x1080 frame in 24.9 MB and each flow in 16.6 MB, so a feature film would need
terabytes on the shared cache folder. The cache stores instead, *losslessly*, values that are rounded first:

* **stylized frames** to 8 bits per channel (``k / 255``; artistic-videos did the same: it wrote every output
  frame as a PNG and read the previous one back for the next frame), stored as 8-bit RGB PNG;
* **flows** to :data:`FLOW_STEP` pixels (1/8 px; DIS's end-point error is about 1 px), stored as one 16-bit
  PNG (u, v, 0 with an offset of 32768).

The rounding happens *always*, with or without a cache — the next frame of a chain sees exactly the values that
are stored — so a chain resumed from the cache equals an uninterrupted one bit for bit, and the frames do not
depend on whether a cache is used. Measured on a 1920x1080 frame (the prior-image network's stylization of
bikes.mp4 upscaled, DIS flow): 4.4 MB per frame and 1.7 MB per flow instead of 24.9 and 16.6 MB
(``vsstylize_bench/suites/scale_out.py``).
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import torch
from PIL import Image, PngImagePlugin

__all__ = ["FLOW_STEP", "read_flow_png", "read_frame_png", "round_flow", "round_frame", "write_flow_png",
           "write_frame_png"]

#: Flow quantization step in pixels (values are multiples of it; range +-4096 px).
FLOW_STEP = 1.0 / 8.0
_FLOW_LIMIT = 32767 * FLOW_STEP
#: zlib level of the PNG files (6: PNG's default; 9 is several times slower for 1-5 % less)
_PNG_LEVEL = 6


def round_frame(image: torch.Tensor) -> torch.Tensor:
    """``image`` clamped to [0, 1] and rounded to multiples of 1/255 (what the cache stores), same shape,
    dtype and device. Any layout; values RGB in [0, 1]."""
    return torch.round(image.clamp(0.0, 1.0) * 255.0) / 255.0


def write_frame_png(path: str | os.PathLike[str], image: np.ndarray, text: dict[str, str] | None = None) -> None:
    """Write ``image`` ``(3, H, W)`` RGB, multiples of 1/255 in [0, 1] (:func:`round_frame`), as an 8-bit RGB PNG
    with optional text chunks ``text``.

    :raises ValueError: for another shape.
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) image, got {image.shape}")
    pixels = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(1, 2, 0)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(path, format="PNG", pnginfo=info,
                                                              compress_level=_PNG_LEVEL)


def read_frame_png(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, str]]:
    """Read a frame written by :func:`write_frame_png`: ``((3, H, W) float32 in [0, 1], text chunks)``.

    :raises ValueError: not an 8-bit RGB PNG (e.g. a truncated file).
    :raises OSError: unreadable file.
    """
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode != "RGB":
                raise ValueError(f"{os.fspath(path)!r} is not an 8-bit RGB PNG (mode {im.mode})")
            pixels = np.asarray(im)
            text = {str(k): str(v) for k, v in getattr(im, "text", {}).items()}
    except (SyntaxError, Image.DecompressionBombError) as exc:  # PIL raises SyntaxError for broken PNG chunks
        raise ValueError(f"{os.fspath(path)!r}: {exc}") from exc
    return pixels.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0), text


def round_flow[FlowT: (np.ndarray, torch.Tensor)](uv: FlowT) -> FlowT:
    """``uv`` (any layout, pixels; a NumPy array or a tensor on any device) rounded to multiples of
    :data:`FLOW_STEP` and clamped to +-4096 px, float32."""
    if isinstance(uv, torch.Tensor):
        return torch.round(uv.clamp(-_FLOW_LIMIT, _FLOW_LIMIT) / FLOW_STEP).mul_(FLOW_STEP).float()
    return (np.rint(np.clip(uv, -_FLOW_LIMIT, _FLOW_LIMIT) / FLOW_STEP) * FLOW_STEP).astype(np.float32)


def write_flow_png(path: str | os.PathLike[str], uv: np.ndarray) -> None:
    """Write a flow ``(H, W, 2)`` float32 in pixels, rounded with :func:`round_flow`, as a 16-bit PNG.

    :raises ValueError: for another shape or an encoder failure.
    """
    if uv.ndim != 3 or uv.shape[2] != 2:
        raise ValueError(f"expected an (H, W, 2) flow, got {uv.shape}")
    steps = np.rint(np.clip(uv, -_FLOW_LIMIT, _FLOW_LIMIT) / FLOW_STEP).astype(np.int32) + 32768
    planes = np.zeros((*uv.shape[:2], 3), np.uint16)  # OpenCV's channel order: u, v, 0 (B, G, R)
    planes[..., :2] = steps
    ok, data = cv2.imencode(".png", planes, [cv2.IMWRITE_PNG_COMPRESSION, _PNG_LEVEL])
    if not ok:
        raise ValueError("PNG encoder failed")
    with open(path, "wb") as f:
        f.write(data.tobytes())


def read_flow_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a flow written by :func:`write_flow_png`: ``(H, W, 2)`` float32 pixels (u, v).

    :raises ValueError: not a 3-channel 16-bit PNG (e.g. truncated).
    :raises OSError: unreadable file.
    """
    with open(path, "rb") as f:
        data = np.frombuffer(f.read(), np.uint8)
    planes = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if planes is None or planes.dtype != np.uint16 or planes.ndim != 3 or planes.shape[2] != 3:
        raise ValueError(f"{os.fspath(path)!r} is not a 16-bit flow PNG")
    return (planes[..., :2].astype(np.int32) - 32768).astype(np.float32) * np.float32(FLOW_STEP)
