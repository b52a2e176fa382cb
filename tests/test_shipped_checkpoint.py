"""The committed checkpoint loads and works in closed loop on seeds it never trained on."""

import functools
import re
from pathlib import Path

import pytest

from vla_policy import DEFAULT_CHECKPOINT
from vla_policy.modeling_vla import VLAPolicy
from vla_policy.agent import make_policy_agent
from vla_sim import EnvConfig
from vla_sim.evaluation import EpisodeSpec, evaluate

REPO = Path(__file__).resolve().parents[1]
FACTORY = functools.partial(make_policy_agent, checkpoint=str(DEFAULT_CHECKPOINT))


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
    assert summary["lifted"] == 0, summary["per_episode"]


def test_a_cup_of_another_colour_is_not_taken_for_the_named_one():
    """Split D's seed 30131 (no blue cup; a red and a green one): the blue query's present head calls the
    green cup blue (0.53), and before the colour cross-check the robot lifted it. The green query is surer
    of that cup, so the core abstains and says why."""
    config = EnvConfig(num_cups=(2, 4), target="random", target_absent=True)
    summary = evaluate(config, FACTORY, [EpisodeSpec(seed=30131, target="random")], workers=1, progress=False)
    record = summary["per_episode"][0]
    assert record["target"] == "blue" and record["outcome"] == "abstained" and not record["lifted"], record
    assert record["state"].startswith("abstained: no blue cup in view") and "green" in record["state"], record


def test_korean_example_sentence_picks_the_red_cup():
    """The design notes' example, through the same core as everything else, on unseen seeds."""
    specs = [EpisodeSpec(seed=s, target="red", instruction="테이블 위의 빨간 컵을 집어라") for s in (40000, 40001)]
    summary = evaluate(EnvConfig(num_cups=(3, 5), target="red"), FACTORY, specs, workers=2, progress=False)
    assert all(r["understood"] == "red" for r in summary["per_episode"]), summary["per_episode"]
    assert summary["successes"] >= 1 and summary["outcomes"].get("wrong_cup", 0) == 0, summary["per_episode"]


def test_unsupported_instructions_are_refused_and_nothing_moves():
    texts = ["take the cup that is not red", "push the red cup", "pick up the cup left of the red cup",
             "pick up the pink cup", "빨간 컵 말고 다른 컵을 집어"]
    specs = [EpisodeSpec(seed=50000 + i, target="red", instruction=t, expect="refuse") for i, t in enumerate(texts)]
    summary = evaluate(EnvConfig(num_cups=(3, 5), target="red"), FACTORY, specs, workers=1, progress=False)
    for r in summary["per_episode"]:
        assert r["outcome"] == "refused" and r["reason"] and not r["lifted"] and r["steps"] == 0, r


# The colour-only predecessor, v2: the referring recipe's starting point (`make policy-refer`).
COLOUR_V2_FACTORY = functools.partial(make_policy_agent, checkpoint=str(DEFAULT_CHECKPOINT.parent / "colour_v2"))
# Seeds of the canonical referring split (`make eval-refer`, seeds 100000+); training used >= 1,000,000.
# Two seeds per kind among the first that succeeded there (the split measures the rates, this checks the
# shipped checkpoint still does each kind).
REFER_SEEDS = {"left": (100000, 100001), "right": (100000, 100002), "leftmost": (100000, 100001),
               "rightmost": (100000, 100001), "nearest": (100000, 100001), "farthest": (100000, 100001),
               "next-to": (100000, 100001)}


def test_the_colour_only_v2_refuses_relations_it_never_learned():
    specs = [EpisodeSpec(seed=100000, target="random", refer=kind) for kind in ("leftmost", "next-to")]
    summary = evaluate(EnvConfig(num_cups=(3, 5)), COLOUR_V2_FACTORY, specs, workers=1, progress=False)
    for r in summary["per_episode"]:
        assert r["outcome"] == "refused" and "not trained" in r["reason"] and not r["lifted"], r


@pytest.mark.parametrize("checkpoint", ["default", "from_bags"])
def test_referring_checkpoint_picks_the_referred_cup(checkpoint):
    """Two seeds of each relational kind, canonical instructions, for the shipped policy and the one from
    recordings; `make eval-refer` measures the rates."""
    factory = functools.partial(make_policy_agent, checkpoint=str(DEFAULT_CHECKPOINT.parent / checkpoint))
    specs = [EpisodeSpec(seed=s, target="random", refer=kind) for kind, seeds in REFER_SEEDS.items() for s in seeds]
    summary = evaluate(EnvConfig(num_cups=(3, 5)), factory, specs, workers=2, progress=False)
    by_kind: dict[str, int] = {}
    for r in summary["per_episode"]:
        assert r["outcome"] != "wrong_cup", r
        by_kind[r["refer"]] = by_kind.get(r["refer"], 0) + r["success"]
    assert all(by_kind.get(kind, 0) >= 1 for kind in REFER_SEEDS), (by_kind, summary["per_episode"])
    assert summary["successes"] >= 12, summary["per_episode"]


def test_referring_checkpoint_abstains_next_to_an_absent_anchor():
    """The scenes where the referring fine-tunes once called a missing colour present (stage 3 lifted a cup
    on both): no blue / no orange cup on the table, so there is nothing to be next to."""
    specs = [EpisodeSpec(seed=140007, target="random", instruction="pick up the cup next to the {colour} cup"),
             EpisodeSpec(seed=140012, target="random", instruction="pick up the cup next to the {colour} cup")]
    config = EnvConfig(num_cups=(2, 4), target="random", target_absent=True)
    summary = evaluate(config, FACTORY, specs, workers=2, progress=False)
    assert summary["lifted"] == 0, summary["per_episode"]
    assert summary["outcomes"] == {"abstained": 2}, summary["per_episode"]


def test_the_pair_of_a_left_right_scene_is_two_cups_on_the_table():
    """What the side-marker core does with the colour query's peaks: on canonical left/right scenes where
    stage 5's second strongest peak was the first cup's shoulder (seeds found by scanning 400), the pair
    found on the table is the two cups and the named side is the referent, or no pair is found and the
    core abstains; never one cup taken for two."""
    import numpy as np

    from vla_policy.decision import PAIR_CANDIDATES, colour_query, pair_of, pick_side
    from vla_sim.camera import project_points
    from vla_sim.env import PickCupEnv

    policy = VLAPolicy.from_pretrained(DEFAULT_CHECKPOINT, device="cpu")
    size = policy.config.image_size
    env = PickCupEnv(num_cups=(3, 5))
    try:
        found = 0
        for seed in (100000, 100043, 100067, 100163):
            obs, info = env.reset(seed=seed, options={"target": "random", "refer": "left"})
            cups = [c for c in env.cup_states() if c.colour == info["target"]]
            pixels = {c.instance: project_points(env.camera.K, env.camera.T_base_cam, c.position[None])[0]
                      * size / env.camera.width for c in cups}
            peaks, _ = policy.locate({**obs, "instruction": colour_query(info["target"])}, peaks=PAIR_CANDIDATES)
            pair = pair_of(peaks, size)
            if pair is None:  # the core abstains ("one purple cup in view, left needs two")
                continue
            found += 1
            on = [min(pixels, key=lambda k: np.linalg.norm(pixels[k] - p)) for p in pair]
            assert sorted(on) == sorted(pixels), (seed, on)
            marked = pick_side(pair, "left", size)
            assert min(pixels, key=lambda k: np.linalg.norm(pixels[k] - marked)) == info["target_instance"], seed
    finally:
        env.close()
    assert found >= 3, found


def test_referring_checkpoint_picks_the_named_side_of_a_held_out_pair():
    """Left/right in two steps (the core finds the pair, marks the named side, the policy picks the marked
    cup) on the combination held out of all training, an orange pair's right cup, and on a left pair; the
    first seeds of `make eval-refer`'s rows for them."""
    specs = [EpisodeSpec(seed=s, target="orange", refer="right") for s in (120000, 120001)] + \
        [EpisodeSpec(seed=100000, target="random", refer="left")]
    summary = evaluate(EnvConfig(num_cups=(3, 5)), FACTORY, specs, workers=2, progress=False)
    assert summary["outcomes"].get("wrong_cup", 0) == 0, summary["per_episode"]
    assert summary["successes"] >= 2, summary["per_episode"]


# Trained only on recordings over ROS: hindsight keypoint labels, v2's recipe (`make policy-from-bags`:
# from_bags_colour), then the relational fine-tunes on further recordings (`make policy-refer-from-bags-11`: from_bags).
FROM_BAGS = DEFAULT_CHECKPOINT.parent / "from_bags"
FROM_BAGS_FACTORY = functools.partial(make_policy_agent, checkpoint=str(FROM_BAGS))


def test_every_checkpoint_folder_is_installed():
    """`pip install` and colcon copy only the folders setup.py names: a new one left out would load from a
    clone and be missing from an install."""
    named = re.search(r"for name in \(([^)]*)\)", (REPO / "setup.py").read_text()).group(1)
    assert set(re.findall(r'"(\w+)"', named)) == {p.name for p in DEFAULT_CHECKPOINT.parent.iterdir() if p.is_dir()}


@pytest.mark.parametrize("name", ["from_bags", "from_bags_colour"])
def test_the_policies_from_recordings_are_small_safetensors(name):
    folder = DEFAULT_CHECKPOINT.parent / name
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["README.md", "config.json", "model.safetensors"], files
    assert (folder / "model.safetensors").stat().st_size <= 20 * 2**20
    VLAPolicy.from_pretrained(folder)


def test_the_colour_policy_from_recordings_refuses_relations():
    factory = functools.partial(make_policy_agent, checkpoint=str(DEFAULT_CHECKPOINT.parent / "from_bags_colour"))
    summary = evaluate(EnvConfig(num_cups=(3, 5)), factory, [EpisodeSpec(seed=100000, target="random", refer="left")],
                       workers=1, progress=False)
    r = summary["per_episode"][0]
    assert r["outcome"] == "refused" and "not trained" in r["reason"] and not r["lifted"], r


def test_the_policy_from_recordings_picks_up_the_named_cup_and_abstains():
    specs = [EpisodeSpec(seed=s, target="red") for s in range(3)]
    summary = evaluate(EnvConfig(num_cups=(3, 5), target="red"), FROM_BAGS_FACTORY, specs, workers=2, progress=False)
    assert summary["successes"] >= 2 and summary["outcomes"].get("wrong_cup", 0) == 0, summary["per_episode"]
    config = EnvConfig(num_cups=(2, 4), target="red", target_absent=True)
    summary = evaluate(config, FROM_BAGS_FACTORY, [EpisodeSpec(seed=30000, target="red")], workers=1, progress=False)
    assert summary["outcomes"] == {"abstained": 1} and summary["lifted"] == 0, summary["per_episode"]
