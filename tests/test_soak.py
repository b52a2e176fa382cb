"""The soak runner works end to end on a short run (the 200-episode soak is `make soak`)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")


def test_soak_reports_success_and_resource_growth_per_node(ros_env, tmp_path):
    out = tmp_path / "soak.json"
    run = subprocess.run([sys.executable, "-m", "vla_ros.soak", "--episodes", "2", "--warmup", "0", "--every", "1",
                          "--seed", "50000", "--json", str(out)], env=ros_env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    report = json.loads(out.read_text())
    from vla_sim.outcomes import OUTCOMES, SUCCESS

    per_episode = report["per_episode"]
    assert report["episodes"] == len(per_episode) == 2 and report["seed"] == 50000
    assert [int(e["seed"]) for e in per_episode] == [50000, 50001]  # the seeds asked for, in order
    assert all(e["outcome"] in OUTCOMES and e["success"] == (e["outcome"] == SUCCESS) for e in per_episode), per_episode
    assert report["successes"] == sum(e["success"] for e in per_episode)
    assert report["outcomes"] == {o: sum(e["outcome"] == o for e in per_episode) for o in {e["outcome"] for e in per_episode}}
    assert sum(report["outcomes"].values()) == report["episodes"]
    assert report["success_rate"] == report["successes"] / report["episodes"]
    assert [int(f["seed"]) for f in report["failures"]] == [int(e["seed"]) for e in per_episode if not e["success"]]
    low, high = report["ci95"]
    assert 0.0 <= low <= report["success_rate"] <= high <= 1.0
    # The shipped policy picks these cups in closed loop (seed 50000 is the fault tests' episode too).
    assert report["successes"] >= 1, per_episode
    assert set(report["growth_after_warmup"]) == {"vla_sim", "vla_policy", "vla_video_recorder"}
    for growth in report["growth_after_warmup"].values():
        assert {"rss_mb", "fds", "threads"} <= set(growth) and growth["rss_mb_at_baseline"] > 10
    assert "RSS" in run.stdout and "Traceback" not in run.stdout + run.stderr


def test_resources_of_a_live_process_and_none_for_an_exited_unreaped_one():
    from vla_ros.soak import process_resources

    proc = subprocess.Popen([sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.read()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "up\n"  # the interpreter is running, not still being exec'd
        live = process_resources(proc.pid)
        assert live is not None and live["rss_mb"] > 1 and live["threads"] >= 1 and live["fds"] >= 3
        proc.stdin.close()  # it exits; nobody reaps it yet, so /proc still lists it as a zombie
        deadline = time.monotonic() + 10
        while "\nState:\tZ" not in Path(f"/proc/{proc.pid}/status").read_text():
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.01)
        assert process_resources(proc.pid) is None
    finally:
        proc.kill()
        proc.wait()
    assert process_resources(proc.pid) is None  # reaped: gone from /proc
