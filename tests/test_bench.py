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


def _fake_training(monkeypatch, failing: str):
    """bench_training over stand-ins for the demonstrations and training: ``failing`` names the run that raises."""
    import vla_policy.demonstrations as demonstrations
    import vla_policy.training as training

    monkeypatch.setattr(demonstrations, "generate", lambda *a, config=None, **k: {
        "episodes_per_min": 160.0 if config is not None and config.frame_stride == 2 else 100.0, "frames": 40,
        "seconds_by_phase": {"render": 1.0}})

    def train(data, out, policy_cfg, cfg, progress):
        if out.endswith(failing):
            raise ValueError(f"{failing} broke\nsecond line")
        speed = (150.0 if cfg.cpu_bf16 else 100.0) * (0.7 if policy_cfg.context_layers else 1.0)
        return {"samples_per_s": speed, "samples_per_s_after_first_step": speed, "first_step_seconds": 0.5,
                "seconds_by_phase": {"forward": 1.0}}

    monkeypatch.setattr(training, "train", train)


def test_a_failing_training_variant_is_reported_beside_the_others(monkeypatch):
    _fake_training(monkeypatch, failing="compiled")
    fig = bench.bench_training(quick=True)
    assert fig["train_compiled"] == "ValueError: compiled broke"
    assert fig["train_speedup_bf16_vs_eager"] == pytest.approx(1.5, rel=0.01)
    # the network variant trains another network (the fake is slower only with a context layer)
    assert fig["train_speedup_context_layer_vs_eager"] == pytest.approx(0.7, rel=0.01)
    assert fig["train_samples_per_s"] == 100.0
    # the strided demonstrations against those keeping every frame, the same scenes
    assert fig["demo_speedup_stride2_vs_every_frame"] == pytest.approx(1.6) and fig["demo_episodes_per_min"] == 100.0


def test_a_failing_reference_run_fails_the_section_with_its_own_cause(monkeypatch):
    _fake_training(monkeypatch, failing="eager")
    with pytest.raises(ValueError, match="eager broke"):
        bench.bench_training(quick=True)
