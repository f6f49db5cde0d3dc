"""Stopping a render cleanly on SIGINT (Ctrl-C) or SIGTERM.

VapourSynth computes frames in its own threads, where Python's signal handlers never run; a ``KeyboardInterrupt``
in the main thread alone leaves those threads optimizing until their frames are done (minutes for ``optim``).
:func:`handle_signals` therefore records the signal in a process-wide flag besides raising :class:`Interrupted`
in the main thread, and the long loops call :func:`check_interrupt`: the L-BFGS/Adam loop once per iteration
(:func:`vsstylize.optim.optimizer.stylize_image`), the recursive filter once per frame. A frame interrupted this way
is never written to the cache, so the next run with the same options resumes from the frames already stored.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Interrupted", "check_interrupt", "deferred_signals", "exit_status", "handle_signals", "interrupted",
           "stop_frames", "stop_signal"]

_stop = threading.Event()
_signum: list[int] = []
#: Depth of :func:`deferred_signals` blocks in the main thread (the handler then only sets the flag).
_deferred = [0]


class Interrupted(BaseException):
    """A render stopped by SIGINT or SIGTERM (a ``BaseException``, like ``KeyboardInterrupt``, so that no
    ``except Exception`` in between swallows it).

    :ivar signum: the signal (``signal.SIGINT`` = 2, ``signal.SIGTERM`` = 15).
    :ivar frame: the frame being rendered when it came (set by the renderer), else ``None``.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.frame: int | None = None


def interrupted() -> bool:
    """Whether a signal handled by :func:`handle_signals` came (in any thread)."""
    return _stop.is_set()


def stop_signal() -> int:
    """The signal that set the stop flag (SIGINT when none did)."""
    return _signum[0] if _signum else signal.SIGINT


def stop_frames() -> None:
    """Make the next :func:`check_interrupt` of every thread raise, without a signal: a render that cannot go on
    (its standard error's reader went away) stops the frames VapourSynth is still computing for it instead of
    waiting for them at exit. Like a signal's, the flag stays set until the next :func:`handle_signals`."""
    _stop.set()


def check_interrupt() -> None:
    """Called by long loops in any thread.

    :raises Interrupted: a SIGINT/SIGTERM came since :func:`handle_signals` was entered.
    """
    if _stop.is_set():
        raise Interrupted(stop_signal())


def exit_status(signum: int) -> int:
    """The shell's exit status of a process stopped by ``signum``: 128 + signal number (130 SIGINT, 143 SIGTERM)."""
    return 128 + signum


@contextmanager
def handle_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM set the stop flag that :func:`check_interrupt` reads and raise
    :class:`Interrupted` in the main thread (a second signal while stopping ends the process at once, with status
    128 + signal); the previous handlers are restored on exit. The flag is cleared on
    entry, not on exit, so frame threads still running after the block stop at their next check. Outside the main
    thread (where Python sets no handlers) the block runs without them.
    """
    _stop.clear()
    _signum.clear()

    def handler(signum: int, frame: FrameType | None) -> None:
        if _stop.is_set():  # a second signal while stopping: quit at once (a hidden partial file may stay)
            os._exit(exit_status(signum))
        _signum.append(signum)
        _stop.set()
        if not _deferred[0]:
            raise Interrupted(signum)

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Within the block, a signal of :func:`handle_signals` only sets the stop flag; the block's own loop calls
    :func:`check_interrupt` at its safe points (the renderer: between two frames, and after a frame thread's error).

    Raising :class:`Interrupted` from the handler stops the main thread at whatever line it is on: inside VapourSynth's
    frame iterator, tqdm's lock or a write to the encoder's pipe, which can leave them half-done (a render once
    hung after SIGINT instead of exiting). The frame threads still stop at their next check.
    """
    _deferred[0] += 1
    try:
        yield
    finally:
        _deferred[0] -= 1
