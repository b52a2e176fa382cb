"""Each way an episode can end is detected from the physics."""

import numpy as np
import pybullet as p
import pytest

from vla_policy.agent import ExpertAgent
from vla_sim import ScriptedExpert
from vla_sim.evaluation import EpisodeSpec, run_episode

HOLD = np.array([0.0, 0.0, 0.0, 1.0])


def _run_until_done(env, policy_or_action, max_steps=200):
    obs = env._observation()
    info = None
    for _ in range(max_steps):
        action = policy_or_action.select_action(obs) if hasattr(policy_or_action, "select_action") else policy_or_action
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info
    raise AssertionError("episode did not end")


def test_lifting_the_target_is_success(make_env):
    env = make_env(num_cups=(4, 4), render_images=False)
    env.reset(seed=5)
    info = _run_until_done(env, ScriptedExpert(env))
    assert info["outcome"] == "success" and info["success"]
    target = next(c for c in env.cup_states() if c.colour == "red")
    assert target.lift >= 0.10


def test_lifting_another_cup_is_wrong_cup(make_env):
    env = make_env(num_cups=(3, 3), render_images=False)
    env.reset(seed=6)
    other = next(c.colour for c in env.scene.cups if c.colour != "red")
    info = _run_until_done(env, ScriptedExpert(env, colour=other))
    assert info["outcome"] == "wrong_cup" and not info["success"]


def test_cup_pushed_off_the_table_is_off_table(make_env):
    env = make_env(num_cups=(2, 2), render_images=False)
    env.reset(seed=7)
    cup = env.cup_ids["red"]
    # Shove the cup towards the table's side edge (y = -0.5) and let physics carry it over.
    p.resetBaseVelocity(cup, [0.0, -4.0, 0.0], physicsClientId=env.client)
    info = _run_until_done(env, HOLD, max_steps=30)
    assert info["outcome"] == "off_table" and not info["success"]


def test_tipped_cup_is_knocked_over(make_env):
    env = make_env(num_cups=(2, 2), render_images=False)
    env.reset(seed=8)
    cup = env.cup_ids["red"]
    pos, _ = p.getBasePositionAndOrientation(cup, physicsClientId=env.client)
    p.resetBasePositionAndOrientation(cup, [pos[0], pos[1], 0.04], p.getQuaternionFromEuler([np.pi / 2, 0, 0]),
                                      physicsClientId=env.client)
    info = _run_until_done(env, HOLD, max_steps=20)
    assert info["outcome"] == "knocked_over"


def test_doing_nothing_times_out(make_env):
    env = make_env(num_cups=(1, 1), render_images=False, episode_seconds=1.0)
    env.reset(seed=9)
    info = _run_until_done(env, HOLD)
    assert info["outcome"] == "timeout" and info["steps"] == 10 and not info["success"]


def test_abstaining_succeeds_only_when_the_target_is_absent(make_env):
    absent = make_env(num_cups=(2, 4), target_absent=True, render_images=False)
    result = run_episode(absent, ExpertAgent(ScriptedExpert(absent), None), EpisodeSpec(seed=3, target="red"))
    assert "red" not in [c.colour for c in absent.scene.cups]
    assert result["outcome"] == "abstained" and result["success"]

    present = make_env(num_cups=(2, 4), render_images=False)
    present.reset(seed=3)
    info = present.abstain()
    assert info["outcome"] == "abstained" and not info["success"]


def test_refusing_ends_the_episode_and_is_never_a_success_of_the_scene(make_env):
    env = make_env(num_cups=(2, 4), render_images=False)
    env.reset(seed=5)
    info = env.refuse()
    assert info["outcome"] == "refused" and not info["success"] and info["steps"] == 0
    with pytest.raises(RuntimeError):
        env.refuse()  # the episode is over


def test_lifting_a_cup_in_an_absent_scene_fails(make_env):
    env = make_env(num_cups=(2, 2), target_absent=True, render_images=False)
    env.reset(seed=4)
    info = _run_until_done(env, ScriptedExpert(env, colour=env.scene.cups[0].colour))
    assert info["outcome"] == "wrong_cup" and not info["success"]
