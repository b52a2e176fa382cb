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


def _red_and_blue_seed() -> int:
    from vla_sim import EnvConfig
    from vla_sim.scene import sample_scene

    config = EnvConfig(num_cups=(3, 5), target="blue")
    return next(s for s in range(60000, 61000)
                if {"red", "blue"} <= {c.colour for c in sample_scene(config, s, "blue").cups})


def test_changing_the_instruction_mid_episode_retargets(ros_env, tmp_path):
    """Start towards the red cup, switch to the blue one: the episode (target blue) must succeed."""
    seed = _red_and_blue_seed()
    launch = subprocess.Popen([VLA, "launch", "sim_demo", f"seed:={seed}", "target:=blue", "instruction:=",
                               f"video:={tmp_path / 'retarget.mp4'}"],
                              env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # `vla instruct` waits for both subscribers, sim and policy (the policy subscribes once its
        # model is loaded).
        first = subprocess.run([VLA, "instruct", "pick up the red cup", "--wait", "60", "--subscribers", "2"],
                               env=ros_env,
                               capture_output=True, text=True, timeout=90)
        assert first.returncode == 0, first.stdout + first.stderr
        time.sleep(1.5)  # let the arm head for the red cup (scenario timing, not a wait for matching)
        second = subprocess.run([VLA, "instruct", "pick up the blue cup", "--subscribers", "2"], env=ros_env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stdout + second.stderr
        output, _ = launch.communicate(timeout=120)
    finally:
        if launch.poll() is None:
            launch.kill()
    results = outcomes(output)
    assert len(results) == 1, output[-3000:]
    assert results[0][2] == "success", output[-3000:]


def test_ctrl_c_stops_every_node_cleanly(ros_env, tmp_path):
    """SIGINT to `vla launch` (Ctrl-C): every node exits, none is left behind, no traceback."""
    import os
    import signal

    launch = subprocess.Popen([VLA, "launch", "sim_demo", "episodes:=0", f"video:={tmp_path / 'v.mp4'}"],
                              env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in launch.stdout:  # until the closed loop runs: the policy publishes, the sim's clock starts
            lines.append(line)
            if "episode clock running" in line:
                break
        launch.send_signal(signal.SIGINT)
        rest, _ = launch.communicate(timeout=60)
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
