"""The recursive graph shared by every video method: frame n depends on stylized frames n - j.

Ruder et al.'s methods stylize frames sequentially: frame ``n`` uses the stylized frames ``n - j`` for
``j`` in the set J (J = {1} short-term, e.g. {1, 10, 20, 40} long-term). VapourSynth requests frames in
any order (vspipe prefetches in parallel, previewers seek), so the result of frame ``n`` is defined by
the chain from the last *chain start* and computed the same whatever the access order. Chains start at
frame 0 and at every frame whose ``_SceneChangePrev`` property is set (a scene cut, :func:`vsstylize.scenes`).

*Bounded chains* (``max_chain_length=K``, ``chain_warmup=W``): a chain also restarts at every multiple ``b``
of ``K`` that is not a scene cut. Its first frame is not stylized from scratch: a *warm-up* chain starts at
``b - W`` (or at a scene cut inside the warm-up) and runs up to ``b - 1``; frame ``b`` continues it, and the
warm-up outputs are discarded (they live in a second lane of the graph, :data:`WARM`, beside the output
lane :data:`MAIN`). Frame ``n`` then depends on at most ``K + W`` frames, so a previewer reaches any frame in
bounded time and the units ``[b, b + K)`` can be rendered independently (:mod:`vsstylize.cli.distributed`). The
boundaries are multiples of ``K`` counted from frame 0, so the result is a pure function of the settings and
the cuts. ``W = 0`` restarts the chain at ``b`` like a scene cut.

* ``out = FrameEval(src, select, prop_src=src)`` (and ``warm`` for the warm-up lane); ``prev_j = out[0] * j +
  out`` so ``prev_j[n] = out[n - j]``;
* ``select(n)`` returns a ``ModifyFrame`` over the inputs of frame ``n`` (source, ``prev_j`` and the clips of
  the flows and reliabilities, :class:`TemporalInputs`) — at a chain start over the source alone, so frame 0
  never waits on itself. The predecessor ``n - 1`` is requested first (nested ``FrameEval``, with the flow pair
  of ``n`` so that it is computed meanwhile): its ``StylizeChainStart`` tells which ``n - j`` belong to the
  chain, so no frame of an earlier shot or unit is ever requested;
* results are rounded to what the cache stores (:func:`vsstylize.media.compact.round_frame`, 8 bits) — always, so a
  chain resumed from the cache equals an uninterrupted one — and kept in a bounded in-memory cache of tensors on
  the compute device, backed by an optional on-disk cache (8-bit PNG per frame), so each frame is computed once
  and a seek re-walks the chain only down to the nearest cached frame.

A request for frame ``n`` whose ``k > 1`` predecessors are neither cached in memory nor already requested
(a previewer seeking far ahead, ``vspipe --start``) shows a progress bar on stderr, "computing frames
a..n of the chain", until frame ``n`` is done (frames found in the on-disk cache count as done when they are
loaded; warm-up frames of bounded chains count too). Rendering in order (vspipe) requests each frame after its
predecessor and shows none.

Each output frame carries ``StylizeChainStart`` (the index of its chain's first frame) and, with a disk cache,
``StylizeCacheEntry`` (the entry's path below the cache folder, :data:`vsstylize.media.cache.PROP_CACHE_ENTRY`).
Cache keys include the compute environment (:class:`vsstylize.media.frames.ComputeEnvironment`: device, CPU threads,
torch version), since the optimization's float results depend on it; each frame is computed with the thread
count of its key, whichever thread VapourSynth runs it on.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch
import vapoursynth as vs
from tqdm import tqdm

from ..media.cache import PROP_CACHE_ENTRY, DiskCache, digest
from ..media.compact import read_frame_png, round_frame, write_frame_png
from ..media.frames import ComputeEnvironment, DeviceFrames, frame_to_tensor, tensor_to_frame
from ..media.interrupt import check_interrupt
from ..opticalflow.clips import frame_flow_tensor
from ..opticalflow.pairs import FlowPair, FlowPairs
from ..options import StylizeOptions

__all__ = ["MAIN", "PROP_CHAIN_START", "PROP_SCENE_CHANGE", "WARM", "ChainBounds", "ClipInputs", "DeviceInputs",
           "FrameInputs", "RecursiveFilter", "TemporalInputs", "read_entry"]

PROP_CHAIN_START = "StylizeChainStart"
PROP_SCENE_CHANGE = "_SceneChangePrev"

Lane = Literal["main", "warm"]
#: The output lane and the warm-up lane of bounded chains.
MAIN: Lane = "main"
WARM: Lane = "warm"


@dataclass(frozen=True)
class ChainBounds:
    """Bounded chains: a chain restarts at every multiple of ``length`` after ``warmup`` frames of warm-up.

    :ivar length: ``K >= 2`` frames.
    :ivar warmup: ``0 <= W <= K`` frames.
    """

    length: int
    warmup: int

    def is_boundary(self, n: int) -> bool:
        """Frame ``n > 0`` is a multiple of ``K``."""
        return n > 0 and n % self.length == 0

    def unit_start(self, n: int) -> int:
        """The last boundary (or 0) at or before ``n``."""
        return n - n % self.length

    def warmup_start(self, m: int) -> int:
        """First frame of the warm-up of the boundary after ``m`` (the warm-up region is ``[b - W, b)``)."""
        return self.unit_start(m) + self.length - self.warmup

    @classmethod
    def of(cls, options: StylizeOptions) -> ChainBounds | None:
        """The bounds of ``max_chain_length`` / ``chain_warmup`` (``None`` when chains are unbounded)."""
        if options.max_chain_length is None:
            return None
        return cls(options.max_chain_length, options.chain_warmup)


@dataclass
class FrameInputs:
    """Everything a method needs to stylize frame ``n``.

    :ivar n: frame number.
    :ivar content: ``(1, 3, H, W)`` RGB in [0, 1] on the compute device.
    :ivar chain_start: first frame of ``n``'s chain (``n`` itself at a chain start).
    :ivar previous: ``j -> (1, 3, H, W)`` stylized frame ``n - j``, for each ``j`` in J with
        ``n - j >= chain_start`` (empty at a chain start).
    :ivar flows: ``j -> (1, 2, H, W)`` backward flow ``n -> n - j`` in pixels, same keys as ``previous``.
    :ivar weights: ``j -> (1, 1, H, W)`` reliability ``c^(n-j, n)`` in [0, 1], same keys.
    """

    n: int
    content: torch.Tensor
    chain_start: int
    previous: dict[int, torch.Tensor] = field(default_factory=dict)
    flows: dict[int, torch.Tensor] = field(default_factory=dict)
    weights: dict[int, torch.Tensor] = field(default_factory=dict)


Compute = Callable[[FrameInputs], torch.Tensor]


class TemporalInputs(Protocol):
    """Where the backward flow ``n -> n - j`` and its reliability of a chain step come from."""

    def clips(self, j: int) -> list[vs.VideoNode]:
        """Clips the step of frame ``n`` requests for distance ``j`` (their frame ``n``)."""
        ...

    def ahead(self) -> list[vs.VideoNode]:
        """Clips requested with the predecessor (their frame ``n``), so they are computed while the chain works on
        frame ``n - 1``; requesting them again must not compute twice."""
        ...

    def tensors(self, n: int, j: int, frames: list[vs.VideoFrame], device: torch.device) -> FlowPair:
        """``(flow (1, 2, H, W), c (1, 1, H, W))`` of frame ``n`` and ``j``, from the frames of :meth:`clips`."""
        ...


class ClipInputs:
    """Flow and reliability clips (:func:`vsstylize.flow`, :func:`vsstylize.read_flow` ...): ``flows[j]`` the backward
    flow clip with step ``j``, ``weights[j]`` its reliability clip."""

    def __init__(self, flows: Mapping[int, vs.VideoNode], weights: Mapping[int, vs.VideoNode]) -> None:
        self.flows, self.weights = dict(flows), dict(weights)

    def clips(self, j: int) -> list[vs.VideoNode]:
        return [self.flows[j], self.weights[j]]

    def ahead(self) -> list[vs.VideoNode]:
        return []  # a flow clip requested twice would be computed twice

    def tensors(self, n: int, j: int, frames: list[vs.VideoFrame], device: torch.device) -> FlowPair:
        return frame_flow_tensor(frames[0], device), frame_to_tensor(frames[1], device)


class DeviceInputs:
    """Flow pairs made on the compute device beside the chain (:class:`~vsstylize.opticalflow.pairs.FlowPairs`)."""

    def __init__(self, pairs: Mapping[int, FlowPairs]) -> None:
        self.pairs = dict(pairs)

    def clips(self, j: int) -> list[vs.VideoNode]:
        return self.pairs[j].clips()

    def ahead(self) -> list[vs.VideoNode]:
        return [self.pairs[1].token]

    def tensors(self, n: int, j: int, frames: list[vs.VideoFrame], device: torch.device) -> FlowPair:
        return self.pairs[j].take(n, frames)


@dataclass
class _Walk:
    """A chain walk in progress: the frames (lane, number) computed for a request of ``target``."""

    frames: set[tuple[Lane, int]]
    target: tuple[Lane, int]
    bar: tqdm


def read_entry(path: Path) -> tuple[np.ndarray, int]:
    """A stylized frame of the disk cache: ``((3, H, W) float32 RGB in [0, 1], chain start)``.

    :raises ValueError: a damaged entry or one without its chain start.
    """
    image, text = read_frame_png(path)
    if "chain_start" not in text:
        raise ValueError(f"{str(path)!r} has no chain_start")
    return image, int(text["chain_start"])


class RecursiveFilter:
    """Builds and serves the recursive graph for one filter instance.

    :param func: public filter name (errors, progress).
    :param src: RGBS source clip (content frames; its props mark scene cuts).
    :param indices: the set J (sorted, containing 1) or ``()`` when frames are independent.
    :param temporal: the flows and reliabilities of every ``j`` in J, or ``None`` when the method needs none.
    :param compute: stylizes one frame from its :class:`FrameInputs`; returns ``(1, 3, H, W)`` in [0, 1].
    :param device: compute device of the cached tensors.
    :param disk_cache: optional :class:`DiskCache` for results (8-bit PNG), keyed by ``key_prefix`` (a digest
        of every parameter), the compute environment, the lane, the frame number and the source frame's content.
    :param key_prefix: digest of the parameters.
    :param start_key_prefix: digest of the parameters a chain start (frame 0, a scene cut, every frame
        of a per-frame method) depends on; default ``key_prefix``. With it, settings that differ only in
        what later frames do (temporal weight, later-frame init ...) share their first frames' cache
        entries.
    :param bounds: bounded chains (:class:`ChainBounds`) or ``None``.
    :param frames: the source frames on the device (shared with :class:`DeviceInputs`; default its own).
    """

    def __init__(self, func: str, src: vs.VideoNode, indices: Sequence[int], temporal: TemporalInputs | None,
                 compute: Compute, device: torch.device, disk_cache: DiskCache | None, key_prefix: str,
                 start_key_prefix: str | None = None, bounds: ChainBounds | None = None,
                 frames: DeviceFrames | None = None) -> None:
        self.func = func
        self.src = src
        self.indices = tuple(indices)
        self.temporal = temporal
        self.compute = compute
        self.device = device
        self.frames = frames if frames is not None else DeviceFrames(device, capacity=4)
        self.disk_cache = disk_cache
        self.bounds = bounds if self.indices else None
        self.environment = ComputeEnvironment(device)  # in the keys, and set up for every frame computed
        environment = self.environment.key()
        self.key_prefix = digest(key_prefix, environment, repr(self.bounds))
        self.start_key_prefix = digest(start_key_prefix if start_key_prefix is not None else key_prefix, environment)
        self.capacity = 2 * (max(self.indices, default=0) + 2)
        self._memory: OrderedDict[tuple[Lane, int], tuple[torch.Tensor, int]] = OrderedDict()
        self._lock = threading.RLock()  # guards the in-memory cache (held briefly)
        # one stylization at a time along a chain (each frame needs the one before); independent frames (no set J)
        # two at a time, so one frame's single-threaded part (guided upsampling, PNG) overlaps the next one's network:
        # 0.92x the wall time of a 1280x720 flow-free render, the same bytes (vsstylize_bench.suites.arbitrary_speed)
        self._compute_lock: threading.Semaphore | threading.Lock = \
            threading.Semaphore(2) if not self.indices else threading.Lock()
        self.computed = 0  # frames actually stylized (not served from a cache)
        self._pending: set[tuple[Lane, int]] = set()  # requested and not done yet, and those a walk will compute
        self._walks: list[_Walk] = []
        self.out = vs.core.std.FrameEval(src, functools.partial(self._select, MAIN), prop_src=src)
        lanes = {MAIN: self.out}
        if self.bounds is not None and self.bounds.warmup > 0:
            lanes[WARM] = vs.core.std.FrameEval(src, functools.partial(self._select, WARM), prop_src=src)
        self.prev = {(lane, j): clip[0] * j + clip for lane, clip in lanes.items() for j in self.indices}

    # -- chains ---------------------------------------------------------------------------
    def _is_start(self, lane: Lane, n: int, f: vs.VideoFrame) -> bool:
        if n == 0 or not self.indices or bool(f.props.get(PROP_SCENE_CHANGE, 0)):
            return True
        b = self.bounds
        if b is None:
            return False
        if lane == MAIN:
            return b.is_boundary(n) and b.warmup == 0
        return n == b.warmup_start(n)

    def _lane_of(self, lane: Lane, n: int, j: int) -> Lane | None:
        """The lane holding frame ``n - j`` of the chain of frame ``n`` in ``lane`` (``None``: before any start)."""
        m, b = n - j, self.bounds
        if m < 0:
            return None
        if b is None:
            return MAIN
        if lane == MAIN:
            first = b.unit_start(n)
            if m >= first:
                return MAIN
            return WARM if b.warmup > 0 and first > 0 and m >= first - b.warmup else None
        return WARM if m >= b.warmup_start(n) else None

    # -- caches ---------------------------------------------------------------------------
    def _key(self, lane: Lane, n: int, frame: vs.VideoFrame, start: bool) -> str:
        planes = b"".join(np.ascontiguousarray(np.asarray(frame[p])).tobytes() for p in range(frame.format.num_planes))
        if start:
            return digest(self.start_key_prefix, str(n), planes)
        return digest(self.key_prefix, lane, str(n), planes)

    def _remember(self, lane: Lane, n: int, image: torch.Tensor, chain_start: int) -> None:
        with self._lock:
            self._memory[lane, n] = (image, chain_start)
            self._memory.move_to_end((lane, n))
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)

    def _lookup(self, lane: Lane, n: int, key: str | None) -> tuple[torch.Tensor, int] | None:
        with self._lock:
            hit = self._memory.get((lane, n))
            if hit is not None:
                self._memory.move_to_end((lane, n))
                return hit
        if self.disk_cache is None or key is None:
            return None
        entry = self.disk_cache.load(key, read_entry)
        if entry is None:
            return None
        image = torch.from_numpy(entry[0]).unsqueeze(0).to(self.device)
        self._remember(lane, n, image, entry[1])
        return image, entry[1]

    def _emit(self, image: torch.Tensor, chain_start: int, template: vs.VideoFrame, key: str | None) -> vs.VideoFrame:
        out = tensor_to_frame(image, template)
        out.props[PROP_CHAIN_START] = chain_start
        if key is not None and self.disk_cache is not None:
            out.props[PROP_CACHE_ENTRY] = self.disk_cache.entry_name(key)
        return out

    # -- progress of chain walks ------------------------------------------------------------
    def _announce(self, lane: Lane, n: int, start: bool) -> None:
        """Frame ``n`` of ``lane`` is requested and not cached: mark it pending; when ``k > 1`` frames of its chain
        before it are neither in memory nor pending, they will be computed first — show a bar for the walk."""
        with self._lock:
            if (lane, n) in self._pending:
                return
            frames = [(lane, n)]
            at, m = lane, n
            while not start:
                before = self._lane_of(at, m, 1)
                if before is None or (before, m - 1) in self._memory or (before, m - 1) in self._pending:
                    break
                at, m = before, m - 1
                frames.append((at, m))
            self._pending.update(frames)
            if len(frames) > 2:
                bar = tqdm(total=len(frames), unit="frame", file=sys.stderr, dynamic_ncols=True,
                           desc=f"vsstylize.{self.func}: computing frames {m}..{n} of the chain for frame {n}")
                self._walks.append(_Walk(set(frames), (lane, n), bar))

    def _done(self, lane: Lane, n: int) -> None:
        """Frame ``n`` of ``lane`` is computed or loaded: advance the walks that contain it, close those it ends
        (a scene cut may end a walk early: its bar closes with its target)."""
        with self._lock:
            self._pending.discard((lane, n))
            for walk in [w for w in self._walks if (lane, n) in w.frames]:
                walk.bar.update(1)
                if (lane, n) == walk.target:
                    walk.bar.close()
                    self._walks.remove(walk)
                    self._pending.difference_update(walk.frames)

    # -- graph ----------------------------------------------------------------------------
    def _select(self, lane: Lane, n: int, f: vs.VideoFrame) -> vs.VideoNode:
        start = self._is_start(lane, n, f)
        key = self._key(lane, n, f, start) if self.disk_cache is not None else None
        core = vs.core
        with self._lock:
            cached = (lane, n) in self._memory
        if cached or (key is not None and self.disk_cache is not None and self.disk_cache.path(key).is_file()):
            return core.std.ModifyFrame(self.src, self.src, lambda n, f: self._step(lane, n, [f], key, None))
        self._announce(lane, n, start)
        if start:
            return core.std.ModifyFrame(self.src, self.src, lambda n, f: self._step(lane, n, [f], key, n))
        lanes = {j: self._lane_of(lane, n, j) for j in self.indices}
        first = lanes[1]
        assert first is not None, (lane, n)

        def with_chain_start(n: int, f: list[vs.VideoFrame]) -> vs.VideoNode:
            chain_start = int(f[1].props[PROP_CHAIN_START])
            usable = [j for j in self.indices if lanes[j] is not None and n - j >= chain_start]
            clips = [self.src]
            clips += [self.prev[lanes[j], j] for j in usable]  # type: ignore[index]
            if self.temporal is not None:
                clips += [c for j in usable for c in self.temporal.clips(j)]
            return core.std.ModifyFrame(self.src, clips, lambda n, f: self._step(lane, n, f, key, chain_start,
                                                                                  usable, lanes))

        ahead = self.temporal.ahead() if self.temporal is not None else []
        return core.std.FrameEval(self.src, with_chain_start, prop_src=[self.src, self.prev[first, 1], *ahead])

    def _step(self, lane: Lane, n: int, frames: list[vs.VideoFrame], key: str | None, chain_start: int | None,
              usable: Sequence[int] = (), lanes: Mapping[int, Lane | None] | None = None) -> vs.VideoFrame:
        try:
            return self._stylized(lane, n, frames, key, chain_start, usable, lanes)
        finally:
            self._done(lane, n)

    def _stylized(self, lane: Lane, n: int, frames: list[vs.VideoFrame], key: str | None, chain_start: int | None,
                  usable: Sequence[int], lanes: Mapping[int, Lane | None] | None) -> vs.VideoFrame:
        with self._compute_lock:
            hit = self._lookup(lane, n, key)
            if hit is not None:
                return self._emit(hit[0], hit[1], frames[0], key)
            check_interrupt()  # stopped by `vsstylize run`'s signal handler: nothing more is computed or stored
            if chain_start is None:  # the cache entry vanished between select and step: recompute as a start
                chain_start = n
            content = self.frames.get(n, frames[0])
            if chain_start == n:
                inputs = FrameInputs(n=n, content=content, chain_start=n)
            else:
                inputs = self._gather(n, content, frames, chain_start, usable, lanes or {})
            # the values the cache stores are what the next frame sees, with or without a cache
            self.environment.apply()
            image = round_frame(self.compute(inputs).detach())
            with self._lock:
                self.computed += 1
            self._remember(lane, n, image, chain_start)
            if self.disk_cache is not None and key is not None:
                array = image[0].to("cpu", torch.float32).numpy()
                text = {"chain_start": str(chain_start)}
                self.disk_cache.store(key, lambda p: write_frame_png(p, array, text))
            return self._emit(image, chain_start, frames[0], key)

    def _gather(self, n: int, content: torch.Tensor, frames: list[vs.VideoFrame], chain_start: int,
                usable: Sequence[int], lanes: Mapping[int, Lane | None]) -> FrameInputs:
        k = len(usable)
        inputs = FrameInputs(n=n, content=content, chain_start=chain_start)
        offset = 1 + k
        for j, frame in zip(usable, frames[1 : 1 + k]):
            with self._lock:
                hit = self._memory.get((lanes[j], n - j))  # type: ignore[arg-type]
            inputs.previous[j] = hit[0] if hit is not None else frame_to_tensor(frame, self.device)
            if self.temporal is not None:
                own = len(self.temporal.clips(j))
                inputs.flows[j], inputs.weights[j] = self.temporal.tensors(n, j, frames[offset : offset + own],
                                                                           self.device)
                offset += own
        return inputs
