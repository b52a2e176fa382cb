"""Test-side ROS 2 helpers: a probe node in its own context, and node processes to start and kill."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

BIN = Path(sys.executable).parent


def start_node(executable: str, env: dict, *params: str) -> subprocess.Popen:
    """Start an installed node executable with ``-p name:=value`` parameters."""
    args = [str(BIN / executable), "--ros-args"]
    for param in params:
        args += ["-p", param]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> str:
    """SIGINT, then kill if needed; the process's output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    return wait_output(proc, timeout)


def wait_output(proc: subprocess.Popen, timeout: float) -> str:
    """The process's output once it exits; a process still running after ``timeout`` s gets SIGABRT
    first, so that its output ends with the stack of every thread (PYTHONFAULTHANDLER in ros_env)."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    return out or ""


class Probe:
    """A node in its own rclpy context, spun by the test (no background threads)."""

    def __init__(self, domain_id: int, name: str = "probe") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition: Callable[[], bool], timeout: float, what: str = "condition",
                   alive: tuple[subprocess.Popen, ...] = ()) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for proc in alive:
                assert proc.poll() is None, f"a node died while waiting for {what}: {stop(proc)[-3000:]}"
            assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
            self.executor.spin_once(timeout_sec=0.02)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=min(0.02, max(deadline - time.monotonic(), 0.0)))

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def diagnostics_of(probe: Probe, name: str) -> list[dict]:
    """Subscribe to /diagnostics; returns the list that the probe's spinning fills with ``name``'s
    key/values (plus ``message``)."""
    from diagnostic_msgs.msg import DiagnosticArray

    from vla_ros import qos, topics

    seen: list[dict] = []

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == name:
                seen.append({"message": status.message, **{kv.key: kv.value for kv in status.values}})

    probe.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diag, qos.COMMAND_QOS)
    return seen


def robot_state(obs: dict, stamp) -> tuple:
    """(PoseStamped, JointState) of an observation's end effector and fingers, stamped ``stamp``: what a
    robot driver publishes beside each camera frame."""
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import JointState

    from vla_ros import topics

    pose = PoseStamped()
    pose.header.stamp, pose.header.frame_id = stamp, topics.BASE_FRAME
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in obs["ee_pose"][:3])
    pose.pose.orientation.w = 1.0
    width = float(obs["gripper_width"][0]) / 2.0
    return pose, JointState(name=list(topics.FINGER_JOINTS), position=[width, width])
