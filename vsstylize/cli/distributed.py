"""Rendering across processes and machines on a Ray cluster (``vsstylize run --ray``, :func:`render_on_ray`).

A 90-minute film is about 130,000 frames, and the optimization method takes seconds per frame on a GPU, so one
process needs days. The frames split into *units* that can be rendered independently (:func:`plan_units`): the
shots (chains restart at scene cuts), the bounded chains of ``max_chain_length`` (each starts from its own
warm-up), the chunks of ``multipass`` without ``overlap_chunks``, blocks of frames for the per-frame methods.
Each unit runs as a Ray task — one GPU each when the cluster has GPUs, ``threads`` CPU cores otherwise — that
builds the same graph and requests the unit's frames in order; the frames go into the content-addressed render
cache (:mod:`vsstylize.media.cache`) on a folder every machine mounts. The driver encodes the frames in order as the
units complete (reading the cache entries the workers name, ``StylizeCacheEntry``), with one progress bar over
all workers.

* **Same frames as one process**: a unit's frames depend only on the settings, the cuts and the compute
  environment (device, CPU threads, torch version; :class:`vsstylize.media.frames.ComputeEnvironment`, part of every cache
  key). A worker runs with ``threads`` torch threads, so a single-process render with as many threads
  (``torch.set_num_threads``) gives bit-identical frames.
* **Retries**: a unit whose worker dies (killed, out of memory, machine lost) is retried by Ray (``max_retries``)
  and resumes from the frames already in the cache (atomic writes: no half-written entry; the temporary file of a
  write the kill interrupted goes when the retry writes that entry, :func:`vsstylize.media.cache.atomic_write`).
* **Shared cache**: the driver writes a token file into the cache folder; a worker that cannot see it stops
  with an error saying the folder is not shared.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import vapoursynth as vs
from tqdm import tqdm

from ..media.cache import PROP_CACHE_ENTRY, PROP_CACHE_INDEX, atomic_write
from ..media.compact import read_frame_png
from ..media.encode import ENCODER_FORMAT
from ..media.frames import from_rgbs, to_rgbs

__all__ = ["ClusterError", "Job", "UnitResult", "plan_units", "render_on_ray"]

#: Frames per unit of the per-frame methods (every frame is independent).
INDEPENDENT_UNIT = 8
_TOKENS = ".vsstylize-cluster"


class ClusterError(Exception):
    """A Ray render that cannot run: unreachable cluster, a cache folder the workers do not share, a worker
    with another vsstylize, a unit that failed. One line, naming what to change."""


def plan_units(num_frames: int, cuts: Sequence[int] = (), *, chain_length: int | None = None,
               chunk: int | None = None, independent: bool = False) -> list[tuple[int, int]]:
    """Split ``[0, num_frames)`` into units that render independently.

    :param cuts: first frames of shots (chains restart there).
    :param chain_length: ``max_chain_length`` of bounded chains: units also start at its multiples.
    :param chunk: ``max_shot_length`` of ``multipass`` with ``overlap_chunks=False``: units also start at its
        multiples (with overlap, chunks of a shot depend on each other and the shot is the unit).
    :param independent: every frame is independent (``flowfree``): units of :data:`INDEPENDENT_UNIT` frames.
    :returns: ``[(first, end), ...]`` covering the frames in order.
    :raises ValueError: a cut out of range, a bad length.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    starts = {0}
    for cut in cuts:
        if not 0 <= cut < num_frames:
            raise ValueError(f"cut {cut} is out of range for {num_frames} frames")
        starts.add(int(cut))
    for step in (chain_length, chunk, INDEPENDENT_UNIT if independent else None):
        if step is not None:
            if step < 1:
                raise ValueError(f"unit lengths must be >= 1, got {step}")
            starts.update(range(0, num_frames, step))
    ordered = sorted(starts)
    return list(zip(ordered, [*ordered[1:], num_frames]))


@dataclass(frozen=True)
class Job:
    """What every worker needs: a picklable ``build() -> stylized clip`` (with ``cache_dir`` = the shared cache),
    the cache folder, torch threads per worker, the token of the shared-cache check and the driver's vsstylize.

    :ivar build: builds the stylized clip (RGBS) in the worker; its frames must come from the disk cache
        (``StylizeCacheEntry``), i.e. ``stylize(..., cache_dir=cache_dir)``.
    :ivar cache_dir: the shared cache folder (the same path on every machine).
    :ivar threads: torch intra-op threads of a CPU worker (recorded in the cache keys).
    """

    build: Callable[[], vs.VideoNode]
    cache_dir: str
    threads: int = 1
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: str = ""


@dataclass(frozen=True)
class UnitResult:
    """A finished unit: its frames' cache entries ``(entry below the cache folder, row)`` and where it ran."""

    first: int
    entries: list[tuple[str, int]]
    host: str
    pid: int


_GRAPHS: dict[str, vs.VideoNode] = {}  # per worker process: the job's graph, built once


def _render_unit(job: Job, first: int, end: int, progress: Any) -> UnitResult:
    """The Ray task: check the cache is shared and vsstylize matches, build the graph once per process, request
    the unit's frames in order (they land in the cache) and return their entries."""
    import torch

    import vsstylize

    host = socket.gethostname()
    if job.version and vsstylize.__version__ != job.version:
        raise ClusterError(f"worker on {host} runs vsstylize {vsstylize.__version__} from {vsstylize.__file__}, the "
                           f"driver {job.version}: install the same version on every machine")
    token = Path(job.cache_dir) / _TOKENS / job.token
    if not token.is_file():
        raise ClusterError(f"the cache folder {job.cache_dir!r} is not shared: the worker on {host} does not see "
                           f"{str(token)!r}, which the driver wrote; put the cache on a folder every machine mounts "
                           "at the same path (NFS, a cluster file system)")
    torch.set_num_threads(job.threads)
    clip = _GRAPHS.get(job.token)
    if clip is None:
        clip = _GRAPHS[job.token] = job.build()
    entries = []
    step = max(1, (end - first) // 10)
    for n in range(first, end):
        frame = clip.get_frame(n)
        done = n - first + 1
        if done % step == 0 and n < end - 1:  # progress: lines by unit (the workers' bars are off, see _connect)
            print(f"unit {first}:{end}: {done}/{end - first} frames", flush=True)  # the last one: the driver's
        entry = frame.props.get(PROP_CACHE_ENTRY)
        if entry is None:
            raise ClusterError(f"frame {n} did not come from the disk cache: build() must stylize with "
                               f"cache_dir={job.cache_dir!r}")
        entries.append((entry.decode() if isinstance(entry, bytes) else str(entry),
                        int(frame.props.get(PROP_CACHE_INDEX, 0))))
        progress.add.remote(1)
    return UnitResult(first, entries, host, os.getpid())


class _Progress:
    """Ray actor counting the frames the workers finished (one progress bar over all of them)."""

    def __init__(self) -> None:
        self.done = 0

    def add(self, count: int) -> None:
        self.done += count

    def count(self) -> int:
        return self.done


def _check_address(address: str) -> None:
    """Fail fast with one line when ``host:port`` does not answer (``ray.init`` would wait and print pages)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address!r} ({exc.strerror or exc}); start one with "
                           "`ray start --head` on the head machine, or leave the address out for a local "
                           "cluster") from None


def _connect(address: str | None, workers: int | None, threads: int) -> None:
    if address is None:  # a local cluster talks over loopback only (Ray's single-machine mode, before it loads)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    env = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
    env["TQDM_DISABLE"] = "1"  # workers' progress bars would be interleaved with the driver's; they print unit lines
    options: dict[str, Any] = {"runtime_env": {"env_vars": env}, "include_dashboard": False,
                               "logging_level": "ERROR", "log_to_driver": True}
    if address is None:  # a local cluster: loopback only
        options["num_cpus"] = (workers or max(1, (os.cpu_count() or 1) // threads)) * threads
        options["address"] = "local"  # a new cluster, never one left running
    else:
        _check_address(address)
        options["address"] = address
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {str(exc).splitlines()[0]}") from None


def _cause(exc: BaseException) -> str:
    """The first line of a task's error (RayTaskError wraps the worker's exception)."""
    cause = getattr(exc, "cause", None) or exc
    return str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__


class _Reader:
    """Frames of finished units, read from the cache entries the workers named."""

    def __init__(self, cache_dir: str, height: int) -> None:
        self.root = Path(cache_dir)
        self.height = height
        self.entries: dict[int, tuple[str, int]] = {}

    @functools.lru_cache(maxsize=2)  # noqa: B019 (a multipass entry holds a whole shot: read it once)
    def _load(self, entry: str) -> np.ndarray:
        try:
            return read_frame_png(self.root / entry)[0]
        except (OSError, ValueError) as exc:
            raise ClusterError(f"cannot read {entry!r} from the cache folder {str(self.root)!r} ({exc}): is it "
                               "the folder the workers write to?") from None

    def frame(self, n: int) -> np.ndarray:
        entry, row = self.entries[n]
        image = self._load(entry)
        return image[:, row * self.height:(row + 1) * self.height]


Encode = Callable[[vs.VideoNode, Path, Iterator[vs.VideoFrame | None], Callable[[], int]], float]


def _default_encode(clip: vs.VideoNode, output: Path, frames: Iterator[vs.VideoFrame | None],
                    done: Callable[[], int]) -> float:
    from ..media.encode import render

    return render(clip, output, desc="stylize (ray)", frames=frames, done=done)


def render_on_ray(job: Job, units: Sequence[tuple[int, int]], template: vs.VideoNode, output: str | os.PathLike[str],
                  encode: Encode | None = None, *, matrix: int | str | None = None, address: str | None = None,
                  workers: int | None = None, max_retries: int = 3, prune: bool = False) -> dict[str, float]:
    """Render ``units`` of ``job`` as Ray tasks and encode the frames in order as the units complete.

    :param job: the :class:`Job`.
    :param units: ``[(first, end), ...]`` (:func:`plan_units`), covering the clip in order.
    :param template: the clip the workers stylize (the source at the output's size): its size, length, frame
        rate, format and frame properties; the stylized frames are converted from it as ``vsstylize.stylize``
        does with ``output_format=YUV420P8`` (:func:`vsstylize.media.frames.from_rgbs`), so the encoded frames and
        colour tags equal a single-process render's.
    :param matrix: the ``matrix`` option the workers stylize with (``None``: the frames' ``_Matrix``).
    :param output: the video file.
    :param encode: ``encode(yuv_clip, output, frames, done) -> seconds per frame``: writes the frames of the
        iterator (``None`` while waiting: refresh the progress bar from ``done()``, frames finished by all workers);
        default :func:`vsstylize.media.encode.render` (x264, CRF 18, a progress bar).

    Example (every worker runs ``build``, so it must be importable there, e.g. a module-level function)::

        def build():
            src = vs.core.bs.VideoSource("/shared/film.mp4")
            rgb = vsstylize.scenes(vs.core.resize.Bicubic(src, 960, 400, format=vs.RGBS, matrix_in_s="709"), CUTS)
            return vsstylize.stylize(rgb, "starry_night", cache_dir="/shared/cache", max_chain_length=100)

        render_on_ray(Job(build, "/shared/cache"), plan_units(NUM_FRAMES, CUTS, chain_length=100), TEMPLATE,
                      "out.mp4", address="HEAD_IP:6379")
    :param address: a running cluster (``ray start --head``; ``"auto"``: the local one), or ``None`` to start a
        local one with ``workers`` worker slots.
    :param workers: local cluster: concurrent units (default: CPU cores / ``job.threads``).
    :param max_retries: retries of a unit whose worker died.
    :param prune: remove a unit's stylized-frame entries once it is encoded (finished shots).
    :returns: ``{"seconds": wall time, "workers": ..., "gpus": ...}``.
    :raises ClusterError: an unreachable cluster, a cache folder the workers do not share, a unit that failed
        (its error), retries exhausted.
    """
    import ray

    _connect(address, workers, job.threads)
    cache = Path(job.cache_dir)
    token = cache / _TOKENS / job.token
    atomic_write(token, lambda p: p.write_text(job.token))
    t0 = time.perf_counter()
    try:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        resources = {"num_gpus": 1, "num_cpus": 1} if gpus > 0 else {"num_cpus": job.threads}
        task: Any = ray.remote(_render_unit).options(max_retries=max_retries, **resources)
        progress: Any = ray.remote(_Progress).options(num_cpus=0).remote()
        pending = {first: task.remote(job, first, end, progress) for first, end in units}
        reader = _Reader(job.cache_dir, template.height)

        def load(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
            out = f.copy()
            image = reader.frame(n)
            for p in range(3):
                np.copyto(np.asarray(out[p]), image[p])
            return out

        rgbs = to_rgbs(template, "render_on_ray", "template", matrix=matrix)  # the props the chain's frames carry
        yuv = from_rgbs(vs.core.std.ModifyFrame(rgbs, rgbs, load), template, "render_on_ray", matrix, ENCODER_FORMAT)

        def frames() -> Iterator[vs.VideoFrame | None]:
            for first, end in units:
                ref = pending[first]
                while not ray.wait([ref], timeout=0.5)[0]:
                    yield None
                try:
                    result: UnitResult = ray.get(ref)
                except Exception as exc:
                    raise ClusterError(f"frames {first}-{end - 1} failed: {_cause(exc)}") from None
                reader.entries.update(zip(range(first, end), result.entries))
                # the unit's last line comes from here: Ray streams the workers' lines with a lag, and the driver
                # may be done (and Ray shut down) before a worker's last line arrived
                tqdm.write(f"unit {first}:{end}: {end - first}/{end - first} frames (on {result.host})", file=sys.stderr)
                for n in range(first, end):
                    yield yuv.get_frame(n)
                if prune:  # a finished unit's frames are encoded: its entries are no longer needed
                    reader._load.cache_clear()
                    for entry in dict.fromkeys(e for e, _ in result.entries):
                        (cache / entry).unlink(missing_ok=True)

        def done() -> int:
            return int(ray.get(progress.count.remote()))

        (encode or _default_encode)(yuv, Path(output), frames(), done)
        return {"seconds": time.perf_counter() - t0, "gpus": gpus,
                "workers": float(ray.cluster_resources().get("CPU", 0) // (1 if gpus else job.threads))}
    finally:
        token.unlink(missing_ok=True)
        ray.shutdown()
