"""Pairing a camera frame with the robot state of the same instant.

The policy was trained on frames and proprioception taken at the same instant. Over ROS they
arrive on separate topics: the image usually first, the end-effector pose and joint states a
moment later (or, on a robot, at their own rate). Taking "the newest pose" when inference starts
hands the policy the previous instant's pose, up to 8 mm off at the arm's top speed. A
:class:`StampedBuffer` keeps the last few samples by header stamp, so inference can wait briefly
for the sample at the frame's stamp and take the nearest one.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class StampedBuffer(Generic[T]):
    """The last ``size`` samples of a stream, each with its stamp (s), in arrival order."""

    def __init__(self, size: int = 32) -> None:
        self.samples: deque[tuple[float, T]] = deque(maxlen=size)

    def add(self, stamp: float, value: T) -> None:
        self.samples.append((stamp, value))

    def clear(self) -> None:
        self.samples.clear()

    def covers(self, stamp: float) -> bool:
        """A sample stamped at or after ``stamp`` has arrived (no closer one can come later)."""
        return bool(self.samples) and max(s for s, _ in self.samples) >= stamp - 1e-6

    def nearest(self, stamp: float) -> tuple[float, T] | None:
        """(stamp, value) of the sample stamped closest to ``stamp``; None when empty."""
        if not self.samples:
            return None
        return min(self.samples, key=lambda sample: abs(sample[0] - stamp))
