"""`vla eval --policy lerobot:DIR`: a LeRobot policy served from LeRobot's own Python over a JSON-lines pipe.
The served round trips need `make lerobot-env` and are skipped, with that reason, where it is absent; the
client's handling of a server that misbehaves is checked everywhere with stand-in executables."""

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from vla_policy.demonstrations import GenerationConfig, generate
from vla_policy.lerobot_interop import LeRobotUnavailable, export_lerobot, lerobot_python
from vla_policy.lerobot_policy import LeRobotPolicy, LeRobotPolicyError, lerobot_checkpoint

OBS = {"image": np.zeros((128, 128, 3), np.uint8), "ee_pose": np.array([0.5, 0.0, 0.9, 1.0, 0.0, 0.0, 0.0]),
       "gripper_width": np.array([0.08]), "instruction": "pick up the red cup"}


@pytest.fixture(scope="module")
def act_checkpoint(tmp_path_factory):
    """ACT trained 2 steps by LeRobot's own lerobot-train on 2 exported demonstrations."""
    try:
        python = lerobot_python()
    except LeRobotUnavailable as exc:
        pytest.skip(str(exc))
    root = tmp_path_factory.mktemp("act")
    generate(root / "demos", 2, seed=3_400_000, workers=1, progress=False,
             config=GenerationConfig(distractors=(1, 1), absent_fraction=0.0))
    export_lerobot([str(root / "demos")], root / "lerobot", video=False, progress=False)
    result = subprocess.run([python, "-m", "lerobot.scripts.lerobot_train", "--dataset.repo_id=local/t",
                             f"--dataset.root={root / 'lerobot'}", "--policy.type=act", "--policy.device=cpu",
                             "--policy.pretrained_backbone_weights=null", "--policy.chunk_size=10",
                             "--policy.n_action_steps=10", "--policy.push_to_hub=false", "--wandb.enable=false",
                             "--num_workers=0", "--steps=2", "--batch_size=2", "--save_freq=2",
                             f"--output_dir={root / 'act'}"], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return root / "act"


def _fake_python(tmp_path, script: str):
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


def test_served_act_predicts_chunks_refuses_bad_requests_and_keeps_serving(act_checkpoint):
    folder = lerobot_checkpoint(f"lerobot:{act_checkpoint}")  # the lerobot-train output folder resolves
    assert folder.name == "pretrained_model"
    policy = LeRobotPolicy(folder)
    try:
        assert policy.info["policy"] == "act" and policy.config.chunk_size == 10
        assert policy.config.parameters > 1_000_000 and policy.config.image_size == 128
        chunk, present = policy.predict_action_chunk(OBS)
        assert chunk.shape == (10, 4) and np.isfinite(chunk).all() and present == 1.0
        assert ((chunk[:, 3] >= 0) & (chunk[:, 3] <= 1)).all() and policy.last_ms > 0
        again, _ = policy.predict_action_chunk(OBS)
        np.testing.assert_allclose(again, chunk, atol=1e-5)  # eval mode: no dropout, no VAE sampling
        with pytest.raises(LeRobotPolicyError, match=r"image shape \[64, 64, 3\]"):
            policy.predict_action_chunk({**OBS, "image": np.zeros((64, 64, 3), np.uint8)})
        with pytest.raises(LeRobotPolicyError, match="finite"):
            policy.predict_action_chunk({**OBS, "gripper_width": np.array([np.nan])})
        policy.reset()
        assert policy.predict_action_chunk(OBS)[0].shape == (10, 4)  # still serving after refusals
    finally:
        policy.close()
    assert policy._proc.returncode == 0


def test_vla_eval_runs_a_lerobot_policy_in_closed_loop(act_checkpoint, tmp_path):
    out = tmp_path / "eval.json"
    result = subprocess.run([sys.executable, "-m", "vla_ros.cli", "eval", "--policy", f"lerobot:{act_checkpoint}",
                             "--episodes", "1", "--workers", "1", "--seed", "0", "--json", str(out), "--quiet"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert summary["episodes"] == 1 and sum(summary["outcomes"].values()) == 1
    assert summary["args"]["policy"] == f"lerobot:{act_checkpoint}"


def test_a_folder_without_a_lerobot_policy_or_no_lerobot_is_a_one_line_cli_error(tmp_path):
    def vla_eval(folder, **env):
        return subprocess.run([sys.executable, "-m", "vla_ros.cli", "eval", "--policy", f"lerobot:{folder}",
                               "--episodes", "1"], capture_output=True, text=True, env={**os.environ, **env})

    result = vla_eval(tmp_path)
    assert result.returncode != 0 and "no LeRobot policy" in result.stderr and "Traceback" not in result.stderr
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_text("{}")
    result = vla_eval(tmp_path, VLA_LEROBOT_PYTHON=str(tmp_path / "no-python"))
    assert result.returncode != 0 and "not an executable" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("script, message", [
    ("echo 'error: cannot load the weights' >&2\nexit 2\n", "cannot load the weights"),
    ("echo '{\"ready\": true, \"image_shape\": [96, 64, 3], \"chunk_size\": 5, \"parameters\": 1, "
     "\"state_dim\": 8, \"action_dim\": 4}'\ncat > /dev/null\n", "square RGB"),
    ("echo 'hello'\ncat > /dev/null\n", "not a JSON line"),
])
def test_a_server_that_fails_or_breaks_the_schema_is_a_clear_error(monkeypatch, tmp_path, script, message):
    monkeypatch.setenv("VLA_LEROBOT_PYTHON", str(_fake_python(tmp_path, script)))
    with pytest.raises(LeRobotPolicyError, match=message):
        LeRobotPolicy(tmp_path)


def test_a_reply_outside_the_schema_is_an_error_not_an_action(monkeypatch, tmp_path):
    ready = ('{"ready": true, "image_shape": [128, 128, 3], "chunk_size": 5, "parameters": 1, "state_dim": 8, '
             '"action_dim": 4}')
    # answers every request with a chunk of the wrong width
    script = f"echo '{ready}'\nwhile read line; do echo '{{\"chunk\": [[0.1, 0.2]]}}'; done\n"
    monkeypatch.setenv("VLA_LEROBOT_PYTHON", str(_fake_python(tmp_path, script)))
    policy = LeRobotPolicy(tmp_path)
    try:
        with pytest.raises(LeRobotPolicyError, match=r"expected \(K, 4\)"):
            policy.predict_action_chunk(OBS)
    finally:
        policy.close()
