"""The recursive graph shared by every video method: frame n depends on stylized frames n - j.

Ruder et al.'s methods stylize frames sequentially: frame ``n`` uses the stylized frames ``n - j`` for
``j`` in the set J (J = {1} short-term, e.g. {1, 10, 20, 40} long-term). VapourSynth requests frames in
any order (vspipe prefetches in parallel, previewers seek), so the result of frame ``n`` is defined by
the chain from the last *chain start* — frame 0 or a frame whose ``_SceneChangePrev`` property is set —
and computed the same whatever the access order:

* ``out = FrameEval(src, select, prop_src=src)``; ``prev_j = out[0] * j + out`` so ``prev_j[n] = out[n - j]``;
* ``select(n)`` returns a ``ModifyFrame`` over the inputs of frame ``n`` (source, ``prev_j`` and the clips of
  the flows and reliabilities, :class:`TemporalInputs`) — or, at a chain start, over the source alone, so frame 0
  never waits on itself;
* results are kept in a bounded in-memory cache of tensors on the compute device (frame number ->
  stylized frame), backed by an optional on-disk cache, so each frame is computed once and a seek
  re-walks the chain only down to the nearest cached frame.

Each output frame carries ``StylizeChainStart`` (the index of its chain's first frame).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import vapoursynth as vs

from ..cache import DiskCache, digest
from ..frames import DeviceFrames, frame_to_tensor, tensor_to_frame
from ..opticalflow.clips import frame_flow_tensor
from ..opticalflow.pairs import FlowPair, FlowPairs

__all__ = ["PROP_CHAIN_START", "PROP_SCENE_CHANGE", "ClipInputs", "DeviceInputs", "FrameInputs", "RecursiveFilter",
           "TemporalInputs"]

PROP_CHAIN_START = "StylizeChainStart"
PROP_SCENE_CHANGE = "_SceneChangePrev"


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

    def tensors(self, n: int, j: int, frames: list[vs.VideoFrame], device: torch.device) -> FlowPair:
        return frame_flow_tensor(frames[0], device), frame_to_tensor(frames[1], device)


class DeviceInputs:
    """Flow pairs made on the compute device beside the chain (:class:`~vsstylize.opticalflow.pairs.FlowPairs`)."""

    def __init__(self, pairs: Mapping[int, FlowPairs]) -> None:
        self.pairs = dict(pairs)

    def clips(self, j: int) -> list[vs.VideoNode]:
        return self.pairs[j].clips()

    def tensors(self, n: int, j: int, frames: list[vs.VideoFrame], device: torch.device) -> FlowPair:
        return self.pairs[j].take(n, frames)


def _read_entry(path: Path) -> tuple[np.ndarray, int]:
    with np.load(path) as data:
        return data["image"], int(data["chain_start"])


class RecursiveFilter:
    """Builds and serves the recursive graph for one filter instance.

    :param func: public filter name (errors, progress).
    :param src: RGBS source clip (content frames; its props mark scene cuts).
    :param indices: the set J (sorted, containing 1) or ``()`` when frames are independent.
    :param temporal: the flows and reliabilities of every ``j`` in J, or ``None`` when the method needs none.
    :param compute: stylizes one frame from its :class:`FrameInputs`; returns ``(1, 3, H, W)`` in [0, 1].
    :param device: compute device of the cached tensors.
    :param disk_cache: optional :class:`DiskCache` for results (``.npz``), keyed by ``key_prefix``
        (a digest of every parameter), the frame number and the source frame's content.
    :param key_prefix: digest of the parameters.
    :param start_key_prefix: digest of the parameters a chain start (frame 0, a scene cut, every frame
        of a per-frame method) depends on; default ``key_prefix``. With it, settings that differ only in
        what later frames do (temporal weight, later-frame init ...) share their first frames' cache
        entries.
    :param frames: the source frames on the device (shared with :class:`DeviceInputs`; default its own).
    """

    def __init__(self, func: str, src: vs.VideoNode, indices: Sequence[int], temporal: TemporalInputs | None,
                 compute: Compute, device: torch.device, disk_cache: DiskCache | None, key_prefix: str,
                 start_key_prefix: str | None = None, frames: DeviceFrames | None = None) -> None:
        self.func = func
        self.src = src
        self.indices = tuple(indices)
        self.temporal = temporal
        self.compute = compute
        self.device = device
        self.frames = frames if frames is not None else DeviceFrames(device, capacity=4)
        self.disk_cache = disk_cache
        self.key_prefix = key_prefix
        self.start_key_prefix = start_key_prefix if start_key_prefix is not None else key_prefix
        self.capacity = max(self.indices, default=0) + 2
        self._memory: OrderedDict[int, tuple[torch.Tensor, int]] = OrderedDict()
        self._lock = threading.RLock()  # guards the in-memory cache (held briefly)
        self._compute_lock = threading.Lock()  # one stylization at a time (it uses every core anyway)
        self.computed = 0  # frames actually stylized (not served from a cache)
        self.out = vs.core.std.FrameEval(src, self._select, prop_src=src)
        self.prev = {j: self.out[0] * j + self.out for j in self.indices}

    # -- caches ---------------------------------------------------------------------------
    def _key(self, n: int, frame: vs.VideoFrame, start: bool) -> str:
        planes = b"".join(np.ascontiguousarray(np.asarray(frame[p])).tobytes() for p in range(frame.format.num_planes))
        return digest(self.start_key_prefix if start else self.key_prefix, str(n), planes)

    def _remember(self, n: int, image: torch.Tensor, chain_start: int) -> None:
        with self._lock:
            self._memory[n] = (image, chain_start)
            self._memory.move_to_end(n)
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)

    def _lookup(self, n: int, key: str | None) -> tuple[torch.Tensor, int] | None:
        with self._lock:
            hit = self._memory.get(n)
            if hit is not None:
                self._memory.move_to_end(n)
                return hit
        if self.disk_cache is None or key is None:
            return None
        entry = self.disk_cache.load(key, _read_entry)
        if entry is None:
            return None
        image = torch.from_numpy(entry[0]).unsqueeze(0).to(self.device)
        self._remember(n, image, entry[1])
        return image, entry[1]

    def _emit(self, image: torch.Tensor, chain_start: int, template: vs.VideoFrame) -> vs.VideoFrame:
        out = tensor_to_frame(image, template)
        out.props[PROP_CHAIN_START] = chain_start
        return out

    # -- graph ----------------------------------------------------------------------------
    def _select(self, n: int, f: vs.VideoFrame) -> vs.VideoNode:
        start = n == 0 or not self.indices or bool(f.props.get(PROP_SCENE_CHANGE, 0))
        key = self._key(n, f, start) if self.disk_cache is not None else None
        core = vs.core
        with self._lock:
            cached = n in self._memory
        if cached or (key is not None and self.disk_cache is not None and self.disk_cache.path(key).is_file()):
            return core.std.ModifyFrame(self.src, self.src, lambda n, f: self._step(n, [f], key, start=None))
        if start:
            return core.std.ModifyFrame(self.src, self.src, lambda n, f: self._step(n, [f], key, start=True))
        usable = [j for j in self.indices if n - j >= 0]
        clips = [self.src]
        clips += [self.prev[j] for j in usable]
        if self.temporal is not None:
            clips += [c for j in usable for c in self.temporal.clips(j)]
        return core.std.ModifyFrame(self.src, clips, lambda n, f: self._step(n, f, key, start=False, usable=usable))

    def _step(self, n: int, frames: list[vs.VideoFrame], key: str | None, start: bool | None,
              usable: Sequence[int] = ()) -> vs.VideoFrame:
        with self._compute_lock:
            hit = self._lookup(n, key)
            if hit is not None:
                return self._emit(hit[0], hit[1], frames[0])
            if start is None:  # the cache entry vanished between select and step: recompute as a start
                start = True
            content = self.frames.get(n, frames[0])
            if start:
                inputs = FrameInputs(n=n, content=content, chain_start=n)
            else:
                inputs = self._gather(n, content, frames, usable)
            image = self.compute(inputs).detach()
            self.computed += 1
            self._remember(n, image, inputs.chain_start)
            if self.disk_cache is not None and key is not None:
                array = image[0].to("cpu", torch.float32).numpy()
                chain_start = inputs.chain_start
                self.disk_cache.store(key, lambda p: np.savez(p, image=array, chain_start=np.int64(chain_start)))
            return self._emit(image, inputs.chain_start, frames[0])

    def _gather(self, n: int, content: torch.Tensor, frames: list[vs.VideoFrame], usable: Sequence[int]) -> FrameInputs:
        k = len(usable)
        prev_frames = frames[1 : 1 + k]
        chain_start = int(prev_frames[0].props[PROP_CHAIN_START]) if 1 in usable else n
        inputs = FrameInputs(n=n, content=content, chain_start=chain_start)
        offset = 1 + k
        for j, frame in zip(usable, prev_frames):
            own = len(self.temporal.clips(j)) if self.temporal is not None else 0
            temporal_frames, offset = frames[offset : offset + own], offset + own
            if n - j < chain_start:
                continue
            with self._lock:
                hit = self._memory.get(n - j)
            inputs.previous[j] = hit[0] if hit is not None else frame_to_tensor(frame, self.device)
            if self.temporal is not None:
                inputs.flows[j], inputs.weights[j] = self.temporal.tensors(n, j, temporal_frames, self.device)
        return inputs
