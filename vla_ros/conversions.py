"""ROS message <-> numpy conversions, with validation (no cv_bridge: it has no wheel).

Functions raise :class:`~vla_ros.images.InputRejected` with a one-line reason; nodes
count and log these instead of crashing.
"""

from __future__ import annotations

import math

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import KeyValue
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from .images import InputRejected, decode_compressed_rgb, decode_rgb, encode_jpeg

__all__ = ["InputRejected", "image_to_rgb", "rgb_to_image", "compressed_to_rgb", "rgb_to_compressed", "camera_info",
           "stamp_seconds", "finite_vector", "key_values", "rate_hz"]


def image_to_rgb(msg: Image) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8 or mono8; any row padding) -> (H, W, 3) uint8 RGB."""
    return decode_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data)


def rgb_to_image(rgb: np.ndarray, stamp: Time, frame_id: str) -> Image:
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG or PNG) -> (H, W, 3) uint8 RGB."""
    return decode_compressed_rgb(msg.format, msg.data)


def rgb_to_compressed(rgb: np.ndarray, stamp: Time, frame_id: str, quality: int) -> CompressedImage:
    """A JPEG sensor_msgs/CompressedImage, ``format`` as image_transport's compressed plugin writes it."""
    msg = CompressedImage()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.format = "rgb8; jpeg compressed bgr8"
    msg.data = encode_jpeg(rgb, quality)
    return msg


def camera_info(K: np.ndarray, width: int, height: int, stamp: Time, frame_id: str) -> CameraInfo:
    """CameraInfo of an undistorted pinhole camera with intrinsics ``K``."""
    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [float(v) for v in np.asarray(K).reshape(-1)]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    P = np.zeros((3, 4))
    P[:, :3] = K
    msg.p = [float(v) for v in P.reshape(-1)]
    return msg


def pose_stamped(T: np.ndarray, stamp: Time, frame_id: str) -> PoseStamped:
    """PoseStamped of the rigid transform ``T`` (4, 4) in ``frame_id``."""
    from vla_policy.calibration import matrix_quaternion

    msg = PoseStamped()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    T = np.asarray(T, np.float64)
    p, o = msg.pose.position, msg.pose.orientation
    p.x, p.y, p.z = (float(v) for v in T[:3, 3])
    o.x, o.y, o.z, o.w = (float(v) for v in matrix_quaternion(T[:3, :3]))
    return msg


def stamp_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def finite_vector(values, length: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (length,):
        raise InputRejected(f"{what} needs {length} values, got {arr.size}")
    if not all(math.isfinite(v) for v in arr):
        raise InputRejected(f"{what} is not finite: {arr.tolist()}")
    return arr


def key_values(values: dict) -> list[KeyValue]:
    """diagnostic_msgs key/value pairs of a dict (values as text)."""
    return [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]


def rate_hz(times) -> float:
    """Events per second over a window of monotonic event times (0 until there are 3)."""
    times = list(times)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 else 0.0
