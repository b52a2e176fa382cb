"""Label quality of ``vla data from-bag`` on simulator recordings: hindsight keypoints vs the truth.

``python -m vla_ros.label_quality BAG... [--calibration-error 0.01 2] [--draws 16] [--json FILE]``

Converts the bags as ``vla data from-bag`` does (into a temporary folder), then compares, at every
converted sample and at the policy's resolution, the target keypoint label with the simulator's own
label for that instant: the referred cup's centre of mass (``/sim/target``, which only a simulator
has) projected through the true camera. With ``--calibration-error T R`` it also draws ``--draws``
camera poses off the true one by ``T`` metres (a random direction) and ``R`` degrees (a random axis),
as a hand-eye calibration that far off would be, and reports both keypoints' errors under them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from vla_policy.calibration import perturbed
from vla_policy.dataset import list_episodes
from vla_policy.hindsight import hindsight_points, project_labels

from .bag_import import BagImportError, ConvertOptions, convert_bags
from .topics import SIM_TARGET

PROG = "python -m vla_ros.label_quality"


def _truth(bag: Path) -> tuple[int, np.ndarray, np.ndarray]:
    """(bag start ns, stamps (N,), centres of mass (N, 3)) of the referred cup in ``bag``."""
    typestore = get_typestore(Stores.ROS2_JAZZY)
    stamps, points = [], []
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == SIM_TARGET]
        if not conns:
            raise BagImportError(f"{bag}: no {SIM_TARGET} (simulator truth); record a simulator run with `vla record`")
        for conn, stamp, raw in reader.messages(connections=conns):
            values = {kv.key: kv.value for kv in typestore.deserialize_cdr(raw, conn.msgtype).values}
            if {"x", "y", "z"} <= set(values):
                stamps.append(stamp)
                points.append([float(values[k]) for k in ("x", "y", "z")])
        return reader.start_time, np.array(stamps, np.int64), np.array(points).reshape(-1, 3)


def _stats(errors: list[np.ndarray]) -> dict[str, float]:
    e = np.concatenate(errors) if errors else np.zeros(0)
    e = e[np.isfinite(e)]
    if not len(e):
        return {"n": 0}
    return {"n": int(len(e)), "median_px": round(float(np.median(e)), 2), "mean_px": round(float(e.mean()), 2),
            "p90_px": round(float(np.percentile(e, 90)), 2), "max_px": round(float(e.max()), 2)}


def measure(bags: list[Path], rate: float = 10.0, image_size: int = 128, calibration_error: tuple[float, float] | None
            = None, draws: int = 16, seed: int = 0) -> dict:
    """The label errors (px at ``image_size``) of converting ``bags``; see the module docstring."""
    truths = {str(b): _truth(b) for b in bags}
    with tempfile.TemporaryDirectory() as tmp:
        summary = convert_bags(bags, Path(tmp) / "data", ConvertOptions(rate=rate, image_size=image_size))
        episodes = list_episodes(Path(tmp) / "data")
        period = 1e9 / rate
        rng = np.random.default_rng(seed)
        errors = {"target": [], "target_standing": [], "target_held": [], "target_cal": [], "gripper_cal": []}
        for e in episodes:
            arr = e.arrays(mmap=False)
            start, stamps, points = truths[e.meta["source"]["bag"]]
            k0 = round((e.meta["source"]["start_ns"] - start) / period)
            ticks = start + np.round((k0 + np.arange(e.length)) * period).astype(np.int64)
            index = np.searchsorted(stamps, ticks, side="left") - 1  # the newest truth before each tick
            K, T = np.asarray(e.meta["camera"]["K"]), np.asarray(e.meta["camera"]["T_base_cam"])
            truth_uv = project_labels(np.where((index >= 0)[:, None], points[np.maximum(index, 0)], np.nan),
                                      K, T, image_size)
            err = np.linalg.norm(arr["target_uv"] - truth_uv, axis=1)
            errors["target"].append(err)
            step = e.meta.get("labels", {}).get("grasp_step")
            if step is not None:
                errors["target_standing"].append(err[:step])
                errors["target_held"].append(err[step:])
            if calibration_error:
                found = hindsight_points(arr["proprio"][:, :3], arr["actions"][:, 3], arr["proprio"][:, 7],
                                         lifted=True)
                ee_true = project_labels(arr["proprio"][:, :3], K, T, image_size)
                for _ in range(draws):
                    T_off = perturbed(T, *calibration_error, rng)
                    errors["target_cal"].append(np.linalg.norm(
                        project_labels(found.points, K, T_off, image_size) - truth_uv, axis=1))
                    errors["gripper_cal"].append(np.linalg.norm(
                        project_labels(arr["proprio"][:, :3], K, T_off, image_size) - ee_true, axis=1))
    report = {"bags": [str(b) for b in bags], "image_size": image_size, "rate_hz": rate, "conversion": summary,
              "episodes": len(episodes),
              "target_label_error": _stats(errors["target"]),
              "target_label_error_before_grasp": _stats(errors["target_standing"]),
              "target_label_error_held": _stats(errors["target_held"]),
              "gripper_label_error": {"note": "0 by construction: the same pose through the same (true) camera"}}
    if calibration_error:
        report["calibration_error"] = {"metres": calibration_error[0], "degrees": calibration_error[1], "draws": draws,
                                       "target_label_error": _stats(errors["target_cal"]),
                                       "gripper_label_error": _stats(errors["gripper_cal"])}
    return report


def anchor_quality(bags: list[Path], anchor_policy: str, cups: tuple[int, int], rate: float = 10.0,
                   image_size: int = 128) -> dict:
    """The error (px) of ``from-bag --anchor-policy``'s located next-to anchors against the simulator's
    projection of the anchor cup. The bags carry no anchor truth: each episode's scene is rebuilt from its
    seed with the recording's cup range (``cups``) and used only where it is the recorded one (the same
    camera pose, target and anchor colours)."""
    from vla_policy.demonstrations import first_anchor_uv
    from vla_sim import EnvConfig, PickCupEnv

    try:
        config = EnvConfig(num_cups=cups, target="random", refer="next-to", anchor="random",
                           camera={"width": image_size, "height": image_size})
    except ValueError as exc:
        raise BagImportError(f"--cups {cups[0]} {cups[1]}: {exc}") from None
    env = PickCupEnv(config)
    errors, mismatched = [], 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            summary = convert_bags(bags, Path(tmp) / "data", ConvertOptions(rate=rate, image_size=image_size,
                                                                            anchor_policy=anchor_policy))
            for e in list_episodes(Path(tmp) / "data"):
                if e.meta.get("refer") != "next-to" or "anchor_uv" not in e.meta or e.meta.get("seed") is None:
                    continue
                env.reset(seed=e.meta["seed"], options={"target": "random", "refer": "next-to", "anchor": "random"})
                same = (env.scene.anchor == e.meta["anchor"] and env.scene.target == e.meta["target"]
                        and np.allclose(env.camera.T_base_cam, e.meta["camera"]["T_base_cam"], atol=1e-6))
                if not same:
                    mismatched += 1
                    continue
                errors.append(np.linalg.norm(np.asarray(e.meta["anchor_uv"]) - np.asarray(first_anchor_uv(env)))[None])
    finally:
        env.close()
    return {"bags": [str(b) for b in bags], "anchor_policy": anchor_policy, "cups": list(cups),
            "image_size": image_size, "conversion": summary, "episodes_rebuilt": len(errors),
            "episodes_not_rebuilt": mismatched, "anchor_label_error": _stats(errors)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("bags", nargs="+", type=Path, metavar="BAG")
    parser.add_argument("--rate", type=float, default=10.0, help="samples per second, as from-bag (default 10)")
    parser.add_argument("--image-size", type=int, default=128, help="the policy's resolution (default 128)")
    parser.add_argument("--calibration-error", type=float, nargs=2, metavar=("METRES", "DEGREES"), default=None,
                        help="also measure with camera poses this far off (e.g. 0.01 2)")
    parser.add_argument("--draws", type=int, default=16, help="perturbed poses drawn (default 16)")
    parser.add_argument("--anchor-policy", default=None, metavar="CHECKPOINT",
                        help="instead: the error of the next-to anchors this checkpoint locates (from-bag "
                             "--anchor-policy) against the simulator, scenes rebuilt from their seeds")
    parser.add_argument("--cups", type=int, nargs=2, default=(2, 6), metavar=("MIN", "MAX"),
                        help="the recording's min_cups and max_cups, to rebuild its scenes (default 2 6)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    if args.draws < 1 or not args.rate > 0 or args.image_size < 1:
        parser.error("--draws, --rate and --image-size must be positive")
    try:
        if args.anchor_policy is not None:
            report = anchor_quality(args.bags, args.anchor_policy, tuple(args.cups), args.rate, args.image_size)
        else:
            report = measure(args.bags, args.rate, args.image_size,
                             tuple(args.calibration_error) if args.calibration_error else None, args.draws)
    except BagImportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
