"""Fault injection over DDS, each test in its own domain: stopped commands, a killed and restarted
policy, a reset mid-inference, a slow camera, a crashing launch child."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")

from ros_probe import Probe, diagnostics_of, start_node, stop  # noqa: E402

VLA = str(Path(sys.executable).parent / "vla")


def subscribe_poses(probe: Probe) -> list[tuple[float, np.ndarray]]:
    """(receive time, end-effector xyz) of every /ee_pose the probe spins in."""
    from geometry_msgs.msg import PoseStamped

    from vla_ros import qos, topics

    poses: list[tuple[float, np.ndarray]] = []
    probe.node.create_subscription(PoseStamped, topics.EE_POSE, lambda m: poses.append(
        (time.monotonic(), np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z]))), qos.COMMAND_QOS)
    return poses


def moved_since(poses, t0: float) -> float:
    """Largest distance (m) from the first pose after ``t0`` to any later one."""
    after = [p for t, p in poses if t >= t0]
    return max((float(np.linalg.norm(p - after[0])) for p in after), default=0.0)


def still_after(poses, t0: float, tol: float = 1e-4) -> float:
    """Seconds from ``t0`` until the end effector last moved more than ``tol`` m between two poses."""
    moves = [t for (_, a), (t, b) in zip(poses, poses[1:]) if t >= t0 and np.linalg.norm(b - a) > tol]
    return max(moves, default=t0) - t0


def test_sim_rejects_bad_commands_and_its_watchdog_holds_the_arm(ros_env):
    from geometry_msgs.msg import TwistStamped
    from rclpy.duration import Duration
    from std_msgs.msg import String

    from vla_ros import qos, topics

    sim = start_node("vla_sim_node", ros_env, "episode_pause:=0.3", "episode_seconds:=60.0")
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    try:
        poses = subscribe_poses(probe)
        diag = diagnostics_of(probe, "vla_sim")
        started = []
        probe.node.create_subscription(String, topics.INSTRUCTION, started.append, qos.INSTRUCTION_QOS)
        pub = probe.node.create_publisher(TwistStamped, topics.TWIST_CMD, qos.COMMAND_QOS)
        probe.spin_until(lambda: pub.get_subscription_count() > 0, 60, "the sim node", alive=(sim,))
        twist = TwistStamped()
        twist.header.frame_id = topics.BASE_FRAME
        pub.publish(twist)  # a commander exists: the episode clock starts, then the pause ends
        probe.spin_until(lambda: started, 30, "the end of the episode pause", alive=(sim,))

        # Garbage: NaN, inf, a twist in another frame. Rejected and counted; the arm does not move.
        garbage_from = time.monotonic()
        for vx, frame in ((float("nan"), topics.BASE_FRAME), (float("inf"), topics.BASE_FRAME), (0.1, "world")):
            bad = TwistStamped()
            bad.header.frame_id, bad.twist.linear.x = frame, vx
            for _ in range(3):
                pub.publish(bad)
                probe.spin_for(0.1)
        # Stale: stamped 2 s ago (what a network outage releases all at once when the link returns).
        stale = TwistStamped()
        stale.header.frame_id, stale.twist.linear.x = topics.BASE_FRAME, 0.1
        for _ in range(3):
            stale.header.stamp = (probe.node.get_clock().now() - Duration(seconds=2.0)).to_msg()
            pub.publish(stale)
            probe.spin_for(0.1)
        probe.spin_for(0.3)
        assert moved_since(poses, garbage_from) < 0.002, "moved on a rejected command"
        seen = len(diag)
        probe.spin_until(lambda: len(diag) > seen, 5, "sim diagnostics", alive=(sim,))
        assert int(diag[-1]["rejected_commands"]) == 12 and int(diag[-1]["stale_commands"]) == 3, diag[-1]
        # Beyond the speed limit: clipped and counted, not refused.
        fast = TwistStamped()
        fast.header.frame_id, fast.twist.linear.z = topics.BASE_FRAME, 5.0
        pub.publish(fast)
        probe.spin_for(0.3)
        seen = len(diag)
        probe.spin_until(lambda: len(diag) > seen, 5, "sim diagnostics", alive=(sim,))
        assert int(diag[-1]["clipped_commands"]) >= 1 and int(diag[-1]["rejected_commands"]) == 12, diag[-1]

        twist.twist.linear.x = 0.1
        for _ in range(10):  # 1 s of +x at 10 Hz, then silence
            twist.header.stamp = probe.node.get_clock().now().to_msg()
            pub.publish(twist)
            sent = time.monotonic()
            probe.spin_for(0.1)
        probe.spin_for(1.0)
        assert moved_since(poses, sent - 0.5) > 0.02  # it was moving
        # The last twist moves the arm for command_timeout (0.1 s), then the arm brakes; one camera
        # tick (33 ms) of slack and 150 ms to brake.
        held = sent + 0.1 + 1.0 / 30.0  # the sim's setpoint stops here, one camera tick at the latest
        settled = held + 0.15
        assert moved_since(poses, settled) < 0.002, f"still moving {moved_since(poses, settled):.4f} m"
        print(f"[figure] sim watchdog: setpoint held from 100 ms after the last twist was sent; the arm "
              f"then closed on it by {moved_since(poses, held) * 1e3:.1f} mm and was still "
              f"(< 0.1 mm per camera frame) {still_after(poses, sent) * 1e3:.0f} ms after that twist")
    finally:
        probe.close()
        out = stop(sim)
    assert "Traceback" not in out, out[-3000:]


def test_reset_mid_inference_then_policy_killed_and_restarted(ros_env):
    """A sim reset while the policy is acting starts a clean episode; killing the policy then holds
    the arm; a restarted policy picks the task up from the transient-local instruction and acts on it,
    and succeeds (in that episode or, as the policy fails ~1 % of closed-loop episodes, the next)."""
    from diagnostic_msgs.msg import DiagnosticStatus
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from vla_ros import qos, topics

    # 90 s episodes: under the full suite's load a restarted policy node needs 15-25 s to import torch
    # and load the checkpoint before it acts, and the episode clock runs on meanwhile.
    sim = start_node("vla_sim_node", ros_env, "seed:=50000", "episodes:=2", "episode_seconds:=90.0")
    policy = start_node("vla_policy_node", ros_env, "torch_threads:=1")
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    restarted = None
    try:
        poses = subscribe_poses(probe)
        outcomes: list[DiagnosticStatus] = []
        probe.node.create_subscription(DiagnosticStatus, topics.EPISODE, outcomes.append, qos.COMMAND_QOS)
        instructions: list[float] = []  # arrival times: the sim sends one when each episode's pause ends
        probe.node.create_subscription(String, topics.INSTRUCTION, lambda m: instructions.append(time.monotonic()),
                                       qos.INSTRUCTION_QOS)
        reset = probe.node.create_client(Trigger, "/vla_sim/reset")
        assert reset.wait_for_service(timeout_sec=60)

        def moving() -> bool:
            return len(poses) > 2 and float(np.linalg.norm(poses[-1][1] - poses[0][1])) > 0.02

        probe.spin_until(moving, 120, "the policy to move the arm", alive=(sim, policy))
        future = reset.call_async(Trigger.Request())
        probe.spin_until(future.done, 10, "the reset service", alive=(sim, policy))
        assert future.result().success, future.result().message
        sent = len(instructions)
        probe.spin_until(lambda: len(instructions) > sent, 30, "the new episode's instruction", alive=(sim, policy))
        episode_start = time.monotonic()
        poses.clear()  # the arm is home and the new episode's pause is over
        probe.spin_until(moving, 60, "the policy to act in the new episode", alive=(sim, policy))

        # Kill it while the arm is moving (not while it closes the gripper, say): at over 3 cm/s.
        probe.spin_until(lambda: float(np.linalg.norm(poses[-1][1] - poses[-2][1])) > 1e-3, 30,
                         "the arm to move fast", alive=(sim, policy))
        policy.kill()  # SIGKILL: no goodbye
        policy.wait(timeout=10)
        killed = time.monotonic()
        probe.spin_for(1.0)
        assert moved_since(poses, killed + 0.2) < 0.002, "the arm kept moving without a commander"
        print(f"[figure] policy killed while moving: arm still (< 0.1 mm per camera frame) "
              f"{still_after(poses, killed) * 1e3:.0f} ms after SIGKILL returned")

        statuses: list[tuple[float, str, dict[str, str]]] = []
        probe.node.create_subscription(
            DiagnosticStatus, topics.STATUS,
            lambda m: statuses.append((time.monotonic() - killed, m.message, {kv.key: kv.value for kv in m.values})),
            qos.COMMAND_QOS)
        restarted = start_node("vla_policy_node", ros_env, "torch_threads:=1")
        probe.spin_until(lambda: outcomes, 150, "the episode outcome", alive=(sim, restarted))
        print(f"[figure] restart: policy killed {killed - episode_start:.1f} s into the episode, outcome "
              f"{time.monotonic() - episode_start:.1f} s into it")
        # The restarted node took the task from the transient-local instruction, without a new one: it
        # acted on it and the arm moved.
        next_instruction = instructions[sent + 1] - killed if len(instructions) > sent + 1 else float("inf")
        assert any(message == "acting" and values.get("instruction") == "pick up the red cup" and t < next_instruction
                   for t, message, values in statuses), statuses[-8:]
        assert moved_since(poses, killed + 1.0) > 0.02, "the restarted policy never moved the arm"
        if outcomes[-1].message != "success":
            # A closed-loop episode the policy failed (timeout, knocked over): the restarted node must
            # still succeed on the next one; the first outcome is printed.
            print(f"[figure] restarted policy's first episode: {[(kv.key, kv.value) for kv in outcomes[-1].values]}")
            probe.spin_until(lambda: len(outcomes) > 1, 150, "the next episode's outcome", alive=(sim, restarted))
            if outcomes[-1].message != "success":
                pytest.fail(f"{[(kv.key, kv.value) for kv in outcomes[-1].values]}\n{stop(restarted)[-3000:]}")
    finally:
        probe.close()
        outs = [stop(p) for p in (sim, policy, restarted) if p is not None]
    for out in outs:
        assert "Traceback" not in out, out[-3000:]


def test_slow_camera_keeps_the_control_rate_and_reports_staleness(ros_env):
    sim = start_node("vla_sim_node", ros_env, "camera_rate_hz:=5.0", "episodes:=0", "episode_pause:=0.3")
    policy = start_node("vla_policy_node", ros_env, "torch_threads:=1")
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    try:
        diag = diagnostics_of(probe, "vla_policy")
        probe.spin_until(lambda: len([d for d in diag if d["state"] == "acting"]) >= 4, 120,
                         "4 s of acting on a 5 Hz camera", alive=(sim, policy))
        acting = [d for d in diag if d["state"] == "acting"]
        period = 1.0 / 5.0
        for earlier, d in zip(diag, diag[1:]):
            if d["state"] == "acting":
                # The camera really runs at 5 Hz (frames received per 1 s diagnostics period) ...
                assert 3 <= int(d["frames"]) - int(earlier["frames"]) <= 7, (earlier, d)
        rates = [float(d["control_rate_hz"]) for d in acting[1:]]  # (the first may average over the ticks before the instruction)
        # ... the control timer keeps 10 Hz regardless (a 1 s window on a loaded 2-core machine can lose one
        # tick, so each window within 1 Hz and their mean within 0.6 Hz (9.64 Hz measured under full-suite load); a timer tied to the 5 Hz camera fails both) ...
        assert all(abs(r - 10.0) <= 1.0 for r in rates) and abs(sum(rates) / len(rates) - 10.0) <= 0.6, acting
        for d in acting:
            # ... and the image age reported is that of a 5 Hz camera: at most one frame period plus
            # delivery, well inside the 0.5 s that would stop the arm.
            assert 0.0 <= float(d["image_age_s"]) <= 1.5 * period + 0.05, d
        acting = acting[-1]
        assert float(acting["latency_ms_p50"]) > 0.0
        # Commands come from predictions up to one 200 ms frame period old, and the figures say so.
        assert float(acting["latency_ms_p99"]) > 100.0, acting
        assert float(acting["latency_ms_p99"]) < 1e3 * (1.5 * period + 0.05), acting
        print(f"[figure] 5 Hz camera: control {acting['control_rate_hz']} Hz, latency p50 {acting['latency_ms_p50']} "
              f"ms, p99 {acting['latency_ms_p99']} ms, image age {acting['image_age_s']} s")
    finally:
        probe.close()
        outs = [stop(p) for p in (sim, policy)]
    for out in outs:
        assert "Traceback" not in out, out[-3000:]


def test_launch_shuts_everything_down_when_a_node_crashes(ros_env, tmp_path):
    run = subprocess.run([VLA, "launch", "sim_demo", f"checkpoint:={tmp_path / 'missing'}",
                          f"video:={tmp_path / 'v.mp4'}"], env=ros_env, capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "vla_policy: cannot load checkpoint" in out, out[-3000:]
    assert re.search(r"\[launch\] vla_policy died with exit code \d+; shutting down the others", out), out[-3000:]
    for pid in (int(p) for p in re.findall(r"\(pid (\d+)\)", out)):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert "Traceback" not in out, out[-3000:]
