"""Default topic names and frames of the ROS 2 graph (one place for all nodes; no rclpy import,
so offline tools such as ``vla data from-bag`` use the same names). QoS profiles: ``qos.py``.

Every name here is a default: nodes create topics with these relative-free names and
users remap them (``-r /camera/image_raw:=/my_cam/image``) or change them in launch files.
"""

from __future__ import annotations

CAMERA_IMAGE = "/camera/image_raw"
CAMERA_INFO = "/camera/camera_info"
INSTRUCTION = "/instruction"
TWIST_CMD = "/servo_node/delta_twist_cmds"
GRIPPER_CMD = "/gripper_controller/commands"
JOINT_STATES = "/joint_states"
EE_POSE = "/ee_pose"
DIAGNOSTICS = "/diagnostics"
ATTENTION = "/vla/attention"
EPISODE = "/sim/episode"

BASE_FRAME = "panda_link0"  # twist commands and the end-effector pose are in the robot base frame
CAMERA_FRAME = "camera_optical_frame"
