"""``vla_video_recorder``: camera and attention topics -> one side-by-side MP4.

Frames are encoded as they arrive (nothing accumulates in memory); the file is
finalised when the node stops. Episode outcomes from the simulator are printed.

The camera panel carries a caption (``vla_sim.video``): the instruction, what the policy understood
(``/vla/status``: the target, or why it refused), what it is doing, and, once the episode ended,
the outcome (``/sim/episode``), held on the last frame for ``outcome_seconds``; plus a marker of
the side of the image the robot's left is on (``left_side``: ``auto`` takes it from the simulator's
``/diagnostics`` status, ``robot_left_side``, which it computes from the episode's camera; until the
simulator has said, the side its nominal camera shows).

The video starts when the episode does. The simulator publishes frames while it holds the episode
clock (waiting for a commander, then ``episode_pause`` with the world frozen) and publishes the
instruction when that hold ends. So frames are written from the first one after an instruction
arrives until the episode's outcome; the frozen frames of the next episode's pause are skipped
until its instruction.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from vla_sim.video import caption_lines, draw_status, robot_left_side

from . import qos, topics
from .conversions import InputRejected, image_to_rgb
from .node_main import run_node


LEFT_SIDES = ("auto", "left", "right", "none")
SIM_STATUS = "vla_sim"  # the simulator's status in /diagnostics


def marker_side(param: str, reported: str | None) -> str | None:
    """The robot's-left marker side for the ``left_side`` parameter: left/right as given, none: None;
    auto: the side the simulator reported, else the side of its nominal camera."""
    if param == "none":
        return None
    if param in ("left", "right"):
        return param
    return reported if reported in ("left", "right") else _nominal_left_side()


@functools.lru_cache(maxsize=1)
def _nominal_left_side() -> str:
    return robot_left_side()  # the sim's nominal camera looks at the robot from in front: "right"


def _panel(rgb: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_NEAREST)


class VideoRecorder(Node):
    def __init__(self) -> None:
        super().__init__("vla_video_recorder")
        p = self._declare
        self.out = Path(p("output", "outputs/demo.mp4", "MP4 file to write"))
        self.fps = p("fps", 30, "frame rate written in the MP4 (the camera rate)")
        self.panel = p("panel", 384, "pixels per side of each panel (a multiple of 8, at least 128): the caption "
                                     "is drawn at this size")
        self.outcome_seconds = p("outcome_seconds", 1.0,
                                 "seconds the last frame of an episode is held with its outcome in the caption")
        self.left_side_param = p("left_side", "auto",
                                 "image side of the robot's-left marker: auto (what the simulator reports for "
                                 "its camera), left, right, or none (no marker)")
        if not (isinstance(self.panel, int) and self.panel >= 128 and self.panel % 8 == 0):
            raise SystemExit(f"vla_video_recorder: panel must be a multiple of 8 and >= 128, got {self.panel!r}")
        if self.left_side_param not in LEFT_SIDES:
            raise SystemExit(f"vla_video_recorder: left_side must be one of {', '.join(LEFT_SIDES)}, "
                             f"got {self.left_side_param!r}")
        self.reported_left_side: str | None = None  # from the simulator's /diagnostics
        self.attention: np.ndarray | None = None
        self.writer = None
        self.frames = 0
        self.skipped = 0  # frames before the episode started (the simulator holding its clock)
        self.episodes: list[str] = []
        self.instruction: str | None = None
        self.status: dict[str, str] | None = None
        self.status_since_instruction = False
        self.ended: dict[str, str] | None = None  # the outcome of the episode on screen, once it ended
        self.recording = False  # an episode is running: from its instruction until its outcome
        self.last: tuple[np.ndarray, np.ndarray] | None = None  # (camera, attention) panels last written
        self.create_subscription(Image, topics.CAMERA_IMAGE, self._on_image, qos.IMAGE_QOS)
        self.create_subscription(Image, topics.ATTENTION, self._on_attention, qos.IMAGE_QOS)
        self.create_subscription(DiagnosticStatus, topics.EPISODE, self._on_episode, qos.COMMAND_QOS)
        self.create_subscription(DiagnosticStatus, topics.STATUS, self._on_status, qos.COMMAND_QOS)
        self.create_subscription(String, topics.INSTRUCTION, self._on_instruction, qos.INSTRUCTION_QOS)
        if self.left_side_param == "auto":
            self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, qos.COMMAND_QOS)

    def _declare(self, name: str, default, description: str):
        return self.declare_parameter(name, default, ParameterDescriptor(description=description)).value

    @property
    def left_side(self) -> str | None:
        """Image side ("left"/"right") of the robot's left for the marker, or None: no marker."""
        return marker_side(self.left_side_param, self.reported_left_side)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == SIM_STATUS:
                side = next((kv.value for kv in status.values if kv.key == "robot_left_side"), None)
                if side in ("left", "right"):
                    self.reported_left_side = side

    # -- what the caption says --------------------------------------------------------------------
    def _on_instruction(self, msg: String) -> None:
        """The simulator publishes the instruction when the episode clock starts: record from here."""
        self.instruction = msg.data
        self.status_since_instruction = False
        self.ended = None
        self.recording = True

    def _on_status(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        values.setdefault("state", msg.message)
        self.status = values
        self.status_since_instruction = True

    def _current_status(self) -> dict[str, str] | None:
        """The policy's status, unless it still describes an earlier instruction: it names the current
        one (the policy may report it cleaned up, so a status that came after it counts too)."""
        if self.status is None or self.instruction is None:
            return self.status
        if self.status_since_instruction or self.status.get("instruction", "").strip() == self.instruction.strip():
            return self.status
        return None

    def caption(self) -> list:
        return caption_lines(self._current_status(), self.ended, self.instruction)

    # -- frames -----------------------------------------------------------------------------------
    def _on_attention(self, msg: Image) -> None:
        try:
            self.attention = _panel(image_to_rgb(msg), self.panel)
        except InputRejected:
            pass

    def _on_image(self, msg: Image) -> None:
        if not self.recording:
            self.skipped += 1
            return
        try:
            camera = _panel(image_to_rgb(msg), self.panel)
        except InputRejected as exc:
            self.get_logger().warning(f"frame skipped: {exc}", throttle_duration_sec=2.0)
            return
        right = self.attention if self.attention is not None else np.zeros_like(camera)
        self.last = (camera, right)
        self._write(camera, right)

    def _write(self, camera: np.ndarray, right: np.ndarray, repeat: int = 1) -> None:
        if self.writer is None:
            import imageio_ffmpeg

            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.writer = imageio_ffmpeg.write_frames(str(self.out), (2 * self.panel, self.panel), fps=self.fps,
                                                      codec="libx264", pix_fmt_out="yuv420p", quality=8,
                                                      macro_block_size=8, ffmpeg_log_level="error",
                                                      output_params=["-preset", "veryfast", "-threads", "1"])
            self.writer.send(None)
        frame = np.ascontiguousarray(np.concatenate(
            [draw_status(camera, self.caption(), left_marker=self.left_side), right], axis=1))
        for _ in range(repeat):
            self.writer.send(frame)
        self.frames += repeat

    def _on_episode(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        line = (f"episode seed {values.get('seed')}: \"{values.get('instruction')}\" -> {msg.message} "
                f"({'success' if values.get('success') == 'True' else 'failure'}) after {values.get('seconds')} s")
        self.episodes.append(line)
        print(line, flush=True)
        # The outcome stays on the last frame for a moment; then nothing is written until the next
        # episode's instruction (its paused first second shows a frozen scene).
        self.ended = {"outcome": msg.message, **values}
        if self.recording and self.last is not None:
            self._write(*self.last, repeat=max(1, round(self.outcome_seconds * self.fps)))
        self.recording = False

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            print(f"video: {self.out} ({self.frames} frames; left camera, right policy attention)", flush=True)
        elif self.skipped:
            print(f"video: {self.out} not written: no episode started ({self.skipped} frames arrived, "
                  f"but no instruction on {topics.INSTRUCTION})", flush=True)
        else:  # e.g. stopped before a simulated clock started: its camera sends an instant's frame once
            print(f"video: {self.out} not written: no camera frame arrived on {topics.CAMERA_IMAGE}", flush=True)


def main(args: list[str] | None = None) -> int:
    # Encoding video is not on the control path: run (and let ffmpeg run) only on otherwise idle cores.
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    return run_node(VideoRecorder, args)


if __name__ == "__main__":
    raise SystemExit(main())
