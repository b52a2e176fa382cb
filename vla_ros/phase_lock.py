"""Lock a fixed-rate control timer's phase to a camera's frames (no rclpy; the node applies it).

A 10 Hz timer beside a 30 Hz camera ticks at an arbitrary point between frames, so the
newest prediction it can publish comes from a frame anywhere from one inference to one
inference plus a frame period old. Locked, each tick falls just after the inference on a
fresh frame usually ends (the 90th percentile of recent receive-to-prediction lags plus a
margin), and the command carries a prediction one inference old. The timer's rate is
unchanged: each period is shortened or stretched by at most ``slew``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class PhaseLock:
    """Proportional phase controller with one tick of actuation delay.

    rcl computes a timer's next call time before its callback runs, so a period set at tick k
    takes effect between ticks k+1 and k+2; the controller aims at the error that the already
    scheduled tick will leave (error minus the previous shift)."""

    def __init__(self, margin: float, slew: float, quantile: float = 0.9, gain: float = 0.5) -> None:
        self.margin = margin
        self.slew = slew
        self.quantile = quantile
        self.gain = gain
        self.shift = 0.0  # s: how much the period after the next tick is shortened
        self.error: float | None = None  # s: the latest phase error, > 0 = tick late

    def target(self, lags: Sequence[float]) -> float:
        """Aim for this long (s) after a frame arrives."""
        return float(np.quantile(lags, self.quantile)) + self.margin

    def update(self, tick: float, frame_times: Sequence[float], lags: Sequence[float]) -> float | None:
        """Shortening (s) of the timer period after the next tick, or None when there is no steady
        camera to lock to. ``frame_times``: receive times of recent frames (same clock as ``tick``);
        ``lags``: recent receive-to-prediction delays."""
        if len(frame_times) < 4 or len(lags) < 4:
            return None
        frame_period = float(np.median(np.diff(frame_times)))
        before = [t for t in frame_times if t <= tick]
        if not before or not 0.0 < frame_period < 1.0 or tick - before[-1] > 2.0 * frame_period:
            return None
        since_frame = tick - before[-1]
        # Distance to the nearest point ``target`` after some frame, wrapped: > 0 means late.
        half = frame_period / 2.0
        self.error = (since_frame - self.target(lags) + half) % frame_period - half
        self.shift = float(np.clip(self.gain * (self.error - self.shift), -self.slew, self.slew))
        return self.shift
