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
from typing import Any

import numpy as np
import torch

from .agent import PolicyAgent
from .configuration_vla import VLAConfig
from .modeling_vla import VLAPolicy
from .understanding import load_understanding

COLOURS = ("red", "orange", "yellow", "green", "blue", "purple")


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summarise(ms: list[float]) -> dict[str, float]:
    """p50 / p90 / p99 of latencies in milliseconds."""
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 90, 99)}


def percentiles(ms: list[float]) -> str:
    s = summarise(ms)
    return f"p50 {s['p50_ms']:.2f} ms, p90 {s['p90_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms"


def benchmark_scenes(size: int, count: int = 8) -> list[dict[str, Any]]:
    """First frames of simulator scenes with every cup colour (seeds no evaluation or training uses): on
    noise frames the colour cross-check may veto, and an abstained agent predicts nothing."""
    from vla_sim.env import PickCupEnv

    env = PickCupEnv(num_cups=(6, 6), camera={"width": size, "height": size})
    try:
        return [env.reset(seed=950_000 + i, options={"target": "red"})[0] for i in range(count)]
    finally:
        env.close()


def understanding_latency(understanding: Any) -> list[float]:
    """Milliseconds to understand each of 90 sentences new to the cache, English and Korean."""
    texts = [f"could you grab the {c} mug number {i} please" for i in range(10) for c in COLOURS]
    texts += [f"{c} 컵을 {i}번 집어 줘" for i in range(5) for c in ("빨간", "파란", "노란", "초록", "보라", "주황")]
    times = []
    for text in texts:
        t0 = time.perf_counter()
        understanding.understand(text)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def agent_step_latency(agents: dict[str, PolicyAgent], scenes: list[dict[str, Any]], steps: int
                       ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Milliseconds per control step (decision core + policy) and per first command of an instruction
    (abstain vote + colour cross-check), each agent on the same frames in alternating order."""
    times: dict[str, list[float]] = {name: [] for name in agents}
    for agent in agents.values():
        agent.start("pick up the red cup")
        for step in range(10):  # warm-up, and the task's text gets encoded and cached
            agent.step(scenes[0], step * 0.1)
    names = list(agents)
    for step in range(10, 10 + steps):
        obs = scenes[step % len(scenes)]
        for name in names if step % 2 else names[::-1]:  # alternate who goes first
            t0 = time.perf_counter()
            agents[name].step(obs, step * 0.1)
            times[name].append((time.perf_counter() - t0) * 1e3)
    # The first command of an instruction: the abstain vote's predictions on one frame, each with the
    # colour cross-check's six locating passes (once per instruction, while the arm holds).
    first: dict[str, list[float]] = {name: [] for name in agents}
    for i in range(12):
        for name in names if i % 2 else names[::-1]:
            agents[name].start(f"pick up the {COLOURS[i % 6]} cup")
            t0 = time.perf_counter()
            agents[name].step(scenes[i % len(scenes)], 0.0)
            first[name].append((time.perf_counter() - t0) * 1e3)
    return times, first


def forward_latency(model: VLAPolicy, obs: dict[str, Any], steps: int, device: str = "cpu"
                    ) -> tuple[list[float], list[float] | str, float]:
    """Milliseconds per batch-1 forward pass of the network alone (no decision core), eager and through
    ``torch.compile`` in alternating order (a busy machine slows both alike), and the seconds the first
    compiled call took. Where compiling fails, its entry is the one-line reason. Moves ``model`` to
    ``device``."""
    model = model.to(device).eval()
    image = torch.as_tensor(obs["image"], device=device).permute(2, 0, 1)[None]  # (1, 3, H, W) uint8
    proprio = torch.zeros(1, model.config.proprio_dim, device=device)  # (1, P)
    text, pad = model.text_encoder.encode(["pick up the red cup"])  # (1, L, Dt), (1, L)
    args = (image, proprio, text.to(device), pad.to(device))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def timed(net: Any) -> float:
        t0 = time.perf_counter()
        net(*args)
        sync()
        return (time.perf_counter() - t0) * 1e3

    with torch.inference_mode():
        try:
            compiled: Any = torch.compile(model)
            first = timed(compiled) / 1e3
        except Exception as exc:  # noqa: BLE001 - no compiler toolchain: the eager figures still stand
            compiled, first = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", float("nan")
        nets = {"eager": model} if isinstance(compiled, str) else {"eager": model, "compiled": compiled}
        for net in nets.values():  # warm-up
            for _ in range(5):
                timed(net)
        times: dict[str, list[float]] = {name: [] for name in nets}
        for step in range(steps):
            for name in (list(nets) if step % 2 else list(nets)[::-1]):
                times[name].append(timed(nets[name]))
    return times["eager"], times.get("compiled", compiled), first


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
    times = understanding_latency(understanding)
    print(f"understanding, once per instruction ({len(times)} sentences, English and Korean): {percentiles(times)}")

    agents = {args.policy or "untrained default config": PolicyAgent(model, understanding)}
    if args.reference:
        reference = VLAPolicy.from_pretrained(args.reference, text_encoder=model.text_encoder)
        agents[f"{args.reference} (reference)"] = PolicyAgent(reference, load_understanding(text_encoder=model.text_encoder))
    size = model.config.image_size
    steps, first = agent_step_latency(agents, benchmark_scenes(size), args.steps)
    for name, ms in steps.items():
        print(f"policy step latency (decision core + policy), batch 1, {size}x{size}, {name}: {percentiles(ms)}")
    names = list(agents)
    if len(names) == 2:
        print(f"ratio of p50s: {np.percentile(steps[names[0]], 50) / np.percentile(steps[names[1]], 50):.2f}")
    for name, ms in first.items():
        print(f"first command of an instruction (abstain vote + colour cross-check), {name}: {percentiles(ms)}")
    for name, agent in agents.items():
        if agent.core.vote.abstained:
            print(f"warning: {name} abstained on the benchmark scenes; its figures are not the acting path")


if __name__ == "__main__":
    main()
