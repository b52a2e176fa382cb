"""The launch files are the single description of each graph: `vla launch` reads them."""

import re
from pathlib import Path

import pytest
import yaml

from vla_ros.launcher import LaunchError, find_launch_file, load_launch_file, node_command, parse_cli_args

ROOT = Path(__file__).resolve().parent.parent


def console_scripts() -> set[str]:
    text = (ROOT / "setup.py").read_text()
    return set(re.findall(r'"(\w+) = vla_ros\.[\w.]+:main"', text))


def declared_parameters(module: str) -> set[str]:
    """Parameter names the node declares (its source is the reference)."""
    src = (ROOT / "vla_ros" / f"{module}.py").read_text()
    return set(re.findall(r'(?:p|self\._declare)\(\s*"(\w+)"', src)) | set(re.findall(r'declare_parameter\(\s*"(\w+)"', src))


MODULES = {"vla_sim_node": "sim_node", "vla_policy_node": "policy_node", "vla_video_recorder": "video_recorder",
           "vla_expert_commander": "expert_commander"}


@pytest.mark.parametrize("name, args", [("sim_demo", {}), ("sim_demo", {"commander": "expert"}), ("policy", {})])
def test_launch_file_nodes_parameters_and_files_exist(name, args, tmp_path):
    desc = load_launch_file(find_launch_file(name), args)
    assert desc.nodes
    for node in desc.nodes:
        assert node.exec in console_scripts(), f"{node.exec} is not a console script"
        declared = declared_parameters(MODULES[node.exec])
        assert set(node.params) - {"use_sim_time"} <= declared, set(node.params) - declared  # use_sim_time: rclpy's own
        for f in node.params_files:
            params = yaml.safe_load(Path(f).read_text())["/**"]["ros__parameters"]
            assert set(params) <= declared, f"{f}: {set(params) - declared} are not declared by {node.exec}"
        cmd = node_command(node, tmp_path)
        assert cmd[1:3] == ["--ros-args", "-r"] and f"__node:={node.name}" in cmd


def test_launch_prefix_runs_each_host_s_nodes_under_its_command(tmp_path):
    desc = load_launch_file(find_launch_file("sim_demo"), parse_cli_args(
        ["robot_prefix:=ip netns exec vla_robot env ROS_STATIC_PEERS='10.77.0.2;10.77.0.3'",
         "policy_prefix:=taskset -c 1"]))
    commands = {node.name: node_command(node, tmp_path) for node in desc.nodes}
    assert commands["vla_sim"][:6] == ["ip", "netns", "exec", "vla_robot", "env", "ROS_STATIC_PEERS=10.77.0.2;10.77.0.3"]
    assert commands["vla_video_recorder"][:4] == ["ip", "netns", "exec", "vla_robot"]
    assert commands["vla_policy"][:3] == ["taskset", "-c", "1"] and commands["vla_policy"][3].endswith("vla_policy_node")
    plain = load_launch_file(find_launch_file("sim_demo"), {})
    assert all(node_command(node, tmp_path)[0].endswith(node.exec) for node in plain.nodes)  # no prefix by default


def test_launch_arguments_reach_parameters_and_remaps(tmp_path):
    desc = load_launch_file(find_launch_file("policy"), parse_cli_args(
        ["camera:=/wrist/image", "instruction:=pick up the red cup", "dry_run:=false"]))
    (node,) = desc.nodes
    assert node.params["instruction"] == "pick up the red cup"
    assert node.params["dry_run"] is False  # typed as YAML, like ros2 launch
    assert ("/camera/image_raw", "/wrist/image") in node.remaps
    cmd = node_command(node, tmp_path)
    assert "/camera/image_raw:=/wrist/image" in cmd
    overrides = yaml.safe_load((tmp_path / "vla_policy.yaml").read_text())
    assert overrides["/**"]["ros__parameters"]["instruction"] == "pick up the red cup"


@pytest.mark.parametrize("args, message", [
    (["seed=3"], "name:=value"),
    (["colour:=red"], "unknown launch arguments"),
])
def test_bad_launch_arguments(args, message):
    with pytest.raises(LaunchError, match=message):
        load_launch_file(find_launch_file("sim_demo"), parse_cli_args(args))


def test_unknown_launch_file_and_unsupported_actions(tmp_path):
    with pytest.raises(LaunchError, match="available: policy, sim_demo"):
        find_launch_file("nope")
    bad = tmp_path / "bad.launch.yaml"
    bad.write_text("launch:\n- include: {file: other.launch.yaml}\n")
    with pytest.raises(LaunchError, match="not supported"):
        load_launch_file(bad, {})


def test_commander_chooses_the_policy_or_the_expert(tmp_path):
    """`commander:=expert` starts the scripted expert instead of the policy node (the `if` conditions)."""
    nodes = {c: [n.exec for n in load_launch_file(find_launch_file("sim_demo"), {"commander": c}).nodes]
             for c in ("policy", "expert")}
    assert nodes["policy"] == ["vla_sim_node", "vla_policy_node", "vla_video_recorder"]
    assert nodes["expert"] == ["vla_sim_node", "vla_expert_commander", "vla_video_recorder"]
    with pytest.raises(LaunchError, match="commander:=nobody is not one of policy, expert"):
        load_launch_file(find_launch_file("sim_demo"), {"commander": "nobody"})
    bad = tmp_path / "bad.launch.yaml"
    bad.write_text("launch:\n- arg: {name: x, default: maybe}\n- node: {pkg: vla_ros, exec: vla_sim_node, if: $(var x)}\n")
    with pytest.raises(LaunchError, match="expected true or false, got 'maybe'"):
        load_launch_file(bad, {})


def test_a_node_that_ends_the_graph_is_respawned_when_it_dies_and_ends_it_when_it_finishes(tmp_path, capsys):
    # The robot host restart's simulator: killed -> started again; finished -> the graph ends (status 0).
    from vla_ros.launcher import LaunchDescription, NodeSpec, Supervisor

    node = NodeSpec(pkg="vla_ros", exec="vla_sim_node", name="sim", shutdown_on_exit=True, respawn=True,
                    respawn_delay=0.05)
    sup = Supervisor(LaunchDescription(args={}, nodes=[node]), tmp_path)
    marker = tmp_path / "ran_once"
    sup.commands["sim"] = ["sh", "-c", f"if [ -e {marker} ]; then echo finished; exit 0; fi; "
                                       f"touch {marker}; kill -9 $$"]
    assert sup.run() == 0
    out = capsys.readouterr().out
    assert "respawning" in out and "[sim] finished" in out and "sim finished; shutting down" in out, out
