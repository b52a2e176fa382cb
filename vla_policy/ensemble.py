"""Turning per-observation predictions into actions: temporal ensembling of action
chunks (as in ACT) and the abstain vote. Shared by the step-based
:meth:`VLAPolicy.select_action` (simulator evaluation) and the time-based ROS policy node.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class ChunkEnsembler:
    """Chunks of K actions, each stamped with its observation time; ``action(t)`` averages
    every chunk whose horizon covers ``t``, the older prediction weighing more
    (``exp(decay * age_in_steps)``, ACT's weighting), or with ``decay < 0`` plays the
    newest chunk alone."""

    def __init__(self, decay: float, step_seconds: float) -> None:
        self.decay = decay
        self.step = step_seconds
        self.chunks: deque[tuple[float, np.ndarray]] = deque()

    def clear(self) -> None:
        self.chunks.clear()

    def add(self, stamp: float, chunk: np.ndarray) -> None:
        """``chunk`` (K, A): actions for ``stamp``, ``stamp + step``, ..."""
        if self.decay < 0:
            self.chunks.clear()
        self.chunks.append((stamp, np.asarray(chunk)))

    def action(self, t: float) -> np.ndarray | None:
        """Action (A,) at time ``t``; ``None`` when no chunk covers it (predictions stopped)."""
        while self.chunks and self._index(t, *self.chunks[0]) >= len(self.chunks[0][1]):
            self.chunks.popleft()
        covering = [(stamp, c) for stamp, c in self.chunks if 0 <= self._index(t, stamp, c) < len(c)]
        if not covering:
            return None
        preds = np.stack([c[self._index(t, stamp, c)] for stamp, c in covering])  # (N, A)
        if len(preds) == 1 or self.decay < 0:
            return preds[-1].copy()
        ages = np.array([(t - stamp) / self.step for stamp, _ in covering])
        weights = np.exp(self.decay * (ages - ages.max()))  # oldest = 1; shifted for numerical range
        return (preds * weights[:, None]).sum(0) / weights.sum()

    def _index(self, t: float, stamp: float, chunk: np.ndarray) -> int:
        return int(np.floor((t - stamp) / self.step + 1e-6))


class AbstainVote:
    """Decide once, from the mean target-present probability of the first ``window`` predictions."""

    def __init__(self, threshold: float, window: int = 3) -> None:
        self.threshold, self.window = threshold, window
        self.reset()

    def reset(self) -> None:
        self.probs: list[float] = []
        self.abstained = False

    def add(self, present_prob: float) -> bool:
        if len(self.probs) < self.window:
            self.probs.append(float(present_prob))
            if len(self.probs) == self.window:
                self.abstained = float(np.mean(self.probs)) < self.threshold
        return self.abstained

    @property
    def decided(self) -> bool:
        return len(self.probs) >= self.window


def binarise_gripper(action: np.ndarray) -> np.ndarray:
    """Open or close decisively, as the demonstrations do (1 open, 0 closed)."""
    action = action.copy()
    action[3] = float(action[3] > 0.5)
    return action
