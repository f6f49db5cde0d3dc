"""Scene cuts: where the chains of the video methods restart (``_SceneChangePrev``).

A chain carried across a cut warps the last shot's stylization into an unrelated picture. :func:`scenes` marks the
shot boundaries with the standard VapourSynth properties — ``_SceneChangePrev = 1`` on the first frame of a shot,
``_SceneChangeNext = 1`` on the last — from cuts that are

* **detected** by FFmpeg's ``scdet`` filter (libavfilter; the frames are handed to the ``ffmpeg`` binary that
  vsstylize already uses for encoding, imageio-ffmpeg's): its score is the mean absolute difference of two
  frames in percent, less the previous frame pair's, so steady camera motion does not count as a cut;
  a frame whose score reaches ``threshold`` (default 10) starts a shot. PySceneDetect's content and adaptive
  detectors find the same cuts on the test clips (``bench/scale-out/README.md``), but its package requires
  ``opencv-python``, which pip would install over vsstylize's ``opencv-contrib-python-headless`` (the same
  ``cv2`` module; DeepFlow lives in contrib);
* **read** from a file: a PySceneDetect scene list (``scenedetect ... list-scenes`` CSV: the ``Start Frame``
  column, 1-based) or a plain list of 0-based frame numbers, each the first frame of a new shot (separated by
  commas, spaces or new lines; ``#`` starts a comment);
* **given** as a list of frame numbers.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, cast

import numpy as np
import vapoursynth as vs

from ..errors import StylizeError, error
from .frames import check_constant

__all__ = ["PROP_SCENE_CHANGE_NEXT", "PROP_SCENE_CHANGE_PREV", "check_cuts", "detect_cuts", "read_cuts", "scenes"]

PROP_SCENE_CHANGE_PREV = "_SceneChangePrev"
PROP_SCENE_CHANGE_NEXT = "_SceneChangeNext"

#: scdet's default threshold (percent)
DEFAULT_THRESHOLD = 10.0

_FRAME = re.compile(r"^frame:\s*(\d+)")


def detect_cuts(clip: vs.VideoNode, /, threshold: float = DEFAULT_THRESHOLD, analysis_width: int = 320) -> list[int]:
    """Detect hard cuts with FFmpeg's ``scdet`` filter on every frame of ``clip``.

    :param clip: any constant-format clip (converted to 8-bit RGB, BT.709 for YUV without ``_Matrix``).
    :param threshold: ``scdet``'s threshold in percent (0-100]; lower finds more cuts.
    :param analysis_width: frames are downscaled to this width (bicubic) first; the score is an average, so
        the size changes it little.
    :returns: ascending frame numbers, each the first frame of a new shot (never 0).
    :raises vs.Error: a bad clip or threshold, or an ``ffmpeg`` failure (its message).
    """
    func = "scenes"
    check_constant(clip, func, "clip")
    if not isinstance(threshold, (int, float)) or not 0 < threshold <= 100:
        raise error(func, f"threshold must be a number in (0, 100], got {threshold!r}")
    width = min(clip.width, max(16, int(analysis_width))) // 2 * 2
    height = max(2, round(clip.height * width / clip.width / 2) * 2)
    matrix = {} if clip.format.color_family != vs.YUV else {"matrix_in_s": "709"}
    small = vs.core.resize.Bicubic(clip, width, height, format=vs.RGB24, **matrix)
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
           "-f", "rawvideo", "-pix_fmt", "gbrp", "-s", f"{width}x{height}", "-r", "25", "-i", "-",
           "-vf", f"scdet=threshold={float(threshold)},metadata=mode=print:file=-", "-f", "null", "-"]
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        assert proc.stdin is not None and proc.stdout is not None
        chunks: list[bytes] = []
        reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        try:
            for frame in small.frames(close=True):  # planar G, B, R: ffmpeg's gbrp
                for p in (1, 2, 0):
                    proc.stdin.write(np.ascontiguousarray(np.asarray(frame[p])).tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            raise
        finally:
            reader.join()
            proc.wait()
        if proc.returncode != 0:
            stderr.seek(0)
            raise error(func, f"ffmpeg scdet failed (exit {proc.returncode}): {stderr.read().decode(errors='replace').strip()}")
    cuts: list[int] = []
    current = -1
    for line in b"".join(chunks).decode(errors="replace").splitlines():
        match = _FRAME.match(line)
        if match:
            current = int(match.group(1))
        elif line.startswith("lavfi.scd.time=") and current > 0:
            cuts.append(current)
    return sorted(set(cuts))


def check_cuts(cuts: Sequence[int], num_frames: int, source: str = "cuts") -> list[int]:
    """``cuts`` as a sorted list without duplicates and without frame 0 (a chain starts there anyway).

    :param source: what the cuts came from, for the error (``"cuts"`` or ``"cut file 'x.csv'"``).
    :raises ValueError: a cut that is not an integer or lies outside ``0 .. num_frames - 1``, naming it.
    """
    checked: set[int] = set()
    for cut in cuts:
        if isinstance(cut, bool) or not isinstance(cut, (int, np.integer)):
            raise ValueError(f"{source}: {cut!r} is not a frame number")
        if not 0 <= cut < num_frames:
            raise ValueError(f"{source}: frame {cut} is out of range for a clip of {num_frames} frames "
                             f"(a cut is the 0-based first frame of a shot, 1..{num_frames - 1})")
        if cut > 0:
            checked.add(int(cut))
    return sorted(checked)


def read_cuts(path: str | os.PathLike[str], num_frames: int) -> list[int]:
    """The cuts of a PySceneDetect scene-list CSV or of a plain list of frame numbers (module docstring).

    :param num_frames: length of the clip the cuts belong to.
    :returns: ascending 0-based first frames of the shots after the first.
    :raises ValueError: unreadable file, a value that is not a frame number, a cut out of range — one line
        naming the file.
    """
    where = f"cut file {os.fspath(path)!r}"
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    rows = list(csv.reader(text.splitlines()))
    header = next((i for i, row in enumerate(rows) if "Start Frame" in [c.strip() for c in row]), None)
    values: list[int] = []
    if header is not None:  # PySceneDetect: "Scene Number,Start Frame,..." with 1-based start frames
        column = [c.strip() for c in rows[header]].index("Start Frame")
        for row in rows[header + 1:]:
            if len(row) <= column or not row[column].strip():
                continue
            values.append(_frame_number(row[column], where) - 1)
    else:
        for line in text.splitlines():
            for item in re.split(r"[\s,;]+", line.split("#", 1)[0]):
                if item:
                    values.append(_frame_number(item, where))
    return check_cuts(values, num_frames, where)


def _frame_number(text: str, where: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{where}: {text.strip()!r} is not a frame number") from None


def scenes(clip: vs.VideoNode, /, cuts: Literal["auto"] | str | os.PathLike[str] | Sequence[int] = "auto",
           threshold: float = DEFAULT_THRESHOLD) -> vs.VideoNode:
    """Mark the shots of ``clip``: ``_SceneChangePrev = 1`` on the first frame of each shot after the first,
    ``_SceneChangeNext = 1`` on the frame before it, 0 elsewhere (properties the source had are replaced), so
    the chains of :func:`vsstylize.stylize` restart at the cuts.

    :param clip: any constant-format clip; frames and other properties pass through unchanged.
    :param cuts: ``"auto"`` (:func:`detect_cuts`, decodes the whole clip now), a cut file (:func:`read_cuts`) or
        a list of 0-based frame numbers.
    :param threshold: ``scdet`` threshold of ``"auto"``.
    :returns: the clip with the properties.
    :raises vs.Error: ``vsstylize.scenes: ...`` for a bad clip, an unreadable cut file, a cut that is not a
        frame number or out of range (naming it).
    """
    func = "scenes"
    check_constant(clip, func, "clip")
    try:
        if isinstance(cuts, str) and cuts == "auto":
            found = detect_cuts(clip, threshold)
        elif isinstance(cuts, (str, os.PathLike)):
            found = read_cuts(cuts, clip.num_frames)
        elif isinstance(cuts, Sequence):
            found = check_cuts(list(cast(Sequence[int], cuts)), clip.num_frames)
        else:
            raise ValueError(f"cuts must be 'auto', a cut file or a list of frame numbers, got {cuts!r}")
    except ValueError as exc:
        raise error(func, str(exc)) from None
    except StylizeError:
        raise
    starts = frozenset(found)

    def mark(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        out.props[PROP_SCENE_CHANGE_PREV] = int(n in starts)
        out.props[PROP_SCENE_CHANGE_NEXT] = int(n + 1 in starts)
        return out

    return vs.core.std.ModifyFrame(clip, clip, mark)
