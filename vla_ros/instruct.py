"""``vla instruct TEXT``: publish one instruction (transient-local, as the policy node expects)."""

from __future__ import annotations

import time

import rclpy
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException
from std_msgs.msg import String

from . import qos, topics


def publish_instruction(text: str, wait: float, topic: str = topics.INSTRUCTION, subscribers: int = 1) -> int:
    rclpy.init()
    node = None
    try:
        node = rclpy.create_node("vla_instruct")
        pub = node.create_publisher(String, topic, qos.INSTRUCTION_QOS)
        deadline = time.monotonic() + wait
        while pub.get_subscription_count() < subscribers:  # this process exits: late joiners would miss it
            if time.monotonic() > deadline:
                print(f"vla: error: {pub.get_subscription_count()} of {subscribers} subscriber(s) on {topic} after "
                      f"{wait:.0f} s (is the policy node running, with the same ROS_DOMAIN_ID?)")
                return 1
            rclpy.spin_once(node, timeout_sec=0.05)
        pub.publish(String(data=text))
        pub.wait_for_all_acked(Duration(seconds=2.0))
        print(f"published on {topic}: {text!r} ({pub.get_subscription_count()} subscriber(s))")
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 130
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
