"""The committed checkpoint loads and works in closed loop on seeds it never trained on."""

import functools
from pathlib import Path

from vla_policy import DEFAULT_CHECKPOINT
from vla_policy.modeling_vla import VLAPolicy
from vla_ros.cli import load_learned_policy
from vla_sim import EnvConfig
from vla_sim.evaluation import EpisodeSpec, evaluate

FACTORY = functools.partial(load_learned_policy, str(DEFAULT_CHECKPOINT))


def test_shipped_checkpoint_is_small_safetensors():
    files = sorted(p.name for p in Path(DEFAULT_CHECKPOINT).iterdir())
    assert "model.safetensors" in files and "config.json" in files
    assert not [f for f in files if f.endswith((".pt", ".pth", ".bin", ".pkl"))]  # nothing to unpickle
    assert (DEFAULT_CHECKPOINT / "model.safetensors").stat().st_size <= 20 * 2**20
    VLAPolicy.from_pretrained(DEFAULT_CHECKPOINT)


def test_shipped_checkpoint_picks_up_the_red_cup():
    # Split A's first seeds; training data used seeds >= 1,000,000.
    specs = [EpisodeSpec(seed=s, target="red") for s in range(4)]
    summary = evaluate(EnvConfig(num_cups=(3, 5), target="red"), FACTORY, specs, workers=2, progress=False)
    assert summary["successes"] >= 3, summary["per_episode"]


def test_shipped_checkpoint_abstains_when_the_cup_is_absent():
    specs = [EpisodeSpec(seed=s, target="red") for s in (30000, 30001)]
    config = EnvConfig(num_cups=(2, 4), target="red", target_absent=True)
    summary = evaluate(config, FACTORY, specs, workers=2, progress=False)
    assert summary["outcomes"].get("abstained", 0) >= 1, summary["per_episode"]
