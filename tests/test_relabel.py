"""Hindsight relabelling: a demonstration that picks a cup also answers every other instruction that
refers to that cup; generation records them, training may condition on them (``train.hindsight_relabel``)."""

from __future__ import annotations

import numpy as np
import pytest

from vla_policy.configuration_vla import VLAConfig
from vla_policy.dataset import list_episodes
from vla_policy.decision import MARKED_TEXT
from vla_policy.demonstrations import GenerationConfig, episode_setup, generate, hindsight_relabels
from vla_policy.training import DemoSampler, TrainConfig
from vla_sim.referring import MARGIN, Reference, references_to, referent
from vla_sim.scene import sample_scene


def test_references_to_a_cup_each_name_it_by_the_margin():
    # robot frame: +y is the robot's left, distance from the base origin
    xy = np.array([[0.50, 0.20], [0.40, 0.00], [0.65, -0.15]])
    colours = ["red", "blue", "green"]
    found = {ref.instruction for ref in references_to(0, xy, colours)}
    assert found == {"pick up the red cup", "pick up the leftmost cup", "pick up the cup next to the blue cup"}
    # blue: the nearest, and next to both others; green: rightmost and farthest, and next to neither
    assert {r.instruction for r in references_to(1, xy, colours)} == {
        "pick up the blue cup", "pick up the cup closest to you", "pick up the cup next to the red cup",
        "pick up the cup next to the green cup"}
    assert {r.kind for r in references_to(2, xy, colours)} == {"colour", "rightmost", "farthest"}


def test_references_to_leaves_out_held_out_combinations_and_ties():
    xy = np.array([[0.50, 0.05], [0.50, -0.10], [0.75, 0.10]])
    # next to purple is held out from training: never a relabel, though cup 0 is purple's neighbour
    next_to_purple = Reference("next-to", anchor="purple")
    index, margin = referent(next_to_purple, xy, ["red", "purple", "blue"])
    assert index == 0 and margin >= MARGIN
    refs = references_to(0, xy, ["red", "purple", "blue"])
    assert refs and all(not r.held_out for r in refs) and next_to_purple not in refs
    # the right one of two orange cups is held out too
    assert references_to(1, xy, ["orange", "orange", "blue"]) == [Reference("rightmost")]
    # two cups level to within the margin: neither is "the leftmost"
    close = np.array([[0.50, 0.10], [0.60, 0.10 - MARGIN / 2], [0.50, -0.20]])
    assert Reference("leftmost") not in references_to(0, close, ["red", "blue", "green"])


def test_every_generated_relabel_refers_to_the_picked_cup():
    config = GenerationConfig(refer=("colour", "leftmost", "next-to", "left"))
    relabelled = 0
    for seed in range(1_000_000, 1_000_040):
        env, *_ = episode_setup(seed, config)
        try:
            env.reset(seed=seed)
            scene = env.scene
            relabels = hindsight_relabels(env)
        finally:
            env.close()
        if scene.target_index is None:
            assert relabels == []
            continue
        xy = np.array([[c.x, c.y] for c in scene.cups])
        colours = [c.colour for c in scene.cups]
        for r in relabels:
            ref = Reference(r["refer"], colour=r["target"] if r["refer"] in ("colour", "left", "right") else None,
                            anchor=r["anchor"])
            assert ref.instruction == r["instruction"] != scene.reference.instruction
            index, margin = referent(ref, xy, colours)
            assert index == scene.target_index and margin >= MARGIN
            assert ("anchor_uv" in r) == (r["refer"] == "next-to")
        relabelled += bool(relabels)
    assert relabelled >= 20  # most scenes' target answers another instruction too


@pytest.fixture(scope="module")
def relabelled_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("relabel")
    summary = generate(root, episodes=4, seed=3_000_000, workers=1, progress=False,
                       config=GenerationConfig(absent_fraction=0.0))
    phases = summary["seconds_by_phase"]  # where generation's time goes, for profiling a recipe
    assert set(phases) == {"scene", "expert", "simulate", "render", "write"}, phases
    assert all(v >= 0 for v in phases.values()) and phases["render"] > 0
    return root


def _texts(sampler, ids, n=400) -> set[str]:
    names = {i: t for t, i in ids.items()}
    return {names[int(i)] for i in sampler.sample(n)["text_ids"]}


def test_training_conditions_on_relabels_only_when_asked(relabelled_dataset):
    episodes = list_episodes(relabelled_dataset)
    relabels = {r["instruction"] for e in episodes for r in e.meta["hindsight_relabels"]}
    assert relabels, "the generated scenes should answer some other instruction"
    own = {e.meta["instruction"] for e in episodes}
    cfg = VLAConfig(image_size=128, anchor_marker=True)
    texts = sorted(own | relabels | set(MARKED_TEXT.values()))
    ids = {t: i for i, t in enumerate(texts)}
    off = DemoSampler(episodes, cfg, TrainConfig(paraphrase=False), ids, np.random.default_rng(0))
    assert _texts(off, ids) <= own
    on = DemoSampler(episodes, cfg, TrainConfig(paraphrase=False, hindsight_relabel=0.5), ids, np.random.default_rng(0))
    drawn = _texts(on, ids)
    assert drawn & own and drawn - own  # both its own and relabelled instructions
    marked = [r for e in episodes for r in e.meta["hindsight_relabels"] if r["refer"] == "next-to"]
    if marked:  # a marker policy gets the marked text for a relabelled next-to, with the anchor's pixels
        assert MARKED_TEXT["next-to"] in drawn
    # validation draws keep each episode's own instruction
    names = {i: t for t, i in ids.items()}
    assert {names[int(i)] for i in on.sample(200, augment=False)["text_ids"]} <= own


def test_relabel_is_validated():
    for bad in (-0.1, 1.5, "half", True):
        with pytest.raises(ValueError, match="relabel"):
            TrainConfig(hindsight_relabel=bad)


def test_a_relabelling_run_learns_the_kinds_of_its_relabels(relabelled_dataset, tmp_path):
    from vla_policy.modeling_vla import VLAPolicy
    from vla_policy.training import train

    small = VLAConfig(image_size=128, vision_channels=(8, 8), dim=32, heads=2, blocks=1, chunk_size=4)
    cfg = TrainConfig(steps=2, batch_size=8, val_every=2, eval_every=0, checkpoint_every=2, warmup_steps=1,
                      paraphrase=False, hindsight_relabel=0.5)
    train([str(relabelled_dataset)], str(tmp_path / "on"), small, cfg, progress=False)
    kinds = {r["refer"] for e in list_episodes(relabelled_dataset) for r in e.meta["hindsight_relabels"]}
    assert set(VLAPolicy.from_pretrained(tmp_path / "on").config.refer_kinds) == kinds | {"colour"}
    cfg.hindsight_relabel = 0.0
    train([str(relabelled_dataset)], str(tmp_path / "off"), small, cfg, progress=False)
    assert VLAPolicy.from_pretrained(tmp_path / "off").config.refer_kinds == ("colour",)
