"""Parallel evaluation gives the same per-episode results as a single process."""

import functools

from vla_policy.agent import make_expert_agent
from vla_sim import EnvConfig
from vla_sim.evaluation import EpisodeSpec, evaluate

EXPERT = functools.partial(make_expert_agent, understanding=None)


def test_workers_do_not_change_results():
    config = EnvConfig(num_cups=(2, 6), target="random", render_images=False)
    specs = [EpisodeSpec(seed=200 + i, target="random") for i in range(4)]
    one = evaluate(config, EXPERT, specs, workers=1, progress=False)
    two = evaluate(config, EXPERT, specs, workers=2, progress=False)
    assert one == two
    assert [r["seed"] for r in one["per_episode"]] == [200, 201, 202, 203]
    assert one["successes"] == sum(r["success"] for r in one["per_episode"])
