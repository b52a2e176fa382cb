"""``vla_expert_commander``: the scripted expert as a teleoperator, commanding the robot over ROS.

It stands in for a person with a teleoperation device: it publishes the same twist and gripper
topics an operator's device would (``/servo_node/delta_twist_cmds``, ``/gripper_controller/commands``),
sees the robot's own state (``/ee_pose``) and knows where the referred cup is, as the person looking
at the table would (the simulator's ``/sim/target`` ground truth). It sees no camera frame and no
label: what a recording of its demonstrations holds is what a recording of a person's would.

One command per robot state (each ``/ee_pose``), from the same phase machine as the data generator's
scripted expert (:class:`vla_sim.expert.GraspPhases`): approach above the cup, descend, close, lift.
An episode's end (``/sim/episode``) resets it. When the scene has no referred cup it holds still, as
an operator who finds no such cup would. ``noise_std`` adds a person's imprecision to the commands
(:class:`vla_sim.expert.OperatorNoise`), so the recordings show how to recover from a drift.
"""

from __future__ import annotations

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray

from . import qos, topics
from .conversions import stamp_seconds
from .node_main import run_node


class ExpertCommander(Node):
    """Twist + gripper commands toward the referred cup, one per end-effector pose."""

    def __init__(self) -> None:
        super().__init__("vla_expert_commander")
        from vla_sim.config import EnvConfig
        from vla_sim.expert import NOISE_STD, NOISY_FRACTION, GraspPhases, OperatorNoise

        speed = self.declare_parameter(
            "max_linear_speed", EnvConfig().max_linear_speed,
            ParameterDescriptor(description="fastest end-effector speed commanded (m/s)")).value
        self.base_frame = self.declare_parameter(
            "base_frame", topics.BASE_FRAME, ParameterDescriptor(description="frame of the twist commands")).value
        noise_std = self.declare_parameter(
            "noise_std", 0.0,
            ParameterDescriptor(description="velocity noise (m/s per axis, held 0.1 s, 0.3 of it near the cup) "
                                "added to the commands of noisy episodes: a person's imprecise hand, so the "
                                f"demonstrations show recoveries (vla data generate executes {NOISE_STD})", dynamic_typing=True)).value
        noisy_fraction = self.declare_parameter(
            "noisy_fraction", NOISY_FRACTION, ParameterDescriptor(description="share of episodes with that noise", dynamic_typing=True)).value
        noise_seed = self.declare_parameter(
            "noise_seed", 0, ParameterDescriptor(description="seed of the noise draws")).value
        if not speed > 0:
            raise SystemExit(f"vla_expert_commander: max_linear_speed must be > 0, got {speed}")
        try:
            self.noise = OperatorNoise(float(noise_std), float(noisy_fraction), int(noise_seed))
        except ValueError as exc:
            raise SystemExit(f"vla_expert_commander: {exc}") from None
        self.phases = GraspPhases(float(speed))
        self.rim: np.ndarray | None = None  # (x, y, rim height) of the referred cup; None: not in the scene
        self.instance = ""
        self.counts = {"commands": 0, "episodes": 0}
        self.pub_twist = self.create_publisher(TwistStamped, topics.TWIST_CMD, qos.COMMAND_QOS)
        self.pub_gripper = self.create_publisher(Float64MultiArray, topics.GRIPPER_CMD, qos.COMMAND_QOS)
        self.create_subscription(DiagnosticStatus, topics.SIM_TARGET, self._on_target, qos.COMMAND_QOS)
        self.create_subscription(DiagnosticStatus, topics.EPISODE, self._on_episode, qos.COMMAND_QOS)
        self.create_subscription(PoseStamped, topics.EE_POSE, self._on_pose, qos.COMMAND_QOS)

    def _on_target(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        try:
            rim = np.array([float(values["x"]), float(values["y"]), float(values["rim"])])
        except (KeyError, ValueError):
            self.rim = None  # no referred cup in this scene
            return
        if values.get("instance", "") != self.instance:  # a new scene's cup: start over
            self.instance = values.get("instance", "")
            self.phases.reset()
        if self.phases.grasp_point is None:  # once closing, the grasp point stays where the fingers are
            self.rim = rim if np.isfinite(rim).all() else None

    def _on_episode(self, msg: DiagnosticStatus) -> None:
        self.phases.reset()
        self.noise.new_episode()
        self.rim, self.instance = None, ""
        self.counts["episodes"] += 1

    def _on_pose(self, msg: PoseStamped) -> None:
        from vla_sim.expert import grasp_points

        p = msg.pose.position
        ee = np.array([p.x, p.y, p.z])
        if self.rim is None or not np.isfinite(ee).all():
            action = np.array([0.0, 0.0, 0.0, 1.0])
        else:
            action = self.phases.act(ee, *grasp_points(self.rim))
            action = self.noise.apply(action, self.phases.phase, stamp_seconds(msg.header.stamp))
        twist = TwistStamped()
        twist.header.stamp, twist.header.frame_id = msg.header.stamp, self.base_frame
        twist.twist.linear.x, twist.twist.linear.y, twist.twist.linear.z = (float(v) for v in action[:3])
        self.pub_twist.publish(twist)
        self.pub_gripper.publish(Float64MultiArray(data=[float(action[3])]))
        self.counts["commands"] += 1


def main(args: list[str] | None = None) -> int:
    return run_node(ExpertCommander, args)


if __name__ == "__main__":
    raise SystemExit(main())
