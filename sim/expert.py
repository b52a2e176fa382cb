"""Scripted expert: privileged cup positions in, actions only through the
velocity + gripper interface out (the same one a learned policy uses).
"""

from __future__ import annotations

import numpy as np

from .env import PickCupEnv

GAIN = 3.0  # 1/s, proportional gain from position error to velocity
PRE_GRASP_CLEARANCE = 0.06  # m above the rim before descending
GRASP_BELOW_RIM = 0.03  # m
LIFT_HEIGHT = 0.25  # m above the grasp height
XY_TOLERANCE = 0.008  # m, aligned enough to descend
GRASP_TOLERANCE = 0.008  # m, close enough to close the fingers
RETREAT_XY = 0.015  # m, misalignment below the pre-grasp height that sends the corrective expert back up
CLOSE_STEPS = 6  # control steps to let the fingers close (0.6 s at 10 Hz)


def _cup_targets(env: PickCupEnv, instance: str | None):
    """(cup spec, cup state, grasp point, pre-grasp point) of the cup with this instance id (its
    colour when unique, ``red_2`` for a second red cup); None if absent."""
    index = next((i for i, c in enumerate(env.scene.cups) if c.instance == instance), None)
    if index is None:
        return None
    spec, cup = env.scene.cups[index], env.cup_states()[index]
    grasp, above = grasp_points([cup.position[0], cup.position[1], spec.height])
    return spec, cup, grasp, above


def _toward(env: PickCupEnv, goal: np.ndarray, ee: np.ndarray, gripper: float) -> np.ndarray:
    """Proportional velocity to ``goal`` within the speed limit, plus the gripper command."""
    return toward(goal, ee, gripper, env.config.max_linear_speed)


def toward(goal: np.ndarray, ee: np.ndarray, gripper: float, max_speed: float) -> np.ndarray:
    """Action (4,): proportional velocity to ``goal`` clipped to ``max_speed`` (m/s), then the gripper."""
    return np.concatenate([np.clip(GAIN * (goal - ee), -max_speed, max_speed), [gripper]])


def grasp_points(rim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grasp point, pre-grasp point) for a cup whose rim centre is ``rim`` (x, y, rim height)."""
    rim = np.asarray(rim, np.float64)
    return rim - np.array([0.0, 0.0, GRASP_BELOW_RIM]), rim + np.array([0.0, 0.0, PRE_GRASP_CLEARANCE])


class GraspPhases:
    """The phase machine approach -> descend -> close -> lift toward one cup: what the scripted
    expert runs on the simulator's cup, and the ROS expert commander on the cup pose it is told."""

    def __init__(self, max_speed: float) -> None:
        self.max_speed = max_speed
        self.reset()

    def reset(self) -> None:
        self.phase = "approach"
        self.closing_steps = 0
        self.grasp_point: np.ndarray | None = None

    def act(self, ee: np.ndarray, grasp: np.ndarray, above: np.ndarray) -> np.ndarray:
        """Action (4,) at end-effector position ``ee`` for this cup's grasp and pre-grasp points."""
        gripper = 1.0
        if self.phase == "approach":
            goal = above
            if np.linalg.norm(ee[:2] - above[:2]) < XY_TOLERANCE and abs(ee[2] - above[2]) < 0.02:
                self.phase = "descend"
        if self.phase == "descend":
            goal = grasp
            if np.linalg.norm(ee - goal) < GRASP_TOLERANCE:
                self.phase = "close"
                self.grasp_point = goal
        if self.phase == "close":
            goal, gripper = self.grasp_point, 0.0
            self.closing_steps += 1
            if self.closing_steps >= CLOSE_STEPS:
                self.phase = "lift"
        if self.phase == "lift":
            goal, gripper = self.grasp_point + np.array([0.0, 0.0, LIFT_HEIGHT]), 0.0
        return toward(goal, ee, gripper, self.max_speed)


class ScriptedExpert:
    """State machine approach -> descend -> close -> lift, on the true target pose.

    Follows the policy protocol of :func:`vla_sim.evaluation.run_episode`:
    ``reset()``, ``select_action(obs)`` and the ``abstained`` flag.
    """

    def __init__(self, env: PickCupEnv, colour: str | None = None) -> None:
        self.env = env
        self.colour = colour  # pick this cup (instance id) instead of the referred one (tests, wrong-cup demos)
        self.phases = GraspPhases(env.config.max_linear_speed)
        self.reset()

    @property
    def phase(self) -> str:
        return self.phases.phase

    def reset(self) -> None:
        self.phases.reset()
        self.abstained = False

    def select_action(self, obs: dict) -> np.ndarray:
        targets = _cup_targets(self.env, self.colour or self.env.scene.target_instance)
        if targets is None:
            self.abstained = True
            return np.array([0.0, 0.0, 0.0, 1.0])
        _, _, grasp, above = targets
        return self.phases.act(obs["ee_pose"][:3].astype(np.float64), grasp, above)


class CorrectiveExpert:
    """The expert's action from the current state alone, whatever happened before: the label for
    states a learned policy visits (DAgger). Where the phase machine above never goes (a gripper
    closed on nothing, fingers low beside the cup, a cup that slipped) it says how to recover:
    open and go back above the cup, re-align, descend, close, lift.
    """

    def __init__(self, env: PickCupEnv, colour: str | None = None) -> None:
        self.env = env
        self.colour = colour

    def label(self, obs: dict) -> np.ndarray | None:
        """Action (4,), or None when the named cup is not in the scene (the label is to abstain)."""
        targets = _cup_targets(self.env, self.colour or self.env.scene.target_instance)
        if targets is None:
            return None
        spec, cup, grasp, above = targets
        ee = obs["ee_pose"][:3].astype(np.float64)
        width = float(obs["gripper_width"][0])
        xy_error = float(np.linalg.norm(ee[:2] - cup.position[:2]))
        gripping = width < 2 * spec.radius + 0.004  # fingers on the cup wall (or closed on nothing)
        if cup.lift > 0.01 and xy_error < 0.02 and gripping:  # holding it: lift
            goal, gripper = np.array([ee[0], ee[1], grasp[2] + LIFT_HEIGHT]), 0.0
        elif np.linalg.norm(ee - grasp) < 1.5 * GRASP_TOLERANCE:  # at the grasp point: close, then lift
            goal, gripper = (grasp + np.array([0.0, 0.0, LIFT_HEIGHT]), 0.0) if gripping else (grasp, 0.0)
        elif width < 0.07:  # closed (or closing) away from the grasp point: open, back above the cup
            goal, gripper = above, 1.0
        elif ee[2] < above[2] - 0.01:  # below the pre-grasp height: descend if aligned, else back up
            if xy_error <= RETREAT_XY:  # (hysteresis: descending corrects small errors on the way)
                goal, gripper = grasp, 1.0
            else:  # beside the cup: straight up first, so the fingers do not sweep it
                goal, gripper = np.array([ee[0], ee[1], above[2]]) if xy_error < 0.05 else above, 1.0
        elif xy_error > XY_TOLERANCE:
            goal, gripper = above, 1.0
        else:
            goal, gripper = grasp, 1.0
        return _toward(self.env, goal, ee, gripper)


# Demonstration noise, shared by `vla data generate` (executed actions) and the ROS expert commander.
NOISY_FRACTION = 0.7  # episodes carrying noise
NOISE_STD = 0.06  # m/s per axis
NOISE_NEAR_CUP = 0.3  # noise scale while descending/closing, so the noise does not knock cups over


def noise_scale(phase: str) -> float:
    """Factor on the noise in grasp phase ``phase``: smaller near the cup."""
    return NOISE_NEAR_CUP if phase in ("descend", "close") else 1.0


class OperatorNoise:
    """Velocity noise on a commander's twists: a person's imprecise hand, for the scripted expert.

    Demonstrations that only ever follow the ideal path never show the states a policy drifts into, nor
    how to get back; ``vla data generate`` executes noisy actions for that reason. Over ROS the bag holds
    what was commanded, so here the noise goes into the command itself (zero-mean: behaviour cloning
    averages it out of the labels, the states it visits stay). Drawn per episode (``fraction`` of them
    noisy) and held for ``hold`` seconds, as the generator's 10 Hz steps hold theirs.
    """

    def __init__(self, std: float, fraction: float, seed: int, hold: float = 0.1) -> None:
        if not std >= 0 or not 0 <= fraction <= 1 or not hold > 0:
            raise ValueError(f"noise std must be >= 0, fraction in [0, 1], hold > 0 (got {std}, {fraction}, {hold})")
        self.std, self.fraction, self.hold = float(std), float(fraction), float(hold)
        self.rng = np.random.default_rng(seed)
        self.new_episode()

    def new_episode(self) -> None:
        self.noisy = self.std > 0 and self.rng.random() < self.fraction
        self._drawn_at: float | None = None
        self._noise = np.zeros(3)

    def apply(self, action: np.ndarray, phase: str, t: float) -> np.ndarray:
        """``action`` (4,) with noise added to its velocity at time ``t`` (s) in phase ``phase``."""
        if not self.noisy:
            return action
        if self._drawn_at is None or not 0 <= t - self._drawn_at < self.hold:
            self._noise, self._drawn_at = self.rng.normal(0.0, self.std, 3), t
        return np.concatenate([action[:3] + noise_scale(phase) * self._noise, action[3:]])


__all__ = ["ScriptedExpert", "CorrectiveExpert", "GraspPhases", "OperatorNoise", "grasp_points", "noise_scale",
           "toward"]
