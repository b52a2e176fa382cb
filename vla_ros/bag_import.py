"""``vla data from-bag``: recorded rosbag2 bags (e.g. teleoperation demos) -> the training dataset format.

Pure data conversion (rosbags, numpy), no rclpy: it runs on a training machine
without ROS 2. Each bag is resampled on a fixed clock of ``rate`` Hz over its time span;
a tick sees the newest message of every topic stamped at or before it:

* frame: the newest camera image (rgb8, bgr8 or mono8), resized to ``image_size`` square
  the way the policy resizes camera frames at inference (no crop: a 4:3 image is squashed);
* proprio: the newest ``/ee_pose`` (base frame) and the gripper width, the sum of the two
  Panda finger joints in ``/joint_states`` (0.08 m, open, when the bag has none);
* action: the newest twist command (linear part, assumed in the robot base frame; zero when
  older than 0.2 s: the operator let go) and gripper command (``data[0]`` clamped to [0, 1],
  1 = open, until the first one).

Ticks before the first frame or pose are skipped. Episode ends are the ``/sim/episode``
messages (a ``DiagnosticStatus`` whose values give seed, target, outcome, success...); in a
bag that has them, ticks after the last one belong to an episode the recording cut off and
are skipped. A bag without them is one demonstration, taken as successful.

Episodes carry no ``camera`` calibration: a bag has intrinsics but not the camera pose in
the robot base frame, so training skips the end-effector keypoint loss on them.
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

from vla_policy.dataset import write_episode

from .cli import instruction_text
from .images import decode_rgb, resize_like_policy
from .topics import (CAMERA_IMAGE, EE_POSE, EPISODE, GRIPPER_CMD, INSTRUCTION, JOINT_STATES, OPEN_GRIPPER_WIDTH,
                     TWIST_CMD, finger_width)

PROG = "vla data from-bag"

TWIST_TIMEOUT_NS = 200_000_000


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
class _Episode:
    """Samples of the episode being assembled (labels come with the EPISODE message that ends it)."""

    frames: list[np.ndarray] = field(default_factory=list)
    proprio: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    instruction: str | None = None  # the one in force at the last sample
    start_ns: int | None = None
    end_ns: int | None = None


class _BagConverter:
    """One pass over one bag in timestamp order; emits samples at each tick, episodes at each end."""

    def __init__(self, path: Path, rate: float, image_size: int, instruction: str | None, target: str | None,
                 out: Path, first_index: int) -> None:
        self.path, self.out, self.size = path, out, image_size
        self.period_ns = 1e9 / rate
        self.rate, self.instruction_override, self.target_override = rate, instruction, target
        self.typestore = get_typestore(Stores.ROS2_JAZZY)
        self.index = first_index
        self.start, self.k = 0, 0  # tick k is at start + k * period
        self.skipped = 0
        self.frames_written = 0
        # Newest state, as of the current time.
        self.image: tuple[bytes, str] | None = None
        self.image_rgb: np.ndarray | None = None  # the decoded ``image``, decoded once when first used
        self.pose: np.ndarray | None = None
        self.width = OPEN_GRIPPER_WIDTH
        self.twist = np.zeros(3)
        self.twist_ns = -(2**62)
        self.gripper = 1.0
        self.instruction: str | None = None
        self.episode = _Episode()

    def run(self) -> None:
        with Reader(self.path) as reader:
            wanted = {CAMERA_IMAGE, INSTRUCTION, TWIST_CMD, GRIPPER_CMD, JOINT_STATES, EE_POSE, EPISODE}
            conns = [c for c in reader.connections if c.topic in wanted]
            has_episodes = EPISODE in reader.topics and reader.topics[EPISODE].msgcount > 0
            self.start = reader.start_time
            for conn, stamp, raw in reader.messages(connections=conns):
                if conn.topic == EPISODE:
                    self._tick_until(stamp, inclusive=True)
                    self._end_episode(self._deserialize(raw, conn.msgtype))
                    continue
                self._tick_until(stamp, inclusive=False)
                self._apply(conn.topic, conn.msgtype, stamp, raw)
            self._tick_until(reader.end_time - 1, inclusive=True)  # end_time is one past the last message
        if has_episodes:
            self.skipped += len(self.episode.frames)  # cut off by the end of the recording
        else:
            self._end_episode(None)

    def _deserialize(self, raw: bytes, msgtype: str) -> Any:
        return self.typestore.deserialize_cdr(raw, msgtype)

    def _apply(self, topic: str, msgtype: str, stamp: int, raw: bytes) -> None:
        if topic == CAMERA_IMAGE:
            self.image, self.image_rgb = (raw, msgtype), None  # decoded only if a tick uses it
            return
        msg = self._deserialize(raw, msgtype)
        if topic == EE_POSE:
            p, q = msg.pose.position, msg.pose.orientation
            self.pose = np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w])
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
            self.skipped += 1
            return
        if self.image_rgb is None:
            msg = self._deserialize(*self.image)
            self.image_rgb = resize_like_policy(decode_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data),
                                                self.size)
        ep = self.episode
        twist = self.twist if tick - self.twist_ns <= TWIST_TIMEOUT_NS else np.zeros(3)
        ep.frames.append(self.image_rgb)
        ep.proprio.append(np.concatenate([self.pose, [self.width]]))
        ep.actions.append(np.concatenate([twist, [self.gripper]]))
        ep.instruction = self.instruction
        ep.start_ns = tick if ep.start_ns is None else ep.start_ns
        ep.end_ns = tick

    def _end_episode(self, status: Any) -> None:
        """Write the episode assembled so far, labelled by ``status`` (a DiagnosticStatus, None: a demo)."""
        ep, self.episode = self.episode, _Episode()
        if not ep.frames:
            return
        values = {kv.key: kv.value for kv in status.values} if status is not None else {}
        where = f"{self.path}, episode {(ep.start_ns - self.start) / 1e9:.1f}-{(ep.end_ns - self.start) / 1e9:.1f} s"
        instruction = self.instruction_override or ep.instruction or values.get("instruction") or None
        if instruction is None:
            raise BagImportError(f"{where}: no instruction (no {INSTRUCTION} message); pass --instruction")
        target = values.get("target") or self.target_override or _colour_in(instruction)
        if target is None:
            raise BagImportError(f"{where}: cannot tell the target colour from {instruction!r}; pass --target")
        seed = values.get("seed", "")
        meta = {
            "seed": int(seed) if seed.lstrip("-").isdigit() else None,
            "instruction": instruction,
            "target": target.strip().lower(),
            "target_present": _parse_bool(values["target_present"]) if "target_present" in values else True,
            "outcome": values.get("outcome", "unknown"),
            "success": _parse_bool(values["success"]) if "success" in values else True,
            "steps": len(ep.frames),
            "image_size": [self.size, self.size],
            "control_hz": int(self.rate) if float(self.rate).is_integer() else self.rate,
            "noisy": False,
            "source": {"bag": str(self.path), "start_ns": ep.start_ns, "end_ns": ep.end_ns},
        }
        if values.get("refer"):  # how the instruction referred to the target (training treats kinds apart)
            meta.update(refer=values["refer"], anchor=values.get("anchor") or None,
                        target_instance=values.get("target_instance") or None)
        t = len(ep.frames)
        write_episode(self.out, self.index, {
            "frames": np.stack(ep.frames),
            "proprio": np.stack(ep.proprio),
            "actions": np.stack(ep.actions),
            "target_uv": np.full((t, 2), np.nan),  # no ground truth on a recording
        }, meta)
        self.index += 1
        self.frames_written += t


def _check_bag(path: Path) -> None:
    """Fail early (before anything is written) on a missing, unreadable or camera-less bag."""
    if not path.exists():
        raise BagImportError(f"{path}: no such bag")
    try:
        with Reader(path) as reader:
            if CAMERA_IMAGE not in reader.topics:
                raise BagImportError(f"{path}: no {CAMERA_IMAGE} topic (has: {', '.join(reader.topics) or 'none'})")
    except BagImportError:
        raise
    except Exception as exc:  # rosbags raises many kinds (ReaderError, OSError, YAML, struct...) on bad files
        raise BagImportError(f"{path}: not a readable rosbag2 bag ({type(exc).__name__}: {exc})") from None


def convert_bags(paths: list[str | Path], out: str | Path, rate: float = 10.0, image_size: int = 128,
                 instruction: str | None = None, target: str | None = None) -> dict[str, int]:
    """Convert ``paths`` into episodes under ``out`` (new or empty); returns {episodes, frames, skipped}.

    ``skipped`` counts ticks not converted (before the first frame and pose, or after the last
    episode end). Raises BagImportError; then a folder this call created is removed.
    """
    out = Path(out)
    if not rate > 0 or image_size < 1:
        raise BagImportError(f"need rate > 0 and image size >= 1, got {rate} and {image_size}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BagImportError(f"--out {out}: exists and is not an empty folder; choose a new one")
    bags = [Path(p) for p in paths]
    for bag in bags:
        _check_bag(bag)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    summary = {"episodes": 0, "frames": 0, "skipped": 0}
    try:
        for bag in bags:
            converter = _BagConverter(bag, rate, image_size, instruction, target, out, summary["episodes"])
            try:
                converter.run()
            except BagImportError:
                raise
            except Exception as exc:  # a bag corrupt past its index, a malformed message...
                raise BagImportError(f"{bag}: unreadable ({type(exc).__name__}: {exc})") from None
            summary["episodes"] = converter.index
            summary["frames"] += converter.frames_written
            summary["skipped"] += converter.skipped
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for child in out.iterdir():
                shutil.rmtree(child, ignore_errors=True)
        raise
    if summary["episodes"] == 0:
        if created:
            out.rmdir()
        raise BagImportError(f"no episode converted: no tick had both a camera frame and an {EE_POSE} pose"
                             " (in bags with episode messages, before the last one)")
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
    return parser


def from_bag_main(argv: list[str]) -> int:
    """``vla data from-bag BAG... --out DIR ...``: exit 0, or 2 with a one-line error."""
    args = build_parser().parse_args(argv)
    try:
        summary = convert_bags(args.bags, args.out, args.rate, args.image_size, args.instruction, args.target)
    except BagImportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing written", file=sys.stderr)
        return 130
    print(f"wrote {summary['episodes']} episodes, {summary['frames']} frames to {args.out} "
          f"({summary['skipped']} ticks skipped)")
    return 0
