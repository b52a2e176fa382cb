"""``vla bench``: real figures in the JSON it writes, a failing section reported without stopping the
others (its bad arguments are among tests/test_cli.py's)."""

import json

import pytest

from vla_ros import bench
from vla_ros.cli import main


def test_simulator_section_writes_measured_figures_and_the_machine(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--sections", "simulator", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["quick"] is True and list(report["sections"]) == ["simulator"]
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["torch"] and machine["cpu"]
    sim = report["sections"]["simulator"]
    assert sim["physics_steps_per_s"] > 100 and sim["rendered_frames_per_s_128"] > 1
    assert sim["culling_speedup"] == pytest.approx(
        sim["rendered_frames_per_s_128"] / sim["rendered_frames_per_s_128_every_link"], rel=0.02)
    assert sim["seconds"] > 0
    printed = capsys.readouterr().out
    assert "physics:" in printed and "rendering 128x128:" in printed


def test_a_failing_section_is_reported_and_the_rest_still_run(tmp_path, monkeypatch):
    def broken(quick: bool) -> dict:
        raise RuntimeError("renderer missing")

    monkeypatch.setattr(bench, "bench_simulator", broken)
    calls = []
    monkeypatch.setattr(bench, "bench_training", lambda quick: calls.append(quick) or {
        "demo_episodes": 1, "demo_workers": 1, "demo_episodes_per_min": 1.0, "demo_frames": 1, "train_steps": 1,
        "train_batch_size": 1, "train_samples_per_s": 1.0, "train_device": "cpu"})
    out = tmp_path / "bench.json"
    assert bench.run(str(out), True, ("simulator", "training"), "unused") == 1
    report = json.loads(out.read_text())
    assert report["sections"]["simulator"]["error"] == "RuntimeError: renderer missing"
    assert calls == [True] and report["sections"]["training"]["train_samples_per_s"] == 1.0


def test_bench_json_where_no_folder_can_be_made_fails_before_measuring(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--json", str(tmp_path / "file" / "bench.json")])
    assert "cannot create its folder" in str(exc.value)
