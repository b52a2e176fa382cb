"""The LeRobot half of ``vla data export/import --format lerobot`` and of ``vla eval --policy lerobot:DIR``.

Runs under LeRobot's own Python (``make lerobot-env``: Python >= 3.12, LeRobot 0.6.1 and its torch) as a
script, never imported by the project, which cannot import LeRobot. It imports only the standard library,
numpy and LeRobot. Both sides exchange plain ``.npy`` files (``allow_pickle=False``) and JSON: nothing is
unpickled.

    python lerobot_side.py export MANIFEST.json OUT_ROOT
        MANIFEST: {"repo_id", "fps", "video": bool, "episodes": [{"path": episode folder, "meta": {...}}]}
        Writes a LeRobotDataset v3 with LeRobotDataset.create / add_frame / save_episode / finalize, plus
        meta/vla_episodes.jsonl: each episode's meta.json from the project (seed, target, instruction,
        outcome, camera calibration), one line per episode in order, so an import gives them back.

    python lerobot_side.py import ROOT STAGING
        Reads a LeRobotDataset with the features below and writes STAGING/episode_NNNNNN/ with
        frames.npy (T, H, W, 3) uint8, state.npy (T, 8) float32, action.npy (T, 4) float32,
        target_uv.npy (T, 2) float32 when the dataset has it, and info.json {"task", "episode_index",
        "fps", "vla_meta": the exported meta or null}.

    python lerobot_side.py serve CHECKPOINT
        Loads a LeRobot policy (``pretrained_model`` folder: config.json, model.safetensors and the
        processor pipelines ``lerobot-train`` saves) and answers requests over stdin/stdout, one JSON
        object per line (UTF-8); the project's ``vla eval --policy lerobot:DIR`` is the client.
        First line out:  {"ready": true, "policy": type, "parameters": int, "chunk_size": K,
                          "image_shape": [H, W, 3], "state_dim": 8, "action_dim": 4, "lerobot": version,
                          "torch": version}
        Requests in:     {"op": "predict", "image": base64 of H*W*3 uint8 RGB bytes (row-major),
                          "shape": [H, W, 3], "state": [8 floats], "task": text}
                         -> {"chunk": [[vx, vy, vz, gripper] * K], "ms": model milliseconds}
                         {"op": "reset"} -> {"ok": true};  {"op": "close"} -> {"ok": true}, then exits
        A request it cannot use gets {"error": one line} and the server keeps serving. Anything LeRobot
        prints goes to stderr: stdout carries only these lines.

Features: an RGB camera ``observation.image`` (video or image, H x W x 3), ``observation.state`` (8: end
effector xyz, quaternion xyzw, gripper width in m), ``action`` (4: vx, vy, vz in m/s in the base frame,
gripper 1 open / 0 closed) and, optionally, ``observation.target_uv`` (2: the target's pixels, NaN when
unknown). Progress goes to stderr; the last line on stdout is a JSON summary; a problem with the input
ends with one line on stderr starting ``error:`` and exit status 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

STATE_NAMES = ["x", "y", "z", "qx", "qy", "qz", "qw", "gripper_width"]
ACTION_NAMES = ["vx", "vy", "vz", "gripper"]
VLA_EPISODES = "meta/vla_episodes.jsonl"


class InputError(Exception):
    """Input this script cannot use; reported in one line."""


def features(height: int, width: int, video: bool) -> dict:
    return {
        "observation.image": {"dtype": "video" if video else "image", "shape": (height, width, 3),
                              "names": ["height", "width", "channels"]},
        "observation.state": {"dtype": "float32", "shape": (8,), "names": STATE_NAMES},
        "action": {"dtype": "float32", "shape": (4,), "names": ACTION_NAMES},
        "observation.target_uv": {"dtype": "float32", "shape": (2,), "names": ["u", "v"]},
    }


def export(manifest_file: str, out: str) -> dict:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    manifest = json.loads(Path(manifest_file).read_text())
    episodes = manifest["episodes"]
    height, width = episodes[0]["meta"]["image_size"]
    dataset = LeRobotDataset.create(manifest["repo_id"], fps=int(manifest["fps"]),
                                    features=features(height, width, manifest["video"]), root=out,
                                    robot_type="franka_panda", use_videos=manifest["video"])
    frames_total = 0
    for i, episode in enumerate(episodes):
        path = Path(episode["path"])
        arrays = {k: np.load(path / f"{k}.npy", allow_pickle=False) for k in ("frames", "proprio", "actions", "target_uv")}
        for t in range(len(arrays["frames"])):
            dataset.add_frame({"observation.image": arrays["frames"][t], "observation.state": arrays["proprio"][t],
                               "action": arrays["actions"][t], "observation.target_uv": arrays["target_uv"][t],
                               "task": episode["meta"]["instruction"]})
        dataset.save_episode()
        frames_total += len(arrays["frames"])
        print(f"exported episode {i + 1}/{len(episodes)}", file=sys.stderr, flush=True)
    dataset.finalize()
    with open(Path(out) / VLA_EPISODES, "w") as f:
        for episode in episodes:
            f.write(json.dumps(episode["meta"]) + "\n")
    return {"episodes": len(episodes), "frames": frames_total, "root": out}


def _image_key(feats: dict) -> str:
    if "observation.image" in feats:
        return "observation.image"
    images = [k for k, v in feats.items() if v.get("dtype") in ("image", "video")]
    if len(images) != 1:
        raise InputError(f"needs one RGB camera feature (observation.image); found {images or 'none'}")
    return images[0]


def import_(root: str, staging: str) -> dict:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    info_file = Path(root) / "meta" / "info.json"
    if not info_file.is_file():
        raise InputError(f"{root}: not a LeRobotDataset (no meta/info.json)")
    dataset = LeRobotDataset("local/import", root=root)
    feats = dataset.features
    image_key = _image_key(feats)
    shape = tuple(feats[image_key]["shape"])
    if len(shape) != 3 or shape[-1] != 3:
        raise InputError(f"{image_key}: shape {shape}, expected (H, W, 3)")
    for key, dim in (("observation.state", 8), ("action", 4)):
        if key not in feats or tuple(feats[key]["shape"]) != (dim,):
            found = feats[key]["shape"] if key in feats else "missing"
            raise InputError(f"{key}: expected shape ({dim},), found {found} (the project's {dim} values: "
                             f"{STATE_NAMES if dim == 8 else ACTION_NAMES})")
    has_uv = "observation.target_uv" in feats and tuple(feats["observation.target_uv"]["shape"]) == (2,)
    vla_file = Path(root) / VLA_EPISODES
    vla_meta = [json.loads(line) for line in vla_file.read_text().splitlines()] if vla_file.is_file() else None
    if vla_meta is not None and len(vla_meta) != dataset.meta.total_episodes:
        vla_meta = None  # edited since export: the project's metadata no longer lines up
    staging_dir = Path(staging)
    frames_total = 0
    for e in range(dataset.meta.total_episodes):
        row = dataset.meta.episodes[e]
        start, stop = int(row["dataset_from_index"]), int(row["dataset_to_index"])
        items = [dataset[i] for i in range(start, stop)]
        frames = np.stack([item[image_key].permute(1, 2, 0).numpy() for item in items])  # (T, H, W, 3) in [0, 1]
        out = staging_dir / f"episode_{e:06d}"
        out.mkdir(parents=True)
        np.save(out / "frames.npy", np.clip(np.round(frames * 255.0), 0, 255).astype(np.uint8))
        np.save(out / "state.npy", np.stack([item["observation.state"].numpy() for item in items]).astype(np.float32))
        np.save(out / "action.npy", np.stack([item["action"].numpy() for item in items]).astype(np.float32))
        if has_uv:
            np.save(out / "target_uv.npy", np.stack([item["observation.target_uv"].numpy() for item in items]).astype(np.float32))
        (out / "info.json").write_text(json.dumps({"task": items[0]["task"], "episode_index": e, "fps": dataset.fps,
                                                   "vla_meta": vla_meta[e] if vla_meta else None}))
        frames_total += len(items)
        print(f"read episode {e + 1}/{dataset.meta.total_episodes}", file=sys.stderr, flush=True)
    return {"episodes": dataset.meta.total_episodes, "frames": frames_total, "image_key": image_key,
            "target_uv": has_uv, "vla_meta": vla_meta is not None}


def _checkpoint_dir(path: str) -> Path:
    """A ``pretrained_model`` folder, or a ``lerobot-train`` output folder (its last checkpoint)."""
    root = Path(path)
    for candidate in (root, root / "checkpoints" / "last" / "pretrained_model", root / "pretrained_model"):
        if (candidate / "config.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    raise InputError(f"{path}: no LeRobot policy (config.json + model.safetensors, or a lerobot-train output "
                     "folder with checkpoints/last/pretrained_model)")


def _predict_request(request: dict, expected: tuple, state_dim: int) -> tuple[np.ndarray, np.ndarray, str]:
    import base64

    shape = request.get("shape")
    if not isinstance(shape, list) or tuple(shape) != expected:
        raise InputError(f"image shape {shape}, the policy was trained on {list(expected)}")
    try:
        raw = base64.b64decode(request.get("image", ""), validate=True)
    except (ValueError, TypeError) as exc:
        raise InputError(f"image: not base64 ({exc})") from None
    if len(raw) != int(np.prod(expected)):
        raise InputError(f"image: {len(raw)} bytes for shape {list(expected)}")
    state = np.asarray(request.get("state"), dtype=np.float32) if isinstance(request.get("state"), list) else None
    if state is None or state.shape != (state_dim,) or not np.isfinite(state).all():
        raise InputError(f"state: expected {state_dim} finite numbers")
    task = request.get("task", "")
    if not isinstance(task, str):
        raise InputError("task: expected text")
    return np.frombuffer(raw, dtype=np.uint8).reshape(expected), state, task


def serve(checkpoint: str) -> int:
    import os
    import time

    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # LeRobot's own prints must not mix with the protocol's lines
    sys.stdout = sys.stderr
    import torch
    import lerobot
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors
    from lerobot.configs.policies import PreTrainedConfig

    folder = _checkpoint_dir(checkpoint)
    config = PreTrainedConfig.from_pretrained(folder)
    config.device = "cpu"
    policy = get_policy_class(config.type).from_pretrained(folder, config=config).eval()
    pre, post = make_pre_post_processors(config, pretrained_path=str(folder))
    images = [k for k, f in config.input_features.items() if k.startswith("observation.image")]
    if len(images) != 1:
        raise InputError(f"{folder}: expects {len(images)} cameras; the simulator has one")
    image_key = images[0]
    c, h, w = config.input_features[image_key].shape
    state_dim = config.input_features["observation.state"].shape[0]
    action_dim = config.output_features["action"].shape[0]
    protocol.write(json.dumps({"ready": True, "policy": config.type, "chunk_size": int(config.chunk_size),
                               "parameters": sum(p.numel() for p in policy.parameters()),
                               "image_shape": [h, w, c], "state_dim": state_dim, "action_dim": action_dim,
                               "lerobot": lerobot.__version__, "torch": torch.__version__}) + "\n")
    for line in sys.stdin:
        try:
            request = json.loads(line)
            op = request.get("op") if isinstance(request, dict) else None
            if op == "close":
                protocol.write(json.dumps({"ok": True}) + "\n")
                return 0
            if op == "reset":
                policy.reset()
                reply: dict = {"ok": True}
            elif op == "predict":
                image, state, task = _predict_request(request, (h, w, c), state_dim)
                t0 = time.perf_counter()
                with torch.inference_mode():
                    batch = pre({image_key: torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255.0,
                                 "observation.state": torch.from_numpy(state), "task": task})
                    chunk = post(policy.predict_action_chunk(batch))  # (1, K, A) in the dataset's units
                reply = {"chunk": chunk[0].float().cpu().numpy().round(6).tolist(),
                         "ms": round((time.perf_counter() - t0) * 1e3, 3)}
            else:
                raise InputError(f"unknown op {op!r} (predict, reset, close)")
        except (InputError, json.JSONDecodeError) as exc:
            reply = {"error": str(exc).splitlines()[0]}
        protocol.write(json.dumps(reply) + "\n")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "serve":
        try:
            return serve(argv[1])
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if len(argv) != 3 or argv[0] not in ("export", "import"):
        print("error: usage: lerobot_side.py export MANIFEST OUT | import ROOT STAGING | serve CHECKPOINT",
              file=sys.stderr)
        return 2
    try:
        summary = export(argv[1], argv[2]) if argv[0] == "export" else import_(argv[1], argv[2])
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
