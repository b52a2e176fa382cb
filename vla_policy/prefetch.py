"""Sampling the next training batch on a thread while the current step computes.

One producer thread owns the sampler and its random generator, so the batches come in the order and with
the values a plain loop would draw. Each batch is handed out with the generator's state right after it was
drawn: a checkpoint saves that state, and a resumed run draws the same batches as an uninterrupted one.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

import numpy as np


class BatchPrefetcher:
    """``next()`` returns the batches of ``sample()`` in order, ``depth`` of them drawn ahead."""

    def __init__(self, sample: Callable[[], dict[str, Any]], rng: np.random.Generator, depth: int = 1) -> None:
        self._sample, self._rng = sample, rng
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self.rng_state: dict[str, Any] = rng.bit_generator.state  # after the last batch handed out
        self._thread = threading.Thread(target=self._produce, name="batch-prefetch", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        while not self._stop.is_set():
            try:
                item: tuple[Any, Any] = (self._sample(), self._rng.bit_generator.state)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
                item = (exc, None)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if item[1] is None:
                return

    def next(self) -> dict[str, Any]:
        batch, state = self._queue.get()
        if state is None:
            raise batch
        self.rng_state = state
        return batch

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
