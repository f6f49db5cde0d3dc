"""The time estimate ``vsstylize run`` prints before rendering: a probe of the first frames on this machine.

The probe builds the same graph for the first two frames of the render, without the cache and the scene cuts,
and times them one after the other: the first frame includes loading the networks, the second is a frame of the
steady state (the network methods: inference plus the flow to the previous frame). The optimization methods
probe with :data:`PROBE_ITERATIONS` iterations per frame; the optimizer's per-frame log record gives the seconds
of those iterations, which are scaled to the render's iteration counts, while the rest of the frame's time
(flow, network, loss setup) is counted once per frame. The iterations stop early by the tolerance rule in a real
render, so the estimate is an upper bound.
"""

from __future__ import annotations

import argparse
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import vapoursynth as vs

__all__ = ["PROBE_ITERATIONS", "Estimate", "format_duration", "probe"]

#: Iterations per frame of the optimization methods' probe.
PROBE_ITERATIONS = 3

#: Methods whose frames are optimized (their time scales with ``--iterations``).
_OPTIMIZED = ("optim", "hybrid")


@dataclass(frozen=True)
class Estimate:
    """Expected render time on this machine.

    :ivar first_frame: seconds for the first frame (with setup).
    :ivar per_frame: seconds per later frame.
    :ivar frames: frames to render.
    :ivar per_iteration: seconds per optimization iteration (``None`` for the network methods).
    :ivar width: processing width, height: processing height (pixels).
    """

    first_frame: float
    per_frame: float
    frames: int
    per_iteration: float | None
    width: int
    height: int

    @property
    def total(self) -> float:
        """Seconds for the whole render."""
        return self.first_frame + self.per_frame * max(self.frames - 1, 0)

    def preview_per_frame(self, width: int, later_iterations: int) -> float | None:
        """Seconds per later frame at ``width`` with ``later_iterations`` iterations (the optimization scales
        with the number of pixels), or ``None`` for the network methods."""
        if self.per_iteration is None:
            return None
        return self.per_iteration * later_iterations * (width / self.width) ** 2


def format_duration(seconds: float) -> str:
    """``seconds`` as ``42 s``, ``12 min`` or ``3.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class _OptimizationTimes(logging.Handler):
    """Collects the per-frame records of the optimization (``iterations``, ``seconds``; logger ``vsstylize``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.frames: list[tuple[int, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "iterations") and hasattr(record, "seconds"):
            self.frames.append((int(record.iterations), float(record.seconds)))


def probe(args: argparse.Namespace, iterations: tuple[int, int] | None, frames: int,
          build: Callable[[argparse.Namespace], vs.VideoNode]) -> Estimate:
    """Time the first frames of the render that ``args`` (the ``run`` options) describe.

    :param iterations: the render's (first, later) iterations for the optimization methods, else ``None``.
    :param frames: frames the render has.
    :param build: builds the stylized clip of a copy of ``args`` (``vsstylize.cli.run.build_graph``'s result).
    :returns: the estimate; the probe's frames are not kept. For the optimization methods the last probe frame's
        time is split into its optimization (scaled to the render's iterations) and the rest (flow, network).
    """
    trial = copy.copy(args)
    start = _first_frame(args.frames)
    count = min(frames, 2)
    trial.frames = f"{start}:{start + count}"
    trial.cache = None
    trial.scenes = "none"
    if iterations is not None:
        trial.num_iterations = f"{PROBE_ITERATIONS},{PROBE_ITERATIONS}"
    clip = build(trial)
    log = logging.getLogger("vsstylize")
    level, handler = log.level, _OptimizationTimes()
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    times = []
    try:
        for n in range(count):
            t0 = time.perf_counter()
            clip.get_frame(n)
            times.append(time.perf_counter() - t0)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    if iterations is None or not handler.frames:
        return Estimate(times[0], times[-1], frames, None, clip.width, clip.height)
    done, seconds = handler.frames[-1]
    per_iteration = seconds / max(done, 1)
    rest = max(times[-1] - seconds, 0.0)
    return Estimate(times[0] + per_iteration * (iterations[0] - done), rest + per_iteration * iterations[1],
                    frames, per_iteration, clip.width, clip.height)


def _first_frame(spec: str | None) -> int:
    a = (spec or "").partition(":")[0]
    return int(a) if a else 0
