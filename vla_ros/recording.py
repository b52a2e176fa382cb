"""``vla record``: record the project's topics into a rosbag2 (MCAP), e.g. teleoperation demos.

Uses the pure-Python ``rosbags`` writer, so recording needs no rosbag2 install (the PyPI
ROS 2 wheels this project runs on do not ship one) and the bag opens in ``ros2 bag``,
Foxglove and ``vla data from-bag``. Messages are subscribed raw: the CDR bytes go into
the bag untouched, never deserialized.

Topics are stored under the names the recorder was asked for, before ``--ros-args -r``
remapping: recording a user's robot with ``-r /camera/image_raw:=/my_cam/image`` gives a
bag with the project's names, which ``vla data from-bag`` reads without options.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from queue import SimpleQueue
from typing import Any

import rclpy
from rclpy.executors import Executor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from rclpy.utilities import remove_ros_args
from rosbags.interfaces import Connection, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_typestore

from vla_ros import qos, topics
from vla_ros.node_main import run_node

PROG = "vla record"
RECORD_DEPTH = 100  # messages per topic the recorder's DDS reader may hold before the writer thread takes them
BAG_VERSION = 9  # rosbag2 metadata version of Jazzy; newer rosbags may default to one Jazzy cannot read

DEFAULT_TOPICS: dict[str, str] = {
    topics.CAMERA_IMAGE: "sensor_msgs/msg/Image",
    topics.CAMERA_INFO: "sensor_msgs/msg/CameraInfo",
    topics.INSTRUCTION: "std_msgs/msg/String",
    topics.TWIST_CMD: "geometry_msgs/msg/TwistStamped",
    topics.GRIPPER_CMD: "std_msgs/msg/Float64MultiArray",
    topics.JOINT_STATES: "sensor_msgs/msg/JointState",
    topics.EE_POSE: "geometry_msgs/msg/PoseStamped",
    topics.EPISODE: "diagnostic_msgs/msg/DiagnosticStatus",
    topics.CAMERA_POSE: "geometry_msgs/msg/PoseStamped",  # the calibration from-bag's keypoint labels need
    topics.SIM_TARGET: "diagnostic_msgs/msg/DiagnosticStatus",  # simulator truth, for label-quality checks only
}


def topic_qos(topic: str) -> QoSProfile:
    """The profile the project's publishers use on ``topic`` (reliable everywhere, so it matches them)."""
    if topic == topics.CAMERA_IMAGE:
        return qos.IMAGE_QOS
    if topic == topics.INSTRUCTION:
        return qos.INSTRUCTION_QOS
    if topic == topics.CAMERA_POSE:
        return qos.LATCHED_QOS
    return qos.COMMAND_QOS


def message_class(msgtype: str) -> type:
    """The rclpy message class of ``pkg/msg/Name``; ValueError when it is not installed."""
    parts = msgtype.split("/")
    if len(parts) != 3 or parts[1] != "msg" or not all(parts):
        raise ValueError(f"message type {msgtype!r} is not of the form pkg/msg/Name")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])
    except (ImportError, AttributeError):
        raise ValueError(f"message type {msgtype!r} is not installed") from None


def _bag_qos(profile: QoSProfile) -> Qos:
    """The profile in the bag's metadata, so ``ros2 bag play`` republishes e.g. the instruction latched."""
    def span(duration: Any) -> QosTime:
        sec, nsec = divmod(int(duration.nanoseconds), 1_000_000_000)
        return QosTime(sec, nsec)

    return Qos(QosHistory(profile.history.value), profile.depth, QosReliability(profile.reliability.value),
               QosDurability(profile.durability.value), span(profile.deadline), span(profile.lifespan),
               QosLiveliness(profile.liveliness.value), span(profile.liveliness_lease_duration),
               profile.avoid_ros_namespace_conventions)


class BagRecorder(Node):
    """Subscribes raw to ``topic_types`` (name -> ``pkg/msg/Name``) and appends every message to an MCAP bag.

    Timestamps are receive times on the node's clock (ns). A background thread does the
    writing: a Ctrl-C raises KeyboardInterrupt anywhere in the main thread, and must never
    cut the MCAP file in the middle of a record. ``destroy_node`` (or ``close``) finishes the bag.
    """

    def __init__(self, out: str | Path, topic_types: Mapping[str, str] | None = None,
                 node_name: str = "vla_recorder", **node_kwargs: Any) -> None:
        topic_types = dict(DEFAULT_TOPICS if topic_types is None else topic_types)
        typestore = get_typestore(Stores.ROS2_JAZZY)
        classes = {topic: message_class(msgtype) for topic, msgtype in topic_types.items()}  # fail before any I/O
        for msgtype in topic_types.values():
            if msgtype not in typestore.fielddefs:
                raise ValueError(f"message type {msgtype!r} has no definition in the rosbags Jazzy typestore")
        super().__init__(node_name, **node_kwargs)
        self.path = Path(out)
        self.received = dict.fromkeys(topic_types, 0)
        self.written = dict.fromkeys(topic_types, 0)
        self.error: Exception | None = None  # a write failure (disk full...): the rest is dropped, reported at the end
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._queue: SimpleQueue[tuple[str, Connection, int, bytes] | None] = SimpleQueue()
        for topic, msgtype in topic_types.items():
            qos = topic_qos(topic)
            conn = self._writer.add_connection(topic, msgtype, typestore=typestore,
                                               offered_qos_profiles=[_bag_qos(qos)])
            # A deep queue on our side: the publisher's depth-1 image profile would let a frame that arrives
            # while the previous one is still being queued replace it (a drop) on a busy machine.
            queue = QoSProfile(history=qos.history, depth=max(qos.depth, RECORD_DEPTH), reliability=qos.reliability,
                               durability=qos.durability)
            self.create_subscription(classes[topic], topic, partial(self._on_message, topic, conn), queue, raw=True)
        self._thread: threading.Thread | None = threading.Thread(target=self._drain, name="bag-writer", daemon=True)
        self._thread.start()

    def _on_message(self, topic: str, conn: Connection, data: bytes) -> None:
        self._queue.put((topic, conn, self.get_clock().now().nanoseconds, data))
        self.received[topic] += 1

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            topic, conn, stamp, data = item
            if self.error is None:
                try:
                    self._writer.write(conn, stamp, data)
                    self.written[topic] += 1
                except (OSError, WriterError) as exc:
                    self.error = exc

    def close(self) -> None:
        """Write what is queued, then the MCAP summary and ``metadata.yaml``. Idempotent."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        self._writer.close()

    def destroy_node(self) -> None:
        super().destroy_node()  # first: no callback may queue after the end marker
        self.close()


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Record the robot's topics into a rosbag2 (MCAP) folder; Ctrl-C stops and closes it.")
    parser.add_argument("--out", required=True, type=Path, help="bag folder to create (must not exist)")
    parser.add_argument("--topics", nargs="+", metavar="TOPIC", default=None,
                        help=f"topics to record (default: all of {', '.join(DEFAULT_TOPICS)}); "
                             "other topics as NAME:pkg/msg/Type")
    parser.add_argument("--duration", type=_positive_float, default=None, metavar="SECONDS",
                        help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--use-sim-time", action="store_true",
                        help="stamp messages with /clock (a simulator's time), as `ros2 bag record --use-sim-time`; "
                             "a simulator running faster or slower than real time then converts at its own rate")
    return parser


def _topic_types(specs: list[str] | None) -> dict[str, str]:
    """``--topics`` entries -> {name: type}; ValueError naming the first bad one."""
    if specs is None:
        return dict(DEFAULT_TOPICS)
    result: dict[str, str] = {}
    for spec in specs:
        name, sep, msgtype = spec.partition(":")
        if not sep:
            if name not in DEFAULT_TOPICS:
                raise ValueError(f"--topics: unknown topic {name!r}; give its type as {name}:pkg/msg/Type")
            msgtype = DEFAULT_TOPICS[name]
        message_class(msgtype)
        result[name] = msgtype
    return result


def record_main(argv: list[str]) -> int:
    """``vla record --out DIR [--topics T ...] [--duration S] [--ros-args ...]``; exit 0, or 2 on bad input."""
    args = build_parser().parse_args(remove_ros_args(argv))

    def fail(message: str) -> int:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2

    if args.out.exists():
        return fail(f"--out {args.out}: already exists; choose a new folder (a bag is never overwritten)")
    try:
        topic_types = _topic_types(args.topics)
    except ValueError as exc:
        return fail(str(exc))

    recorders: list[BagRecorder] = []

    def start() -> BagRecorder:
        overrides = [Parameter("use_sim_time", Parameter.Type.BOOL, True)] if args.use_sim_time else []
        recorders.append(BagRecorder(args.out, topic_types, parameter_overrides=overrides))
        print(f"recording {len(topic_types)} topics to {args.out}"
              + (f" for {args.duration:g} s" if args.duration else "; Ctrl-C to stop"), flush=True)
        return recorders[0]

    def spin(node: BagRecorder, executor: Executor, stop: threading.Event) -> None:
        deadline = time.monotonic() + (args.duration if args.duration is not None else float("inf"))
        while rclpy.ok() and not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            executor.spin_once(timeout_sec=min(left, 0.1))

    try:
        run_node(start, [PROG, *argv], spin)
    except (ValueError, WriterError) as exc:
        return fail(str(exc))
    node = recorders[0] if recorders else None
    if node is None:  # interrupted while starting
        return 130
    width = max(len(t) for t in node.written)
    print(f"wrote {sum(node.written.values())} messages to {args.out}:")
    for topic, count in node.written.items():
        print(f"  {topic:<{width}}  {count}")
    if node.error is not None:
        print(f"{PROG}: error: writing stopped early: {node.error}", file=sys.stderr)
        return 1
    return 0
