"""Background batch making: the batches of the coming iterations are made by a thread while the current one
trains, so the device never waits for data.

The batch of an iteration is a pure function of ``(seed, iteration)`` (:class:`~vsstylize.train.data.TrainingData`),
so making it early changes nothing: the prefetched batches are the ones the loop would have made itself, and
a resumed training sees the same data.

On CUDA the thread works on a stream of its own: its host-to-device copies (page-locked memory) and rendering
kernels overlap the training kernels on the main stream; :meth:`Prefetcher.get` makes the main stream wait for
the batch's event (no host synchronisation) and marks the tensors as used there, so the caching allocator does
not hand their memory back to the side stream too early. On a CPU the thread's NumPy, OpenCV and torch work runs
beside the training step on another core (all of them release the GIL).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

import torch

from .data import Batch

__all__ = ["Prefetcher"]

_STOP = object()


class Prefetcher:
    """Make ``make(i)`` for the iterations ``order`` ahead of use, at most ``depth`` batches in advance.

    :param make: the batch of an iteration (``None`` where the loop makes its own, e.g. border samples that
        need the current weights).
    :param order: the iterations, in the order :meth:`get` will ask for them.
    :param device: the device the batches are made on.
    :param depth: batches made ahead (memory: ``depth`` batches).
    """

    def __init__(self, make: Callable[[int], Batch | None], order: Iterable[int], device: torch.device,
                 depth: int = 3) -> None:
        self._make = make
        self._order = iter(order)
        self._device = device
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="vsstylize-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        stream = torch.cuda.Stream(self._device) if self._device.type == "cuda" else None
        try:
            for it in self._order:
                if self._stop.is_set():
                    return
                event = None
                if stream is not None:
                    with torch.cuda.stream(stream):
                        batch = self._make(it)
                        event = torch.cuda.Event()
                        event.record(stream)
                else:
                    batch = self._make(it)
                if not self._put((it, batch, event)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((None, exc, None))
            return
        self._put(_STOP)

    def get(self, iteration: int) -> Batch | None:
        """The batch of ``iteration`` (the next one of ``order``).

        :raises: whatever making the batch raised; :class:`RuntimeError` when asked out of order.
        """
        item = self._queue.get()
        if item is _STOP:
            raise RuntimeError(f"prefetcher: no batch for iteration {iteration}, all were made")
        it, batch, event = item
        if it is None:
            raise batch
        if it != iteration:
            raise RuntimeError(f"prefetcher: asked for iteration {iteration}, the next batch is {it}")
        if event is not None and batch is not None:
            current = torch.cuda.current_stream(self._device)
            current.wait_event(event)
            for t in batch.tensors():
                t.record_stream(current)
        return batch

    def close(self) -> None:
        """Stop the thread (it finishes the batch it is making) and drop the batches made ahead."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
