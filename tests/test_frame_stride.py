"""`vla data generate --frame-stride K`: a frame at every K-th control step only, actions at every step.

Rendering is most of a demonstration's time; these tests hold the cheaper episodes to being the full ones
with frames left out (nothing else changes), and training to pairing each kept frame with its own step.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from vla_policy.configuration_vla import VLAConfig
from vla_policy.dataset import DatasetError, list_episodes
from vla_policy.demonstrations import GenerationConfig, generate
from vla_policy.training import DemoSampler, TrainConfig

SEED = 3_600_000  # no other test or evaluation uses it
STEPS = 14  # cut short: enough steps for chunks that run past the end


@pytest.fixture(scope="module")
def full_and_strided(tmp_path_factory):
    root = tmp_path_factory.mktemp("stride")
    for k in (1, 3):
        generate(root / f"k{k}", episodes=2, seed=SEED, workers=1, progress=False,
                 config=GenerationConfig(distractors=(2, 3), max_steps=STEPS, absent_fraction=0.0, frame_stride=k))
    return list_episodes(root / "k1"), list_episodes(root / "k3")


def test_a_strided_demonstration_is_the_full_one_with_every_kth_frame(full_and_strided):
    full, strided = full_and_strided
    for a, b in zip(full, strided):
        A, B = a.arrays(mmap=False), b.arrays(mmap=False)
        assert a.length == b.length == STEPS and a.frame_stride == 1 and b.frame_stride == 3
        assert b.frame_count == len(B["frames"]) == 5  # steps 0, 3, 6, 9, 12
        assert np.array_equal(A["frames"][::3], B["frames"])  # the same pixels: rendering draws no random numbers
        for key in ("proprio", "actions", "target_uv"):
            assert np.array_equal(A[key], B[key]), key
        assert b.meta["frame_stride"] == 3 and "frame_stride" not in a.meta
        assert a.meta == {k: v for k, v in b.meta.items() if k != "frame_stride"}


def test_the_sampler_pairs_each_kept_frame_with_its_own_step(full_and_strided):
    full, strided = full_and_strided
    cfg = VLAConfig(image_size=128, vision_channels=(8, 16), dim=32, heads=2, blocks=1, chunk_size=4)
    ids = {e.meta["instruction"]: i for i, e in enumerate(strided)}
    sampler = DemoSampler(strided, cfg, TrainConfig(paraphrase=False), ids, np.random.default_rng(0))
    assert len(sampler) == sum(e.frame_count for e in strided) == 10
    batch = sampler.sample(64, augment=False)
    steps_seen = set()
    for i in range(64):
        image = batch["images"][i].permute(1, 2, 0).numpy()
        kept = [(e, t) for e, ep in enumerate(full) for t, f in enumerate(ep.arrays()["frames"])
                if t % 3 == 0 and np.array_equal(f, image)]
        assert kept, "a sampled frame is not one of the kept steps' frames"
        e, t = kept[0]
        arrays = full[e].arrays(mmap=False)
        assert np.allclose(batch["proprio"][i].numpy(), np.r_[arrays["proprio"][t, :3], arrays["proprio"][t, 7:8]])
        chunk = arrays["actions"][t:t + 4]
        valid = ~batch["action_pad"][i].numpy()
        assert valid.sum() == len(chunk)  # steps past the episode's end are padding, not the frame count's end
        assert np.array_equal(batch["actions"][i].numpy()[valid], chunk)
        assert np.allclose(batch["target_uv"][i].numpy(), arrays["target_uv"][t], equal_nan=True)
        steps_seen.add((e, t))
    assert {t for _, t in steps_seen} == {0, 3, 6, 9, 12}  # every kept frame is drawn, the last one too


def test_a_frame_stride_that_does_not_fit_is_refused(full_and_strided, tmp_path):
    import shutil

    _, strided = full_and_strided
    for value in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="frame_stride"):
            GenerationConfig(frame_stride=value)
    with pytest.raises(ValueError, match="DAgger"):
        generate(tmp_path / "dagger", episodes=1, config=GenerationConfig(frame_stride=2), policy="default",
                 progress=False)
    for stride, message in ((2, "5 frames for 14 steps at frame_stride 2 (expected 7)"),
                            ("3", "frame_stride must be an integer >= 1, got '3'"),
                            (0, "frame_stride must be an integer >= 1, got 0")):
        copy = tmp_path / f"bad_{stride}"
        shutil.copytree(strided[0].path, copy / "episode_000000")
        meta_file = copy / "episode_000000" / "meta.json"
        meta = json.loads(meta_file.read_text())
        meta["frame_stride"] = stride
        meta_file.write_text(json.dumps(meta))
        with pytest.raises(DatasetError, match=re.escape(message)):
            list_episodes(copy)


def test_lerobot_export_refuses_strided_episodes(full_and_strided, tmp_path):
    from vla_policy.lerobot_interop import export_lerobot

    _, strided = full_and_strided
    with pytest.raises(DatasetError, match="every action with a frame"):
        export_lerobot([str(strided[0].path.parent)], tmp_path / "lerobot", progress=False)
    assert not (tmp_path / "lerobot").exists()


def test_the_cli_takes_a_frame_stride_and_refuses_bad_ones(tmp_path, capsys):
    from vla_ros.cli import main

    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as exc:
            main(["data", "generate", "--episodes", "1", "--frame-stride", bad, "--out", str(tmp_path / "d")])
        assert exc.value.code == 2 and "positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--frame-stride: the acting policy sees every frame"):
        main(["data", "generate", "--episodes", "1", "--policy", "default", "--frame-stride", "2",
              "--out", str(tmp_path / "d")])
    assert not (tmp_path / "d").exists()
    assert main(["data", "generate", "--episodes", "1", "--seed", str(SEED), "--max-steps", "5", "--frame-stride", "2",
                 "--quiet", "--out", str(tmp_path / "ok")]) == 0
    (episode,) = list_episodes(tmp_path / "ok")
    assert episode.frame_stride == 2 and episode.length == 5 and episode.frame_count == 3
    assert "3 frames" in capsys.readouterr().out
