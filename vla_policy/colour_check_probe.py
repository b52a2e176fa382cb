"""How often the decision core's colour cross-check fires, on validation scenes no evaluation uses (a
measurement: prints only, never fails).

    python -m vla_policy.colour_check_probe [--policy default] [--present 400] [--absent 200]

On the first frame of each scene it locates every cup colour with the plain colour query and hands the
results to :meth:`DecisionCore.check_colour`, as ``vla eval`` and the ROS node do on the abstain vote's
first frame. It counts the vetoes that overrule the named query's own "in view" (P >= the abstain
threshold; below it the vote abstains anyway): in scenes with the named colour each is a success lost,
in scenes without it a lift prevented.
"""

from __future__ import annotations

import argparse

import torch
from tqdm import tqdm

from .decision import CHECK_RADIUS, DecisionCore, decision_config_for
from .understanding import Verdict


class _Named:
    """Understands "<colour>" as that colour's cup: the probe names the scene's target directly."""

    def understand(self, text: str) -> Verdict:
        return Verdict(text, target=text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="default", help="'default' or a checkpoint folder")
    parser.add_argument("--present", type=int, default=400, help="scenes with the named colour (seeds 3,200,000+)")
    parser.add_argument("--absent", type=int, default=200, help="scenes without it (seeds 3,300,000+)")
    args = parser.parse_args()
    if args.present < 0 or args.absent < 0:
        parser.error("--present and --absent must be >= 0")
    torch.set_num_threads(1)
    from vla_sim.env import PickCupEnv

    from . import DEFAULT_CHECKPOINT
    from .modeling_vla import VLAPolicy

    policy = VLAPolicy.from_pretrained(DEFAULT_CHECKPOINT if args.policy == "default" else args.policy, device="cpu")
    core = DecisionCore(_Named(), decision_config_for(policy.config))
    print(f"colour cross-check, radius {CHECK_RADIUS * 100:.0f} cm, policy {args.policy}")
    for name, env_kwargs, base, n in (("named colour present", {"num_cups": (3, 6)}, 3_200_000, args.present),
                                      ("named colour absent", {"num_cups": (2, 4), "target_absent": True}, 3_300_000, args.absent)):
        env, vetoed, would_act = PickCupEnv(**env_kwargs), [], 0
        try:
            for seed in tqdm(range(base, base + n), desc=name, unit="scene"):
                obs, info = env.reset(seed=seed, options={"target": "random"})
                core.set_instruction(info["target"])
                located = [policy.locate({**obs, "instruction": q}) for q in core.check_queries()]
                core.check_colour(located)
                would_act += located[0][1] >= core.config.abstain_threshold
                if core.overruled_by is not None:
                    vetoed.append((seed, info["target"], round(float(located[0][1]), 3), core.overruled_by))
        finally:
            env.close()
        print(f"{name}: {n} scenes (seeds {base}+), named query alone says 'in view' in {would_act}; "
              f"cross-check vetoes {len(vetoed)}: {vetoed[:10]}")


if __name__ == "__main__":
    main()
