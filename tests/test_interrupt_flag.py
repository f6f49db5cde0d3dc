"""The stop flag of `vsstylize run`'s signal handling: a real SIGTERM/SIGINT raises Interrupted in the main thread,
every other thread's check_interrupt raises too, and the previous handlers come back."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from vsstylize.media.interrupt import Interrupted, check_interrupt, exit_status, handle_signals, interrupted


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_main_thread_and_every_check(sig: int, status: int) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    seen: list[BaseException] = []

    def worker() -> None:  # a frame thread: optimizes until its check says stop
        try:
            for _ in range(500):
                check_interrupt()
                time.sleep(0.01)
        except Interrupted as exc:
            seen.append(exc)

    with pytest.raises(Interrupted) as info, handle_signals():
        thread = threading.Thread(target=worker)
        thread.start()
        check_interrupt()  # no signal yet: nothing happens
        os.kill(os.getpid(), sig)
        time.sleep(2)
    thread.join(timeout=5)
    assert info.value.signum == sig and exit_status(info.value.signum) == status
    assert interrupted() and len(seen) == 1 and seen[0].signum == sig
    assert {s: signal.getsignal(s) for s in before} == before
    with handle_signals():  # a new render starts with the flag cleared
        check_interrupt()
