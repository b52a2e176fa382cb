"""Referring expressions over DDS: the sim node's refer/anchor parameters, the instruction it publishes for
each kind, the /sim/episode record, and one relational episode through the whole graph."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from ros_probe import Probe, diagnostics_of, start_node, stop  # noqa: E402

VLA = str(Path(sys.executable).parent / "vla")
# The shipped checkpoint (it does every reference kind), as a folder path the launch arguments take.
REFER_CHECKPOINT = Path(__file__).resolve().parents[1] / "vla_policy" / "checkpoints" / "default"
# (kind, seed, target): the canonical next-to split's first seed, and the held-out combination's (an orange
# pair's right cup, never in training); both successes in `vla eval`.
RELATIONAL_EPISODES = [("next-to", 100000, "random"), ("right", 120000, "orange")]


def expected_scene(seed: int, refer: str, target: str = "red", anchor: str = "random"):
    from vla_sim import EnvConfig
    from vla_sim.scene import sample_scene

    return sample_scene(EnvConfig(num_cups=(3, 5), target=target, refer=refer, anchor=anchor), seed)


def test_bad_refer_and_anchor_stop_the_sim_at_start_up_with_one_line(ros_env):
    cases = {"refer:=sideways": "refer: unknown reference kind 'sideways'",
             "anchor:=magenta": "anchor: unknown colour 'magenta'",
             "instruction:=pick up the cup by the {anchor} cup": "only refer next-to has"}
    procs = {param: start_node("vla_sim_node", ros_env, param) for param in cases}
    for param, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            out = stop(proc)
        assert proc.returncode != 0, (param, out)
        assert cases[param] in out and "Traceback" not in out, (param, out)


@pytest.mark.parametrize("refer, params, instruction", [
    ("nearest", (), "pick up the cup closest to you"),  # instruction left at its default: the canonical one
    ("next-to", ("anchor:=blue", "instruction:=grab the cup beside the {anchor} one ({colour})"), None),
], ids=["nearest-canonical", "next-to-template"])
def test_sim_publishes_the_instruction_and_scene_of_its_kind(ros_env, refer, params, instruction):
    from std_msgs.msg import String

    from vla_ros import qos, topics

    seed = 50100
    scene = expected_scene(seed, refer, anchor="blue" if refer == "next-to" else "random")
    if instruction is None:
        instruction = f"grab the cup beside the blue one ({scene.target})"
    sim = start_node("vla_sim_node", ros_env, f"seed:={seed}", f"refer:={refer}", "wait_for_commander:=false",
                     "episode_pause:=0.2", "episode_seconds:=10.0", *params)
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    try:
        diag = diagnostics_of(probe, "vla_sim")
        said: list[str] = []
        probe.node.create_subscription(String, topics.INSTRUCTION, lambda m: said.append(m.data), qos.INSTRUCTION_QOS)
        probe.spin_until(lambda: said and diag, 60, "the instruction and the sim's diagnostics", alive=(sim,))
    finally:
        probe.close()
        out = stop(sim)
    assert said[-1] == instruction, said
    status = diag[-1]
    assert status["refer"] == refer and status["target_instance"] == scene.target_instance, status
    assert status["anchor"] == (scene.anchor or "") and status["robot_left_side"] == "right", status
    assert "Traceback" not in out, out[-3000:]


@pytest.mark.parametrize("kind, seed, target", RELATIONAL_EPISODES, ids=[k for k, _, _ in RELATIONAL_EPISODES])
def test_relational_episode_through_the_graph(ros_env, tmp_path, kind, seed, target):
    """One relational episode with the referring checkpoint, sim + policy + recorder as `vla launch` starts
    them. next-to: the policy node locates the anchor, marks it and picks its neighbour; right: it finds
    the orange pair, marks the cup on the robot's right and picks it. /sim/episode says which kind it was,
    which anchor and which cup was meant."""
    from diagnostic_msgs.msg import DiagnosticStatus

    from vla_ros import qos, topics

    scene = expected_scene(seed, kind, target=target)
    launch = subprocess.Popen([VLA, "launch", "sim_demo", f"seed:={seed}", f"refer:={kind}", f"target:={target}",
                               f"checkpoint:={REFER_CHECKPOINT}", f"video:={tmp_path / 'relational.mp4'}"],
                              env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    episodes: list[dict] = []
    try:
        probe.node.create_subscription(DiagnosticStatus, topics.EPISODE, lambda m: episodes.append(
            {"message": m.message, **{kv.key: kv.value for kv in m.values}}), qos.COMMAND_QOS)
        probe.spin_until(lambda: episodes, 300, "the episode's outcome on /sim/episode", alive=(launch,))
    finally:
        probe.close()
        try:
            output, _ = launch.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            output = stop(launch)
    (record,) = episodes
    summary = {k: record.get(k) for k in ("instruction", "outcome", "target_instance", "wrong_instance", "seconds")}
    print(f"[figure] {kind} seed {seed}: {summary}")
    assert record["refer"] == kind and record["target_instance"] == scene.target_instance, record
    if kind == "next-to":
        assert scene.anchor and record["anchor"] == scene.anchor, (record, scene.anchor)
        assert record["instruction"] == f"pick up the cup next to the {scene.anchor} cup", record
    else:
        assert record["instruction"] == f"pick up the {target} cup on the {kind}", record
        assert scene.target_instance.startswith(target), scene.target_instance
    assert launch.returncode == 0 and "Traceback" not in output, output[-3000:]
    assert record["outcome"] == "success" and record["success"] == "True", (record, output[-3000:])
    assert record["wrong_instance"] == "", record
