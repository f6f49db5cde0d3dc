"""Loading style images given as files or clips."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import vapoursynth as vs

from ..errors import error
from ..media.frames import frame_to_tensor, to_rgbs
from ..resources import read_style_image

__all__ = ["StyleSource", "load_styles", "style_digest"]

type StyleSource = str | os.PathLike[str] | vs.VideoNode


def _load_file(func: str, path: str | os.PathLike[str]) -> torch.Tensor:
    try:
        return read_style_image(path)
    except (FileNotFoundError, ValueError) as exc:
        raise error(func, str(exc)) from exc


def _load_clip(func: str, clip: vs.VideoNode) -> torch.Tensor:
    fmt = clip.format
    if fmt is None or fmt.id == vs.PresetVideoFormat.NONE or clip.width == 0:
        raise error(func, "style clip must have a constant format and size")
    if fmt.color_family not in (vs.RGB, vs.YUV):
        raise error(func, f"style clip must be RGB or YUV (its first frame is the style image), got {fmt.name}")
    return frame_to_tensor(to_rgbs(clip[0], func, "style").get_frame(0))


def load_styles(func: str, style: StyleSource | Sequence[StyleSource]) -> list[torch.Tensor]:
    """Style images as ``(1, 3, H, W)`` RGB in [0, 1] tensors (CPU).

    :param style: a file path, a shipped style name (:func:`vsstylize.resources.shipped_styles`), a clip (its
        first frame), or a list of them (blended).
    :raises vs.Error: for missing/unreadable files, clips of the wrong format, or an empty list.
    """
    items: list[StyleSource] = list(style) if isinstance(style, (list, tuple)) else [style]
    if not items:
        raise error(func, "style must name at least one image")
    return [_load_clip(func, s) if isinstance(s, vs.VideoNode) else _load_file(func, s) for s in items]


def style_digest(images: Sequence[torch.Tensor]) -> str:
    """Content digest of the style images (part of the stylized-frame cache key)."""
    from ..media.cache import digest

    return digest(*[img.numpy().tobytes() for img in images])
