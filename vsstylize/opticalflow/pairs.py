"""Flow and reliability of frame pairs on the compute device, computed beside the recursive chain.

A chained method needs, for frame ``n`` and each distance ``j``, the backward flow ``n -> n - j`` and its
reliability ``c`` (Ruder et al. eq. 5-7, from the forward flow ``n - j -> n``). Neither depends on stylized
frames, so :class:`FlowPairs` computes them ahead of the chain: its *token clip* has one (tiny) frame per ``n``
whose request computes the pair and keeps the result on the device; the chain requests the token of frame ``n``
with its other inputs, so VapourSynth computes the flows of frames ``n + 1, n + 2, ...`` in its other threads
while the chain works on ``n`` (vspipe and previewers request several frames at once). Per pair:

* RAFT: both directions in one batched call on the device, from the frames as uploaded for the chain
  (:class:`~vsstylize.media.frames.DeviceFrames`: each frame crosses to the device once);
* OpenCV methods (DIS ...): both flows on the host from 8-bit luma, one upload of the pair;
* the consistency check on the device (:func:`~vsstylize.opticalflow.consistency.consistency_check_torch`).

With a flow cache the flows are read from / written to it in the entries of :func:`vsstylize.flow` (the same
keys, so the filter and the methods share entries; writing costs a copy to the host). Flows are rounded to
1/8 px (:func:`vsstylize.media.compact.round_flow`) with or without a cache, on the device for RAFT.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import torch
import vapoursynth as vs

from ..media.cache import DiskCache
from ..media.compact import round_flow
from ..media.frames import DeviceFrames
from .consistency import consistency_check_torch
from .estimators import FlowEngine, FlowSettings, estimator_array
from .raft import RaftEstimator

__all__ = ["FlowPair", "FlowPairs"]

FlowPair = tuple[torch.Tensor, torch.Tensor]
"""``(backward flow (1, 2, H, W) in pixels, reliability c (1, 1, H, W) in [0, 1])`` of frame ``n`` and ``n - j``."""


class FlowPairs:
    """The flow pairs ``(n, n - step)`` of an RGBS clip, on the compute device.

    :param rgb: the RGBS clip (the content of the chain).
    :param step: frame distance ``j``.
    :param settings: flow method and its settings (RAFT runs on ``settings.device``: give ``frames.device``).
    :param frames: the device frames shared with the chain.
    :param cache: optional flow cache (:func:`vsstylize.flow`'s entries).
    :raises ValueError, RuntimeError: an estimator that cannot be built (e.g. missing RAFT weights).
    """

    #: Pairs kept on the device until the chain takes them.
    CAPACITY = 32

    def __init__(self, rgb: vs.VideoNode, step: int, settings: FlowSettings, frames: DeviceFrames,
                 cache: DiskCache | None) -> None:
        self.step = step
        self.frames = frames
        self.device = frames.device
        self.engine = FlowEngine(settings, cache)
        raft = self.engine.estimator()
        self.raft = raft if isinstance(raft, RaftEstimator) else None
        self.source = rgb if settings.wants_rgb else vs.core.resize.Point(rgb, format=vs.GRAY8, matrix_s="709")
        length = rgb.num_frames
        self.partner = self.source[0] * step + self.source[: max(length - step, 0)] if step < length else self.source
        blank = vs.core.std.BlankClip(format=vs.GRAY8, width=8, height=8, length=length, keep=True)
        self.token = vs.core.std.ModifyFrame(blank, [blank, self.partner, self.source], self._token)
        self._pairs: OrderedDict[int, FlowPair] = OrderedDict()
        self._lock = threading.Lock()

    def clips(self) -> list[vs.VideoNode]:
        """The clips a chain step of frame ``n`` requests: the token (computes the pair ahead), then the partner
        frame ``n - step`` and frame ``n`` as the estimator reads them (to compute the pair if it is gone)."""
        return [self.token, self.partner, self.source]

    def _token(self, n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        with self._lock:
            done = n in self._pairs  # the chain requests the token ahead and again with the pair's frames
        if n >= self.step and not done:
            pair = self._compute(n, f[1], f[2])
            with self._lock:
                self._pairs[n] = pair
                while len(self._pairs) > self.CAPACITY:
                    self._pairs.popitem(last=False)
        return f[0]

    def take(self, n: int, frames: list[vs.VideoFrame]) -> FlowPair:
        """The pair of frame ``n >= step`` (computed now if the token's result is gone).

        :param frames: the frames of :meth:`clips` for ``n``.
        """
        with self._lock:
            pair = self._pairs.pop(n, None)
        return pair if pair is not None else self._compute(n, frames[1], frames[2])

    def _compute(self, n: int, partner: vs.VideoFrame, current: vs.VideoFrame) -> FlowPair:
        m = n - self.step
        if self.raft is not None and self.engine.cache is None:
            now, then = self.frames.get(n, current), self.frames.get(m, partner)
            both = round_flow(self.raft.flows(torch.cat((now, then)), torch.cat((then, now))))  # as FlowEngine's
        else:
            rgb = self.engine.settings.wants_rgb
            a, b = estimator_array(current, rgb), estimator_array(partner, rgb)
            host = np.stack((self.engine.flow(a, b, "backward", self.step), self.engine.flow(b, a, "forward", self.step)))
            both = torch.from_numpy(host).permute(0, 3, 1, 2)
            if self.device.type == "cuda":
                both = both.pin_memory().to(self.device, non_blocking=True)
            else:
                both = both.to(self.device)
        backward, forward = both[0:1], both[1:2]
        c = consistency_check_torch(backward, forward) / 255.0
        return backward.contiguous(), c

