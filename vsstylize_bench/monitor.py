"""Resources a run takes: peak memory (CPU resident set and CUDA) and wall time."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["PeakMemory", "Timing", "timed"]


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_bytes(key: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` in bytes, or ``None`` where unavailable."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_rss_peak() -> bool:
    """Reset the kernel's peak-RSS counter (``VmHWM``) of this process (Linux >= 4.0)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _cuda_ready() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_initialized()


class PeakMemory:
    """Context manager measuring the peak CPU resident set size and the peak CUDA memory of a block.

    CPU: the kernel's ``VmHWM`` (peak RSS) from ``/proc/self/status``, reset at entry by writing ``5``
    to ``/proc/self/clear_refs``; where that is impossible, ``resource.getrusage`` gives the process's
    lifetime peak (``rss_reset`` is then ``False``). CUDA: ``torch.cuda.max_memory_allocated`` after
    ``reset_peak_memory_stats`` (``None`` without an initialised CUDA device). The counters are
    process-wide: do not nest two measurements (the inner one resets the outer one's peak).

    ::

        with PeakMemory() as mem:
            run()
        print(mem.peak_rss_bytes / 2**20, mem.peak_cuda_bytes)

    :ivar start_rss_bytes: RSS at entry (``None`` if unknown).
    :ivar peak_rss_bytes: peak RSS during the block (or of the process, see ``rss_reset``).
    :ivar rss_reset: whether the peak was reset at entry.
    :ivar peak_cuda_bytes: peak CUDA memory allocated by torch during the block, or ``None``.
    """

    def __init__(self, device: torch.device | str | int | None = None) -> None:
        self.device = device
        self.start_rss_bytes: int | None = None
        self.peak_rss_bytes: int | None = None
        self.rss_reset = False
        self.peak_cuda_bytes: int | None = None

    def __enter__(self) -> PeakMemory:
        self.start_rss_bytes = _status_bytes("VmRSS")
        self.rss_reset = _reset_rss_peak()
        if _cuda_ready():
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _status_bytes("VmHWM") if self.rss_reset else None
        if peak is None:
            self.rss_reset = False
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
        self.peak_rss_bytes = peak
        if _cuda_ready():
            torch.cuda.synchronize(self.device)
            self.peak_cuda_bytes = int(torch.cuda.max_memory_allocated(self.device))

    @property
    def peak_rss_delta_bytes(self) -> int | None:
        """Peak RSS minus RSS at entry: what the block added at most."""
        if self.peak_rss_bytes is None or self.start_rss_bytes is None:
            return None
        return self.peak_rss_bytes - self.start_rss_bytes


@dataclass
class Timing:
    """Result of :func:`timed`: wall-clock ``seconds`` of the block and the number of ``frames`` processed."""

    frames: int | None = None
    seconds: float = float("nan")

    @property
    def seconds_per_frame(self) -> float:
        """``seconds / frames`` (Ruder et al. report run time in seconds per frame).

        :raises ValueError: ``frames`` was not given or is not positive.
        """
        if not self.frames or self.frames <= 0:
            raise ValueError(f"frames must be a positive count to get seconds per frame, got {self.frames!r}")
        return self.seconds / self.frames


@contextmanager
def timed(frames: int | None = None, sync_cuda: bool = True) -> Iterator[Timing]:
    """Time a block with ``time.perf_counter``; yields a :class:`Timing` filled in at exit.

    :param frames: frames processed inside the block (for :attr:`Timing.seconds_per_frame`); may also
        be set on the yielded object inside the block.
    :param sync_cuda: synchronise an initialised CUDA device at both ends, so queued kernels are counted.
    :raises ValueError: negative ``frames``.
    """
    if frames is not None and frames < 0:
        raise ValueError(f"frames must be >= 0, got {frames}")
    timing = Timing(frames=frames)
    if sync_cuda and _cuda_ready():
        torch.cuda.synchronize()
    start = time.perf_counter()
    try:
        yield timing
    finally:
        if sync_cuda and _cuda_ready():
            torch.cuda.synchronize()
        timing.seconds = time.perf_counter() - start
