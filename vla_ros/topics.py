"""Default topic, frame and joint names of the ROS 2 graph (one place for all nodes; no rclpy import,
so offline tools such as ``vla data from-bag`` use the same names). QoS profiles: ``qos.py``.

Every name here is a default: nodes create topics with these relative-free names and
users remap them (``-r /camera/image_raw:=/my_cam/image``) or change them in launch files.
"""

from __future__ import annotations

import math

CAMERA_IMAGE = "/camera/image_raw"
# The same frames JPEG-compressed (sensor_msgs/CompressedImage), image_transport's name for them: ~3 kB
# instead of 49 kB a frame, for a policy on another computer over a slow or lossy link.
CAMERA_IMAGE_COMPRESSED = CAMERA_IMAGE + "/compressed"
CAMERA_INFO = "/camera/camera_info"
INSTRUCTION = "/instruction"
TWIST_CMD = "/servo_node/delta_twist_cmds"
GRIPPER_CMD = "/gripper_controller/commands"
JOINT_STATES = "/joint_states"
EE_POSE = "/ee_pose"
DIAGNOSTICS = "/diagnostics"
ATTENTION = "/vla/attention"
# What the policy understood and is doing (diagnostic_msgs/DiagnosticStatus, published on every change
# and once a second): message = state; values instruction, understood, refusal, state, present_prob.
STATUS = "/vla/status"
EPISODE = "/sim/episode"
# The camera's pose in the robot base frame (geometry_msgs/PoseStamped, header.frame_id = base frame, the
# pose of the optical frame), latched: the hand-eye calibration `vla record` stores so a bag converts alone.
CAMERA_POSE = "/camera/pose"
# Simulator ground truth about the referred cup, every frame (diagnostic_msgs/DiagnosticStatus; values
# instance, x, y, z (centre of mass), rim (rim height), lift; no values when the scene lacks it). Only the
# expert commander (standing in for a human who sees the cup) and label-quality checks read it.
SIM_TARGET = "/sim/target"

BASE_FRAME = "panda_link0"  # twist commands and the end-effector pose are in the robot base frame
CAMERA_FRAME = "camera_optical_frame"

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
OPEN_GRIPPER_WIDTH = 0.08  # m, the Panda gripper fully open


def finger_width(names, positions) -> float | None:
    """Gripper opening (m) from a JointState's names and positions: the sum of the two finger
    joints; None when either is missing or the value is not finite."""
    joints = dict(zip(names, positions))
    if not all(j in joints for j in FINGER_JOINTS):
        return None
    width = float(sum(joints[j] for j in FINGER_JOINTS))
    return width if math.isfinite(width) else None
