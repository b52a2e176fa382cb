"""The control timer's phase lock: converges onto fresh predictions, never bends the rate much."""

import numpy as np
import pytest

from vla_ros.phase_lock import PhaseLock

FRAME = 1.0 / 30.0
PERIOD = 0.1


def simulate(start_phase: float, lag: float, ticks: int = 60, late_ticks: float = 0.0, clock_offset: float = 0.0,
             seed: int = 0):
    """A 30 Hz camera whose frames arrive 1-4 ms after their stamps (stamped on a clock
    ``clock_offset`` ahead of ours), and a 10 Hz timer with rcl's one-tick delay: a period set at
    tick k applies between ticks k+1 and k+2. A ``late_ticks`` share of callbacks runs 5-15 ms
    late (a busy executor). Returns the scheduled tick times, the age of the newest frame when
    each callback ran, and the locked target."""
    rng = np.random.default_rng(seed)
    stamps = np.arange(0.0, ticks * PERIOD + 1.0, FRAME)
    received = stamps + rng.uniform(0.001, 0.004, stamps.size)
    lock = PhaseLock(margin=0.004, slew=0.003)
    lags = list(lag + rng.uniform(0, 0.002, 30) - clock_offset)
    periods = [PERIOD, PERIOD]  # periods[k]: from tick k to tick k+1
    t = 0.5 + start_phase
    scheduled, ages = [], []
    for k in range(ticks):
        scheduled.append(t)
        ran = t + (rng.uniform(0.005, 0.015) if rng.random() < late_ticks else 0.0)
        seen = received <= ran
        frames = list(zip(received[seen][-16:], stamps[seen][-16:] + clock_offset))
        ages.append(ran - stamps[seen][-1])
        shift = lock.update(ran, frames, lags)
        periods.append(PERIOD - (shift or 0.0))
        t += periods[k]
    return np.array(scheduled), np.array(ages), lock.target(lags) + clock_offset


@pytest.mark.parametrize("start_phase", [0.0, 0.007, 0.016, 0.025, 0.032])
def test_ticks_lock_just_after_the_inference_on_a_fresh_frame(start_phase):
    ticks, ages, target = simulate(start_phase, lag=0.012)
    assert 0.012 < target < 0.02
    # Locked within 3 s from any starting phase, and then each tick is at the target +- 2 ms.
    assert np.all(np.abs(ages[30:] - target) < 0.002), np.round(ages * 1e3, 1)
    # Each period is bent by at most the slew; the mean rate stays the camera's third.
    periods = np.diff(ticks)
    assert np.all(np.abs(periods - PERIOD) <= 0.003 + 1e-9)
    assert abs(np.mean(periods[30:]) - PERIOD) < 0.0005


def test_lock_holds_through_late_callbacks_and_a_camera_clock_offset():
    ticks, ages, target = simulate(0.02, lag=0.012, ticks=120, late_ticks=0.1, clock_offset=0.25)
    on_target = np.abs(ages[40:] - target) < 0.002
    assert on_target.mean() > 0.85  # the late callbacks themselves are off by their delay, no more
    assert np.all(np.abs(np.diff(ticks) - PERIOD) <= 0.003 + 1e-9)


def test_slow_inference_wraps_to_an_earlier_frame():
    # Inference longer than a frame period: the target lies beyond the next frame; ticks still lock
    # (to the target modulo the frame period) instead of drifting.
    ticks, ages, target = simulate(0.01, lag=0.045)
    wrapped = target % FRAME
    assert np.all(np.abs(ages[30:] - wrapped) < 0.002)


def test_no_steady_camera_no_correction():
    lock = PhaseLock(margin=0.004, slew=0.003)
    assert lock.update(1.0, [(0.9, 0.9)], [0.01] * 10) is None  # too few frames
    silent = [(t, t) for t in (0.5, 0.533, 0.567, 0.6)]
    assert lock.update(1.0, silent, [0.01] * 10) is None  # camera silent for 0.4 s
    steady = [(t, t) for t in (0.9, 0.933, 0.967, 0.99)]
    assert lock.update(1.0, steady, [0.01]) is None  # too few inferences
