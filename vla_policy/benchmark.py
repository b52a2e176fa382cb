"""Policy step latency (image in -> command out, through the decision core, batch 1) and the cost of
understanding an instruction once (a benchmark: prints only, never fails).

    python -m vla_policy.benchmark [--policy DIR] [--reference DIR] [--threads 2] [--steps 200]

With ``--reference`` both policies run on the same frames, step by step in alternating order, so a
busy or throttled machine slows both alike and the ratio of their p50s is what compares.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from .agent import PolicyAgent
from .configuration_vla import VLAConfig
from .modeling_vla import VLAPolicy
from .understanding import load_understanding


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def percentiles(ms: list[float]) -> str:
    return f"p50 {np.percentile(ms, 50):.2f} ms, p90 {np.percentile(ms, 90):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=None, help="checkpoint folder (default: untrained default config)")
    parser.add_argument("--reference", default=None, help="a second checkpoint timed in the same run (ratio of p50s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {cpu_model()}, {args.threads} torch threads")
    model = VLAPolicy.from_pretrained(args.policy) if args.policy else VLAPolicy(VLAConfig()).eval()
    understanding = load_understanding(text_encoder=model.text_encoder)
    understanding.warm_up()

    # Understanding: once per instruction (each sentence new to the cache).
    colours = ("red", "orange", "yellow", "green", "blue", "purple")
    texts = [f"could you grab the {c} mug number {i} please" for i in range(10) for c in colours]
    texts += [f"{c} 컵을 {i}번 집어 줘" for i in range(5) for c in ("빨간", "파란", "노란", "초록", "보라", "주황")]
    times = []
    for text in texts:
        t0 = time.perf_counter()
        understanding.understand(text)
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"understanding, once per instruction ({len(texts)} sentences, English and Korean): {percentiles(times)}")

    agents = {args.policy or "untrained default config": PolicyAgent(model, understanding)}
    if args.reference:
        reference = VLAPolicy.from_pretrained(args.reference, text_encoder=model.text_encoder)
        agents[f"{args.reference} (reference)"] = PolicyAgent(reference, load_understanding(text_encoder=model.text_encoder))
    size = model.config.image_size
    # First frames of simulator scenes with every cup colour (seeds no evaluation or training uses): on
    # noise frames the colour cross-check may veto, and an abstained agent predicts nothing.
    from vla_sim.env import PickCupEnv

    env = PickCupEnv(num_cups=(6, 6), camera={"width": size, "height": size})
    try:
        scenes = [env.reset(seed=950_000 + i, options={"target": "red"})[0] for i in range(8)]
    finally:
        env.close()
    times: dict[str, list[float]] = {name: [] for name in agents}
    for agent in agents.values():
        agent.start("pick up the red cup")
        for step in range(10):  # warm-up, and the task's text gets encoded and cached
            agent.step(scenes[0], step * 0.1)
    names = list(agents)
    for step in range(10, 10 + args.steps):
        obs = scenes[step % len(scenes)]
        for name in names if step % 2 else names[::-1]:  # alternate who goes first
            t0 = time.perf_counter()
            agents[name].step(obs, step * 0.1)
            times[name].append((time.perf_counter() - t0) * 1e3)
    for name, ms in times.items():
        print(f"policy step latency (decision core + policy), batch 1, {size}x{size}, {name}: {percentiles(ms)}")
    if len(names) == 2:
        print(f"ratio of p50s: {np.percentile(times[names[0]], 50) / np.percentile(times[names[1]], 50):.2f}")
    # The first command of an instruction: the abstain vote's predictions on one frame, each with the
    # colour cross-check's six locating passes (once per instruction, while the arm holds).
    first: dict[str, list[float]] = {name: [] for name in agents}
    for i in range(12):
        for name in names if i % 2 else names[::-1]:
            agents[name].start(f"pick up the {colours[i % 6]} cup")
            t0 = time.perf_counter()
            agents[name].step(scenes[i % len(scenes)], 0.0)
            first[name].append((time.perf_counter() - t0) * 1e3)
    for name, ms in first.items():
        print(f"first command of an instruction (abstain vote + colour cross-check), {name}: {percentiles(ms)}")
    for name, agent in agents.items():
        if agent.core.vote.abstained:
            print(f"warning: {name} abstained on the benchmark scenes; its figures are not the acting path")


if __name__ == "__main__":
    main()
