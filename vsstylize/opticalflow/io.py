"""Flow and reliability files as clips: load flows/weights made by other tools, save ours for them.

File names use the artistic-videos pattern syntax: the placeholder in square brackets is the frame
where the flow starts, the one in braces the frame it points to, both printf-style and counted from
``start_number`` (1 in artistic-videos). ``backward_[%d]_{%d}.flo`` names the backward flow of frame 2
``backward_2_1.flo``; ``reliable_[%d]_{%d}.pgm`` its weights.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import vapoursynth as vs
from tqdm import tqdm

from ..errors import error
from .clips import (
    DIRECTIONS,
    check_flow_clip,
    flow_meta,
    frame_flow,
    frame_valid,
    partner_index,
    set_flow_props,
)
from .files import read_flo, read_pgm, write_flo, write_pgm

__all__ = ["format_pattern", "read_flow", "read_reliability", "write_flow", "write_reliability"]

_PLACEHOLDER = re.compile(r"\[([^\]]+)\]|\{([^}]+)\}")


def format_pattern(pattern: str, frame: int, partner: int) -> str:
    """Fill an artistic-videos pattern: ``[fmt]`` with ``frame``, ``{fmt}`` with ``partner``.

    :raises ValueError: when the pattern lacks the ``[...]`` placeholder or a format is invalid.
    """
    if "[" not in pattern:
        raise ValueError(f"pattern {pattern!r} needs a [..] placeholder for the frame number, e.g. backward_[%d]_{{%d}}.flo")

    def fill(match: re.Match[str]) -> str:
        fmt = match.group(1) or match.group(2)
        value = frame if match.group(1) else partner
        try:
            return fmt % value
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid placeholder {match.group(0)!r} in pattern {pattern!r}") from exc

    return _PLACEHOLDER.sub(fill, pattern)


def _check_args(func: str, num_frames: int, direction: str, step: int) -> None:
    if not isinstance(num_frames, int) or num_frames < 1:
        raise error(func, f"num_frames must be an integer >= 1, got {num_frames!r}")
    if direction not in DIRECTIONS:
        raise error(func, f"direction must be 'forward' or 'backward', got {direction!r}")
    if not isinstance(step, int) or step < 1:
        raise error(func, f"step must be an integer >= 1, got {step!r}")


def _file_clip(func: str, pattern: str, num_frames: int, direction: str, step: int, start_number: int,
               fmt: int, planes: int, reader: Callable[[str], np.ndarray], fpsnum: int, fpsden: int) -> vs.VideoNode:
    _check_args(func, num_frames, direction, step)
    try:
        paths: list[str | None] = []
        for n in range(num_frames):
            m = partner_index(n, direction, step)
            paths.append(format_pattern(pattern, n + start_number, m + start_number) if 0 <= m < num_frames else None)
    except ValueError as exc:
        raise error(func, f"pattern: {exc}") from exc
    existing = [p for p in paths if p is not None]
    missing = [p for p in existing if not os.path.isfile(p)]
    if missing:
        raise error(func, f"pattern: {len(missing)} file(s) missing, first {missing[0]!r}")
    if not existing:
        raise error(func, f"no frame has a partner with step {step} in {num_frames} frames")
    try:
        sample = reader(existing[0])
    except (OSError, ValueError) as exc:
        raise error(func, str(exc)) from exc
    height, width = sample.shape[:2]
    blank = vs.core.std.BlankClip(format=fmt, width=width, height=height, length=num_frames,
                                  fpsnum=fpsnum, fpsden=fpsden, keep=True)

    def load(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        path = paths[n]
        if path is None:
            for p in range(planes):
                np.asarray(out[p])[:] = 0.0
        else:
            try:
                data = reader(path)
            except (OSError, ValueError) as exc:
                raise error(func, str(exc)) from exc
            if data.shape[:2] != (height, width):
                raise error(func, f"{path} is {data.shape[1]}x{data.shape[0]}, expected {width}x{height} like {existing[0]}")
            layers = [data] if data.ndim == 2 else [data[..., i] for i in range(data.shape[2])]
            for p in range(planes):
                np.copyto(np.asarray(out[p]), layers[p] if p < len(layers) else 0.0)
        set_flow_props(out, direction, step, path is not None)
        return out

    return vs.core.std.ModifyFrame(blank, blank, load)


def read_flow(pattern: str, num_frames: int, direction: str = "backward", step: int = 1,
              start_number: int = 1, fpsnum: int = 25, fpsden: int = 1) -> vs.VideoNode:
    """Load Middlebury ``.flo`` files (DeepFlow, FlowNet, artistic-videos' ``makeOptFlow``) as a flow clip.

    :param pattern: e.g. ``"flow/backward_[%d]_{%d}.flo"`` (see the module doc).
    :param num_frames: number of frames of the video the flows belong to.
    :param direction: ``"backward"`` (frame n -> n - step) or ``"forward"``.
    :param step: frame distance.
    :param start_number: file index of the first frame (1 in artistic-videos).
    :returns: RGBS flow clip (u, v, 0) with ``FlowDirection``/``FlowStep``/``FlowValid``; frames
        without a partner are zero and invalid.
    :raises vs.Error: for missing files, bad headers (wrong magic number, truncated data) or sizes
        that differ between files — naming the file.
    """
    return _file_clip("read_flow", pattern, num_frames, direction, step, start_number, vs.RGBS, 3,
                      read_flo, fpsnum, fpsden)


def read_reliability(pattern: str, num_frames: int, direction: str = "backward", step: int = 1,
                     start_number: int = 1, fpsnum: int = 25, fpsden: int = 1) -> vs.VideoNode:
    """Load reliability maps (8-bit PGM, white = reliable) as a GRAYS clip in [0, 1].

    Parameters as :func:`read_flow` (e.g. ``"reliable_[%d]_{%d}.pgm"``).

    :raises vs.Error: for missing or unreadable files, or differing sizes.
    """
    return _file_clip("read_reliability", pattern, num_frames, direction, step, start_number, vs.GRAYS, 1,
                      read_pgm, fpsnum, fpsden)


def _write_clip(func: str, clip: vs.VideoNode, pattern: str, start_number: int, progress: bool,
                write: Callable[[str, vs.VideoFrame], object]) -> list[Path]:
    direction, step = flow_meta(clip, func, "clip")
    try:
        format_pattern(pattern, start_number, start_number)
    except ValueError as exc:
        raise error(func, f"pattern: {exc}") from exc
    written: list[Path] = []
    frames = clip.frames(close=True)
    for n, frame in enumerate(tqdm(frames, total=clip.num_frames, desc=func, disable=not progress)):
        if not frame_valid(frame):
            continue
        path = format_pattern(pattern, n + start_number, partner_index(n, direction, step) + start_number)
        try:
            write(path, frame)
        except OSError as exc:
            raise error(func, f"cannot write {path}: {exc.strerror or exc}") from exc
        written.append(Path(path))
    return written


def write_flow(flow: vs.VideoNode, pattern: str, start_number: int = 1, progress: bool = True) -> list[Path]:
    """Render a flow clip and save every valid frame as a ``.flo`` file (atomic writes).

    :param flow: flow clip (from :func:`vsstylize.flow`).
    :param pattern: e.g. ``"out/backward_[%d]_{%d}.flo"``.
    :returns: the files written, in frame order.
    :raises vs.Error: for a non-flow clip, a bad pattern or a write failure.
    """
    check_flow_clip(flow, "write_flow", "flow")
    return _write_clip("write_flow", flow, pattern, start_number, progress,
                       lambda path, frame: write_flo(path, frame_flow(frame)))


def write_reliability(weights: vs.VideoNode, pattern: str, start_number: int = 1, progress: bool = True) -> list[Path]:
    """Render a reliability clip and save every valid frame as an 8-bit PGM (atomic writes).

    :raises vs.Error: for a clip that is not GRAYS with flow properties, a bad pattern or a write failure.
    """
    if not isinstance(weights, vs.VideoNode) or weights.format is None or weights.format.id != vs.GRAYS:
        raise error("write_reliability", "weights must be a GRAYS reliability clip from vsstylize.reliability")
    return _write_clip("write_reliability", weights, pattern, start_number, progress,
                       lambda path, frame: write_pgm(path, np.asarray(frame[0])))
