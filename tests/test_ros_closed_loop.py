"""The whole graph over DDS, as separate processes started by `vla launch`."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

VLA = str(Path(sys.executable).parent / "vla")
EPISODE_LINE = re.compile(r"episode seed (\d+): \"(.*)\" -> (\w+) \((success|failure)\)")


def outcomes(output: str) -> list[tuple[int, str, str]]:
    return [(int(m.group(1)), m.group(2), m.group(3)) for m in EPISODE_LINE.finditer(output)]


def test_sim_demo_succeeds_on_held_out_seeds(ros_env, tmp_path):
    """'pick up the red cup' on 5 seeds no training or evaluation split uses: >= 4 succeed."""
    video = tmp_path / "demo.mp4"
    run = subprocess.run([VLA, "launch", "sim_demo", "seed:=50000", "episodes:=5", f"video:={video}"],
                         env=ros_env, capture_output=True, text=True, timeout=400)
    results = outcomes(run.stdout)
    assert run.returncode == 0, run.stdout[-3000:]
    assert len(results) == 5, run.stdout[-3000:]
    assert all(instr == "pick up the red cup" for _, instr, _ in results)
    assert sum(outcome == "success" for _, _, outcome in results) >= 4, results
    assert video.stat().st_size > 10_000
    assert "Traceback" not in run.stdout


# A scene with a red and a blue cup where the shipped policy, on the simulator's step clock, picks the blue
# cup after starting 2 cm towards the red one. Retargeting mid-approach is not reliable yet: of the first
# 12 such scenes (seeds 60000+) it succeeds in 6 (v2, the colour-only policy before it: 8), against 12 of
# 12 when told "blue" from the start. This test checks that the node retargets, not how often the policy
# recovers; the first seed of the 12 (60001) failed one run in seven over DDS.
RETARGET_SEED = 60004


def _red_and_blue_seed() -> int:
    from vla_sim import EnvConfig
    from vla_sim.scene import sample_scene

    config = EnvConfig(num_cups=(3, 5), target="blue")
    assert {"red", "blue"} <= {c.colour for c in sample_scene(config, RETARGET_SEED, "blue").cups}
    return RETARGET_SEED


def test_changing_the_instruction_mid_episode_retargets(ros_env, tmp_path):
    """Start towards the red cup; once the arm has moved 2 cm, switch to the blue one: the episode
    (target blue) must succeed."""
    import numpy as np
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from std_msgs.msg import String

    from vla_ros import qos, topics

    seed = _red_and_blue_seed()
    launch = subprocess.Popen([VLA, "launch", "sim_demo", f"seed:={seed}", "target:=blue", "instruction:=",
                               f"video:={tmp_path / 'retarget.mp4'}"],
                              env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(ros_env["ROS_DOMAIN_ID"]))
    node = rclpy.create_node("retarget_test", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        poses: list[np.ndarray] = []
        node.create_subscription(PoseStamped, topics.EE_POSE, lambda m: poses.append(
            np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z])), qos.COMMAND_QOS)
        pub = node.create_publisher(String, topics.INSTRUCTION, qos.INSTRUCTION_QOS)

        def spin_until(condition, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not condition():
                assert time.monotonic() < deadline and launch.poll() is None, "timed out"
                executor.spin_once(timeout_sec=0.05)

        spin_until(lambda: pub.get_subscription_count() >= 2 and poses, 90)  # sim and policy (model loaded)
        pub.publish(String(data="pick up the red cup"))
        start = poses[-1].copy()
        spin_until(lambda: np.linalg.norm(poses[-1] - start) > 0.02, 60)  # heading for the red cup
        pub.publish(String(data="pick up the blue cup"))
        output, _ = launch.communicate(timeout=120)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        if launch.poll() is None:
            launch.kill()
    results = outcomes(output)
    assert len(results) == 1, output[-3000:]
    assert results[0][2] == "success", output[-3000:]


def test_ctrl_c_stops_every_node_cleanly(ros_env, tmp_path):
    """SIGINT to `vla launch` (Ctrl-C): every node exits, none is left behind, no traceback. Started
    with SIGINT ignored, as a background job of a non-interactive shell (a CI runner) starts it."""
    import os
    import signal

    launch = subprocess.Popen([VLA, "launch", "sim_demo", "episodes:=0", f"video:={tmp_path / 'v.mp4'}"],
                              env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    lines = []
    try:
        for line in launch.stdout:  # until the closed loop runs: the policy publishes, the sim's clock starts
            lines.append(line)
            if "episode clock running" in line:
                break
        launch.send_signal(signal.SIGINT)
        try:
            rest, _ = launch.communicate(timeout=60)
        except subprocess.TimeoutExpired as exc:
            for pid in (int(m) for m in re.findall(r"\(pid (\d+)\)", "".join(lines))):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            launch.kill()
            rest = exc.output.decode() if isinstance(exc.output, bytes) else (exc.output or "")
            pytest.fail("`vla launch` did not stop within 60 s of SIGINT:\n" + ("".join(lines) + rest)[-4000:])
    finally:
        if launch.poll() is None:
            launch.kill()
    output = "".join(lines) + rest
    pids = [int(m) for m in re.findall(r"\(pid (\d+)\)", output)]
    assert len(pids) == 3, output[-2000:]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert launch.returncode == 130
    assert "Traceback" not in output and "ignored SIGINT" not in output, output[-3000:]
    assert "video:" in output  # the recorder finalised its MP4 on the way out
