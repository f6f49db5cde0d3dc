"""The training-data cache: real frame tuples with flow and reliability, and the still images, computed once per
dataset and reused by every training run on it.

Building the tuples of a real clip means decoding it and running DIS flow both ways plus the forward-backward
consistency check on every frame pair (seconds per clip); doing that at every start, as before, kept a GPU
waiting for minutes. The cache folder is **content-addressed**: ``<root>/<key>/`` with

``key = digest(format, tuple settings, OpenCV's flow tag, SHA-256 of every data file)``

(files sorted and deduplicated by their hash, so the same files in another folder layout share it; any change
of a file or a setting makes a new key). It holds **shards** in safetensors files, each written atomically:

* ``stills-NNNN.safetensors``: up to :data:`STILLS_PER_SHARD` photos, ``still_<i>`` ``(H, W, 3)`` uint8 RGB, the
  shorter side reduced to ``still_side`` (2x the crop side) where larger;
* ``clip-<sha16>.safetensors``: one video: ``frames (N, T, 3, H, W)`` uint8 RGB, ``flows (N, T, 2, H, W)`` float16
  backward flow ``t -> t-1`` in pixels (DIS; float16 keeps 1/64 px up to 32 px of motion, below DIS's own
  error), ``masks (N, T, 1, H, W)`` uint8 reliability times 255 (Ruder et al. eq. 5-7, the reference checker's
  grey levels, entry 0 unused; the torch version of the check) and ``stills (K, H, W, 3)`` uint8: frames of the
  clip that also serve as stills.
  The clip is read with its shorter side at ``read_side`` (1.25x the crop side) and the ``tuples_per_clip``
  tuples with the largest frame differences are kept (Ruder et al. 2018 sec. 5.2.3).

``manifest.json`` lists every finished shard with its SHA-256 and is rewritten atomically after each one, so an
interrupted build (SIGKILL included) resumes with the shards it had not finished. Loading checks each shard
against its hash, so a corrupted shard is reported, never trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from ..media.cache import atomic_write, digest
from ..opticalflow.consistency import consistency_check_torch
from ..opticalflow.estimators import DisPreset, FlowSettings, make_estimator

__all__ = [
    "FORMAT_VERSION",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "CachedData",
    "ClipTuples",
    "DatasetError",
    "TupleSettings",
    "clip_flows",
    "default_cache_root",
    "open_data_cache",
]

log = logging.getLogger("vsstylize")

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".y4m", ".mpg", ".mpeg"})
#: Version of the shard layout and of the tuple selection (part of the key).
FORMAT_VERSION = 1
STILLS_PER_SHARD = 32
MANIFEST = "manifest.json"


class DatasetError(ValueError):
    """Unusable training data: a missing or unreadable path, no usable frames, or a damaged cache (names the
    path and what to do)."""


@dataclass(frozen=True)
class TupleSettings:
    """How the tuples and stills are made from the data files (everything here is part of the cache key).

    :ivar size: ``(H, W)`` of the training crops; images and videos with a shorter side below ``min(H, W)`` are
        skipped.
    :ivar length: frames per real tuple (the longest multi-frame step, 5; shorter steps use sub-windows).
    :ivar tuples_per_clip: real tuples kept per video (the most differing).
    :ivar max_video_frames: frames read per video.
    :ivar flow_preset: DIS preset of the real clips' flow.
    """

    size: tuple[int, int]
    length: int = 5
    tuples_per_clip: int = 24
    max_video_frames: int = 300
    flow_preset: DisPreset = "medium"

    @property
    def read_side(self) -> int:
        """Shorter side of the video frames as stored (a crop of ``size`` leaves room to move)."""
        m = max(self.size)
        return m + m // 4

    @property
    def still_side(self) -> int:
        """Largest stored shorter side of a still (synthetic sequences zoom into at most 0.6 of it)."""
        return 2 * max(self.size)

    def key_json(self) -> str:
        flow = FlowSettings(method="dis", preset=self.flow_preset).cache_tag()
        return json.dumps({"format": FORMAT_VERSION, **asdict(self), "flow": flow}, sort_keys=True)


@dataclass
class ClipTuples:
    """The real tuples of one clip (see the module docstring for the layouts)."""

    name: str
    frames: np.ndarray
    flows: np.ndarray
    masks: np.ndarray


@dataclass
class CachedData:
    """A loaded cache: ``stills`` ``(H, W, 3)`` uint8 RGB (photos, then clip frames), the clips' tuples, the
    cache ``key`` and ``folder``, and ``sources`` (what was used and skipped, for the model card)."""

    key: str
    folder: Path
    stills: list[np.ndarray]
    clips: list[ClipTuples]
    sources: dict[str, Any] = field(default_factory=dict)


def default_cache_root() -> Path:
    """The per-user cache folder of the training data (``~/.cache/vsstylize/train-data`` on Linux)."""
    import platformdirs

    return platformdirs.user_cache_path("vsstylize", appauthor=False) / "train-data"


# ----------------------------------------------------------------------------------------
# data files
# ----------------------------------------------------------------------------------------
def _list_files(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    images: list[Path] = []
    videos: list[Path] = []
    for p in paths:
        if not p.exists():
            raise DatasetError(f"data: no such file or folder {p}")
        if p.is_dir():
            if not os.access(p, os.R_OK | os.X_OK):
                raise DatasetError(f"data: cannot read the folder {p} (permission denied)")
            unreadable: list[OSError] = []
            found = sorted(f for f in _walk(p, unreadable.append))
            if unreadable:
                exc = unreadable[0]
                raise DatasetError(f"data: cannot read the folder {exc.filename} ({exc.strerror or exc})")
        else:
            found = [p]
        images += [f for f in found if f.suffix.lower() in IMAGE_SUFFIXES]
        videos += [f for f in found if f.suffix.lower() in VIDEO_SUFFIXES]
    return images, videos


def _walk(root: Path, on_error: Callable[[OSError], None]) -> Iterable[Path]:
    for folder, _dirs, names in os.walk(root, onerror=on_error, followlinks=True):
        for name in names:
            f = Path(folder) / name
            if f.is_file():
                yield f


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError as exc:
        raise DatasetError(f"data: cannot read {path} ({exc.strerror or exc})") from exc
    return h.hexdigest()


def _by_content(files: Iterable[Path]) -> list[tuple[str, Path]]:
    """``(sha256, path)`` sorted by hash, one entry per distinct content."""
    seen: dict[str, Path] = {}
    for f in files:
        seen.setdefault(_sha256(f), f)
    return sorted(seen.items())


# ----------------------------------------------------------------------------------------
# decoding and flow
# ----------------------------------------------------------------------------------------
def _short_side(img: np.ndarray, side: int, enlarge: bool) -> np.ndarray:
    h, w = img.shape[:2]
    f = side / min(h, w)
    if f > 1 and not enlarge:
        return img
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def _read_still(path: Path, settings: TupleSettings) -> np.ndarray | str:
    """The photo as ``(H, W, 3)`` uint8 RGB (shorter side at most ``still_side``), or why it is skipped."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        return "OpenCV cannot decode it"
    if min(bgr.shape[:2]) < min(settings.size):
        return f"smaller than the {settings.size[1]}x{settings.size[0]} crop"
    return np.ascontiguousarray(cv2.cvtColor(_short_side(bgr, settings.still_side, False), cv2.COLOR_BGR2RGB))


def _read_video(path: Path, short_side: int, max_frames: int) -> list[np.ndarray]:
    """Frames of ``path`` as ``(H, W, 3)`` uint8 RGB, resized so the shorter side is ``short_side``."""
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        while cap.isOpened() and len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            frames.append(cv2.cvtColor(_short_side(bgr, short_side, True), cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return frames


def _pair_flow(estimator: Callable[[np.ndarray, np.ndarray], np.ndarray], gray: np.ndarray,
               previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DIS backward flow ``(2, H, W)`` of ``gray`` towards ``previous`` and its reliability ``(H, W)`` in [0, 255]
    (the torch consistency check: equal to the reference checker's NumPy version within 2e-5 grey levels, 2.5x
    faster on a CPU)."""
    back = estimator(gray, previous).transpose(2, 0, 1)
    fwd = estimator(previous, gray).transpose(2, 0, 1)
    with torch.no_grad():
        rel = consistency_check_torch(torch.from_numpy(back)[None], torch.from_numpy(fwd)[None])
    return back, rel[0, 0].numpy()


def clip_flows(frames: Sequence[np.ndarray], preset: DisPreset = "medium") -> tuple[np.ndarray, np.ndarray]:
    """Backward flow and its reliability for consecutive frames, as the ``flow``/``reliability`` filters compute
    them: DIS (OpenCV) on 8-bit grey both ways, then the forward-backward consistency check of Ruder et al.
    (eq. 5-7, :func:`~vsstylize.opticalflow.consistency.consistency_check_torch`).

    :param frames: ``T`` frames ``(H, W, 3)`` uint8 RGB.
    :param preset: DIS preset.
    :returns: ``flows (T, 2, H, W)`` float32 pixels ``t -> t-1`` and ``reliability (T, H, W)`` float32 in
        [0, 255]; entry 0 is zero.
    """
    estimator = make_estimator(FlowSettings(method="dis", preset=preset))
    grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    h, w = grays[0].shape
    flows = np.zeros((len(frames), 2, h, w), np.float32)
    rel = np.zeros((len(frames), h, w), np.float32)
    for t in range(1, len(frames)):
        flows[t], rel[t] = _pair_flow(estimator, grays[t], grays[t - 1])
    return flows, rel


def _clip_shard(path: Path, settings: TupleSettings, threads: int = 1) -> dict[str, np.ndarray] | str:
    """The arrays of one clip's shard, or why the clip is skipped. The flow of a frame pair shared by overlapping
    tuples is computed once; ``threads`` threads compute the pairs (DIS and NumPy release the GIL)."""
    n = settings.length
    frames = _read_video(path, settings.read_side, settings.max_video_frames)
    if not frames:
        return "OpenCV cannot decode it"
    if len(frames) < n:
        return f"{len(frames)} frames, fewer than {n}"
    if min(frames[0].shape[:2]) < min(settings.size):
        return f"smaller than the {settings.size[1]}x{settings.size[0]} crop"
    stills = np.stack(frames[:: max(1, len(frames) // 8)])
    starts = list(range(0, len(frames) - n + 1, max(1, n // 2)))
    diffs = [cv2.norm(frames[i + 1], frames[i], cv2.NORM_L2SQR) / frames[i].size for i in range(len(frames) - 1)]
    motion = [float(np.mean(diffs[s:s + n - 1])) for s in starts]
    chosen = [starts[i] for i in sorted(int(i) for i in np.argsort(motion)[::-1][:settings.tuples_per_clip])]
    pairs = sorted({s + t for s in chosen for t in range(1, n)})  # frame k with its predecessor k - 1
    grays = {k: cv2.cvtColor(frames[k], cv2.COLOR_RGB2GRAY) for k in sorted({k - d for k in pairs for d in (0, 1)})}
    local = threading.local()

    def pair(k: int) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(local, "estimator"):  # estimators are not thread-safe: one per thread
            local.estimator = make_estimator(FlowSettings(method="dis", preset=settings.flow_preset))
        return _pair_flow(local.estimator, grays[k], grays[k - 1])

    with ThreadPoolExecutor(max(1, threads)) as pool:
        flow_of = dict(zip(pairs, pool.map(pair, pairs)))
    h, w = grays[pairs[0]].shape
    out_frames = np.stack([np.stack([frames[s + t].transpose(2, 0, 1) for t in range(n)]) for s in chosen])
    out_flows = np.zeros((len(chosen), n, 2, h, w), np.float16)
    out_masks = np.zeros((len(chosen), n, 1, h, w), np.uint8)
    for i, s in enumerate(chosen):
        for t in range(1, n):
            out_flows[i, t] = flow_of[s + t][0]
            out_masks[i, t, 0] = np.round(flow_of[s + t][1])
    return {"frames": out_frames, "flows": out_flows, "masks": out_masks, "stills": stills}


def _stills_shard(files: Sequence[tuple[str, Path]], settings: TupleSettings) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    arrays: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for i, (_sha, f) in enumerate(files):
        img = _read_still(f, settings)
        if isinstance(img, str):
            skipped[str(f)] = img
        else:
            arrays[f"still_{i:05d}"] = img
    return arrays, skipped


# ----------------------------------------------------------------------------------------
# the cache
# ----------------------------------------------------------------------------------------
@dataclass
class _Job:
    name: str
    kind: str  # "stills" | "clip"
    files: list[tuple[str, Path]]


def _jobs(images: list[tuple[str, Path]], videos: list[tuple[str, Path]]) -> list[_Job]:
    jobs = [_Job(f"stills-{i // STILLS_PER_SHARD:04d}", "stills", images[i:i + STILLS_PER_SHARD])
            for i in range(0, len(images), STILLS_PER_SHARD)]
    return jobs + [_Job(f"clip-{sha[:16]}", "clip", [(sha, f)]) for sha, f in videos]


def _read_manifest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        man = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"data cache: {path} is unreadable ({exc}); delete the folder {path.parent} to rebuild it") \
            from exc
    if not isinstance(man, dict) or man.get("format") != FORMAT_VERSION or not isinstance(man.get("shards"), dict):
        raise DatasetError(f"data cache: {path} is not a manifest of format {FORMAT_VERSION}; delete the folder "
                           f"{path.parent} to rebuild it")
    return man


def _write_manifest(path: Path, man: dict[str, Any]) -> None:
    text = json.dumps(man, indent=1)
    atomic_write(path, lambda tmp: tmp.write_text(text))


def _build(job: _Job, folder: Path, settings: TupleSettings, threads: int = 1) -> dict[str, Any]:
    """Make and write one shard (a clip's flows on ``threads`` threads); its manifest entry."""
    t0 = time.perf_counter()
    skipped: dict[str, str]
    if job.kind == "stills":
        arrays, skipped = _stills_shard(job.files, settings)
    else:
        made = _clip_shard(job.files[0][1], settings, threads)
        arrays, skipped = ({}, {str(job.files[0][1]): made}) if isinstance(made, str) else (made, {})
    entry: dict[str, Any] = {"kind": job.kind, "sources": [str(f) for _, f in job.files], "skipped": skipped}
    if arrays:
        path = folder / f"{job.name}.safetensors"
        # safetensors writes an array's memory as it lies: C order first (np.stack keeps a transposed layout)
        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        atomic_write(path, lambda tmp: save_file(arrays, str(tmp), metadata={"key": folder.name}))
        entry.update(file=path.name, sha256=_sha256(path), bytes=path.stat().st_size)
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    return entry


def _load_shard(folder: Path, entry: dict[str, Any]) -> dict[str, np.ndarray]:
    path = folder / entry["file"]
    hint = f"delete {path} and train again to rebuild it"
    if not path.is_file():
        raise DatasetError(f"data cache: shard {path} is missing; {hint}")
    if _sha256(path) != entry.get("sha256"):
        raise DatasetError(f"data cache: shard {path} is corrupted (its SHA-256 differs from the manifest); {hint}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:  # pragma: no cover - the hash matched a file we wrote
        raise DatasetError(f"data cache: shard {path} is unreadable ({exc}); {hint}") from exc


def open_data_cache(paths: Iterable[str | os.PathLike[str]], settings: TupleSettings,
                    root: str | os.PathLike[str] | None = None, workers: int | None = None,
                    progress: Callable[[str], None] | None = None) -> CachedData:
    """Load the training data of ``paths`` from its cache folder, building (or finishing) it first.

    :param paths: files or folders (searched recursively) of images and videos.
    :param settings: :class:`TupleSettings`.
    :param root: cache root (default :func:`default_cache_root`); the data goes to ``root/<key>``.
    :param workers: threads building shards (default: the CPU count; decoding and DIS release the GIL).
    :param progress: called with one line per finished shard.
    :returns: :class:`CachedData` (host arrays).
    :raises DatasetError: no paths, a missing or unreadable path, no usable image or video (names what was
        searched), a cache folder that cannot be written, or a damaged manifest or shard (names it and says
        what to delete).
    """
    files = [Path(p) for p in paths]
    if not files:
        raise DatasetError("data: no dataset folders or files given")
    h, w = settings.size
    image_files, video_files = _list_files(files)
    if not image_files and not video_files:
        raise DatasetError(
            f"data: no usable frames in {', '.join(map(str, files))}: need images ({', '.join(sorted(IMAGE_SUFFIXES))}) "
            f"or videos ({', '.join(sorted(VIDEO_SUFFIXES))}) of at least {w}x{h} pixels")
    images, videos = _by_content(image_files), _by_content(video_files)
    key = digest(settings.key_json(), *[sha for sha, _ in images], "videos", *[sha for sha, _ in videos])
    folder = Path(root).expanduser() if root is not None else default_cache_root()
    folder = folder / key
    manifest_path = folder / MANIFEST
    man = _read_manifest(manifest_path) or {"format": FORMAT_VERSION, "key": key, "settings": json.loads(settings.key_json()),
                                            "shards": {}, "complete": False}
    jobs = _jobs(images, videos)
    pending = [j for j in jobs if j.name not in man["shards"]
               or ("file" in man["shards"][j.name] and not (folder / man["shards"][j.name]["file"]).is_file())]
    if pending:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"data cache: cannot create {folder} ({exc.strerror or exc})") from exc
        man["complete"] = False
        cores = workers or os.cpu_count() or 1
        n = max(1, min(len(pending), cores))
        # the clips take longest: their frame pairs share the cores the shards leave free
        per_clip = max(1, cores // max(1, sum(j.kind == "clip" for j in pending)))
        log.info("building the training-data cache %s: %d shard(s), %d thread(s)", folder, len(pending), n)
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the threads here share the cores; torch's own pool would oversubscribe them
        try:
            with ThreadPoolExecutor(n) as pool:
                futures = {pool.submit(_build, j, folder, settings, per_clip): j for j in pending}
                for fut in as_completed(futures):
                    job = futures[fut]
                    man["shards"][job.name] = fut.result()
                    _write_manifest(manifest_path, man)
                    if progress is not None:
                        progress(f"data cache: {job.name} ({man['shards'][job.name]['seconds']} s)")
        except OSError as exc:
            raise DatasetError(f"data cache: cannot write to {folder} ({exc.strerror or exc})") from exc
        finally:
            torch.set_num_threads(torch_threads)
    if not man.get("complete"):
        man["complete"] = True
        _write_manifest(manifest_path, man)
    return _load(folder, key, jobs, man, files, settings)


def _load(folder: Path, key: str, jobs: list[_Job], man: dict[str, Any], paths: list[Path],
          settings: TupleSettings) -> CachedData:
    stills: list[np.ndarray] = []
    clip_stills: list[np.ndarray] = []
    clips: list[ClipTuples] = []
    skipped: dict[str, str] = {}
    for job in jobs:
        entry = man["shards"][job.name]
        skipped.update(entry.get("skipped", {}))
        if "file" not in entry:
            continue
        arrays = _load_shard(folder, entry)
        if job.kind == "stills":
            stills += [arrays[k] for k in sorted(arrays)]
        else:
            clips.append(ClipTuples(job.files[0][1].name, arrays["frames"], arrays["flows"], arrays["masks"]))
            clip_stills += list(arrays["stills"])
    h, w = settings.size
    if not stills and not clips:
        why = "; ".join(f"{Path(k).name}: {v}" for k, v in list(skipped.items())[:5])
        raise DatasetError(
            f"data: no usable frames in {', '.join(map(str, paths))}: need images ({', '.join(sorted(IMAGE_SUFFIXES))}) "
            f"or videos ({', '.join(sorted(VIDEO_SUFFIXES))}) of at least {w}x{h} pixels"
            + (f" and {settings.length} frames" if any(j.kind == "clip" for j in jobs) else "")
            + (f" (skipped {why})" if why else ""))
    sources = {"images": [str(f) for job in jobs if job.kind == "stills" for _, f in job.files],
               "videos": [str(f) for job in jobs if job.kind == "clip" for _, f in job.files],
               "real_tuples": sum(c.frames.shape[0] for c in clips), "stills": len(stills) + len(clip_stills),
               "skipped": skipped, "cache_key": key}
    return CachedData(key, folder, stills + clip_stills, clips, sources)
