"""The camera's pose in the robot base frame (a hand-eye calibration, camera fixed beside the robot), read
from the files a ROS user has, and written in this project's own format.

Keypoint labels for recorded demonstrations need it: intrinsics come from the bag's ``camera_info``, and
this pose turns base-frame points (the gripper, the grasp) into pixels. Internally it is ``T_base_cam``
(4x4), the pose of the camera's *optical* frame (z forward, x right, y down; REP 103's ``*_optical_frame``),
as ``vla_sim.camera`` and the dataset's ``meta.json`` use it.

Accepted files (YAML or JSON; the format is recognised by its keys):

1. This project's format (:func:`save_calibration` writes it)::

       base_frame: panda_link0          # optional, for the record
       camera_frame: camera_optical     # optional
       convention: optical              # or "link": x forward, y left, z up (a ROS camera_link)
       translation: [x, y, z]           # m, camera origin in the base frame
       rotation_xyzw: [qx, qy, qz, qw]  # camera orientation in the base frame

   ``T_base_cam: 4x4`` may replace ``translation`` and ``rotation_xyzw``.
2. easy_handeye's result (``eye_on_hand: false``, ``transformation: {x, y, z, qx, qy, qz, qw}``): the
   tracking frame is taken as the optical frame, as marker trackers report it; add ``convention: link``
   to the file if yours is a ``camera_link``. Eye-on-hand results are refused (the camera moves with the
   gripper; this project's policy sees a fixed camera).
3. A one-line ``static_transform_publisher`` argument list: ``x y z qx qy qz qw parent child`` (or with
   ROS 2's ``--x 0.1 --qx 0 ... --frame-id parent --child-frame-id child`` flags); the child is taken as
   the optical frame unless its name ends in ``_link`` or ``convention: link`` is said some other way.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# The optical frame's axes in a camera_link frame (REP 103): optical z = link x, optical x = -link y,
# optical y = -link z. A link-frame pose times this is the optical-frame pose.
LINK_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


class CalibrationError(ValueError):
    """A calibration file that cannot be read or does not describe a camera pose."""


@dataclass(frozen=True)
class CameraPose:
    """``T_base_cam`` (4, 4): the camera's optical frame in the robot base frame."""

    T_base_cam: np.ndarray
    base_frame: str = ""
    camera_frame: str = ""

    def __post_init__(self) -> None:
        T = np.asarray(self.T_base_cam, dtype=np.float64)
        if T.shape != (4, 4) or not np.isfinite(T).all():
            raise CalibrationError(f"T_base_cam must be a finite 4x4 matrix, got shape {T.shape}")
        R = T[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0 or not np.allclose(T[3], (0, 0, 0, 1)):
            raise CalibrationError("T_base_cam is not a rigid transform (its rotation is not orthonormal)")
        object.__setattr__(self, "T_base_cam", T)


def quaternion_matrix(xyzw: Any) -> np.ndarray:
    """Rotation (3, 3) of a unit quaternion (x, y, z, w); a quaternion off unit length by > 1 % is refused."""
    q = np.asarray(xyzw, dtype=np.float64).reshape(-1)
    if q.shape != (4,) or not np.isfinite(q).all():
        raise CalibrationError(f"a rotation quaternion needs 4 finite numbers (x, y, z, w), got {xyzw!r}")
    n = np.linalg.norm(q)
    if abs(n - 1.0) > 0.01:
        raise CalibrationError(f"rotation quaternion {q.tolist()} is not unit length (norm {n:.4f})")
    x, y, z, w = q / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def matrix_quaternion(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) of a rotation (3, 3), w >= 0."""
    R = np.asarray(R, dtype=np.float64)
    # Shepperd's method: pivot on the largest diagonal term for accuracy.
    trace = np.trace(R)
    i = int(np.argmax([trace, R[0, 0], R[1, 1], R[2, 2]]))
    if i == 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, s / 4]
    elif i == 1:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [s / 4, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif i == 2:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, s / 4, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, s / 4, (R[1, 0] - R[0, 1]) / s]
    q = np.asarray(q)
    return q if q[3] >= 0 else -q


def _pose(translation: Any, xyzw: Any, convention: str, base: str = "", camera: str = "") -> CameraPose:
    t = np.asarray(translation, dtype=np.float64).reshape(-1)
    if t.shape != (3,) or not np.isfinite(t).all():
        raise CalibrationError(f"translation needs 3 finite numbers (m), got {translation!r}")
    if convention not in ("optical", "link"):
        raise CalibrationError(f"convention must be 'optical' or 'link', got {convention!r}")
    R = quaternion_matrix(xyzw)
    if convention == "link":
        R = R @ LINK_FROM_OPTICAL
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return CameraPose(T, base, camera)


def _from_mapping(data: dict) -> CameraPose:
    convention = str(data.get("convention", "optical"))
    if "transformation" in data:  # easy_handeye
        if data.get("eye_on_hand", False):
            raise CalibrationError("an eye-on-hand calibration (camera on the gripper); "
                                   "this project needs the camera fixed beside the robot (eye_on_hand: false)")
        tf = data["transformation"]
        if not isinstance(tf, dict) or not {"x", "y", "z", "qx", "qy", "qz", "qw"} <= set(tf):
            raise CalibrationError("transformation needs x, y, z, qx, qy, qz, qw")
        return _pose([tf["x"], tf["y"], tf["z"]], [tf["qx"], tf["qy"], tf["qz"], tf["qw"]], convention,
                     str(data.get("robot_base_frame", "")), str(data.get("tracking_base_frame", "")))
    base, camera = str(data.get("base_frame", "")), str(data.get("camera_frame", ""))
    if "T_base_cam" in data:
        try:
            T = np.asarray(data["T_base_cam"], dtype=np.float64)
        except (TypeError, ValueError):
            raise CalibrationError("T_base_cam must be a 4x4 matrix of numbers") from None
        if convention == "link" and T.shape == (4, 4):
            T = T.copy()
            T[:3, :3] = T[:3, :3] @ LINK_FROM_OPTICAL
        return CameraPose(T, base, camera)
    if "translation" in data and "rotation_xyzw" in data:
        return _pose(data["translation"], data["rotation_xyzw"], convention, base, camera)
    raise CalibrationError("not a camera calibration this project reads (expected translation + "
                           "rotation_xyzw, T_base_cam, or easy_handeye's transformation)")


def _from_static_transform(line: str) -> CameraPose:
    tokens = shlex.split(line)
    if any(t.startswith("--") for t in tokens):
        flags = {k.removeprefix("--"): v for k, v in zip(tokens[0::2], tokens[1::2])}
        if {"yaw", "pitch", "roll"} & set(flags):
            raise CalibrationError("give the rotation as a quaternion (--qx --qy --qz --qw)")
        values = [flags.get(k, "0") for k in ("x", "y", "z", "qx", "qy", "qz")] + [flags.get("qw", "1")]
        parent, child = flags.get("frame-id", ""), flags.get("child-frame-id", "")
    elif len(tokens) == 9:
        values, parent, child = tokens[:7], tokens[7], tokens[8]
    else:
        raise CalibrationError("a static transform line needs 'x y z qx qy qz qw parent child' "
                               f"or ROS 2 flags, got {len(tokens)} fields")
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise CalibrationError("the static transform's x y z qx qy qz qw must be numbers") from None
    convention = "link" if child.endswith("_link") else "optical"
    return _pose(numbers[:3], numbers[3:], convention, parent, child)


def load_calibration(path: str | Path) -> CameraPose:
    """The camera pose in a calibration file (module docstring); :class:`CalibrationError` with the file's
    name and what is wrong otherwise."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot read the calibration file ({exc})") from None
    stripped = text.strip()
    if not stripped:
        raise CalibrationError(f"{path}: the calibration file is empty")
    import yaml

    try:
        data = json.loads(stripped) if stripped.startswith("{") else yaml.safe_load(stripped)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise CalibrationError(f"{path}: not valid YAML or JSON ({str(exc).splitlines()[0]})") from None
    try:
        if isinstance(data, str):  # one line of words: static_transform_publisher's arguments
            return _from_static_transform(data)
        if not isinstance(data, dict):
            raise CalibrationError("expected a mapping of calibration fields")
        return _from_mapping(data)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {exc}") from None


def pose_matrix(pose: Any) -> np.ndarray:
    """T (4, 4) of a ``geometry_msgs/Pose`` (any object with ``position`` and ``orientation``, so rosbags'
    messages too); :class:`CalibrationError` when not finite or not a unit quaternion."""
    p, q = pose.position, pose.orientation
    T = np.eye(4)
    T[:3, :3] = quaternion_matrix([q.x, q.y, q.z, q.w])
    T[:3, 3] = [p.x, p.y, p.z]
    if not np.isfinite(T).all():
        raise CalibrationError("camera pose is not finite")
    return T


def camera_intrinsics(info: Any) -> tuple[np.ndarray, int, int]:
    """(K (3, 3), width, height) of a ``sensor_msgs/CameraInfo``; :class:`CalibrationError` unless K is
    finite with positive focal lengths and the image has a size."""
    K = np.asarray(info.k, np.float64).reshape(-1)
    if K.shape != (9,) or not np.isfinite(K).all() or K[0] <= 0 or K[4] <= 0 or info.width <= 0 or info.height <= 0:
        raise CalibrationError(f"camera_info without usable intrinsics (K {K.tolist()}, {info.width}x{info.height})")
    return K.reshape(3, 3), int(info.width), int(info.height)


def save_calibration(pose: CameraPose, path: str | Path) -> None:
    """Write ``pose`` in this project's format (YAML), which :func:`load_calibration` reads back."""
    import yaml

    T = pose.T_base_cam
    data = {"base_frame": pose.base_frame, "camera_frame": pose.camera_frame, "convention": "optical",
            "translation": [float(v) for v in T[:3, 3]],
            "rotation_xyzw": [float(v) for v in matrix_quaternion(T[:3, :3])]}
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))


def perturbed(T: np.ndarray, metres: float, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """``T`` moved ``metres`` in a random direction and turned ``degrees`` about a random axis (through
    the camera's centre)."""
    def unit() -> np.ndarray:
        v = rng.normal(size=3)
        return v / np.linalg.norm(v)

    axis, angle = unit(), np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k  # Rodrigues
    out = np.asarray(T, np.float64).copy()
    out[:3, :3] = R @ out[:3, :3]
    out[:3, 3] += metres * unit()
    return out
