"""``vla data from-bag``: recorded rosbag2 bags (e.g. teleoperation demos) -> the training dataset format.

Pure data conversion (rosbags, numpy), no rclpy: it runs on a training machine
without ROS 2. Each bag is resampled on a fixed clock of ``rate`` Hz over its time span;
a tick sees the newest message of every topic stamped at or before it:

* frame: the newest camera image (rgb8, bgr8 or mono8; or JPEG/PNG on ``/camera/image_raw/compressed``
  in a bag without the raw topic: what a robot sending frames over a network records), resized to ``image_size`` square
  the way the policy resizes camera frames at inference (no crop: a 4:3 image is squashed);
* proprio: the newest ``/ee_pose`` (base frame) and the gripper width, the sum of the two
  Panda finger joints in ``/joint_states`` (0.08 m, open, when the bag has none);
* action: the newest twist command (linear part, assumed in the robot base frame; zero when
  older than 0.2 s: the operator let go) and gripper command (``data[0]`` clamped to [0, 1],
  1 = open, until the first one).

Ticks before the first frame or pose are skipped. Each episode starts at its last sample before the
arm first moves (the robot held still before it, whatever was commanded: trimmed and counted as idle).
Episode ends are the ``/sim/episode`` messages (a ``DiagnosticStatus`` whose values give seed, target,
outcome, success...); in a bag that has them, ticks after the last one belong to an episode the
recording cut off and are skipped. A bag without them is one demonstration, taken as successful.

Keypoint labels (the policy's heatmap targets), from what the robot knows (``vla_policy.hindsight``):
the camera's intrinsics from ``/camera/camera_info`` (scaled to ``image_size``), its pose in the base
frame from the bag's ``/camera/pose`` (``vla record`` stores the simulator's; a real robot's comes from
``--calibration FILE``, which wins over the bag's), the gripper keypoint from ``/ee_pose`` each frame
(projected at training time through the episode's ``camera`` in ``meta.json``), and the target keypoint
in hindsight: where the gripper closed in an episode whose lift succeeded. Episodes whose outcome is a
failure are skipped and counted (``failed``); successful ones whose grasp cannot be found are written
without target labels and counted (``unlabelled``). ``keypoints=False`` (``--no-keypoints``) writes no
keypoint labels at all and needs no calibration. A next-to episode's anchor cup is never grasped, so
hindsight cannot label it: with ``--anchor-policy CHECKPOINT`` a colour policy's colour query locates it
on the episode's first frame, as the decision core does on the robot (``vla_policy.anchor_location``);
an anchor it does not find skips the episode (counted: ``anchor_unlocated``).

Messages more than ``MAX_GAP_NS`` apart in the bag (a clock jump, a paused recording) cut the episode
in progress: its samples, before and after the gap up to its end, are skipped and counted; ticking
resumes after the gap. (In a bag without episode messages that drops the whole demonstration.)
The output is all or nothing: on any error, a folder this run created is removed.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from vla_policy.calibration import (CalibrationError, CameraPose, camera_intrinsics, load_calibration, perturbed,
                                    pose_matrix)
from vla_policy.dataset import write_episode
from vla_policy.hindsight import KEYPOINT_DEPTH, hindsight_points, project_labels, scale_intrinsics

from .cli import instruction_text
from .images import InputRejected, decode_compressed_rgb, decode_rgb, resize_like_policy
from .topics import (CAMERA_IMAGE, CAMERA_IMAGE_COMPRESSED, CAMERA_INFO, CAMERA_POSE, EE_POSE, EPISODE, GRIPPER_CMD, INSTRUCTION,
                     JOINT_STATES, OPEN_GRIPPER_WIDTH, TWIST_CMD, finger_width)

PROG = "vla data from-bag"

TWIST_TIMEOUT_NS = 200_000_000
MAX_GAP_NS = 5_000_000_000  # a longer silence in a bag is a clock jump or a paused recording, not a demo
IDLE_MOTION = 0.002  # m (pose or gripper width): less, and the arm has not started to move yet
# The message type each topic must have (a bag recorded with other types is refused, not misread).
TOPIC_TYPES = {
    CAMERA_IMAGE: "sensor_msgs/msg/Image",
    CAMERA_IMAGE_COMPRESSED: "sensor_msgs/msg/CompressedImage",
    CAMERA_INFO: "sensor_msgs/msg/CameraInfo",
    CAMERA_POSE: "geometry_msgs/msg/PoseStamped",
    INSTRUCTION: "std_msgs/msg/String",
    TWIST_CMD: "geometry_msgs/msg/TwistStamped",
    GRIPPER_CMD: "std_msgs/msg/Float64MultiArray",
    JOINT_STATES: "sensor_msgs/msg/JointState",
    EE_POSE: "geometry_msgs/msg/PoseStamped",
    EPISODE: "diagnostic_msgs/msg/DiagnosticStatus",
}


class BagImportError(ValueError):
    """A bag or option that cannot be converted, with a one-line reason."""


def _colour_in(text: str) -> str | None:
    """The one known colour named in ``text``, else None."""
    from vla_sim.config import COLOURS

    words = set(text.lower().replace(",", " ").replace(".", " ").split())
    found = [c for c in COLOURS if c in words]
    return found[0] if len(found) == 1 else None


def _parse_bool(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "yes")


@dataclass
class ConvertOptions:
    """How bags become episodes (the CLI's options)."""

    rate: float = 10.0  # samples per second
    image_size: int = 128  # frame side in pixels
    instruction: str | None = None  # overrides the bag's /instruction
    target: str | None = None  # target colour when the bag's episode messages do not say
    keypoints: bool = True  # derive keypoint labels (needs intrinsics and a camera pose)
    calibration: CameraPose | None = None  # the camera pose; None: the bag's /camera/pose
    keypoint_depth: float = KEYPOINT_DEPTH  # m the target keypoint lies below the grasp point
    # A measurement aid: (metres, degrees) the camera pose is put off by, one seeded draw for every episode,
    # as a hand-eye calibration that far off would be (the labels' and the policy's sensitivity to it).
    calibration_error: tuple[float, float] | None = None
    calibration_error_seed: int = 0
    # Checkpoint whose colour query locates a next-to episode's anchor cup on its first frame
    # (``vla_policy.anchor_location``): the anchor marker's label. None: next-to episodes get none.
    anchor_policy: str | None = None


@dataclass
class _Episode:
    """Samples of the episode being assembled (labels come with the EPISODE message that ends it)."""

    frames: list[np.ndarray] = field(default_factory=list)
    proprio: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    instruction: str | None = None  # the one in force at the last sample
    start_ns: int | None = None
    end_ns: int | None = None
    cut: bool = False  # a clock gap interrupted it: dropped at its end


class _BagConverter:
    """One pass over one bag in timestamp order; emits samples at each tick, episodes at each end."""

    def __init__(self, path: Path, options: ConvertOptions, out: Path, first_index: int,
                 locator: Any | None = None) -> None:
        self.path, self.out, self.opt = path, out, options
        self.size = options.image_size
        self.period_ns = 1e9 / options.rate
        self.typestore = get_typestore(Stores.ROS2_JAZZY)
        self.index = first_index
        self.start, self.k = 0, 0  # tick k is at start + k * period
        self.counts = {"skipped": 0, "idle": 0, "failed": 0, "unlabelled": 0, "gaps": 0, "bad_messages": 0,
                       "anchor_unlocated": 0}
        self.locator = locator
        self.frames_written = 0
        self.last_stamp: int | None = None
        # Newest state, as of the current time.
        self.image: tuple[bytes, str] | None = None
        self.image_rgb: np.ndarray | None = None  # the decoded ``image``, decoded once when first used
        self.last_rgb: np.ndarray | None = None  # the episode's newest frame that decoded
        self.pose: np.ndarray | None = None
        self.width = OPEN_GRIPPER_WIDTH
        self.twist = np.zeros(3)
        self.twist_ns = -(2**62)
        self.gripper = 1.0
        self.instruction: str | None = None
        self.intrinsics: tuple[np.ndarray, int, int] | None = None  # (K, width, height) of the newest camera_info
        self.camera_pose: np.ndarray | None = None  # T_base_cam of the newest /camera/pose
        self.episode = _Episode()

    def run(self) -> None:
        with Reader(self.path) as reader:
            # One camera: the raw frames, or the compressed ones in a bag that has only those.
            skip = CAMERA_IMAGE_COMPRESSED if CAMERA_IMAGE in reader.topics else CAMERA_IMAGE
            conns = [c for c in reader.connections if c.topic in TOPIC_TYPES and c.topic != skip]
            has_episodes = EPISODE in reader.topics and reader.topics[EPISODE].msgcount > 0
            self.start = reader.start_time
            for conn, stamp, raw in reader.messages(connections=conns):
                if self.last_stamp is not None and stamp - self.last_stamp > MAX_GAP_NS:
                    self._gap(stamp)
                self.last_stamp = stamp
                if conn.topic == EPISODE:
                    self._tick_until(stamp, inclusive=True)
                    self._end_episode(self._deserialize(raw, conn.msgtype))
                    # The robot starts the next episode reset (gripper open, still): nothing from this one
                    # (its last frame, its closed-gripper command) may be sampled into the next.
                    self.image = self.image_rgb = self.last_rgb = None
                    self.gripper, self.twist_ns = 1.0, -(2**62)
                    continue
                self._tick_until(stamp, inclusive=False)
                self._apply(conn.topic, conn.msgtype, stamp, raw)
            self._tick_until(reader.end_time - 1, inclusive=True)  # end_time is one past the last message
        if has_episodes:
            self.counts["skipped"] += len(self.episode.frames)  # cut off by the end of the recording
        else:
            self._end_episode(None)

    def _gap(self, stamp: int) -> None:
        """A clock jump or pause: the episode in progress is dropped, up to its end (``cut``); the tick
        clock restarts at ``stamp``."""
        self.counts["gaps"] += 1
        self.counts["skipped"] += len(self.episode.frames)
        self.episode = _Episode(cut=True)
        self.image = self.image_rgb = self.last_rgb = self.pose = None
        self.start, self.k = stamp, 0

    def _deserialize(self, raw: bytes, msgtype: str) -> Any:
        return self.typestore.deserialize_cdr(raw, msgtype)

    def _apply(self, topic: str, msgtype: str, stamp: int, raw: bytes) -> None:
        if topic in (CAMERA_IMAGE, CAMERA_IMAGE_COMPRESSED):
            self.image, self.image_rgb = (raw, msgtype), None  # decoded only if a tick uses it
            return
        msg = self._deserialize(raw, msgtype)
        if topic == EE_POSE:
            p, q = msg.pose.position, msg.pose.orientation
            pose = np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w])
            if np.isfinite(pose).all():
                self.pose = pose
            else:
                self.counts["bad_messages"] += 1
        elif topic == JOINT_STATES:
            width = finger_width(msg.name, msg.position)
            if width is not None:
                self.width = width
        elif topic == TWIST_CMD:
            lin = msg.twist.linear
            self.twist, self.twist_ns = np.array([lin.x, lin.y, lin.z]), stamp
        elif topic == GRIPPER_CMD:
            if len(msg.data) and math.isfinite(msg.data[0]):
                self.gripper = min(max(float(msg.data[0]), 0.0), 1.0)
        elif topic == INSTRUCTION:
            self.instruction = msg.data.strip() or None
        elif topic == CAMERA_INFO:
            try:
                self.intrinsics = camera_intrinsics(msg)
            except CalibrationError:
                self.counts["bad_messages"] += 1
        elif topic == CAMERA_POSE:
            try:
                self.camera_pose = pose_matrix(msg.pose)
            except CalibrationError:
                self.counts["bad_messages"] += 1

    def _tick_until(self, stamp: int, inclusive: bool) -> None:
        """Emit every tick up to ``stamp`` (ticks exactly at ``stamp`` only if ``inclusive``)."""
        while True:
            tick = self.start + round(self.k * self.period_ns)
            if tick > stamp or (tick == stamp and not inclusive):
                return
            self._sample(tick)
            self.k += 1

    def _sample(self, tick: int) -> None:
        if self.image is None or self.pose is None:
            self.counts["skipped"] += 1
            return
        if self.image_rgb is None:
            msg = self._deserialize(*self.image)
            try:
                rgb = decode_compressed_rgb(msg.format, msg.data) \
                    if self.image[1] == TOPIC_TYPES[CAMERA_IMAGE_COMPRESSED] \
                    else decode_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data)
                self.image_rgb = resize_like_policy(rgb, self.size)
            except InputRejected:
                # A frame that does not decode is counted; its ticks keep this episode's last good frame (a
                # camera that dropped one), or are skipped before there is one.
                self.counts["bad_messages"] += 1
                self.image_rgb = self.last_rgb
                if self.image_rgb is None:
                    self.image = None
                    self.counts["skipped"] += 1
                    return
            self.last_rgb = self.image_rgb
        ep = self.episode
        twist = self.twist if tick - self.twist_ns <= TWIST_TIMEOUT_NS else np.zeros(3)
        ep.frames.append(self.image_rgb)
        ep.proprio.append(np.concatenate([self.pose, [self.width]]))
        ep.actions.append(np.concatenate([twist, [self.gripper]]))
        ep.instruction = self.instruction
        ep.start_ns = tick if ep.start_ns is None else ep.start_ns
        ep.end_ns = tick

    def _camera(self, where: str) -> dict[str, list]:
        """The episode's camera at the policy's resolution (``meta.json``'s ``camera``)."""
        if self.intrinsics is None:
            raise BagImportError(f"{where}: no {CAMERA_INFO} message; keypoint labels need the camera's "
                                 "intrinsics (or pass --no-keypoints)")
        T = self.opt.calibration.T_base_cam if self.opt.calibration is not None else self.camera_pose
        if T is None:
            raise BagImportError(f"{where}: no camera calibration: the bag has no {CAMERA_POSE}; pass "
                                 "--calibration FILE (docs/calibration.md) or --no-keypoints")
        if self.opt.calibration_error is not None:  # a fresh generator: the same offset for every episode
            T = perturbed(T, *self.opt.calibration_error, np.random.default_rng(self.opt.calibration_error_seed))
        K, width, height = self.intrinsics
        return {"K": scale_intrinsics(K, width, height, self.size).tolist(), "T_base_cam": np.asarray(T).tolist()}

    def _trim_idle_start(self, ep: _Episode) -> None:
        """Drop the samples before the arm first moves, but the last of them: the robot held still there
        whatever was commanded (an operator not started yet, a robot still paused between episodes), so
        their actions did not act. An arm that never moves (a "no such cup" scene) keeps every sample."""
        proprio = np.stack(ep.proprio)
        moved = np.maximum(np.linalg.norm(proprio[:, :3] - proprio[0, :3], axis=1),
                           np.abs(proprio[:, 7] - proprio[0, 7])) > IDLE_MOTION
        idle = int(np.argmax(moved)) - 1 if moved.any() else 0
        if idle > 0:
            del ep.frames[:idle], ep.proprio[:idle], ep.actions[:idle]
            ep.start_ns += round(idle * self.period_ns)
            self.counts["idle"] += idle

    def _end_episode(self, status: Any) -> None:
        """Write the episode assembled so far, labelled by ``status`` (a DiagnosticStatus, None: a demo)."""
        ep, self.episode = self.episode, _Episode()
        if ep.cut:
            self.counts["skipped"] += len(ep.frames)
            return
        if not ep.frames:
            return
        self._trim_idle_start(ep)
        values = {kv.key: kv.value for kv in status.values} if status is not None else {}
        where = f"{self.path}, episode {(ep.start_ns - self.start) / 1e9:.1f}-{(ep.end_ns - self.start) / 1e9:.1f} s"
        instruction = self.opt.instruction or ep.instruction or values.get("instruction") or None
        if instruction is None:
            raise BagImportError(f"{where}: no instruction (no {INSTRUCTION} message); pass --instruction")
        target = values.get("target") or self.opt.target or _colour_in(instruction)
        if target is None:
            raise BagImportError(f"{where}: cannot tell the target colour from {instruction!r}; pass --target")
        present = _parse_bool(values["target_present"]) if "target_present" in values else True
        success = _parse_bool(values["success"]) if "success" in values else None  # None: not recorded
        proprio, actions = np.stack(ep.proprio), np.stack(ep.actions)
        t = len(ep.frames)
        target_uv = np.full((t, 2), np.nan)
        extra: dict[str, Any] = {}
        if self.opt.keypoints:
            camera = self._camera(where)
            extra["camera"] = camera
            if present:
                found = hindsight_points(proprio[:, :3], actions[:, 3], proprio[:, 7], lifted=success,
                                         keypoint_depth=self.opt.keypoint_depth)
                success = found.labelled if success is None else success  # no outcome: the robot's own lift check
                if found.labelled:
                    target_uv = project_labels(found.points, camera["K"], camera["T_base_cam"], self.size)
                    extra["labels"] = {"target": "hindsight", "grasp": [round(float(v), 4) for v in found.grasp],
                                       "grasp_step": found.grasp_step, "first_labelled_step": found.first_step,
                                       "closes": found.closes}
                elif success:
                    self.counts["unlabelled"] += 1
                    extra["labels"] = {"target": "none", "reason": found.reason}
        if success is False:
            self.counts["failed"] += 1  # a failed demonstration teaches nothing a policy should do
            return
        seed = values.get("seed", "")
        meta = {
            "seed": int(seed) if seed.lstrip("-").isdigit() else None,
            "instruction": instruction,
            "target": target.strip().lower(),
            "target_present": present,
            "outcome": values.get("outcome", "unknown" if success is None else "success"),
            "success": True,
            "steps": t,
            "image_size": [self.size, self.size],
            "control_hz": int(self.opt.rate) if float(self.opt.rate).is_integer() else self.opt.rate,
            "noisy": False,
            "source": {"bag": str(self.path), "start_ns": ep.start_ns, "end_ns": ep.end_ns},
            **extra,
        }
        if values.get("refer"):  # how the instruction referred to the target (training treats kinds apart)
            meta.update(refer=values["refer"], anchor=values.get("anchor") or None,
                        target_instance=values.get("target_instance") or None)
            if meta["refer"] == "next-to" and meta["anchor"] and self.locator is not None:
                found = self.locator.locate(ep.frames[0], proprio[0], meta["anchor"])
                if found.uv is None:
                    self.counts["anchor_unlocated"] += 1  # no marker at a guess: the episode is left out
                    return
                meta["anchor_uv"] = [round(float(v), 3) for v in found.uv]
                meta.setdefault("labels", {})["anchor"] = {"located_by": str(self.opt.anchor_policy),
                                                           "present": round(found.present, 4)}
        write_episode(self.out, self.index, {
            "frames": np.stack(ep.frames),
            "proprio": proprio,
            "actions": actions,
            "target_uv": target_uv,
        }, meta)
        self.index += 1
        self.frames_written += t


def _anchor_locator(checkpoint: str, image_size: int) -> Any:
    """The next-to anchor locator of ``--anchor-policy`` (BagImportError when it cannot be loaded or reads
    frames of another size than the conversion writes)."""
    from vla_policy.anchor_location import AnchorLocator
    from vla_policy.checkpoint_files import CheckpointError

    try:
        locator = AnchorLocator(checkpoint)
    except (CheckpointError, OSError, ValueError) as exc:
        raise BagImportError(f"--anchor-policy {checkpoint}: {exc}") from None
    if locator.image_size != image_size:
        raise BagImportError(f"--anchor-policy {checkpoint} reads {locator.image_size} px frames but --image-size is "
                             f"{image_size}: convert with --image-size {locator.image_size}")
    return locator


def _check_bag(path: Path) -> None:
    """Fail early (before anything is written) on a missing, unreadable or camera-less bag, or one whose
    topics have other message types than this converter reads."""
    if not path.exists():
        raise BagImportError(f"{path}: no such bag")
    try:
        with Reader(path) as reader:
            if CAMERA_IMAGE not in reader.topics and CAMERA_IMAGE_COMPRESSED not in reader.topics:
                raise BagImportError(f"{path}: no {CAMERA_IMAGE} or {CAMERA_IMAGE_COMPRESSED} topic "
                                     f"(has: {', '.join(reader.topics) or 'none'})")
            for conn in reader.connections:
                want = TOPIC_TYPES.get(conn.topic)
                if want is not None and conn.msgtype != want:
                    raise BagImportError(f"{path}: {conn.topic} has type {conn.msgtype}, expected {want}")
    except BagImportError:
        raise
    except Exception as exc:  # rosbags raises many kinds (ReaderError, OSError, YAML, struct...) on bad files
        raise BagImportError(f"{path}: not a readable rosbag2 bag ({type(exc).__name__}: {exc})") from None


def convert_bags(paths: list[str | Path], out: str | Path, options: ConvertOptions | None = None) -> dict[str, int]:
    """Convert ``paths`` into episodes under ``out`` (new or empty); returns counts: episodes, frames,
    skipped (ticks not converted: before the first frame and pose, after the last episode end, in an
    episode cut by a gap), failed (episodes not written: their lift failed), unlabelled (written
    without target keypoints: no grasp found), gaps, bad_messages (ignored: non-finite poses, camera frames
    that do not decode...).
    Raises BagImportError; then a folder this call created is removed."""
    opt = options or ConvertOptions()
    out = Path(out)
    if not opt.rate > 0 or opt.image_size < 1:
        raise BagImportError(f"need rate > 0 and image size >= 1, got {opt.rate} and {opt.image_size}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BagImportError(f"--out {out}: exists and is not an empty folder; choose a new one")
    bags = [Path(p) for p in paths]
    for bag in bags:
        _check_bag(bag)
    locator = _anchor_locator(opt.anchor_policy, opt.image_size) if opt.anchor_policy is not None else None
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    summary = {"episodes": 0, "frames": 0, "skipped": 0, "idle": 0, "failed": 0, "unlabelled": 0, "gaps": 0,
               "bad_messages": 0, "anchor_unlocated": 0}
    try:
        for bag in bags:
            converter = _BagConverter(bag, opt, out, summary["episodes"], locator)
            try:
                converter.run()
            except BagImportError:
                raise
            except Exception as exc:  # a bag corrupt past its index, a malformed message...
                raise BagImportError(f"{bag}: unreadable ({type(exc).__name__}: {exc})") from None
            summary["episodes"] = converter.index
            summary["frames"] += converter.frames_written
            for key, n in converter.counts.items():
                summary[key] += n
        if summary["episodes"] == 0:
            raise BagImportError(
                f"no episode converted ({summary['failed']} failed): none had a successful lift and ticks with "
                f"both a camera frame and an {EE_POSE} pose (in bags with episode messages, before the last one)")
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for child in out.iterdir():
                shutil.rmtree(child, ignore_errors=True)
        raise
    return summary


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value
    return parse


def _colour(text: str) -> str:
    from vla_sim.config import validate_colour

    try:
        return validate_colour(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Convert recorded rosbag2 bags into training episodes.")
    parser.add_argument("bags", nargs="+", type=Path, metavar="BAG", help="bag folders (or .mcap/.db3 files)")
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to create (new or empty)")
    parser.add_argument("--rate", type=_positive(float), default=10.0, help="samples per second (default 10)")
    parser.add_argument("--image-size", type=_positive(int), default=128, help="frame side in pixels (default 128)")
    parser.add_argument("--instruction", type=instruction_text, default=None,
                        help=f"instruction text (default: the bag's {INSTRUCTION})")
    parser.add_argument("--target", type=_colour, default=None,
                        help="target cup colour, when the bag's episode messages do not say")
    parser.add_argument("--calibration", type=Path, default=None, metavar="FILE",
                        help=f"the camera's pose in the robot base frame (hand-eye calibration; formats: "
                             f"docs/calibration.md); default: the bag's {CAMERA_POSE}")
    parser.add_argument("--no-keypoints", dest="keypoints", action="store_false",
                        help="write no keypoint labels (no calibration needed; training then skips the keypoint "
                             "losses: the ablation of the hindsight labels)")
    parser.add_argument("--keypoint-depth", type=float, default=KEYPOINT_DEPTH, metavar="M",
                        help=f"how far below the grasp point the target keypoint lies (default {KEYPOINT_DEPTH} m: "
                             "the simulator's cups' centre of mass)")
    parser.add_argument("--calibration-error", type=float, nargs=2, default=None, metavar=("M", "DEG"),
                        help="for measurement: put the camera pose off by M metres (a random direction) and DEG "
                             "degrees (a random axis), the same draw for every episode, as a hand-eye calibration "
                             "that far off would be")
    parser.add_argument("--calibration-error-seed", type=int, default=0, help="seed of that draw (default 0)")
    parser.add_argument("--anchor-policy", default=None, metavar="CHECKPOINT",
                        help="a colour policy (e.g. vla_policy/checkpoints/from_bags_colour) whose colour query locates "
                             "each next-to episode's anchor cup on its first frame, as the robot does at run time: "
                             "the anchor-marker label (episodes whose anchor it does not find are skipped and "
                             "counted); without it next-to episodes get no anchor label")
    return parser


def from_bag_main(argv: list[str]) -> int:
    """``vla data from-bag BAG... --out DIR ...``: exit 0, or 2 with a one-line error."""
    args = build_parser().parse_args(argv)
    try:
        calibration = load_calibration(args.calibration) if args.calibration is not None else None
        if not (math.isfinite(args.keypoint_depth) and 0 <= args.keypoint_depth < 0.5):
            raise BagImportError(f"--keypoint-depth must be in [0, 0.5) m, got {args.keypoint_depth}")
        error = args.calibration_error
        if error is not None and not all(math.isfinite(v) and 0 <= v for v in error):
            raise BagImportError(f"--calibration-error must be two finite values >= 0 (metres, degrees), got {error}")
        options = ConvertOptions(args.rate, args.image_size, args.instruction, args.target, args.keypoints,
                                 calibration, args.keypoint_depth, tuple(error) if error else None,
                                 args.calibration_error_seed, args.anchor_policy)
        summary = convert_bags(args.bags, args.out, options)
    except (BagImportError, CalibrationError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing written", file=sys.stderr)
        return 130
    print(f"wrote {summary['episodes']} episodes, {summary['frames']} frames to {args.out} "
          f"({summary['skipped']} ticks skipped, {summary['idle']} idle ticks before the arm moved trimmed; "
          f"episodes: {summary['failed']} failed and skipped, "
          f"{summary['unlabelled']} without a target keypoint; {summary['gaps']} clock gaps, "
          f"{summary['bad_messages']} bad messages ignored"
          + (f"; next-to anchors not located, skipped: {summary['anchor_unlocated']}" if args.anchor_policy else "")
          + ")")
    return 0
