"""``python -m vla_policy.referring_figure``: what the policy looks at, one panel per reference kind.

For each kind it builds an evaluation scene, runs the decision core's first prediction and draws,
on the 128x128 frame the policy sees (enlarged), the target heatmap, the target keypoint (cross)
and the true referent's centre (circle), the cup the decision core located and marked first (square:
next-to's anchor, or left/right's cup on the named side of the pair), with the instruction and the
robot's left marked. The
grid PNG is the README's picture of the referring expressions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from vla_sim.referring import KINDS

SCALE = 3  # 128 px -> 384 px panels


def panel(frame: np.ndarray, heatmap: np.ndarray, keypoint: np.ndarray | None, truth: np.ndarray,
          caption: str, left_on_right: bool, marked: np.ndarray | None = None) -> np.ndarray:
    """(H*SCALE + 40, W*SCALE, 3) RGB: frame blended with the heatmap, keypoint, truth, the located and
    marked cup (a marker policy's next-to anchor or left/right referent) and a caption."""
    h, w = frame.shape[:2]
    big = cv2.resize(frame, (w * SCALE, h * SCALE), interpolation=cv2.INTER_NEAREST)
    heat = cv2.resize((heatmap / max(float(heatmap.max()), 1e-8)).astype(np.float32), (w * SCALE, h * SCALE),
                      interpolation=cv2.INTER_LINEAR)
    colour = cv2.cvtColor(cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    alpha = (0.6 * heat)[..., None]
    out = (big * (1 - alpha) + colour * alpha).astype(np.uint8)
    tu, tv = (truth * SCALE).astype(int)
    cv2.circle(out, (int(tu), int(tv)), 14, (255, 255, 255), 2, cv2.LINE_AA)
    if keypoint is not None:
        ku, kv = (keypoint * SCALE).astype(int)
        cv2.drawMarker(out, (int(ku), int(kv)), (0, 255, 255), cv2.MARKER_CROSS, 22, 3, cv2.LINE_AA)
    if marked is not None:
        au, av = (marked * SCALE).astype(int)
        cv2.rectangle(out, (int(au) - 14, int(av) - 14), (int(au) + 14, int(av) + 14), (80, 200, 255), 2, cv2.LINE_AA)
    side = "robot's left ->" if left_on_right else "<- robot's left"
    (tw, _), _ = cv2.getTextSize(side, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    x = out.shape[1] - tw - 6 if left_on_right else 6
    cv2.putText(out, side, (x, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    bar = np.full((40, out.shape[1], 3), 24, np.uint8)
    cv2.putText(bar, caption, (6, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
    return np.concatenate([bar, out], axis=0)


def render_kind(env, agent, kind: str, seed: int) -> tuple[np.ndarray, dict]:
    """The panel of one kind's scene at the first step, and what was measured there."""
    obs, info = env.reset(seed=seed, options={"target": "random", "refer": kind, "anchor": "random"})
    verdict = agent.start(info["instruction"])
    agent.step(obs, 0.0)
    policy = agent.policy
    truth = env.camera.project(env.cup_states()[env.scene.target_index].position[None])[0]
    keypoint = None if policy.last_keypoints is None else policy.last_keypoints[0]
    cam = env.camera
    origin, left = cam.project(np.array([[0.45, 0.0, 0.0], [0.45, 0.1, 0.0]]))
    caption = f'"{info["instruction"]}"'
    image = panel(obs["image"], policy.last_target_heatmap, keypoint, truth, caption, bool(left[0] > origin[0]),
                  agent.core.marker_uv)
    error = None if keypoint is None else float(np.linalg.norm(keypoint - truth))
    return image, {"kind": kind, "seed": seed, "instruction": info["instruction"], "understood": verdict.label,
                   "target_instance": info["target_instance"], "keypoint_error_px": error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vla_policy.referring_figure", description=__doc__.split("\n")[0])
    parser.add_argument("--policy", default="default", help="'default' or a checkpoint folder")
    parser.add_argument("--seed", type=int, default=100000, help="scene seed of every panel (default 100000)")
    parser.add_argument("--out", default="docs/referring_keypoints.png", help="grid PNG to write")
    args = parser.parse_args(argv)

    from vla_sim import EnvConfig, PickCupEnv

    from .agent import make_policy_agent

    env = PickCupEnv(EnvConfig(num_cups=(3, 5)))
    try:
        agent = make_policy_agent(env, checkpoint=args.policy)
        panels, rows = [], []
        for kind in KINDS:
            image, row = render_kind(env, agent, kind, args.seed)
            panels.append(image)
            rows.append(row)
            print(row)
    finally:
        env.close()
    cols = 4
    blank = np.zeros_like(panels[0])
    grid_rows = [np.concatenate(panels[i:i + cols] + [blank] * (cols - len(panels[i:i + cols])), axis=1)
                 for i in range(0, len(panels), cols)]
    grid = np.concatenate(grid_rows, axis=0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {out} ({grid.shape[1]}x{grid.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
