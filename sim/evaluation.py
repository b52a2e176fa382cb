"""Closed-loop evaluation: run an agent for N seeded episodes, in parallel worker processes,
and summarise the outcomes with a Wilson interval.

An *agent* (``vla_policy.agent``) has ``start(instruction) -> verdict`` (what it understood:
``target``, ``refusal``, ``summary()``) and ``step(obs, t) -> command`` (``kind`` act / hold /
refused / abstained, ``state``, ``action``, ``gripper``). An *agent factory* builds one from an
env; it must be picklable (a module-level function or ``functools.partial``) to reach workers.
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
from .modality_faults import ModalityFault
from .outcomes import KNOCKED_OVER, OFF_TABLE, OUTCOMES, REFUSED, SUCCESS, WRONG_CUP


class Agent(Protocol):
    def start(self, instruction: str) -> Any: ...

    def step(self, obs: dict[str, Any], t: float) -> Any: ...


AgentFactory = Callable[[PickCupEnv], Agent]


@dataclass(frozen=True)
class EpisodeSpec:
    seed: int
    target: str  # colour or "random"
    # None: the canonical instruction; "{colour}" is replaced by the target's colour and "{anchor}" by the
    # anchor's; a dict gives the text per target colour (for sentence sets that name colours in their own words).
    instruction: str | dict[str, str] | None = None
    video_path: str | None = None
    expect: str = "act"  # "refuse": must be refused (success = refused, nothing lifted); "hold": nothing
    # lifted, knocked over or pushed off (a missing input: vla_sim.modality_faults)
    refer: str = "colour"  # how the instruction refers to the target (vla_sim.referring.KINDS)
    anchor: str = "random"  # anchor colour of next-to scenes
    fault: str | None = None  # a missing modality (vla_sim.modality_faults); expect is then "hold"


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion."""
    if n == 0:
        return (0.0, 1.0)
    phat = successes / n
    denom = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def run_episode(env: PickCupEnv, agent: Agent, spec: EpisodeSpec) -> dict[str, Any]:
    """One closed-loop episode; returns the per-episode record of the JSON contract."""
    obs, info = env.reset(seed=spec.seed, options={"target": spec.target, "refer": spec.refer, "anchor": spec.anchor})
    instruction = spec.instruction
    if isinstance(instruction, dict):
        instruction = instruction[info["target"]]
    instruction = fill_instruction(instruction, info) if instruction else info["instruction"]
    fault = ModalityFault(spec.fault) if spec.fault else None
    if fault is not None:
        instruction = fault.instruction(instruction)
    verdict = agent.start(instruction)
    video = _EpisodeVideo(env, instruction, verdict) if spec.video_path else None
    dt = 1.0 / env.config.control_hz
    state = ""
    while True:
        command = agent.step(fault.observe(obs) if fault is not None else obs, info["steps"] * dt)
        state = command.state
        if command.kind == "refused":
            info = env.refuse()
            break
        if command.kind == "abstained":
            info = env.abstain()
            break
        action = command.action if command.action is not None else np.array([0.0, 0.0, 0.0, command.gripper])
        obs, _, terminated, truncated, info = env.step(action)
        if video is not None:
            video.add(state)
        if terminated or truncated:
            break
    if video is not None:
        video.finish(spec.video_path, state, info["outcome"])
    lifted = info["outcome"] in (SUCCESS, WRONG_CUP)
    if spec.expect == "refuse":
        success = info["outcome"] == REFUSED
    elif spec.expect == "hold":  # blind or numb: nothing lifted, nothing knocked over or pushed off
        success = info["outcome"] not in (SUCCESS, WRONG_CUP, KNOCKED_OVER, OFF_TABLE)
    else:
        success = info["success"]
    return {
        "seed": spec.seed,
        "target": info["target"],
        "instruction": instruction,
        "understood": verdict.label,
        "reason": verdict.refusal,
        "state": state,
        "expect": spec.expect,
        "outcome": info["outcome"],
        "success": bool(success),
        "lifted": lifted,
        "steps": info["steps"],
        "refer": info["refer"],
        "anchor": info["anchor"],
        "target_instance": info["target_instance"],
        "wrong_instance": info["wrong_instance"],
        **({"objects": list(env.object_ids)} if env.object_ids else {}),  # "red bottle 0": objects that are not cups
        **({"missed_grasps": core.missed_grasps} if (core := getattr(agent, "core", None)) is not None else {}),
    }


def fill_instruction(template: str, info: dict[str, Any]) -> str:
    """``{colour}`` -> the target's colour, ``{anchor}`` -> the anchor's (next-to scenes)."""
    if "{anchor}" in template and not info.get("anchor"):
        raise ValueError(f"instruction {template!r} names an anchor, but a {info['refer']!r} scene has none")
    return template.replace("{colour}", info["target"]).replace("{anchor}", info.get("anchor") or "")


class _EpisodeVideo:
    """Frames of an episode with what the robot understood and did drawn on them."""

    def __init__(self, env: PickCupEnv, instruction: str, verdict: Any) -> None:
        self.env, self.instruction = env, instruction
        self.understood = verdict.reference.describe() if verdict.refusal is None else ""
        self.refusal = verdict.refusal or ""
        from .video import robot_left_side

        # The image side of the robot's left (+y of the base frame) in this episode's camera.
        self.left_side = robot_left_side(env.camera.K, env.camera.T_base_cam)
        self.frames: list[np.ndarray] = []
        self.add("starting")

    def _caption(self, state: str, outcome: str | None) -> np.ndarray:
        from .video import caption_lines, draw_status

        lines = caption_lines({"instruction": self.instruction, "understood": self.understood,
                               "refusal": self.refusal, "state": state}, outcome)
        return draw_status(self.env.render(), lines, left_marker=self.left_side)

    def add(self, state: str) -> None:
        self.frames.append(self._caption(state, None))

    def finish(self, path: str, state: str, outcome: str) -> None:
        from .video import write_mp4

        last = self._caption(state, outcome)
        self.frames += [last] * int(self.env.config.control_hz)  # hold the outcome for a second
        write_mp4(path, self.frames, fps=int(self.env.config.control_hz))


# -- worker processes ------------------------------------------------------------
_worker: dict[str, Any] = {}


def _init_worker(config: EnvConfig, factory: AgentFactory, threads: int) -> None:
    try:  # keep K workers from oversubscribing the cores
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    env = PickCupEnv(config)
    _worker["env"], _worker["agent"] = env, factory(env)


def _run_in_worker(spec: EpisodeSpec) -> dict[str, Any]:
    return run_episode(_worker["env"], _worker["agent"], spec)


def evaluate(
    config: EnvConfig,
    factory: AgentFactory,
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
                agent = factory(env)
                for spec in episodes:
                    record(run_episode(env, agent, spec))
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
        "wrong_cup_rate": counts[WRONG_CUP] / n if n else 0.0,
        "lifted": sum(bool(r.get("lifted")) for r in results),
        "refused": counts[REFUSED],
        # Episodes in which the decision core retried a grasp that closed on nothing (learned policies).
        **({"regrasped": sum(r["missed_grasps"] > 0 for r in results)} if any("missed_grasps" in r for r in results) else {}),
        **_by_object_colour(results),
        "per_episode": results,
    }


def _by_object_colour(results: list[dict[str, Any]]) -> dict[str, Any]:
    """With objects that are not cups (``distractor_objects``): successes in the scenes where one has the
    referred cup's colour and in the others. A policy that tells cups from other things by colour alone
    fails in the first kind only."""
    if not any("objects" in r for r in results):
        return {}
    same = [any(o.split()[0] == r["target"] for o in r.get("objects", ())) for r in results]
    groups = {"object_in_target_colour": True, "no_object_in_target_colour": False}
    return {"by_object_colour": {
        name: {"episodes": sum(s == flag for s in same),
               "successes": sum(bool(r["success"]) for r, s in zip(results, same) if s == flag)}
        for name, flag in groups.items()}}


def video_path(directory: str | os.PathLike, seed: int) -> str:
    return str(Path(directory) / f"episode_{seed:06d}.mp4")
