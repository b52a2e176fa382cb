"""Closed-loop evaluation: run a policy for N seeded episodes, in parallel
worker processes, and summarise the outcomes with a Wilson interval.

A *policy* here is anything with ``reset()``, ``select_action(obs) -> (4,)``
and a boolean ``abstained`` attribute (True once it decided the named cup is
not in the scene). The observation it gets is the env's dict plus
``"instruction"`` (str). A *policy factory* builds one from an env; it must be
picklable (a module-level function or ``functools.partial``) to reach workers.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
from tqdm import tqdm

from .config import EnvConfig
from .env import PickCupEnv
from .outcomes import OUTCOMES


class Policy(Protocol):
    abstained: bool

    def reset(self) -> None: ...

    def select_action(self, obs: dict[str, Any]) -> np.ndarray: ...


PolicyFactory = Callable[[PickCupEnv], Policy]


@dataclass(frozen=True)
class EpisodeSpec:
    seed: int
    target: str  # colour or "random"
    instruction: str | None = None  # None: the canonical instruction; "{colour}" is replaced by the target
    video_path: str | None = None


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion."""
    if n == 0:
        return (0.0, 1.0)
    phat = successes / n
    denom = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def run_episode(env: PickCupEnv, policy: Policy, spec: EpisodeSpec) -> dict[str, Any]:
    """One closed-loop episode; returns the per-episode record of the JSON contract."""
    obs, info = env.reset(seed=spec.seed, options={"target": spec.target})
    instruction = spec.instruction.replace("{colour}", info["target"]) if spec.instruction else info["instruction"]
    policy.reset()
    frames = [env.render()] if spec.video_path else None
    while True:
        obs["instruction"] = instruction
        action = policy.select_action(obs)
        if policy.abstained:
            info = env.abstain()
            break
        obs, _, terminated, truncated, info = env.step(action)
        if frames is not None:
            frames.append(env.render())
        if terminated or truncated:
            break
    if frames is not None:
        from .video import write_mp4

        write_mp4(spec.video_path, frames, fps=int(env.config.control_hz))
    return {
        "seed": spec.seed,
        "target": info["target"],
        "instruction": instruction,
        "outcome": info["outcome"],
        "success": info["success"],
        "steps": info["steps"],
    }


# -- worker processes ------------------------------------------------------------
_worker: dict[str, Any] = {}


def _init_worker(config: EnvConfig, factory: PolicyFactory, threads: int) -> None:
    try:  # keep K workers from oversubscribing the cores
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    env = PickCupEnv(config)
    _worker["env"], _worker["policy"] = env, factory(env)


def _run_in_worker(spec: EpisodeSpec) -> dict[str, Any]:
    return run_episode(_worker["env"], _worker["policy"], spec)


def evaluate(
    config: EnvConfig,
    factory: PolicyFactory,
    episodes: list[EpisodeSpec],
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``episodes`` and return the summary dict of the ``vla eval --json`` contract."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    workers = min(workers, max(1, len(episodes)))
    results: list[dict[str, Any]] = []
    bar = tqdm(total=len(episodes), desc="episodes", unit="ep", disable=not progress, dynamic_ncols=True)

    def record(result: dict[str, Any]) -> None:
        results.append(result)
        bar.update(1)
        bar.set_postfix(success=f"{sum(r['success'] for r in results)}/{len(results)}")

    try:
        if workers == 1 or config.gui:
            env = PickCupEnv(config)
            try:
                policy = factory(env)
                for spec in episodes:
                    record(run_episode(env, policy, spec))
            finally:
                env.close()
        else:
            threads = max(1, (os.cpu_count() or 1) // workers)
            # spawn, not fork: torch and PyBullet state must not be shared with children.
            with ProcessPoolExecutor(workers, mp.get_context("spawn"), _init_worker,
                                     (replace(config, gui=False), factory, threads)) as pool:
                futures = [pool.submit(_run_in_worker, spec) for spec in episodes]
                for future in as_completed(futures):
                    record(future.result())
    finally:
        bar.close()
    return summarise(results)


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    results = sorted(results, key=lambda r: r["seed"])
    n = len(results)
    successes = sum(bool(r["success"]) for r in results)
    counts = Counter(r["outcome"] for r in results)
    lo, hi = wilson_interval(successes, n)
    return {
        "episodes": n,
        "successes": successes,
        "success_rate": successes / n if n else 0.0,
        "ci95": [lo, hi],
        "outcomes": {o: counts[o] for o in OUTCOMES if counts[o]},
        "per_episode": results,
    }


def video_path(directory: str | os.PathLike, seed: int) -> str:
    return str(Path(directory) / f"episode_{seed:06d}.mp4")
