"""Policy step latency (image in -> action out, language cached), batch 1 (a benchmark: prints only).

    python -m vla_policy.benchmark [--policy DIR] [--threads 2] [--steps 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from .configuration_vla import VLAConfig
from .modeling_vla import VLAPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=None, help="checkpoint folder (default: untrained default config)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = VLAPolicy.from_pretrained(args.policy) if args.policy else VLAPolicy(VLAConfig()).eval()
    size = model.config.image_size
    rng = np.random.default_rng(0)
    obs = {"image": rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "ee_pose": np.zeros(7),
           "gripper_width": np.array([0.08]), "instruction": "pick up the red cup"}
    model.reset()
    for _ in range(10):  # warm-up, and the instruction gets encoded and cached
        model.select_action(obs)
    times = []
    for _ in range(args.steps):
        obs["image"] = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        t0 = time.perf_counter()
        model.select_action(obs)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    print(f"policy step latency, batch 1, {args.threads} threads, {size}x{size}: "
          f"p50 {np.percentile(ms, 50):.2f} ms, p90 {np.percentile(ms, 90):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms")


if __name__ == "__main__":
    main()
