"""`vla instruct TEXT`: one instruction, transient-local, to the subscribers it waits for; a clear
error, and a non-zero exit, when nobody listens."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from ros_probe import Probe  # noqa: E402

VLA = str(Path(sys.executable).parent / "vla")


def test_instruct_reaches_a_subscriber_with_the_exact_text_transient_local(ros_env):
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
    from std_msgs.msg import String

    from vla_ros import qos, topics

    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    try:
        got: list[str] = []
        # A transient-local reader matches only a writer that offers transient-local (DDS QoS rules),
        # as the policy node's /instruction subscription is.
        assert qos.INSTRUCTION_QOS.durability == DurabilityPolicy.TRANSIENT_LOCAL
        probe.node.create_subscription(String, topics.INSTRUCTION, lambda m: got.append(m.data), qos.INSTRUCTION_QOS)
        proc = subprocess.Popen([VLA, "instruct", "grab the blue mug", "--subscribers", "1"], env=ros_env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        offered = []

        def received() -> bool:
            offered.extend(info.qos_profile for info in probe.node.get_publishers_info_by_topic(topics.INSTRUCTION))
            return bool(got)

        try:
            probe.spin_until(received, 30, "the instruction")
            probe.spin_for(0.3)  # nothing more comes
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    finally:
        probe.close()
    assert got == ["grab the blue mug"]
    assert proc.returncode == 0, out
    assert "published on /instruction: 'grab the blue mug' (1 subscriber(s))" in out, out
    assert offered and all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL and p.reliability == ReliabilityPolicy.RELIABLE
                           for p in offered), offered
    assert "Traceback" not in out, out


def test_instruct_without_a_subscriber_gives_up_with_a_clear_error(ros_env):
    start = time.monotonic()
    run = subprocess.run([VLA, "instruct", "grab the blue mug", "--wait", "1"], env=ros_env, capture_output=True,
                         text=True, timeout=60)
    seconds = time.monotonic() - start
    out = (run.stdout + run.stderr).strip()
    assert run.returncode != 0, out
    assert out.splitlines() == ["vla: error: 0 of 1 subscriber(s) on /instruction after 1 s (is the policy node "
                                "running, with the same ROS_DOMAIN_ID?)"], out
    assert 1.0 <= seconds < 15.0, seconds  # it waited the second it was given, not the default 10 s
