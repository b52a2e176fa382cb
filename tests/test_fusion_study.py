"""`vla study`: each variant changes one field, the study runs end to end, resumes, and reports."""

import json
import subprocess
import sys

import pytest
import yaml

from vla_policy.demonstrations import generate
from vla_ros.fusion_study import (VARIANTS, StudyError, load_base, markdown_table, ours_vs_act, ratio_line,
                                  variant_config)

TINY_BASE = {
    "policy": {"image_size": 64, "vision_channels": [16, 16, 32], "dim": 64, "heads": 2, "blocks": 1,
               "chunk_size": 4, "fusion": "film_xattn"},
    "train": {"steps": 2, "batch_size": 8, "lr": 0.001, "warmup_steps": 1, "val_every": 2, "eval_every": 0,
              "checkpoint_every": 2, "seed": 0, "paraphrase": False},
}


def _vla(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vla_ros.cli", *args], capture_output=True, text=True)


def test_each_variant_changes_one_policy_field_of_the_shipped_base():
    base = load_base("config/study.yaml")  # also loads it as `vla train` would
    assert base["policy"]["fusion"] == "film_xattn" and "init_from" not in base["train"]
    for name in VARIANTS:
        config = variant_config(base, name, None)
        changed = {k for k in config["policy"] if config["policy"][k] != base["policy"].get(k)}
        assert config["train"] == base["train"]
        assert len(changed) == (0 if name == "film_xattn" else 1), (name, changed)
    assert variant_config(base, "late", 7)["train"]["steps"] == 7
    assert base["policy"].get("fusion") == "film_xattn"  # the base itself is untouched


@pytest.mark.parametrize("change, message", [
    ({"policy": {"fusion": "late"}}, "shipped fusion"),
    ({"policy": {"input_ablation": "no_vision"}}, "shipped fusion"),
    ({"train": {"init_from": "vla_policy/checkpoints/default"}}, "from scratch"),
    ({"train": {"steps": 0}}, "steps"),
])
def test_a_base_config_that_is_not_the_shipped_recipe_from_scratch_is_refused(tmp_path, change, message):
    config = json.loads(json.dumps(TINY_BASE))
    for section, values in change.items():
        config[section].update(values)
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(StudyError, match=message):
        load_base(path)


@pytest.mark.parametrize("args, message", [
    (["--variants", "film_xattn,attention"], "unknown ['attention']"),
    (["--splits", "Z"], "unknown ['Z']"),
    (["--episodes", "0"], "positive integer"),
    (["--data", "/nonexistent/study"], "no such folder"),
])
def test_bad_study_arguments_give_one_line_errors(tmp_path, args, message):
    result = _vla("study", "--out", str(tmp_path / "s"), *args)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_study_trains_evaluates_reports_and_resumes(tmp_path):
    data = tmp_path / "demos"
    generate(data, episodes=3, seed=3_300_000, workers=1, progress=False)
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(TINY_BASE))
    out, chart = tmp_path / "study", tmp_path / "chart.png"
    args = ["study", "--config", str(base), "--data", str(data), "--out", str(out), "--episodes", "1",
            "--workers", "1", "--variants", "late,no_vision", "--splits", "D", "--chart", str(chart)]
    first = _vla(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    for name, field, value in (("late", "fusion", "late"), ("no_vision", "input_ablation", "no_vision")):
        checkpoint = json.loads((out / name / "config.json").read_text())
        assert checkpoint[field] == value
        evaluation = json.loads((out / name / "eval_D.json").read_text())
        assert evaluation["episodes"] == 1 and evaluation["args"]["absent"] is True
        assert evaluation["args"]["policy"] == str(out / name)
    result = json.loads((out / "study.json").read_text())
    assert list(result["variants"]) == ["late", "no_vision"]
    for row in result["variants"].values():
        assert row["parameters"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0 and row["train_minutes"] >= 0
        assert row["splits"]["D"]["episodes"] == 1
    table = (out / "study.md").read_text()
    assert table == markdown_table(result) and table.count("\n") == 4 and "/1 (" in table
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    timing = json.loads((out / "timing.json").read_text())
    assert {"train/late", "train/no_vision", "eval/late/D", "eval/no_vision/D", "cost"} <= set(timing)
    again = _vla(*args)  # everything is there: nothing is trained or evaluated again
    assert again.returncode == 0, again.stderr[-2000:]
    assert "+ vla" not in again.stdout
    assert {k: v for k, v in json.loads((out / "timing.json").read_text()).items() if k != "cost"} == \
        {k: v for k, v in timing.items() if k != "cost"}

    changed = json.loads(json.dumps(TINY_BASE))
    changed["train"]["lr"] = 0.01
    base.write_text(yaml.safe_dump(changed))
    mixed = _vla(*args)  # another recipe must not be mixed into the same study folder
    assert mixed.returncode != 0 and "another study config" in mixed.stderr


def test_only_the_last_act_checkpoint_is_kept_when_training_resumes(tmp_path):
    from vla_ros.fusion_study import prune_act_checkpoints

    checkpoints = tmp_path / "act" / "checkpoints"
    for name in ("000500", "001000", "001500"):
        (checkpoints / name / "pretrained_model").mkdir(parents=True)
    (checkpoints / "last").symlink_to("001000")  # lerobot-train's link to its newest complete checkpoint
    assert prune_act_checkpoints(tmp_path / "act") == ["000500", "001500"]
    assert sorted(p.name for p in checkpoints.iterdir()) == ["001000", "last"]
    assert (checkpoints / "last" / "pretrained_model").is_dir()


def test_ours_as_a_ratio_to_act():
    def row(rates, **cost):
        return {"splits": {s: {"rate": r} for s, r in rates.items()}, **cost}

    result = {"splits": ["A", "D"], "variants": {
        "film_xattn": row({"A": 0.9, "D": 1.0}, p50_ms=3.0, parameters=1e6, train_minutes=9.0),
        "act": row({"A": 0.6, "D": 0.0}, p50_ms=30.0, parameters=50e6, train_minutes=110.0)}}
    ratios = ours_vs_act(result)
    assert ratios["success"] == {"A": 1.5, "D": None}  # ACT at 0: no ratio, said so
    assert (ratios["step_p50"], ratios["parameters"], ratios["train_minutes"]) == (0.1, 0.02, 0.082)
    line = ratio_line(ratios)
    assert "A 1.50x" in line and "D n/a (ACT 0)" in line and "step p50 0.10x" in line
    del result["variants"]["act"]
    assert ours_vs_act(result) is None
