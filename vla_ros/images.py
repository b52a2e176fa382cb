"""Camera images as numpy arrays: decoding ``sensor_msgs/Image`` fields and resizing as the
policy does. Pure numpy (no rclpy), shared by the nodes and by ``vla data from-bag``."""

from __future__ import annotations

from typing import Any

import numpy as np

ENCODINGS = {"rgb8": 3, "bgr8": 3, "mono8": 1}
MAX_IMAGE_BYTES = 4096 * 4096 * 3  # larger frames are rejected before any copy


class InputRejected(ValueError):
    """An incoming message that cannot be used; the message says why."""


def decode_rgb(encoding: str, height: int, width: int, step: int, data: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB from the fields of a ``sensor_msgs/Image`` (rgb8, bgr8 or mono8; rows
    may be padded to ``step``)."""
    channels = ENCODINGS.get(encoding)
    if channels is None:
        raise InputRejected(f"unsupported image encoding {encoding!r} ({', '.join(ENCODINGS)})")
    h, w, step = int(height), int(width), int(step)
    if h <= 0 or w <= 0:
        raise InputRejected(f"empty image ({w}x{h})")
    if step < w * channels:
        raise InputRejected(f"step {step} is less than width*channels = {w * channels}")
    if h * step > MAX_IMAGE_BYTES:
        raise InputRejected(f"image of {h * step} bytes is over the {MAX_IMAGE_BYTES}-byte limit")
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != h * step:
        raise InputRejected(f"data has {buf.size} bytes, height*step = {h * step}")
    img = buf.reshape(h, step)[:, : w * channels].reshape(h, w, channels)
    if channels == 1:
        return np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[:, :, ::-1] if encoding == "bgr8" else img)


def resize_like_policy(rgb: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` resized to ``size`` x ``size`` exactly as the policy resizes a camera frame at inference.

    ``VLAPolicy.forward`` squashes any frame to its square input with torch's bilinear
    interpolation (align_corners=False, no antialiasing, no crop); training frames must be
    made the same way, or a policy trained on a bag sees different images on the robot.
    """
    def taps(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.maximum((np.arange(size) + 0.5) * (n_in / size) - 0.5, 0.0)
        lo = np.minimum(src.astype(np.int64), n_in - 1)
        return lo, np.minimum(lo + 1, n_in - 1), (src - lo).astype(np.float32)

    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    (y0, y1, wy), (x0, x1, wx) = taps(h), taps(w)
    img = rgb.astype(np.float32)
    rows = img[y0] * (1 - wy)[:, None, None] + img[y1] * wy[:, None, None]
    out = rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
