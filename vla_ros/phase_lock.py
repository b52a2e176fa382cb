"""Lock a fixed-rate control timer's phase to a camera's frames (no rclpy; the node applies it).

A 10 Hz timer beside a 30 Hz camera ticks at an arbitrary point between frames, so the
newest prediction it can publish comes from a frame anywhere from one inference to one
inference plus a frame period old. Locked, each tick falls just after the inference on a
fresh frame usually ends (the 90th percentile of recent stamp-to-prediction lags plus a
margin), and the command carries a prediction about one inference old. The timer's rate is
unchanged: each period is shortened or stretched by at most ``slew``.

Phases are measured from the frames' header stamps, which a camera sets on an even beat
(receive times carry the transport's and the executor's jitter). Lags are measured from the
same stamps, so an offset between the camera's clock and this host's cancels out.
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np


class PhaseLock:
    """Proportional phase controller with one tick of actuation delay.

    rcl computes a timer's next call time before its callback runs, so a period set at tick k
    takes effect between ticks k+1 and k+2; the controller aims at the error that the already
    scheduled tick will leave (the error minus the previous shift). The error is the median of
    the last three ticks', so one tick that the executor ran late does not jerk the phase."""

    def __init__(self, margin: float, slew: float, quantile: float = 0.9, gain: float = 0.5) -> None:
        self.margin = margin
        self.slew = slew
        self.quantile = quantile
        self.gain = gain
        self.shift = 0.0  # s: how much the period after the next tick is shortened
        self.errors: deque[float] = deque(maxlen=3)  # s: recent phase errors, > 0 = tick late

    @property
    def error(self) -> float | None:
        return float(np.median(self.errors)) if self.errors else None

    def target(self, lags: Sequence[float]) -> float:
        """Aim for this long (s) after a frame's stamp."""
        return float(np.quantile(lags, self.quantile)) + self.margin

    def update(self, tick: float, frames: Sequence[tuple[float, float]], lags: Sequence[float]) -> float | None:
        """Shortening (s) of the timer period after the next tick, or None when there is no steady
        camera to lock to. ``frames``: (receive time, stamp) of recent frames, oldest first, the
        receive times on the clock of ``tick``; ``lags``: recent stamp-to-prediction delays."""
        if len(frames) < 4 or len(lags) < 4:
            return None
        stamps = np.array([stamp for _, stamp in frames])
        frame_period = float(np.median(np.diff(stamps)))
        seen = [stamp for received, stamp in frames if received <= tick]
        if not seen or not 0.0 < frame_period < 1.0 or tick - frames[-1][0] > 2.0 * frame_period:
            return None
        # Distance to the nearest instant ``target`` after some frame's stamp, wrapped: > 0 = late.
        half = frame_period / 2.0
        self.errors.append((tick - seen[-1] - self.target(lags) + half) % frame_period - half)
        self.shift = float(np.clip(self.gain * (self.error - self.shift), -self.slew, self.slew))
        return self.shift
