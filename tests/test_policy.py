"""The cross-attention policy: shapes and masks, save/load, bad checkpoints, learning, DDP."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from vla_policy.configuration_vla import VLAConfig
from vla_policy.dataset import DatasetError, list_episodes
from vla_policy.demonstrations import generate
from vla_policy.modeling_vla import CheckpointError, VLAPolicy
from vla_policy.training import DemoSampler, TrainConfig, train

SMALL = dict(image_size=64, vision_channels=(16, 16, 32), dim=64, heads=2, blocks=1, chunk_size=4)


@pytest.fixture(scope="session")
def text_encoder():
    from vla_policy.language import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("demos")
    generate(root, episodes=5, seed=3_000_000, workers=1, progress=False)
    return root


def _batch(cfg: VLAConfig, b: int = 3, text_len: int = 7) -> dict:
    g = torch.Generator().manual_seed(0)
    pad = torch.zeros(b, text_len, dtype=torch.bool)
    pad[0, 4:] = True
    return {
        "images": torch.randint(0, 256, (b, 3, cfg.image_size, cfg.image_size), dtype=torch.uint8, generator=g),
        "proprio": torch.randn(b, 4, generator=g),
        "text": torch.randn(b, text_len, cfg.text_dim, generator=g),
        "text_pad": pad,
    }


@pytest.mark.parametrize("fusion", ["film_xattn", "xattn", "film_late", "late"])
def test_output_shapes_for_every_fusion(fusion):
    cfg = VLAConfig(fusion=fusion, **SMALL)
    model = VLAPolicy(cfg).eval()
    out = model(**_batch(cfg), want_attention=True)
    assert out["velocity"].shape == (3, 4, 3) and out["gripper_logit"].shape == (3, 4)
    assert out["present_logit"].shape == (3,) and out["heatmap_logits"].shape == (3, cfg.token_grid ** 2)
    if fusion.endswith("xattn"):
        assert model.last_attention.shape == (3, cfg.token_grid, cfg.token_grid)
        assert torch.allclose(model.last_attention.flatten(1).sum(-1), torch.ones(3), atol=1e-4)


def test_padded_text_tokens_are_ignored():
    cfg = VLAConfig(**SMALL)
    model = VLAPolicy(cfg).eval()
    batch = _batch(cfg)
    with torch.no_grad():
        torch.nn.init.normal_(model.film[-1].weight, std=0.1)  # make language matter everywhere
        ref = model(**batch)
        batch["text"][0, 4:] = 1e3  # garbage under the padding mask of sample 0
        out = model(**batch)
    for key in ("velocity", "gripper_logit", "present_logit"):
        assert torch.allclose(ref[key][0], out[key][0], atol=1e-5)
        assert not torch.allclose(ref[key][1:], out[key][1:] + 1.0)  # sanity: other samples still computed


def test_language_changes_the_action():
    cfg = VLAConfig(**SMALL)
    model = VLAPolicy(cfg).eval()
    batch = _batch(cfg)
    with torch.no_grad():
        ref = model(**batch)["velocity"]
        batch["text"] = torch.randn_like(batch["text"])
        assert not torch.allclose(ref, model(**batch)["velocity"])


def test_save_load_roundtrip_gives_identical_outputs(tmp_path):
    cfg = VLAConfig(**SMALL)
    model = VLAPolicy(cfg).eval()
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = VLAPolicy.from_pretrained(tmp_path)
    batch = _batch(cfg)
    with torch.no_grad():
        a, b = model(**batch), loaded(**batch)
    for key in a:
        assert torch.equal(a[key], b[key])
    assert loaded.config == cfg


def test_bad_checkpoints_give_clear_errors(tmp_path):
    cfg = VLAConfig(**SMALL)
    VLAPolicy(cfg).save_pretrained(tmp_path / "ok")
    with pytest.raises(CheckpointError, match="missing config.json"):
        VLAPolicy.from_pretrained(tmp_path)
    (tmp_path / "ok" / "model.safetensors").rename(tmp_path / "moved.safetensors")
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        VLAPolicy.from_pretrained(tmp_path / "ok")
    (tmp_path / "moved.safetensors").rename(tmp_path / "ok" / "model.safetensors")
    # Truncated weights.
    trunc = tmp_path / "trunc"
    VLAPolicy(cfg).save_pretrained(trunc)
    data = (trunc / "model.safetensors").read_bytes()
    (trunc / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        VLAPolicy.from_pretrained(trunc)
    # Weights from a different architecture than config.json says.
    other = tmp_path / "other"
    VLAPolicy(VLAConfig(**{**SMALL, "dim": 32})).save_pretrained(other)
    (other / "config.json").write_text((tmp_path / "ok" / "config.json").read_text())
    with pytest.raises(CheckpointError, match="do not match config.json"):
        VLAPolicy.from_pretrained(other)
    # A config from another model family, and one that is not JSON.
    (other / "config.json").write_text(json.dumps({"model_type": "act", "dim": 32}))
    with pytest.raises(CheckpointError, match="model_type 'act'"):
        VLAPolicy.from_pretrained(other)
    (other / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="invalid config"):
        VLAPolicy.from_pretrained(other)


def test_select_action_queues_ensembles_and_abstains(text_encoder):
    cfg = VLAConfig(**SMALL, ensemble_decay=0.1)
    model = VLAPolicy(cfg, text_encoder=text_encoder).eval()
    obs = {"image": np.zeros((64, 64, 3), np.uint8), "ee_pose": np.zeros(7), "gripper_width": np.array([0.08]),
           "instruction": "pick up the red cup"}
    actions = [model.select_action(obs) for _ in range(5)]
    assert all(a.shape == (4,) and np.all(np.abs(a[:3]) <= 0.25) and 0 <= a[3] <= 1 for a in actions)
    with torch.no_grad():
        model.present_head.bias.fill_(-20.0)  # "the named cup is not there"
    model.reset()
    for _ in range(3):
        model.select_action(obs)
    assert model.abstained


def test_corrupt_dataset_episode_is_reported(tmp_path, tiny_dataset):
    import shutil

    copy = tmp_path / "demos"
    shutil.copytree(tiny_dataset, copy)
    (copy / "episode_000001" / "actions.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DatasetError, match="episode_000001"):
        list_episodes(copy)
    with pytest.raises(DatasetError, match="no such dataset"):
        list_episodes(tmp_path / "missing")


def test_sampler_batches_look_like_inference_inputs(tiny_dataset):
    cfg = VLAConfig(**SMALL)
    episodes = list_episodes(tiny_dataset)
    ids = {e.meta["instruction"]: i for i, e in enumerate(episodes)}
    sampler = DemoSampler(episodes, cfg, TrainConfig(paraphrase=False), ids, np.random.default_rng(0))
    for augment in (True, False):
        batch = sampler.sample(16, augment=augment)
        assert batch["images"].dtype == torch.uint8  # forward() scales uint8 by 1/255, as for camera frames
        assert batch["images"].shape == (16, 3, 128, 128)
        assert batch["proprio"].shape == (16, 4) and batch["actions"].shape == (16, 4, 4)
        assert set(batch["actions"][..., 3].unique().tolist()) <= {0.0, 1.0}
        assert batch["action_pad"].shape == (16, 4)
        assert batch["ee_uv"].shape == (16, 2) and torch.isfinite(batch["ee_uv"]).all()  # calibrated sim camera


def test_end_effector_pixels_match_the_simulator_camera(tiny_dataset):
    """The dataset's camera calibration projects the end-effector where the episode's camera does."""
    from vla_sim.camera import project_points
    from vla_policy.demonstrations import GenerationConfig, episode_setup

    episode = list_episodes(tiny_dataset)[0]
    env = episode_setup(episode.meta["seed"], GenerationConfig())[0]
    try:
        env.reset(seed=episode.meta["seed"])
        xyz = np.asarray(episode.arrays()["proprio"][:, :3])
        cam = episode.meta["camera"]
        expected = env.camera.project(xyz)
    finally:
        env.close()
    np.testing.assert_allclose(project_points(cam["K"], cam["T_base_cam"], xyz), expected, atol=1e-3)


def test_keypoint_readout_outputs_and_loss():
    cfg = VLAConfig(**SMALL)
    model = VLAPolicy(cfg)
    batch = _batch(cfg)
    out = model(**batch)
    assert out["keypoints"].shape == (3, 2, 2)  # [target, end-effector] x (u, v) pixels
    assert ((out["keypoints"] >= 0) & (out["keypoints"] <= cfg.image_size)).all()
    labels = {"actions": torch.rand(3, 4, 4).round(), "action_pad": torch.zeros(3, 4, dtype=torch.bool),
              "present": torch.ones(3), "target_uv": torch.full((3, 2), 40.0),
              "ee_uv": torch.tensor([[10.0, 10.0], [float("nan")] * 2, [500.0, 5.0]])}  # one unknown, one outside
    loss, logs = model.loss(out, labels)
    assert "ee_heatmap" in logs and np.isfinite(logs["ee_heatmap"])
    loss.backward()
    assert model.keypoint_proj[0].weight.grad.abs().sum() > 0  # the action path reads the keypoints


def test_tiny_training_lowers_the_loss(tiny_dataset, text_encoder):
    cfg = VLAConfig(**SMALL)
    episodes = list_episodes(tiny_dataset)
    texts = sorted({e.meta["instruction"] for e in episodes})
    ids = {t: i for i, t in enumerate(texts)}
    feats, pad = text_encoder.encode(texts)
    sampler = DemoSampler(episodes, cfg, TrainConfig(paraphrase=False), ids, np.random.default_rng(0))
    batch = sampler.sample(24, augment=False)
    tid = batch.pop("text_ids")
    batch["text"], batch["text_pad"] = feats[tid], pad[tid]
    torch.manual_seed(0)
    model = VLAPolicy(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = model.compute_loss(batch)[0].item()
    for _ in range(40):
        loss, _ = model.compute_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_train_writes_checkpoint_and_resumes(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(steps=4, batch_size=8, val_every=2, eval_every=0, checkpoint_every=2, warmup_steps=1,
                      paraphrase=False)  # encoding all ~2900 phrasings takes ~20 s; not needed here
    summary = train([str(tiny_dataset)], str(out), VLAConfig(**SMALL), cfg, progress=False)
    assert summary["steps"] == 4 and any("val_loss" in h for h in summary["history"])
    model = VLAPolicy.from_pretrained(out)
    assert model.config.proprio_std != VLAConfig().proprio_std  # statistics came from the data
    cfg.steps = 6
    resumed = train([str(tiny_dataset)], str(out), VLAConfig(**SMALL), cfg, resume=True, progress=False)
    assert resumed["steps"] == 6 and len(resumed["history"]) > len(summary["history"])

    # Fine-tuning: --init starts from these weights; architecture and statistics come with them.
    cfg = TrainConfig(steps=1, batch_size=8, val_every=1, eval_every=0, checkpoint_every=1, warmup_steps=1,
                      paraphrase=False, lr=1e-9, init_from=str(out))
    tuned = tmp_path / "tuned"
    train([str(tiny_dataset)], str(tuned), VLAConfig(), cfg, progress=False)  # VLAConfig() is ignored
    before, after = VLAPolicy.from_pretrained(out), VLAPolicy.from_pretrained(tuned)
    assert after.config.dim == SMALL["dim"] and after.config.proprio_std == before.config.proprio_std
    for (name, a), b in zip(before.state_dict().items(), after.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name  # lr ~0: the weights are the initial ones


def test_ddp_two_gloo_processes(tiny_dataset, tmp_path):
    cfg_file = tmp_path / "run.yaml"
    small = {**SMALL, "vision_channels": list(SMALL["vision_channels"])}
    cfg_file.write_text(json.dumps({"policy": small, "train": {"steps": 3, "batch_size": 4, "eval_every": 0,
                                                                 "val_every": 3, "warmup_steps": 1,
                                                                 "paraphrase": False}}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         "-m", "vla_ros.cli", "train", "--config", str(cfg_file), "--data", str(tiny_dataset),
         "--out", str(tmp_path / "ddp"), "--quiet"],
        capture_output=True, text=True, timeout=400, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "world 2" in proc.stdout and "trained 3 steps" in proc.stdout
    VLAPolicy.from_pretrained(tmp_path / "ddp")
