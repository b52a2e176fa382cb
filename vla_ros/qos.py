"""QoS profiles of the graph's topics (why each: see the README's topic table)."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

# Camera frames: reliable, because best-effort loses most frames above ~100 KB on one host;
# depth 1 because only the newest frame matters to a controller.
IMAGE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
# The camera's own writer keeps a few frames: a reader starved of CPU for a moment (a bag recorder on a
# busy machine) still receives every frame, while a depth-1 reader (the policy) still takes the newest.
# Measured: a depth-1 writer lost 83 of 58,115 frames to `vla record` with two trainings on the 2 cores.
CAMERA_WRITER_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
# The instruction is state, not an event: late joiners get the current one.
INSTRUCTION_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Commands and states: small, frequent, every one counts.
COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
# A calibration (the camera's pose): state, published once, and late joiners (a recorder) get it.
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
