"""Simulator throughput figures (a benchmark: prints, never asserts).

    python -m vla_sim.benchmark [--episodes N]
"""

from __future__ import annotations

import argparse
import os
import time

import pybullet as p

from .config import EnvConfig
from .env import PickCupEnv
from .evaluation import EpisodeSpec, evaluate
from .expert import ScriptedExpert


def _physics_steps_per_s(steps: int = 2400) -> float:
    env = PickCupEnv(EnvConfig(num_cups=(6, 6), render_images=False))
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        p.stepSimulation(physicsClientId=env.client)
    rate = steps / (time.perf_counter() - t0)
    env.close()
    return rate


def _render_fps(width: int, height: int, frames: int = 40) -> float:
    env = PickCupEnv(EnvConfig(num_cups=(6, 6), camera={"width": width, "height": height}))
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(frames):
        env.camera.render(env.client, env.scene.light_direction)
    fps = frames / (time.perf_counter() - t0)
    env.close()
    return fps


def _episodes_per_min(episodes: int, workers: int, render_images: bool) -> tuple[float, float]:
    config = EnvConfig(num_cups=(1, 6), target="random", render_images=render_images)
    specs = [EpisodeSpec(seed=10_000 + i, target="random") for i in range(episodes)]
    t0 = time.perf_counter()
    summary = evaluate(config, ScriptedExpert, specs, workers=workers, progress=False)
    minutes = (time.perf_counter() - t0) / 60.0
    return episodes / minutes, summary["success_rate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40, help="episodes per throughput measurement")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores")
    print(f"physics steps/s (Panda + table + 6 cups, 240 Hz): {_physics_steps_per_s():,.0f}")
    for size in (96, 128, 224):
        print(f"rendered frames/s at {size}x{size} (TinyRenderer): {_render_fps(size, size):.1f}")
    one, rate1 = _episodes_per_min(args.episodes, 1, render_images=False)
    two, rate2 = _episodes_per_min(args.episodes, 2, render_images=False)
    print(f"expert episodes/min, no images: 1 worker {one:.0f}, 2 workers {two:.0f} "
          f"(x{two / one:.2f}); success {rate1:.0%} / {rate2:.0%}")
    n_img = max(4, args.episodes // 4)
    one_i, _ = _episodes_per_min(n_img, 1, render_images=True)
    two_i, _ = _episodes_per_min(n_img * 2, 2, render_images=True)
    print(f"expert episodes/min with 128x128 images every step: 1 worker {one_i:.0f}, 2 workers {two_i:.0f} "
          f"(x{two_i / one_i:.2f})")


if __name__ == "__main__":
    main()
