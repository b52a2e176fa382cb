"""Franka Panda behind a robot-agnostic Cartesian velocity interface.

The commanded end-effector velocity is integrated into a position *setpoint*
that is tracked by IK + joint position control. Integrating "current pose +
v*dt" instead stalls ~1.5 cm short of the goal under gravity; the setpoint is
clamped near the real pose (anti-windup) and to the reachable workspace.
"""

from __future__ import annotations

import numpy as np
import pybullet as p
import pybullet_data

ARM_JOINTS = tuple(range(7))
FINGER_JOINTS = (9, 10)
EE_LINK = 11  # panda_grasptarget: between the fingertips
HOME_Q = (0.0, -0.45, 0.0, -2.25, 0.0, 1.80, 0.785)
FINGER_MAX = 0.04  # per finger (m); 8 cm total opening
FINGER_FORCE = 40.0  # N
FINGER_FRICTION = 1.5
# Gripper pointing straight down, fingers closing along the base y axis.
EE_DOWN = p.getQuaternionFromEuler([np.pi, 0.0, 0.0])
# Setpoint bounds in the base frame (m): keep the hand above the table and in reach.
SETPOINT_LOW = np.array([0.25, -0.30, 0.015])
SETPOINT_HIGH = np.array([0.70, 0.30, 0.45])
WINDUP = 0.03  # max distance between setpoint and the measured end-effector position (m)
IK_EVERY = 4  # physics substeps between IK solves


class Panda:
    """The arm in one PyBullet client, base at the origin of the robot base frame."""

    def __init__(self, client: int) -> None:
        self.client = client
        self.body = p.loadURDF(
            "franka_panda/panda.urdf",
            [0.0, 0.0, 0.0],
            useFixedBase=True,
            flags=p.URDF_ENABLE_CACHED_GRAPHICS_SHAPES,
            physicsClientId=client,
        )
        info = [p.getJointInfo(self.body, j, physicsClientId=client) for j in ARM_JOINTS]
        self.lower = [i[8] for i in info]
        self.upper = [i[9] for i in info]
        self.ranges = [u - l for l, u in zip(self.lower, self.upper)]
        for j in FINGER_JOINTS:
            p.changeDynamics(self.body, j, lateralFriction=FINGER_FRICTION, spinningFriction=0.001,
                             physicsClientId=client)
        for j, q in zip(ARM_JOINTS, HOME_Q):
            p.resetJointState(self.body, j, q, physicsClientId=client)
        for j in FINGER_JOINTS:
            p.resetJointState(self.body, j, FINGER_MAX, physicsClientId=client)
        self.setpoint = self.ee_position()
        self.finger_target = FINGER_MAX
        self._hold_joints(HOME_Q)
        self._command_fingers()

    @staticmethod
    def data_path() -> str:
        return pybullet_data.getDataPath()

    # -- state -------------------------------------------------------------
    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """End-effector position (3,) and quaternion xyzw (4,) in the base frame."""
        state = p.getLinkState(self.body, EE_LINK, computeForwardKinematics=True, physicsClientId=self.client)
        return np.asarray(state[4]), np.asarray(state[5])

    def ee_position(self) -> np.ndarray:
        return self.ee_pose()[0]

    def joint_positions(self) -> np.ndarray:
        """Arm joints then the two finger joints, (9,)."""
        states = p.getJointStates(self.body, ARM_JOINTS + FINGER_JOINTS, physicsClientId=self.client)
        return np.array([s[0] for s in states])

    def gripper_width(self) -> float:
        """Distance between the fingers (m), clipped to 0..0.08 (the solver overshoots by micrometres)."""
        states = p.getJointStates(self.body, FINGER_JOINTS, physicsClientId=self.client)
        return float(np.clip(states[0][0] + states[1][0], 0.0, 2 * FINGER_MAX))

    # -- commands ----------------------------------------------------------
    def begin_control_step(self, velocity: np.ndarray, gripper: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Set up one control period: returns (setpoint at start, setpoint at end) to interpolate."""
        start = self.setpoint.copy()
        end = start + velocity * dt
        # Anti-windup: never lead the measured pose by more than WINDUP.
        ee = self.ee_position()
        lead = end - ee
        dist = np.linalg.norm(lead)
        if dist > WINDUP:
            end = ee + lead * (WINDUP / dist)
        end = np.clip(end, SETPOINT_LOW, SETPOINT_HIGH)
        self.setpoint = end
        self.finger_target = float(np.clip(gripper, 0.0, 1.0)) * FINGER_MAX
        self._command_fingers()
        return start, end

    def track(self, setpoint: np.ndarray) -> None:
        """Solve IK for ``setpoint`` (gripper down) and send joint position targets."""
        q = p.calculateInverseKinematics(
            self.body,
            EE_LINK,
            setpoint.tolist(),
            EE_DOWN,
            lowerLimits=self.lower,
            upperLimits=self.upper,
            jointRanges=self.ranges,
            restPoses=list(HOME_Q),
            maxNumIterations=30,
            residualThreshold=1e-4,
            physicsClientId=self.client,
        )
        self._hold_joints(q[:7])

    def _hold_joints(self, q) -> None:
        p.setJointMotorControlArray(
            self.body,
            ARM_JOINTS,
            p.POSITION_CONTROL,
            targetPositions=list(q),
            forces=[87.0] * 4 + [12.0] * 3,
            positionGains=[0.08] * 7,
            physicsClientId=self.client,
        )

    def _command_fingers(self) -> None:
        p.setJointMotorControlArray(
            self.body,
            FINGER_JOINTS,
            p.POSITION_CONTROL,
            targetPositions=[self.finger_target] * 2,
            forces=[FINGER_FORCE] * 2,
            positionGains=[0.05] * 2,
            physicsClientId=self.client,
        )
