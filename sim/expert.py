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
CLOSE_STEPS = 6  # control steps to let the fingers close (0.6 s at 10 Hz)


class ScriptedExpert:
    """State machine approach -> descend -> close -> lift, on the true target pose.

    Follows the policy protocol of :func:`vla_sim.evaluation.run_episode`:
    ``reset()``, ``select_action(obs)`` and the ``abstained`` flag.
    """

    def __init__(self, env: PickCupEnv, colour: str | None = None) -> None:
        self.env = env
        self.colour = colour  # pick this cup instead of the task's target (tests, wrong-cup demos)
        self.reset()

    def reset(self) -> None:
        self.phase = "approach"
        self.closing_steps = 0
        self.abstained = False

    def select_action(self, obs: dict) -> np.ndarray:
        env = self.env
        scene = env.scene
        colour = self.colour or scene.target
        if not any(c.colour == colour for c in scene.cups):
            self.abstained = True
            return np.array([0.0, 0.0, 0.0, 1.0])
        limit = env.config.max_linear_speed
        ee = obs["ee_pose"][:3].astype(np.float64)
        cup = next(c for c in env.cup_states() if c.colour == colour)
        height = next(c.height for c in scene.cups if c.colour == colour)
        grasp_z = height - GRASP_BELOW_RIM
        above = np.array([cup.position[0], cup.position[1], height + PRE_GRASP_CLEARANCE])
        gripper = 1.0
        if self.phase == "approach":
            goal = above
            if np.linalg.norm(ee[:2] - above[:2]) < XY_TOLERANCE and abs(ee[2] - above[2]) < 0.02:
                self.phase = "descend"
        if self.phase == "descend":
            goal = np.array([cup.position[0], cup.position[1], grasp_z])
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
        velocity = np.clip(GAIN * (goal - ee), -limit, limit)
        return np.concatenate([velocity, [gripper]])


__all__ = ["ScriptedExpert"]
