"""``vla eval --perturb``: each axis changes the scene or the frame as documented, the scene itself stays the
unperturbed episode's, and the same seed gives the same perturbation."""

from __future__ import annotations

import argparse

import numpy as np
import pybullet as p
import pytest

from vla_ros.cli import perturbation_axes
from vla_sim import EnvConfig, PickCupEnv
from vla_sim.outcomes import WRONG_CUP
from vla_sim.perturbations import AXES, draw_perturbation, parse_axes
from vla_sim.scene import MIN_SPACING

SEED = 123


def _episode(axes: tuple[str, ...], seed: int = SEED, steps: int = 0):
    env = PickCupEnv(EnvConfig(num_cups=(4, 4), target="red", perturb=axes))
    try:
        obs, _ = env.reset(seed=seed)
        frames = [obs["image"]]
        for _ in range(steps):
            obs, *_ = env.step(np.array([0.0, 0.0, 0.0, 1.0]))
            frames.append(obs["image"])
        return {"frames": frames, "cups": env.scene.cups, "states": env.cup_states(), "objects": env.object_states(),
                "T": env.camera.T_base_cam.copy(), "perturbation": env.perturbation}
    finally:
        env.close()


@pytest.fixture(scope="module")
def plain():
    return _episode(())


def _same_layout(a, b):
    return [(c.colour, c.x, c.y) for c in a["cups"]] == [(c.colour, c.x, c.y) for c in b["cups"]]


def test_axes_parse_and_bad_ones_are_refused():
    assert parse_axes("all") == AXES
    assert parse_axes(" camera_pose,LIGHTING ") == ("lighting", "camera_pose")
    for bad in ("", "fog", "lighting,fog"):
        with pytest.raises(ValueError, match="choose from lighting"):
            parse_axes(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="unknown perturbation axis 'fog'"):
        perturbation_axes("fog")
    with pytest.raises(ValueError, match="unknown perturbation axis"):
        EnvConfig(perturb="glare")
    assert EnvConfig(perturb="all").perturb == AXES and EnvConfig().perturb == ()


def test_an_axis_is_the_same_alone_or_in_all_and_the_seed_decides_it():
    alone, combined = draw_perturbation(7, ("lighting",)), draw_perturbation(7, AXES)
    assert alone.lighting == combined.lighting and alone.camera_pose is None and alone.image_noise is None
    assert draw_perturbation(7, AXES) == combined and draw_perturbation(8, AXES) != combined
    light, cam, noise = combined.lighting, combined.camera_pose, combined.image_noise
    assert 0.5 <= light.scale <= 1.5 and 2700 <= light.kelvin <= 9000
    assert all(0.02 <= abs(v) <= 0.05 for v in cam.offset) and all(2 <= abs(v) <= 5 for v in cam.rotation_deg)
    assert 0.6 <= noise.exposure <= 1.4 and 25 <= noise.jpeg_quality <= 60
    assert 1 <= len(combined.distractors) <= 3 and len(combined.cup_shapes) == 6


@pytest.mark.parametrize("axis", ["lighting", "table_texture", "image_noise"])
def test_image_axes_change_the_frame_not_the_scene_and_repeat_with_the_seed(plain, axis):
    first, again = _episode((axis,)), _episode((axis,))
    assert np.array_equal(first["frames"][0], again["frames"][0])  # seeded
    assert _same_layout(first, plain) and np.array_equal(first["T"], plain["T"])
    diff = np.abs(first["frames"][0].astype(int) - plain["frames"][0]).mean()
    assert diff > 3.0, f"{axis}: mean change {diff:.2f} grey levels"
    if axis == "table_texture":  # the table (the frame's bottom rows, in front of the cups) looks another way
        bottom = np.abs(first["frames"][0][-12:].astype(int) - plain["frames"][0][-12:]).mean()
        assert bottom > 20.0, f"table rows changed by {bottom:.1f} grey levels"


def test_image_noise_is_new_on_every_frame(plain):
    noisy = _episode(("image_noise",), steps=1)
    assert not np.array_equal(noisy["frames"][0], noisy["frames"][1])


def test_camera_pose_moves_and_turns_the_camera_beyond_the_training_jitter(plain):
    moved = _episode(("camera_pose",))
    assert _same_layout(moved, plain)
    offset = moved["T"][:3, 3] - plain["T"][:3, 3]
    assert np.all((np.abs(offset) >= 0.02 - 1e-9) & (np.abs(offset) <= 0.05 + 1e-9))
    turn = np.degrees(np.arccos((np.trace(plain["T"][:3, :3].T @ moved["T"][:3, :3]) - 1) / 2))
    assert 3.4 <= turn <= 8.7  # 2-5 degrees about each of three axes
    assert np.array_equal(moved["T"], _episode(("camera_pose",))["T"])


def test_distractor_objects_stand_apart_from_the_cups_and_lifting_one_is_a_wrong_pick(plain):
    withobj = _episode(("distractor_objects",))
    assert _same_layout(withobj, plain)
    objects = withobj["objects"]
    assert 1 <= len(objects) <= 3
    assert {o.instance.split()[1] for o in objects} <= {"block", "bowl", "bottle"}
    for o in objects:
        assert abs(o.lift) < 0.01 and o.tilt_deg < 5  # standing on the table after settling
        for cup in withobj["states"]:
            assert np.linalg.norm(o.position[:2] - cup.position[:2]) >= MIN_SPACING - 0.01
    env = PickCupEnv(EnvConfig(num_cups=(4, 4), target="red", perturb=("distractor_objects",)))
    try:
        env.reset(seed=SEED)
        name, body = next(iter(env.object_ids.items()))
        pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=env.client)
        p.resetBasePositionAndOrientation(body, [pos[0], pos[1], pos[2] + 0.12], orn, physicsClientId=env.client)
        _, _, terminated, _, info = env.step(np.array([0.0, 0.0, 0.0, 1.0]))
        assert terminated and info["outcome"] == WRONG_CUP and info["wrong_instance"] == name
    finally:
        env.close()


def test_cup_shapes_are_mugs_tapered_and_resized_in_the_same_places(plain):
    styles = set()
    for seed in range(SEED, SEED + 4):
        base, shaped = _episode((), seed), _episode(("cup_shape",), seed)
        assert _same_layout(shaped, base)
        for a, b in zip(base["cups"], shaped["cups"]):
            scale = b.radius / a.radius
            assert 0.8 <= scale <= 1.2 and b.height / a.height == pytest.approx(scale)
            styles.add(b.style)
        for cup in shaped["states"]:  # every shape stands up on its own
            assert cup.tilt_deg < 5 and abs(cup.lift) < 0.01
    assert {"mug", "tapered"} <= styles


def test_all_applies_every_axis_at_once(plain):
    every = _episode(("all",))
    pert = every["perturbation"]
    assert pert.axes == AXES and pert.lighting and pert.table_texture and pert.camera_pose and pert.image_noise
    assert every["objects"] and len(pert.cup_shapes) == 6
    assert [(c.colour, c.x, c.y) for c in every["cups"]] == [(c.colour, c.x, c.y) for c in plain["cups"]]
    assert not np.array_equal(every["T"], plain["T"])


def test_the_expert_still_picks_mugs_and_tapered_cups_among_other_objects():
    """The new shapes and objects are physically sound: the privileged expert lifts the named cup."""
    from vla_sim import ScriptedExpert

    outcomes = []
    for seed in range(200, 204):
        env = PickCupEnv(EnvConfig(num_cups=(3, 5), target="random", perturb=("cup_shape", "distractor_objects"),
                                   render_images=False))
        try:
            obs, info = env.reset(seed=seed)
            assert env.object_ids and {c.style for c in env.scene.cups} != {"straight"}
            expert = ScriptedExpert(env)
            done = False
            while not done:
                obs, _, terminated, truncated, info = env.step(expert.select_action(obs))
                done = terminated or truncated
            outcomes.append(info["outcome"])
        finally:
            env.close()
    assert outcomes == ["success"] * 4


def test_demonstrations_can_be_perturbed_and_say_so(tmp_path):
    """`vla data generate --perturb`: the same seed's episode, seen through the perturbations, labelled alike."""
    from vla_policy.dataset import list_episodes
    from vla_policy.demonstrations import GenerationConfig, generate

    for name, axes in (("plain", ()), ("perturbed", ("lighting", "camera_pose"))):
        generate(tmp_path / name, episodes=1, seed=3_500_000, workers=1, progress=False,
                 config=GenerationConfig(distractors=(2, 2), absent_fraction=0.0, noisy_fraction=0.0,
                                         max_steps=3, perturb=axes))
    (plain,), (perturbed,) = list_episodes(tmp_path / "plain"), list_episodes(tmp_path / "perturbed")
    assert "perturb" not in plain.meta and perturbed.meta["perturb"] == ["lighting", "camera_pose"]
    assert plain.meta["target"] == perturbed.meta["target"]
    assert plain.meta["camera"]["T_base_cam"] != perturbed.meta["camera"]["T_base_cam"]  # the moved camera's pose
    a, b = plain.arrays(mmap=False), perturbed.arrays(mmap=False)
    assert not np.array_equal(a["frames"], b["frames"])
    assert not np.allclose(a["target_uv"], b["target_uv"])  # labels follow the moved camera
    with pytest.raises(ValueError, match="unknown perturbation axis"):
        GenerationConfig(perturb=("fog",))


def test_training_scenes_can_hold_an_object_in_the_named_cups_colour(tmp_path):
    """`vla data generate --objects-in-target-colour`: the first object takes the referred cup's colour, in
    the same place, and nothing else of the scene or the other objects changes; refused without the axis."""
    from vla_policy.dataset import list_episodes
    from vla_policy.demonstrations import GenerationConfig, generate

    for seed in range(SEED, SEED + 4):
        scenes = {}
        for flag in (False, True):
            env = PickCupEnv(EnvConfig(num_cups=(4, 4), target="random", perturb=("distractor_objects",),
                                       objects_in_target_colour=flag))
            try:
                env.reset(seed=seed)
                scenes[flag] = (env.scene.target, env.perturbation.distractors, env.object_states())
            finally:
                env.close()
        (target, drawn, placed), (target_h, hard, placed_h) = scenes[False], scenes[True]
        assert target_h == target and hard[0].colour == target and hard[1:] == drawn[1:]
        assert hard[0].kind == drawn[0].kind and hard[0].size == drawn[0].size
        assert placed_h[0].instance.startswith(f"{target} ")
        assert [o.position.round(3).tolist() for o in placed_h] == [o.position.round(3).tolist() for o in placed]
    with pytest.raises(ValueError, match="distractor_objects"):
        EnvConfig(perturb=("lighting",), objects_in_target_colour=True)
    with pytest.raises(ValueError, match="distractor_objects"):
        GenerationConfig(perturb=("lighting",), objects_in_target_colour=True)
    generate(tmp_path / "hard", episodes=1, seed=3_500_000, workers=1, progress=False,
             config=GenerationConfig(distractors=(2, 2), absent_fraction=0.0, noisy_fraction=0.0, max_steps=2,
                                     perturb=("distractor_objects",), objects_in_target_colour=True))
    (episode,) = list_episodes(tmp_path / "hard")
    assert episode.meta["objects_in_target_colour"] is True


def test_eval_counts_successes_apart_where_an_object_has_the_named_cups_colour():
    """`vla eval --perturb distractor_objects` names each episode's objects and splits its successes by
    whether one of them has the named cup's colour (where a policy that knows cups by colour alone fails)."""
    import functools

    from vla_policy.agent import make_expert_agent
    from vla_sim.evaluation import EpisodeSpec, evaluate

    def red_object(seed: int) -> bool:
        return any(d.colour == "red" for d in draw_perturbation(seed, ("distractor_objects",)).distractors)

    seeds = [s for s in range(300, 400) if red_object(s)][:2] + [s for s in range(300, 400) if not red_object(s)][:1]
    config = EnvConfig(num_cups=(3, 4), target="red", render_images=False, perturb=("distractor_objects",))
    summary = evaluate(config, functools.partial(make_expert_agent, understanding=None),
                       [EpisodeSpec(seed=s, target="red") for s in seeds], workers=1, progress=False)
    objects = {r["seed"]: r["objects"] for r in summary["per_episode"]}
    assert all(any(o.startswith("red ") for o in objects[s]) for s in seeds[:2])
    assert objects[seeds[2]] and not any(o.startswith("red ") for o in objects[seeds[2]])
    split = summary["by_object_colour"]
    assert split["object_in_target_colour"]["episodes"] == 2 and split["no_object_in_target_colour"]["episodes"] == 1
    assert sum(g["successes"] for g in split.values()) == summary["successes"]
    plain = evaluate(EnvConfig(num_cups=(3, 4), target="red", render_images=False),
                     functools.partial(make_expert_agent, understanding=None), [EpisodeSpec(seed=300, target="red")],
                     workers=1, progress=False)
    assert "by_object_colour" not in plain and "objects" not in plain["per_episode"][0]
