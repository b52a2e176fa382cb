"""``ros2_ws/`` builds with colcon and the installed executable runs from the install space."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.skipif(shutil.which("colcon", path=str(BIN)) is None, reason="colcon not installed (pip extra 'dev')")
def test_colcon_build_installs_a_runnable_package(tmp_path):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    build = subprocess.run(
        [str(BIN / "colcon"), "--log-base", str(tmp_path / "log"), "build",
         "--base-paths", str(ROOT / "ros2_ws" / "src"),
         "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install")],
        cwd=ROOT / "ros2_ws", env=env, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "1 package finished" in build.stdout  # the src/ link is followed once, not recursively
    prefix = tmp_path / "install" / "vla_ros"
    assert (prefix / "share" / "vla_ros" / "package.xml").is_file()
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "vla_ros").is_file()
    exe = prefix / "lib" / "vla_ros" / "vla"  # where `ros2 run vla_ros vla` looks
    for name in ("vla", "vla_sim_node", "vla_policy_node", "vla_video_recorder"):
        assert (prefix / "lib" / "vla_ros" / name).is_file(), name
    for name in ("launch/sim_demo.launch.yaml", "launch/policy.launch.yaml", "config/sim.yaml", "config/policy.yaml"):
        assert (prefix / "share" / "vla_ros" / name).is_file(), name
    script = (
        f"source {tmp_path / 'install' / 'setup.bash'} && "
        f"python -c 'import vla_sim; print(vla_sim.__file__)' && "
        f"{exe} eval --policy expert --episodes 1 --quiet && "
        f"{exe} launch sim_demo --show && "
        f"ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST {prefix / 'lib' / 'vla_ros' / 'vla_sim_node'} --ros-args "
        "-p episode_seconds:=0.3 -p wait_for_commander:=false -p real_time_factor:=4.0"
    )
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert str(prefix) in run.stdout.splitlines()[0]  # imported from the install space, not the checkout
    assert "episodes=1" in run.stdout
    assert "nodes: vla_sim (vla_sim_node)" in run.stdout  # the launch file, found through the ament index
    assert "done: 0/1 episodes succeeded" in run.stderr  # the installed sim node ran an episode and exited
