"""The corrective expert (DAgger labels): it completes the task from any state, recoveries included."""

import numpy as np
import pytest

from vla_sim.expert import CorrectiveExpert


def run(env, expert, obs, steps=200):
    info = {}
    for _ in range(steps):
        obs, _, terminated, truncated, info = env.step(expert.label(obs))
        if terminated or truncated:
            break
    return info


def test_acting_alone_it_picks_the_named_cup(make_env):
    env = make_env(num_cups=(2, 5), target="random", render_images=False)
    outcomes = []
    for seed in range(6):
        obs, _ = env.reset(seed=700_000 + seed)
        outcomes.append(run(env, CorrectiveExpert(env), obs)["outcome"])
    assert outcomes == ["success"] * 6


def test_recovers_from_a_gripper_closed_beside_the_cup(make_env):
    """The failure the learned policy showed: fingers closed 3 cm off the cup, near its rim."""
    env = make_env(num_cups=(3, 3), target="red", render_images=False)
    obs, _ = env.reset(seed=11)
    expert = CorrectiveExpert(env)
    cup = next(c for c in env.cup_states() if c.colour == "red")
    height = next(c.height for c in env.scene.cups if c.colour == "red")
    off = np.array([cup.position[0] + 0.03, cup.position[1], height])  # beside the rim
    for _ in range(40):  # drive there with the gripper closing
        velocity = np.clip(3.0 * (off - obs["ee_pose"][:3]), -0.25, 0.25)
        obs, *_ = env.step(np.concatenate([velocity, [0.0]]))
    assert obs["gripper_width"][0] < 0.07  # closed on nothing
    first = expert.label(obs)
    assert first[3] == 1.0 and first[2] > 0  # open and go up, not down
    assert run(env, expert, obs)["outcome"] == "success"


def test_no_label_when_the_target_is_absent(make_env):
    env = make_env(num_cups=(2, 3), target="red", target_absent=True, render_images=False)
    obs, _ = env.reset(seed=3)
    assert CorrectiveExpert(env).label(obs) is None


def test_dagger_generation_records_policy_states_with_corrective_labels(tmp_path):
    """`vla data generate --policy`: the policy acts, the corrective expert labels, training uses any outcome."""
    from vla_policy import DEFAULT_CHECKPOINT
    from vla_policy.dataset import list_episodes
    from vla_policy.demonstrations import GenerationConfig, _load_policy, episode_setup, generate
    from vla_policy.training import _usable

    config = GenerationConfig(absent_fraction=0.0, noisy_fraction=0.0, max_steps=6)
    summary = generate(tmp_path, episodes=2, seed=2_000_000, config=config, progress=False,
                       policy=str(DEFAULT_CHECKPOINT))
    assert summary["generated"] == 2
    episodes = list_episodes(tmp_path)
    assert all(e.meta["relabelled"] and e.length == 6 for e in episodes)  # cut at max_steps: not successes
    assert _usable(episodes) == episodes

    # Replay each episode: the same scene, the same (deterministic) policy acting. Every recorded
    # frame and proprio must be the state the policy's actions led to, and every label the
    # corrective expert's label of that state, not the action the policy executed.
    policy = _load_policy(str(DEFAULT_CHECKPOINT))
    for episode in episodes:
        recorded = episode.arrays(mmap=False)
        env, *_ = episode_setup(episode.meta["seed"], config)
        try:
            obs, info = env.reset(seed=episode.meta["seed"])
            assert info["target"] == episode.meta["target"]
            expert = CorrectiveExpert(env)
            policy.reset()
            departures = []
            for step in range(episode.length):
                np.testing.assert_array_equal(recorded["frames"][step], obs["image"], err_msg=f"frame {step}")
                np.testing.assert_allclose(recorded["proprio"][step], np.concatenate([obs["ee_pose"], obs["gripper_width"]]),
                                           atol=1e-6, err_msg=f"proprio {step}")
                label = expert.label(obs)
                np.testing.assert_allclose(recorded["actions"][step], label, atol=1e-6, err_msg=f"label {step}")
                executed = policy.select_action({**obs, "instruction": episode.meta["instruction"]})
                departures.append(float(np.abs(executed[:3] - label[:3]).max()))
                obs, *_ = env.step(executed)
        finally:
            env.close()
        assert max(departures) > 1e-3, "the policy's actions equal the labels: this does not tell policy from expert"
    actions = np.asarray(episodes[0].arrays()["actions"])
    assert np.all(np.abs(actions[:, :3]) <= 0.25) and set(actions[:, 3]) <= {0.0, 1.0}


def test_operator_noise_is_seeded_held_and_smaller_near_the_cup():
    from vla_sim.expert import NOISE_NEAR_CUP, OperatorNoise

    action = np.array([0.1, 0.0, -0.05, 1.0])
    draws = [OperatorNoise(0.06, 0.7, seed=3) for _ in range(2)]
    a = [n.apply(action, "approach", t) for n, t in zip(draws, (5.0, 5.0))]
    np.testing.assert_array_equal(a[0], a[1])  # same seed, same noise
    noise = draws[0]
    noise.noisy = True  # whatever this episode drew
    first = noise.apply(action, "approach", 10.0)
    assert first[3] == 1.0 and not np.allclose(first[:3], action[:3])
    np.testing.assert_array_equal(noise.apply(action, "approach", 10.05), first)  # held for 0.1 s
    near = noise.apply(action, "descend", 10.08)  # same draw, scaled near the cup
    np.testing.assert_allclose(near[:3] - action[:3], NOISE_NEAR_CUP * (first[:3] - action[:3]))
    assert not np.allclose(noise.apply(action, "approach", 10.2), first)  # a new draw after the hold
    # About `fraction` of episodes are noisy; std 0 never is.
    noisy = []
    for _ in range(400):
        noise.new_episode()
        noisy.append(noise.noisy)
    assert 0.6 < np.mean(noisy) < 0.8
    quiet = OperatorNoise(0.0, 1.0, seed=0)
    np.testing.assert_array_equal(quiet.apply(action, "approach", 0.0), action)
    with pytest.raises(ValueError):
        OperatorNoise(0.06, 1.5, seed=0)
