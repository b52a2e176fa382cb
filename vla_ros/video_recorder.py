"""``vla_video_recorder``: camera and attention topics -> one side-by-side MP4.

Frames are encoded as they arrive (nothing accumulates in memory); the file is
finalised when the node stops. Episode outcomes from the simulator are printed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import Image

from . import qos, topics
from .conversions import InputRejected, image_to_rgb
from .node_main import run_node

PANEL = 256  # pixels per side of each panel in the video


def _panel(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    return rgb[np.arange(PANEL) * h // PANEL][:, np.arange(PANEL) * w // PANEL]  # nearest-neighbour resize


class VideoRecorder(Node):
    def __init__(self) -> None:
        super().__init__("vla_video_recorder")
        self.out = Path(self.declare_parameter(
            "output", "outputs/demo.mp4", ParameterDescriptor(description="MP4 file to write")).value)
        self.fps = self.declare_parameter(
            "fps", 30, ParameterDescriptor(description="frame rate written in the MP4 (the camera rate)")).value
        self.attention: np.ndarray | None = None
        self.writer = None
        self.frames = 0
        self.episodes: list[str] = []
        self.create_subscription(Image, topics.CAMERA_IMAGE, self._on_image, qos.IMAGE_QOS)
        self.create_subscription(Image, topics.ATTENTION, self._on_attention, qos.IMAGE_QOS)
        self.create_subscription(DiagnosticStatus, topics.EPISODE, self._on_episode, qos.COMMAND_QOS)

    def _on_attention(self, msg: Image) -> None:
        try:
            self.attention = _panel(image_to_rgb(msg))
        except InputRejected:
            pass

    def _on_image(self, msg: Image) -> None:
        try:
            camera = _panel(image_to_rgb(msg))
        except InputRejected as exc:
            self.get_logger().warning(f"frame skipped: {exc}", throttle_duration_sec=2.0)
            return
        right = self.attention if self.attention is not None else np.zeros_like(camera)
        if self.writer is None:
            import imageio_ffmpeg

            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.writer = imageio_ffmpeg.write_frames(str(self.out), (2 * PANEL, PANEL), fps=self.fps,
                                                      codec="libx264", pix_fmt_out="yuv420p", quality=8,
                                                      macro_block_size=8, ffmpeg_log_level="error",
                                                      output_params=["-preset", "veryfast", "-threads", "1"])
            self.writer.send(None)
        self.writer.send(np.ascontiguousarray(np.concatenate([camera, right], axis=1)))
        self.frames += 1

    def _on_episode(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        line = (f"episode seed {values.get('seed')}: \"{values.get('instruction')}\" -> {msg.message} "
                f"({'success' if values.get('success') == 'True' else 'failure'}) after {values.get('seconds')} s")
        self.episodes.append(line)
        print(line, flush=True)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            print(f"video: {self.out} ({self.frames} frames; left camera, right policy attention)", flush=True)


def main(args: list[str] | None = None) -> int:
    # Encoding video is not on the control path: run (and let ffmpeg run) only on otherwise idle cores.
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    return run_node(VideoRecorder, args)


if __name__ == "__main__":
    raise SystemExit(main())
