"""Simulator throughput figures (a benchmark: prints, never asserts).

    python -m vla_sim.benchmark [--episodes N]
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import pybullet as p

from vla_policy.agent import make_expert_agent

from .config import EnvConfig
from .env import PickCupEnv
from .evaluation import EpisodeSpec, evaluate
from .expert import ScriptedExpert


def physics_steps_per_s(steps: int = 2400) -> float:
    env = PickCupEnv(EnvConfig(num_cups=(6, 6), render_images=False))
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        p.stepSimulation(physicsClientId=env.client)
    rate = steps / (time.perf_counter() - t0)
    env.close()
    return rate


def render_fps(width: int, height: int) -> tuple[float, float]:
    """Frames/s over one expert episode (the arm moves into view and out): as the env renders them
    (links outside the view culled) and with every link drawn, in the same run."""
    env = PickCupEnv(EnvConfig(num_cups=(6, 6), camera={"width": width, "height": height}))
    obs, _ = env.reset(seed=0)
    expert = ScriptedExpert(env)
    culled = full = 0.0
    frames = 0
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(expert.select_action(obs))
        done = terminated or truncated
        t0 = time.perf_counter()
        env._render(env.camera)
        t1 = time.perf_counter()
        env._culler.show_all()
        env.camera.render(env.client, env.scene.light_direction)
        full += time.perf_counter() - t1
        culled += t1 - t0
        frames += 1
    env.close()
    return frames / culled, frames / full


def episodes_per_min(episodes: int, workers: int, render_images: bool) -> tuple[float, float]:
    config = EnvConfig(num_cups=(1, 6), target="random", render_images=render_images)
    specs = [EpisodeSpec(seed=10_000 + i, target="random") for i in range(episodes)]
    t0 = time.perf_counter()
    factory = functools.partial(make_expert_agent, understanding=None)  # throughput of the sim, not of language
    summary = evaluate(config, factory, specs, workers=workers, progress=False)
    minutes = (time.perf_counter() - t0) / 60.0
    return episodes / minutes, summary["success_rate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40, help="episodes per throughput measurement")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    print(f"physics steps/s (Panda + table + 6 cups, 240 Hz): {physics_steps_per_s():,.0f}")
    for size in (96, 128, 224):
        culled, full = render_fps(size, size)
        print(f"rendered frames/s at {size}x{size} (TinyRenderer, over an expert episode): {culled:.1f} "
              f"(every link drawn: {full:.1f}; culling x{culled / full:.2f})")
    one, rate1 = episodes_per_min(args.episodes, 1, render_images=False)
    two, rate2 = episodes_per_min(args.episodes, 2, render_images=False)
    print(f"expert episodes/min, no images: 1 worker {one:.0f}, 2 workers {two:.0f} "
          f"(x{two / one:.2f}); success {rate1:.0%} / {rate2:.0%}")
    n_img = max(4, args.episodes // 4)
    one_i, _ = episodes_per_min(n_img, 1, render_images=True)
    two_i, _ = episodes_per_min(n_img * 2, 2, render_images=True)
    print(f"expert episodes/min with 128x128 images every step: 1 worker {one_i:.0f}, 2 workers {two_i:.0f} "
          f"(x{two_i / one_i:.2f})")


if __name__ == "__main__":
    main()
