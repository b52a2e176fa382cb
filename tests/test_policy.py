"""The cross-attention policy: shapes and masks, save/load, bad checkpoints, learning, DDP."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vla_policy.configuration_vla import VLAConfig
from vla_policy.dataset import DatasetError, list_episodes
from vla_policy.demonstrations import generate
from vla_policy.modeling_vla import CheckpointError, VLAPolicy
from vla_policy.training import DemoSampler, TrainConfig, load_run_config, train, warp_image
from vla_sim.perturbations import AXES

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


@pytest.mark.parametrize("fusion", ["film_xattn", "xattn", "film_late", "late", "early"])
def test_output_shapes_for_every_fusion(fusion):
    cfg = VLAConfig(fusion=fusion, **SMALL)
    model = VLAPolicy(cfg).eval()
    out = model(**_batch(cfg), want_attention=True)
    assert out["velocity"].shape == (3, 4, 3) and out["gripper_logit"].shape == (3, 4)
    assert out["present_logit"].shape == (3,) and out["heatmap_logits"].shape == (3, cfg.token_grid ** 2)
    if fusion.endswith("xattn"):
        assert model.last_attention.shape == (3, cfg.token_grid, cfg.token_grid)
        assert torch.allclose(model.last_attention.flatten(1).sum(-1), torch.ones(3), atol=1e-4)


@pytest.mark.parametrize("fusion", ["early", "late", "xattn"])
def test_every_fusion_reads_the_instruction_and_round_trips(fusion, tmp_path):
    cfg = VLAConfig(fusion=fusion, **SMALL)
    model = VLAPolicy(cfg).eval()
    batch = _batch(cfg)
    with torch.no_grad():
        ref = model(**batch)["velocity"]
        other = model(**dict(batch, text=torch.randn_like(batch["text"])))["velocity"]
    assert not torch.allclose(ref, other)  # language reaches the actions, early fusion through the pixels only
    model.save_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(VLAPolicy.from_pretrained(tmp_path)(**batch)["velocity"], ref)


@pytest.mark.parametrize("ablation, key", [("no_language", "text"), ("no_vision", "images")])
def test_the_study_controls_take_their_modality_away(ablation, key):
    """The controls' outputs do not depend on the input they remove, and still on the other."""
    cfg = VLAConfig(input_ablation=ablation, **SMALL)
    model = VLAPolicy(cfg).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.film[-1].weight, std=0.1)  # make language matter everywhere
        batch = _batch(cfg)
        ref = model(**batch)["velocity"]
        changed = dict(batch, **{key: (torch.randn_like(batch["text"]) if key == "text"
                                       else torch.randint(0, 255, batch["images"].shape, dtype=torch.uint8))})
        assert torch.equal(model(**changed)["velocity"], ref)
        other = "images" if key == "text" else "text"
        kept = dict(batch, **{other: (torch.randn_like(batch["text"]) if other == "text"
                                      else torch.randint(0, 255, batch["images"].shape, dtype=torch.uint8))})
        assert not torch.allclose(model(**kept)["velocity"], ref)


def test_fusion_study_settings_are_validated():
    with pytest.raises(ValueError, match="input_ablation must be one of"):
        VLAConfig(input_ablation="no_proprio", **SMALL)
    with pytest.raises(ValueError, match="context_layers attend to language"):
        VLAConfig(fusion="early", context_layers=1, **SMALL)


def test_padded_text_tokens_are_ignored():
    cfg = VLAConfig(**SMALL)
    model = VLAPolicy(cfg).eval()
    batch = _batch(cfg)
    keys = ("velocity", "gripper_logit", "present_logit")
    with torch.no_grad():
        torch.nn.init.normal_(model.film[-1].weight, std=0.1)  # make language matter everywhere
        ref = model(**batch)
        # Garbage under the padding mask of sample 0, and three more padded positions of garbage for all.
        b, length, dim = batch["text"].shape
        padded = dict(batch)
        padded["text"] = torch.cat([batch["text"], torch.full((b, 3, dim), 1e3)], dim=1)
        padded["text"][0, 4:] = 1e3
        padded["text_pad"] = torch.cat([batch["text_pad"], torch.ones(b, 3, dtype=torch.bool)], dim=1)
        out = model(**padded)
        # The same garbage, unmasked: now it is language, and the output must change.
        unmasked = dict(padded, text_pad=torch.zeros_like(padded["text_pad"]))
        seen = model(**unmasked)
    for key in keys:
        assert torch.allclose(ref[key], out[key], atol=1e-5), key
    for i in range(b):
        assert max(float((ref[k][i] - seen[k][i]).abs().max()) for k in keys) > 1e-2, f"sample {i} ignored its text"


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


def test_averaged_checkpoint_is_the_mean_of_the_weights(tmp_path):
    from vla_policy.weight_average import average_checkpoints
    from vla_ros.cli import main as vla_main

    cfg = VLAConfig(**SMALL)
    models = []
    for i in range(3):
        torch.manual_seed(i)
        models.append(VLAPolicy(cfg))
        models[-1].save_pretrained(tmp_path / f"stage{i}")
    assert vla_main(["average", *(str(tmp_path / f"stage{i}") for i in range(3)), "--out", str(tmp_path / "avg")]) == 0
    averaged = VLAPolicy.from_pretrained(tmp_path / "avg")
    assert averaged.config == cfg
    states = [m.state_dict() for m in models]
    for key, value in averaged.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (states[0][key] + states[1][key] + states[2][key]) / 3)
    # Another network, another normalisation, a single checkpoint: refused with the reason.
    VLAPolicy(VLAConfig(**{**SMALL, "proprio_mean": (0.5, 0.0, 0.2, 0.07)})).save_pretrained(tmp_path / "other")
    with pytest.raises(CheckpointError, match="config differs"):
        average_checkpoints([tmp_path / "stage0", tmp_path / "other"], tmp_path / "bad")
    with pytest.raises(CheckpointError, match="at least two"):
        average_checkpoints([tmp_path / "stage0"], tmp_path / "bad")
    with pytest.raises(SystemExit, match="config differs"):
        vla_main(["average", str(tmp_path / "stage0"), str(tmp_path / "other"), "--out", str(tmp_path / "bad")])
    assert not (tmp_path / "bad").exists()  # nothing half-written


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


class _StubChunks:
    """Stands in for ``predict_action_chunk``: known chunks and target-present probabilities, in order."""

    def __init__(self, chunks: np.ndarray, present: list[float] | None = None) -> None:
        self.chunks, self.present, self.calls = chunks, present, 0

    def __call__(self, obs):
        n, self.calls = self.calls, self.calls + 1
        return self.chunks[n].copy(), (self.present[n] if self.present else 1.0)


def _known_chunks(n: int, k: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.uniform(-0.25, 0.25, (n, k, 3)), rng.uniform(0.0, 1.0, (n, k, 1))], -1)


def test_select_action_queues_ensembles_and_abstains():
    obs = {"image": np.zeros((64, 64, 3), np.uint8), "ee_pose": np.zeros(7), "gripper_width": np.array([0.08]),
           "instruction": "pick up the red cup"}
    k, decay, steps = SMALL["chunk_size"], 0.1, 7

    # Temporal ensembling: one chunk per step; step t averages every chunk s <= t whose horizon covers
    # t (entry t - s), weighted exp(decay * age), so older predictions weigh more; gripper binarised.
    model = VLAPolicy(VLAConfig(**SMALL, ensemble_decay=decay)).eval()
    chunks = _known_chunks(steps, k)
    model.predict_action_chunk = stub = _StubChunks(chunks)
    actions = [model.select_action(obs) for _ in range(steps)]
    assert stub.calls == steps
    gripper_means = []
    for t, action in enumerate(actions):
        covering = [(t - s, chunks[s][t - s]) for s in range(t + 1) if t - s < k]
        weights = np.array([np.exp(decay * age) for age, _ in covering])
        expected = sum(w * a for w, (_, a) in zip(weights, covering)) / weights.sum()
        np.testing.assert_allclose(action[:3], expected[:3], rtol=1e-6, atol=1e-9, err_msg=f"step {t}")
        assert action[3] == float(expected[3] > 0.5), (t, action[3], expected[3])
        gripper_means.append(expected[3])
    np.testing.assert_allclose(actions[0][:3], chunks[0][0][:3])  # one chunk: its first entry
    e = np.exp(decay)  # step 1, spelled out: chunk 0's entry 1 (one step old) against chunk 1's entry 0
    np.testing.assert_allclose(actions[1][:3], (e * chunks[0][1][:3] + chunks[1][0][:3]) / (e + 1.0))
    assert {a[3] for a in actions} == {0.0, 1.0} and all(0.0 < g < 1.0 for g in gripper_means)  # both ways

    # Chunk queue (decay < 0): the entries of one chunk in order, a new prediction only when used up.
    model = VLAPolicy(VLAConfig(**SMALL, ensemble_decay=-1.0)).eval()
    model.predict_action_chunk = stub = _StubChunks(chunks)
    calls = []
    for t in range(2 * k + 1):
        action = model.select_action(obs)
        calls.append(stub.calls)
        np.testing.assert_allclose(action[:3], chunks[t // k][t % k][:3], err_msg=f"step {t}")
        assert action[3] == float(chunks[t // k][t % k][3] > 0.5)
    assert calls == [1] * k + [2] * k + [3]

    # Abstention: decided once, from the mean of the first 3 target-present probabilities.
    model = VLAPolicy(VLAConfig(**SMALL, ensemble_decay=decay)).eval()
    assert model.config.abstain_threshold == 0.5
    model.predict_action_chunk = _StubChunks(chunks, present=[0.9, 0.2, 0.3, 0.9, 0.9])  # mean 0.47
    seen = []
    for _ in range(5):
        model.select_action(obs)
        seen.append(model.abstained)
    assert seen == [False, False, True, True, True]  # not on the one low probability, not undone later
    model.reset()
    assert not model.abstained
    model.predict_action_chunk = _StubChunks(chunks, present=[0.2, 0.9, 0.7, 0.0, 0.0])  # mean 0.6
    for _ in range(5):
        model.select_action(obs)
        assert not model.abstained  # later low probabilities do not count


def test_select_action_runs_the_real_model_and_abstains_on_its_present_head(text_encoder):
    cfg = VLAConfig(**SMALL, ensemble_decay=0.1)
    model = VLAPolicy(cfg, text_encoder=text_encoder).eval()
    obs = {"image": np.zeros((64, 64, 3), np.uint8), "ee_pose": np.zeros(7), "gripper_width": np.array([0.08]),
           "instruction": "pick up the red cup"}
    for bias, abstains in ((20.0, False), (-20.0, True)):  # "the named cup is there" / "is not there"
        with torch.no_grad():
            model.present_head.bias.fill_(bias)
        model.reset()
        actions = [model.select_action(obs) for _ in range(3)]
        assert all(a.shape == (4,) and np.all(np.abs(a[:3]) <= cfg.max_linear_speed) and a[3] in (0.0, 1.0)
                   for a in actions)
        assert model.abstained == abstains


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


def _spot(u: float, v: float, size: int = 128) -> np.ndarray:
    """A frame with a small bright blob centred on pixel coordinates (u, v) (pixel i spans [i, i + 1])."""
    x = np.arange(size) + 0.5
    blob = np.exp(-((x[None, :] - u) ** 2 + (x[:, None] - v) ** 2) / (2 * 1.5 ** 2))
    return np.repeat((blob * 250).round().astype(np.uint8)[..., None], 3, axis=2)


def _centroid(frame: np.ndarray) -> np.ndarray:
    w = frame[..., 0].astype(float)
    v, u = np.mgrid[: w.shape[0], : w.shape[1]] + 0.5
    return np.array([(w * u).sum(), (w * v).sum()]) / w.sum()


@pytest.mark.parametrize("shift, turn, zoom", [((3, -2), 0.0, 0.0), ((0, 0), 5.0, 0.0), ((0, 0), -90.0, 0.0),
                                               ((0, 0), 0.0, 0.1), ((4, 1), -4.0, -0.05)])
def test_warp_image_moves_the_image_and_its_pixel_targets_alike(shift, turn, zoom):
    point, nan = np.array([90.0, 40.0], np.float32), np.full(2, np.nan, np.float32)
    out, (moved, still_nan) = warp_image(_spot(*point), (point, nan), shift, turn, zoom)
    np.testing.assert_allclose(_centroid(out), moved, atol=0.1)  # the blob is where its target went
    assert np.isnan(still_nan).all()
    if turn == -90.0:  # a clockwise quarter turn on screen about (64, 64): right of centre goes below it
        np.testing.assert_allclose(moved, [64 + 24, 64 + 26], atol=1e-4)  # (90, 40) = centre + (26, -24)


def test_a_whole_pixel_shift_alone_moves_every_pixel_exactly():
    """Shift-only augmentation (every run before turns and zoom) is the edge-padded roll it always was."""
    frame = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    s, dx, dy = 6, -4, 5
    rolled = np.roll(np.pad(frame, ((s, s), (s, s), (0, 0)), mode="edge"), (dy, dx), (0, 1))[s:-s, s:-s]
    out, (uv,) = warp_image(frame, (np.array([10.0, 20.0], np.float32),), (dx, dy), 0.0, 0.0)
    np.testing.assert_array_equal(out, rolled)
    np.testing.assert_allclose(uv, [6.0, 25.0])


def test_sampler_turns_and_zooms_only_when_asked(tiny_dataset):
    cfg, episodes = VLAConfig(**SMALL), list_episodes(tiny_dataset)
    ids = {e.meta["instruction"]: i for i, e in enumerate(episodes)}

    def batch(**augment):
        tcfg = TrainConfig(paraphrase=False, **augment)
        return DemoSampler(episodes, cfg, tcfg, ids, np.random.default_rng(3)).sample(8)

    plain, again, turned = batch(), batch(rotate_degrees=0.0, zoom=0.0), batch(rotate_degrees=5.0, zoom=0.05)
    assert torch.equal(plain["images"], again["images"])
    # Same episodes, steps and shifts drawn first; the turn and zoom then move images and targets.
    assert torch.equal(plain["actions"], turned["actions"]) and not torch.equal(plain["images"], turned["images"])
    assert not torch.allclose(plain["ee_uv"], turned["ee_uv"]) and torch.isfinite(turned["ee_uv"]).all()


def test_sampler_keeps_few_files_open_on_a_large_dataset(tiny_dataset):
    """Thousands of episodes must not exhaust file descriptors: with the soft limit just above what is
    open now, a sampler over 400 episode entries (1,600 files if every array stayed mapped) still samples."""
    import resource

    episodes = list_episodes(tiny_dataset) * (400 // len(list_episodes(tiny_dataset)) + 1)
    ids = {e.meta["instruction"]: i for i, e in enumerate(episodes)}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 150, hard))
    try:
        sampler = DemoSampler(episodes, VLAConfig(**SMALL), TrainConfig(paraphrase=False), ids,
                              np.random.default_rng(0))
        for _ in range(10):
            assert sampler.sample(64)["images"].shape == (64, 3, 128, 128)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


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
    phases = summary["seconds_by_phase"]  # where the wall time went, for profiling a recipe
    assert {"data", "forward", "backward", "optimizer", "validation", "checkpoint", "other"} <= set(phases)
    assert all(v >= 0 for v in phases.values()) and sum(phases.values()) == pytest.approx(summary["seconds"], abs=0.05)
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

    # pair_query only means something to a side-marker policy: asked of another, a clear error
    with pytest.raises(ValueError, match="pair_query teaches the colour query of a side-marker"):
        train([str(tiny_dataset)], str(tmp_path / "pq"), VLAConfig(), dataclasses.replace(cfg, pair_query=0.3),
              progress=False)

    # ... and may add context layers (the referring-expressions fine-tune): they start as the identity.
    grown = tmp_path / "grown"
    train([str(tiny_dataset)], str(grown), VLAConfig(context_layers=1), cfg, progress=False)
    after = VLAPolicy.from_pretrained(grown)
    assert after.config.context_layers == 1 and len(after.context) == 1
    batch = _batch(after.config)
    with torch.no_grad():
        a, b = before.eval()(**batch), after.eval()(**batch)
    assert torch.allclose(a["velocity"], b["velocity"], atol=1e-4)


def test_context_layers_start_as_identity_and_attend_to_everything_but_padding():
    torch.manual_seed(0)
    plain = VLAPolicy(VLAConfig(**SMALL)).eval()
    ctx = VLAPolicy(VLAConfig(**SMALL, context_layers=2)).eval()
    missing, unexpected = ctx.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("context.") for k in missing)
    batch = _batch(ctx.config)
    with torch.no_grad():
        a, b = plain(**batch), ctx(**batch)
    assert torch.equal(a["heatmap_logits"], b["heatmap_logits"])
    # Once trained (here: random outputs), every visual token sees every other and the words, but not
    # the padding of the instruction.
    from vla_policy.modeling_vla import ContextLayer

    layer = ContextLayer(16, 2).eval()
    torch.nn.init.normal_(layer.attn.out_proj.weight, std=0.5)
    visual, lang = torch.randn(1, 9, 16, requires_grad=True), torch.randn(1, 4, 16)
    pad = torch.tensor([[False, False, True, True]])
    out = layer(visual, lang, pad)
    out[0, -1].sum().backward()
    assert visual.grad[0, 0].abs().sum() > 0  # the last token depends on the first
    changed = lang.clone()
    changed[0, 2:] += 10.0  # padding only
    assert torch.allclose(out, layer(visual, changed, pad))
    assert not torch.allclose(out, layer(visual, lang + 1.0, pad))
    with pytest.raises(ValueError, match="context_layers"):
        VLAConfig(context_layers=-1)


def _ddp_train(cfg_file: Path, data: Path, out: Path, steps: int, resume: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         "-m", "vla_ros.cli", "train", "--config", str(cfg_file), "--data", str(data), "--out", str(out),
         "--steps", str(steps), "--quiet", *(["--resume"] if resume else [])],
        capture_output=True, text=True, timeout=400, env=env,
    )


def test_ddp_two_gloo_processes_split_the_batch_and_resume_bit_identically(tiny_dataset, tmp_path):
    from safetensors.torch import load_file

    cfg_file = tmp_path / "run.yaml"
    small = {**SMALL, "vision_channels": list(SMALL["vision_channels"])}
    # warm-up of 1 step: the first two steps' learning rates are the same in a 2- and a 4-step run
    train_cfg = {"batch_size": 4, "eval_every": 0, "val_every": 100, "checkpoint_every": 2, "warmup_steps": 1,
                 "paraphrase": False}
    cfg_file.write_text(json.dumps({"policy": small, "train": train_cfg}))
    straight = _ddp_train(cfg_file, tiny_dataset, tmp_path / "straight", 4)
    assert straight.returncode == 0, straight.stdout[-2000:] + straight.stderr[-4000:]
    assert "world 2" in straight.stdout and "trained 4 steps" in straight.stdout
    summary = json.loads((tmp_path / "straight" / "train_summary.json").read_text())
    assert summary["samples"] == 4 * 4  # batch_size is per step: 2 samples from each of 2 processes
    state = json.loads((tmp_path / "straight" / "train_state" / "state.json").read_text())
    assert state["world"] == 2 and state["numpy_rng"][0] != state["numpy_rng"][1]  # each process its own batches

    first = _ddp_train(cfg_file, tiny_dataset, tmp_path / "resumed", 2)
    assert first.returncode == 0, first.stderr[-4000:]
    again = _ddp_train(cfg_file, tiny_dataset, tmp_path / "resumed", 4, resume=True)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "resuming at step 2" in again.stdout
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    VLAPolicy.from_pretrained(tmp_path / "resumed")

    # one process cannot continue two processes' random streams: refused before any step
    with pytest.raises(ValueError, match=r"trained by 2 process\(es\), this run has 1"):
        train([str(tiny_dataset)], str(tmp_path / "resumed"), VLAConfig(**SMALL),
              TrainConfig(steps=6, **train_cfg), resume=True, progress=False)


def test_a_batch_that_does_not_split_across_processes_is_refused(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setattr("torch.distributed.init_process_group", lambda *a, **k: None)
    with pytest.raises(ValueError, match="batch_size 4 does not split evenly across 3 processes"):
        train([str(tiny_dataset)], str(tmp_path / "out"), VLAConfig(**SMALL),
              TrainConfig(steps=1, batch_size=4, eval_every=0), progress=False)


def test_anchor_marker_starts_as_identity_marks_the_anchor_cell_and_round_trips(tmp_path):
    torch.manual_seed(0)
    plain = VLAPolicy(VLAConfig(**SMALL)).eval()
    marked = VLAPolicy(VLAConfig(**SMALL, anchor_marker=True)).eval()
    missing, unexpected = marked.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["marker_embed"] and not unexpected  # what `vla train --init` allows to be new
    batch = _batch(marked.config)
    uv = torch.tensor([[41.0, 13.0], [float("nan")] * 2, [3.0, 60.0]])
    with torch.no_grad():  # a zero embedding: the fine-tune starts from the init's behaviour
        assert torch.equal(plain(**batch)["heatmap_logits"], marked(**batch, marker_uv=uv)["heatmap_logits"])
    bump = marked.marker_map(uv)  # (B, N)
    grid, cell = marked.config.token_grid, marked.config.image_size / marked.config.token_grid
    assert bump.shape == (3, grid * grid) and torch.equal(bump[1], torch.zeros(grid * grid))  # NaN: no marker
    assert int(bump[0].argmax()) == int(13 // cell) * grid + int(41 // cell) and 0.9 < float(bump[0].max()) <= 1.0
    with torch.no_grad():
        marked.marker_embed.normal_()
        out = marked(**batch, marker_uv=uv)["heatmap_logits"]
        assert not torch.equal(out[0], plain(**batch)["heatmap_logits"][0])  # marked rows change ...
        assert torch.allclose(out[1], plain(**batch)["heatmap_logits"][1])  # ... the unmarked one does not
    marked.save_pretrained(tmp_path)
    loaded = VLAPolicy.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(loaded(**batch, marker_uv=uv)["heatmap_logits"], out)


def test_action_focus_draws_the_action_queries_to_the_heatmaps_and_round_trips(tmp_path):
    torch.manual_seed(0)
    plain = VLAPolicy(VLAConfig(**SMALL)).eval()  # SMALL: 2 heads
    models = {"plain": plain}
    for heads in (1, 2):
        models[heads] = VLAPolicy(VLAConfig(**SMALL, action_focus_heads=heads)).eval()
        missing, unexpected = models[heads].load_state_dict(plain.state_dict(), strict=False)
        assert missing == ["focus_gain"] and not unexpected  # what `vla train --init` allows to be new
    assert models[1].focus_gain.tolist() == [1.0, 0.0]  # one head drawn, the other free
    batch = _batch(plain.config)
    masses = {}
    with torch.no_grad():
        for name, model in models.items():
            model.heatmap_head.weight.mul_(40.0)  # sharp heatmaps, as a trained policy has
            out = model(**batch, want_attention=True)
            p = 0.5 * (torch.softmax(out["heatmap_logits"], 1) + torch.softmax(out["ee_heatmap_logits"], 1))  # (B, N)
            top = p.topk(8, dim=1).indices  # the cells the two heatmaps hold
            assert (p.gather(1, top).sum(1) > 0.9).all()
            masses[name] = model.last_attention.flatten(1).gather(1, top).sum(1)  # action queries' share there
            assert torch.equal(out["heatmap_logits"], plain(**batch)["heatmap_logits"])  # heatmaps untouched
        assert (masses["plain"] < 0.2).all() and (masses[2] > 0.8).all()  # heads' mean: one head, about half
        assert ((masses[1] > 0.4) & (masses[1] < 0.65)).all()
        focus = models[2]
        focus.focus_gain.zero_()  # gain 0: the plain policy's actions
        assert torch.allclose(focus(**batch)["velocity"], plain(**batch)["velocity"], atol=1e-6)
        focus.focus_gain.copy_(torch.tensor([0.7, 0.2]))
        out = focus(**batch)
    focus.save_pretrained(tmp_path)
    loaded = VLAPolicy.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(loaded(**batch)["velocity"], out["velocity"])
    with pytest.raises(ValueError, match="action_focus_heads needs keypoint_readout"):
        VLAConfig(**SMALL, action_focus_heads=1, keypoint_readout=False)
    with pytest.raises(ValueError, match="action_focus_heads needs"):
        VLAConfig(**{**SMALL, "fusion": "film_late"}, action_focus_heads=1)
    with pytest.raises(ValueError, match=r"action_focus_heads must be an integer in \[0, heads=2\]"):
        VLAConfig(**SMALL, action_focus_heads=3)


def test_locate_finds_the_peak_of_the_target_heatmap(text_encoder):
    model = VLAPolicy(VLAConfig(**SMALL), text_encoder=text_encoder).eval()
    grid, cell = model.config.token_grid, model.config.image_size / model.config.token_grid
    with torch.no_grad():  # a heatmap head that reads only the positions: peak where we put it
        model.heatmap_head.weight.zero_()
        model.heatmap_head.bias.zero_()
    logits = torch.full((1, grid * grid), -20.0)
    logits[0, 5 * grid + 9] = 5.0  # row 5, column 9
    logits[0, 0] = 4.0  # a far-off second mode, which the plain soft-argmax would average in
    model.forward = lambda *a, **k: {"heatmap_logits": logits, "present_logit": torch.tensor([-2.0])}
    obs = {"image": np.zeros((64, 64, 3), np.uint8), "ee_pose": np.zeros(3), "gripper_width": np.array([0.08]),
           "instruction": "pick up the blue cup"}
    (u, v), present = model.locate(obs)
    assert abs(u - 9.5 * cell) < 0.1 and abs(v - 5.5 * cell) < 0.1
    assert abs(present - 1 / (1 + np.exp(2.0))) < 1e-6  # the colour query's present head: is the anchor there?
    logits[0, 5 * grid + 10] = 4.5  # the strongest peak's neighbour is part of it, not a second cup
    pair, _ = model.locate(obs, peaks=2)  # a left/right pair: the two peaks, strongest first
    assert pair.shape == (2, 2) and pair[0, 0] > 9.5 * cell and abs(pair[0, 1] - 5.5 * cell) < 0.1
    assert np.allclose(pair[1], (0.5 * cell, 0.5 * cell), atol=0.1)


def test_last_target_uv_is_where_locate_finds_the_cup_on_the_same_observation(text_encoder):
    model = VLAPolicy(VLAConfig(**SMALL), text_encoder=text_encoder).eval()
    rng = np.random.default_rng(0)
    obs = {"image": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), "ee_pose": np.array([0.5, 0.0, 0.3]),
           "gripper_width": np.array([0.08]), "instruction": "pick up the blue cup"}
    assert model.last_target_uv is None and model.last_ee_uv is None  # nothing predicted yet
    model.predict_action_chunk(obs)
    np.testing.assert_allclose(model.last_target_uv, model.locate(obs)[0], atol=1e-4)
    with torch.no_grad():  # the end effector: the same pass's keypoint (soft-argmax of its heatmap), in pixels
        keypoints = model._forward_one(obs, False)["keypoints"][0].numpy()  # (2, 2) [target, end effector]
    np.testing.assert_allclose(model.last_ee_uv, keypoints[1], atol=1e-4)
    assert model.last_ee_uv.shape == (2,) and ((0 <= model.last_ee_uv) & (model.last_ee_uv <= 64)).all()


def test_next_to_episodes_record_their_anchor_and_a_marker_policy_trains_on_it(tmp_path):
    from vla_policy.decision import MARKED_TEXT
    from vla_policy.demonstrations import GenerationConfig
    from vla_policy.training import policy_text

    generate(tmp_path, episodes=1, seed=3_100_000, workers=1, progress=False,
             config=GenerationConfig(refer=("next-to",), distractors=(2, 3), max_steps=3))
    (episode,) = list_episodes(tmp_path)
    meta = episode.meta
    assert meta["refer"] == "next-to" and len(meta["anchor_uv"]) == 2
    target_uv = np.asarray(episode.arrays()["target_uv"][0])
    assert np.linalg.norm(np.asarray(meta["anchor_uv"]) - target_uv) > 3.0  # the anchor, not the target
    cfg = VLAConfig(**{**SMALL, "image_size": 128}, anchor_marker=True)
    text = policy_text(meta, cfg)
    assert text == MARKED_TEXT["next-to"] and "purple" not in text and meta["anchor"] not in text
    assert policy_text(meta, VLAConfig(**SMALL)) == meta["instruction"]  # no marker: the canonical phrasing
    sampler = DemoSampler([episode], cfg, TrainConfig(paraphrase=False), {text: 0}, np.random.default_rng(0))
    batch = sampler.sample(8, augment=False)
    assert torch.allclose(batch["marker_uv"], torch.tensor(meta["anchor_uv"]).expand(8, 2))
    jittered = sampler.sample(8, augment=True)["marker_uv"]  # shifted with the frame, and jittered
    assert (jittered - torch.tensor(meta["anchor_uv"])).abs().max() < 5 + 6 * 1.5
    del meta["anchor_uv"]
    with pytest.raises(DatasetError, match="anchor_uv"):
        DemoSampler([episode], cfg, TrainConfig(paraphrase=False), {text: 0}, np.random.default_rng(0)).sample(2)


def test_kind_weights_draw_a_kind_more_often_and_are_validated(tmp_path):
    from vla_policy.demonstrations import GenerationConfig

    for kind in ("next-to", "colour"):
        generate(tmp_path / kind, episodes=1, seed=3_200_000, workers=1, progress=False,
                 config=GenerationConfig(refer=(kind,), distractors=(2, 3), max_steps=3, absent_fraction=0.0))
    episodes = list_episodes(tmp_path / "next-to") + list_episodes(tmp_path / "colour")
    assert [e.length for e in episodes] == [3, 3]
    ids = {e.meta["instruction"]: i for i, e in enumerate(episodes)}
    sampler = DemoSampler(episodes, VLAConfig(), TrainConfig(paraphrase=False, kind_weights={"next-to": 3.0}), ids,
                          np.random.default_rng(0))
    share = float((sampler.sample(2000, augment=False)["text_ids"] == ids[episodes[0].meta["instruction"]]).float().mean())
    assert abs(share - 0.75) < 0.04, share  # 3 x 3 frames against 1 x 3
    for bad, match in (({"sideways": 2.0}, "unknown reference kind"), ({"left": 0}, "must be in"), ([1], "mapping")):
        with pytest.raises(ValueError, match=match):
            TrainConfig(kind_weights=bad)


def test_absent_weight_draws_the_frames_of_absent_scenes_more_often(tmp_path):
    from vla_policy.demonstrations import GenerationConfig

    for name, fraction, seed in (("absent", 1.0, 3_300_000), ("present", 0.0, 3_300_001)):
        generate(tmp_path / name, episodes=1, seed=seed, workers=1, progress=False,
                 config=GenerationConfig(distractors=(2, 3), max_steps=3, absent_fraction=fraction))
    episodes = list_episodes(tmp_path / "absent") + list_episodes(tmp_path / "present")
    assert [e.meta["target_present"] for e in episodes] == [False, True]
    ids = {e.meta["instruction"]: i for i, e in enumerate(episodes)}
    assert len(ids) == 2
    absent_id = ids[episodes[0].meta["instruction"]]
    for weight in (1.0, 4.0):
        sampler = DemoSampler(episodes, VLAConfig(), TrainConfig(paraphrase=False, absent_weight=weight), ids,
                              np.random.default_rng(0))
        batch = sampler.sample(2000, augment=False)
        share = float((batch["text_ids"] == absent_id).float().mean())
        frames = episodes[0].length * weight
        expected = frames / (frames + episodes[1].length)
        assert abs(share - expected) < 0.04, (weight, share, expected)
        assert torch.equal(batch["present"][batch["text_ids"] == absent_id], torch.zeros(int(share * 2000 + 0.5)))
    for bad in (0, -1.0, 101, "2"):
        with pytest.raises(ValueError, match="absent_weight"):
            TrainConfig(absent_weight=bad)


def test_same_colour_object_weight_draws_those_scenes_more_often(tmp_path):
    from vla_policy.demonstrations import GenerationConfig

    for name, flag, seed in (("same", True, 3_400_000), ("other", False, 3_400_001)):
        generate(tmp_path / name, episodes=1, seed=seed, workers=1, progress=False,
                 config=GenerationConfig(distractors=(2, 3), max_steps=3, perturb=("distractor_objects",),
                                         objects_in_target_colour=flag))
    episodes = list_episodes(tmp_path / "same") + list_episodes(tmp_path / "other")
    assert [e.meta.get("objects_in_target_colour", False) for e in episodes] == [True, False]
    ids = {e.meta["instruction"]: i for i, e in enumerate(episodes)}
    assert len(ids) == 2
    same_id = ids[episodes[0].meta["instruction"]]
    for weight in (1.0, 4.0):
        sampler = DemoSampler(episodes, VLAConfig(), TrainConfig(paraphrase=False, same_colour_object_weight=weight),
                              ids, np.random.default_rng(0))
        share = float((sampler.sample(2000, augment=False)["text_ids"] == same_id).float().mean())
        frames = episodes[0].length * weight
        expected = frames / (frames + episodes[1].length)
        assert abs(share - expected) < 0.04, (weight, share, expected)
    for bad in (0, -1.0, 101, "2", True):
        with pytest.raises(ValueError, match="same_colour_object_weight"):
            TrainConfig(same_colour_object_weight=bad)


def test_a_side_marker_policy_trains_left_right_on_the_marked_referent(tmp_path):
    from vla_policy.decision import SIDE_TEXT, colour_query
    from vla_policy.demonstrations import GenerationConfig
    from vla_sim.instructions import canonical_instruction
    from vla_policy.training import policy_text

    with pytest.raises(ValueError, match="anchor_marker"):
        VLAConfig(**SMALL, side_marker=True)
    generate(tmp_path, episodes=1, seed=3_200_000, workers=1, progress=False,
             config=GenerationConfig(refer=("right",), distractors=(2, 3), max_steps=3))
    (episode,) = list_episodes(tmp_path)
    meta, target_uv = episode.meta, np.asarray(episode.arrays()["target_uv"][0])
    assert meta["refer"] == "right"
    cfg = VLAConfig(**{**SMALL, "image_size": 128}, anchor_marker=True, side_marker=True)
    assert policy_text(meta, cfg) == SIDE_TEXT and meta["target"] not in SIDE_TEXT
    assert policy_text(meta, dataclasses.replace(cfg, side_marker=False)) == meta["instruction"]
    sampler = DemoSampler([episode], cfg, TrainConfig(paraphrase=False), {SIDE_TEXT: 0}, np.random.default_rng(0))
    batch = sampler.sample(4, augment=False)  # the marker sits on the referent, whichever frame is drawn
    assert torch.allclose(batch["marker_uv"], torch.tensor(target_uv, dtype=torch.float32).expand(4, 2))
    # A recording's re-grasp leaves the first frames unlabelled: the marker is the first labelled frame's.
    from vla_policy.dataset import write_episode

    arrays = {k: np.array(v) for k, v in episode.arrays(mmap=False).items()}
    arrays["target_uv"][0] = np.nan
    write_episode(tmp_path / "regrasp", 0, arrays, {k: v for k, v in meta.items() if k != "format"})
    (regrasp,) = list_episodes(tmp_path / "regrasp")
    batch = DemoSampler([regrasp], cfg, TrainConfig(paraphrase=False), {SIDE_TEXT: 0},
                        np.random.default_rng(0)).sample(4, augment=False)
    assert torch.allclose(batch["marker_uv"], torch.tensor(arrays["target_uv"][1], dtype=torch.float32).expand(4, 2))

    # pair_query: some samples ask the colour query on the same pair, labelled only "present"
    query = colour_query(meta["target"])
    assert query == canonical_instruction(meta["target"])  # the core's query is the colour split's sentence
    sampler = DemoSampler([episode], cfg, TrainConfig(paraphrase=False, pair_query=0.5), {SIDE_TEXT: 0, query: 1},
                          np.random.default_rng(0))
    batch = sampler.sample(400, augment=False)
    asked = batch["text_ids"] == 1
    assert 0.4 < float(asked.float().mean()) < 0.6
    assert batch["present"].eq(1).all()
    assert batch["action_pad"][asked].all() and not batch["action_pad"][~asked][:, 0].any()
    assert torch.isnan(batch["target_uv"][asked]).all() and torch.isfinite(batch["target_uv"][~asked]).all()
    assert torch.isnan(batch["marker_uv"][asked]).all() and torch.isfinite(batch["marker_uv"][~asked]).all()
    for bad in (-0.1, 1.0, "0.3"):
        with pytest.raises(ValueError, match="pair_query"):
            TrainConfig(pair_query=bad)


def test_a_colour_marker_policy_trains_a_share_of_colour_samples_on_the_marked_cup(tmp_path):
    from vla_policy.decision import SIDE_TEXT
    from vla_policy.demonstrations import GenerationConfig

    with pytest.raises(ValueError, match="colour_marker needs side_marker"):
        VLAConfig(**SMALL, anchor_marker=True, colour_marker=True)
    generate(tmp_path / "present", episodes=1, seed=3_300_000, workers=1, progress=False,
             config=GenerationConfig(distractors=(2, 3), max_steps=3, absent_fraction=0.0))
    generate(tmp_path / "absent", episodes=1, seed=3_300_001, workers=1, progress=False,
             config=GenerationConfig(distractors=(2, 3), max_steps=3, absent_fraction=1.0))
    (present,), (absent,) = list_episodes(tmp_path / "present"), list_episodes(tmp_path / "absent")
    assert present.meta["refer"] == "colour" and present.meta["target_present"] and not absent.meta["target_present"]
    target_uv = torch.tensor(np.asarray(present.arrays()["target_uv"][0]), dtype=torch.float32)
    cfg = VLAConfig(**{**SMALL, "image_size": 128}, anchor_marker=True, side_marker=True, colour_marker=True)
    texts = {SIDE_TEXT: 0, present.meta["instruction"]: 1, absent.meta["instruction"]: 2}
    batch = DemoSampler([present], cfg, TrainConfig(paraphrase=False, colour_marker_share=0.3), texts,
                        np.random.default_rng(0)).sample(400, augment=False)
    marked = batch["text_ids"] == 0
    assert 0.22 < float(marked.float().mean()) < 0.38  # the share asked for; the others keep their words
    assert (batch["text_ids"][~marked] == 1).all()
    assert torch.allclose(batch["marker_uv"][marked], target_uv.expand(int(marked.sum()), 2))  # on the named cup
    assert torch.isnan(batch["marker_uv"][~marked]).all()
    assert torch.isfinite(batch["target_uv"]).all() and batch["present"].eq(1).all()  # both teach the heatmap
    # A scene without the named colour has no cup to mark: it keeps its words and teaches "absent".
    batch = DemoSampler([absent], cfg, TrainConfig(paraphrase=False, colour_marker_share=0.9), texts,
                        np.random.default_rng(0)).sample(50, augment=False)
    assert (batch["text_ids"] == 2).all() and torch.isnan(batch["marker_uv"]).all() and batch["present"].eq(0).all()
    for bad in (0, 1.0, -0.2, "0.5", True):
        with pytest.raises(ValueError, match="colour_marker_share"):
            TrainConfig(colour_marker_share=bad)


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("train_*.yaml")), ids=lambda p: p.name)
def test_shipped_training_configs_load(path):
    load_run_config(path)  # raises on an unknown field or kind, a bad weight, steps or lr


@pytest.mark.parametrize("bad", [{"steps": 0}, {"steps": 2.5}, {"batch_size": -1}, {"lr": 0}, {"lr": "1e-3"},
                                 {"lr": float("nan")}, {"rotate_degrees": -1}, {"rotate_degrees": 90},
                                 {"rotate_degrees": True}, {"zoom": 0.5}, {"zoom": "0.1"}, {"brightness": 1.0},
                                 {"brightness": -0.1}])
def test_training_config_rejects_non_positive_steps_batch_and_lr(bad, tmp_path):
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text(json.dumps({"train": bad}))
    with pytest.raises(ValueError, match=next(iter(bad))):
        load_run_config(cfg_file)


def test_every_training_config_the_makefile_names_exists():
    named = set(re.findall(r"config/(train_[\w-]+\.yaml)", (REPO / "Makefile").read_text()))
    assert named, "the Makefile names no training config"
    missing = sorted(name for name in named if not (REPO / "config" / name).is_file())
    assert not missing, f"Makefile names missing configs: {missing}"


def test_30min_recipe_trains_on_every_set_it_generates_at_its_stride():
    # `make -n`: the 30-minute recipe (README, run 21) keeps every second frame of its picking scenes in its
    # own folder and trains on each set it writes; the robustness recipe reads the same folder, the GPU
    # preset the every-frame sets (a folder's frames must all have one stride).
    def dry_run(target: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_30")}
        return subprocess.run(["make", "-n", "-o", ".venv/.setup-stamp", target], cwd=REPO, env=env,
                              capture_output=True, text=True, check=True).stdout

    out = dry_run("policy-30min")
    sets = re.findall(r"vla data generate --workers 2 (.*?)--out (\S+)", out.replace("\\\n", " "))
    assert len(sets) == 5, out
    train = out[out.index("torchrun"):]
    assert "config/train_30min.yaml" in train
    for flags, folder in sets:
        assert folder.startswith("data/recipe_30min_s2/") and folder in train, folder
        absent = "--absent-fraction 1" in flags  # 8 frames each: kept whole
        assert ("--frame-stride 2" in flags) != absent, flags
    next_to = next(flags for flags, folder in sets if folder.endswith("/next_to"))
    assert "--episodes 500 " in next_to, next_to
    robust = dry_run("policy-robust")
    assert all(f"--out {folder}" in robust for _, folder in sets)
    gpu = dry_run("policy-gpu")
    assert "--frame-stride" not in gpu and "data/recipe_30min/next_to" in gpu


def test_robust_recipe_trains_on_every_set_it_generates(tmp_path):
    # `make -n` prints the recipe without running it: each perturbed set it writes is one the training reads,
    # recorded through every real axis but the camera's (answered by its calibration at run time, never by
    # data), every second one with objects in the named cup's colour, each on seeds of its own; one stage from
    # scratch on the plain sets too.
    env = {**os.environ, "DATA_ROBUST": str(tmp_path / "robust")}
    out = subprocess.run(["make", "-n", "-o", ".venv/.setup-stamp", "policy-robust"], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True).stdout.replace("\\\n", " ")
    sets = re.findall(r"--episodes (\d+) --seed (\d+) --perturb (\S+)\s+(--objects-in-target-colour )?--out (\S+)", out)
    assert len(sets) == 4, out
    # and a plain set of farthest scenes (farthest names no colour, and run 23's perturbed colour scenes
    # crowded it out), on seeds of its own too
    farthest = re.findall(r"--episodes (\d+) --seed (\d+)\s+--refer farthest --out (\S+)", out)
    assert len(farthest) == 1, out
    train = out[out.index("torchrun"):]
    assert "--config config/train_robust.yaml" in train and "--init" not in train
    assert farthest[0][2] == f"{tmp_path}/robust/farthest" and f" {farthest[0][2]}" in train
    seeds = sorted((int(seed), int(seed) + int(episodes)) for episodes, seed, *_ in sets + farthest)
    assert all(end <= nxt for (_, end), (nxt, _) in zip(seeds, seeds[1:])), seeds  # no scene drawn twice
    assert all(end > start >= 1_000_000 for start, end in seeds), seeds  # clear of the eval splits' seeds
    for episodes, seed, axes, _, folder in sets:
        assert folder.startswith(f"{tmp_path}/robust/") and f" {folder}" in train, folder
        assert set(axes.split(",")) == set(AXES) - {"camera_pose"}, axes
    assert [bool(same) for *_, same, _ in sets] == [False, True, False, True]
    assert "data/recipe_30min_s2/next_to" in train


def test_robust_config_is_the_30min_recipe_with_more_next_to_and_steps():
    # The README's comparison of the two recipes holds only if nothing else differs.
    robust, base = (load_run_config(REPO / "config" / f"train_{name}.yaml") for name in ("robust", "30min"))
    assert robust[0] == base[0]  # the same network
    r, b = dataclasses.asdict(robust[1]), dataclasses.asdict(base[1])
    assert (r.pop("steps"), b.pop("steps")) == (3000, 2000)
    rw, bw = r.pop("kind_weights"), b.pop("kind_weights")
    assert rw.pop("next-to") == 2 * bw.pop("next-to") and rw == bw
    assert r == b
