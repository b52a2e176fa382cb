"""Camera images as numpy arrays: decoding ``sensor_msgs/Image`` fields and resizing as the
policy does. numpy and OpenCV (no rclpy), shared by the nodes and by ``vla data from-bag``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

ENCODINGS = {"rgb8": 3, "bgr8": 3, "mono8": 1}
MAX_IMAGE_BYTES = 4096 * 4096 * 3  # larger frames are rejected before any copy
# A few kB of JPEG or PNG can declare a 30,000 x 30,000 image: OpenCV checks the declared size against this
# before it allocates, provided it is set before the process's first decode (read once).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_BYTES // 3))


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
    import cv2

    if channels == 1:
        return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if encoding == "bgr8" else np.ascontiguousarray(img)


COMPRESSED_FORMATS = ("jpeg", "jpg", "png")


def decode_compressed_rgb(fmt: str, data: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB from the fields of a ``sensor_msgs/CompressedImage``: ``format`` as
    image_transport writes it ("jpeg", "png", "rgb8; jpeg compressed bgr8") and the encoded bytes."""
    kind = str(fmt).lower()
    if not any(name in kind for name in COMPRESSED_FORMATS):
        raise InputRejected(f"unsupported compressed format {str(fmt)[:40]!r} (jpeg or png)")
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise InputRejected("empty compressed image")
    if buf.size > MAX_IMAGE_BYTES:
        raise InputRejected(f"compressed image of {buf.size} bytes is over the {MAX_IMAGE_BYTES}-byte limit")
    import cv2

    try:
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # a declared size over OPENCV_IO_MAX_IMAGE_PIXELS
        raise InputRejected(f"compressed image refused by the decoder (over the "
                            f"{MAX_IMAGE_BYTES // 3}-pixel limit?): {str(exc).strip()[-80:]}") from None
    if bgr is None:
        raise InputRejected(f"compressed image ({buf.size} bytes) could not be decoded as {kind}")
    if bgr.shape[0] * bgr.shape[1] * 3 > MAX_IMAGE_BYTES:
        raise InputRejected(f"decoded image {bgr.shape[1]}x{bgr.shape[0]} is over the size limit")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 RGB frame."""
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return buf.tobytes()


def resize_like_policy(rgb: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` resized to the policy's ``size`` x ``size`` input, as the policy node does before
    inference and ``vla data from-bag`` does for training frames (one function, so a policy trained
    on a bag sees the same images on the robot).

    Downscaling uses OpenCV's area interpolation: a 640x480 frame squashed by plain bilinear
    sampling aliases (it skips most pixels) and no longer looks like the 128² training frames.
    The frame is squashed to a square without cropping, as the simulator's camera sees the table."""
    import cv2

    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    shrink = h > size or w > size
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
