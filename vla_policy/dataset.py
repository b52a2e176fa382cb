"""On-disk demonstration format, version 1.

A dataset is a folder of episode folders ``episode_NNNNNN/``, each holding::

    meta.json      {"format": 1, "seed", "instruction", "target", "target_present",
                    "outcome", "success", "steps", "image_size": [H, W], "control_hz", "noisy",
                    "camera": {"K": 3x3, "T_base_cam": 4x4}}   (camera optional: calibration, see below)
    frames.npy     (F, H, W, 3) uint8   camera frame seen before the action of steps 0, k, 2k, ...
                                        (F = ceil(T / k), k = meta "frame_stride", default 1: every step)
    proprio.npy    (T, 8)       float32 end-effector xyz + quaternion xyzw, gripper width (m)
    actions.npy    (T, 4)       float32 label action: vx, vy, vz (m/s, base frame), gripper (1 open, 0 closed)
    target_uv.npy  (T, 2)       float32 target cup centre in pixels (u right, v down); NaN when absent

Optional meta fields written by ``vla data generate``: ``frame_stride`` (``--frame-stride``),
``refer``/``anchor``/``anchor_uv`` (relational tasks) and ``hindsight_relabels``, the other instructions the
same demonstration answers (hindsight relabelling: ``[{"refer", "instruction", "target", "anchor"[,
"anchor_uv"]}]``, used when ``train.hindsight_relabel`` > 0).

``camera`` holds the intrinsics and the camera pose in the robot base frame (ROS
optical frame: z forward, x right, y down). Training uses it to project the
end-effector into the image as a second keypoint target; episodes without a
calibrated camera (e.g. a user's robot) simply skip that auxiliary loss.

Arrays are plain ``.npy`` so training memory-maps them instead of loading the
dataset into RAM. An episode is written to ``.partial-episode_NNNNNN/`` and
renamed when complete, so an interrupted writer never leaves a half episode
under a valid name; a folder that is still inconsistent is reported, not read.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
ARRAYS = {"frames": np.uint8, "proprio": np.float32, "actions": np.float32, "target_uv": np.float32}
PROPRIO_DIM = 8
ACTION_DIM = 4


class DatasetError(ValueError):
    """A dataset folder or episode that cannot be used, with the reason."""


def valid_frame_stride(value: Any) -> bool:
    """A frame stride is an int >= 1 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def frames_for(steps: int, stride: int) -> int:
    """Frames an episode of ``steps`` control steps holds at ``stride``: steps 0, k, 2k, ... (ceil(T / k))."""
    return -(-steps // stride)


def episode_name(index: int) -> str:
    return f"episode_{index:06d}"


def write_episode(root: str | os.PathLike, index: int, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write one episode atomically (partial folder, then rename)."""
    root = Path(root)
    final = root / episode_name(index)
    partial = root / f".partial-{episode_name(index)}"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    for key, dtype in ARRAYS.items():
        np.save(partial / f"{key}.npy", np.ascontiguousarray(arrays[key], dtype=dtype))
    (partial / "meta.json").write_text(json.dumps({"format": FORMAT_VERSION, **meta}, indent=1))
    os.replace(partial, final)
    return final


@dataclass
class Episode:
    path: Path
    meta: dict[str, Any]
    length: int
    """Control steps T (rows of proprio, actions, target_uv)."""
    frame_stride: int = 1
    """A frame at every ``frame_stride``-th step (steps 0, k, 2k, ...)."""

    @property
    def frame_count(self) -> int:
        """Rows of frames.npy: ceil(T / k)."""
        return frames_for(self.length, self.frame_stride)

    def arrays(self, mmap: bool = True, keys: tuple[str, ...] = tuple(ARRAYS)) -> dict[str, np.ndarray]:
        """The episode's arrays (``keys`` of ``ARRAYS``); each memory map holds a file descriptor while alive."""
        mode = "r" if mmap else None
        return {key: np.load(self.path / f"{key}.npy", mmap_mode=mode, allow_pickle=False) for key in keys}


def load_episode(path: str | os.PathLike) -> Episode:
    """Open and validate one episode folder (shapes and dtypes, not contents)."""
    path = Path(path)
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        raise DatasetError(f"{path}: no meta.json (episode cut mid-write?)")
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{meta_file}: not valid JSON ({exc})") from None
    if meta.get("format") != FORMAT_VERSION:
        raise DatasetError(f"{path}: format {meta.get('format')!r}, this reader knows {FORMAT_VERSION}")
    shapes = {}
    for key, dtype in ARRAYS.items():
        file = path / f"{key}.npy"
        try:
            arr = np.load(file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{file}: unreadable ({exc})") from None
        if arr.dtype != dtype:
            raise DatasetError(f"{file}: dtype {arr.dtype}, expected {np.dtype(dtype)}")
        shapes[key] = arr.shape
    stride = meta.get("frame_stride", 1)
    if not valid_frame_stride(stride):
        raise DatasetError(f"{meta_file}: frame_stride must be an integer >= 1, got {stride!r}")
    t = shapes["actions"][0] if len(shapes["actions"]) else 0
    expected = {"proprio": (t, PROPRIO_DIM), "actions": (t, ACTION_DIM), "target_uv": (t, 2)}
    for key, shape in expected.items():
        if shapes[key] != shape:
            raise DatasetError(f"{path}: {key} has shape {shapes[key]}, expected {shape}")
    if len(shapes["frames"]) != 4 or shapes["frames"][3] != 3:
        raise DatasetError(f"{path}: frames must be (F, H, W, 3), got {shapes['frames']}")
    if shapes["frames"][0] != frames_for(t, stride):
        raise DatasetError(f"{path}: {shapes['frames'][0]} frames for {t} steps at frame_stride {stride} "
                           f"(expected {frames_for(t, stride)})")
    for key in ("instruction", "target", "target_present", "seed"):
        if key not in meta:
            raise DatasetError(f"{meta_file}: missing {key!r}")
    camera = meta.get("camera")
    if camera is not None:
        try:
            ok = np.asarray(camera["K"], float).shape == (3, 3) and np.asarray(camera["T_base_cam"], float).shape == (4, 4)
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise DatasetError(f"{meta_file}: camera must be {{'K': 3x3, 'T_base_cam': 4x4}}")
    return Episode(path, meta, t, stride)


def list_episodes(root: str | os.PathLike) -> list[Episode]:
    """All complete episodes under ``root``, in index order."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder")
    episodes = [load_episode(p) for p in sorted(root.glob("episode_*")) if p.is_dir()]
    if not episodes:
        raise DatasetError(f"{root}: no episodes (generate some with `vla data generate`)")
    return episodes
