"""The soak runner works end to end on a short run (the 200-episode soak is `make soak`)."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("rclpy")


def test_soak_reports_success_and_resource_growth_per_node(ros_env, tmp_path):
    out = tmp_path / "soak.json"
    run = subprocess.run([sys.executable, "-m", "vla_ros.soak", "--episodes", "2", "--warmup", "0", "--every", "1",
                          "--seed", "50000", "--json", str(out)], env=ros_env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["episodes"] == 2 and 0 <= report["successes"] <= 2
    assert set(report["growth_after_warmup"]) == {"vla_sim", "vla_policy", "vla_video_recorder"}
    for growth in report["growth_after_warmup"].values():
        assert {"rss_mb", "fds", "threads"} <= set(growth) and growth["rss_mb_at_baseline"] > 10
    assert "RSS" in run.stdout and "Traceback" not in run.stdout + run.stderr
