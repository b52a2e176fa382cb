"""sensor_msgs/Image <-> numpy without cv_bridge; bad images are rejected with a reason."""

import numpy as np
import pytest

pytest.importorskip("rclpy")
from sensor_msgs.msg import Image  # noqa: E402

from vla_ros.conversions import InputRejected, camera_info, image_to_rgb, rgb_to_image  # noqa: E402


def make(encoding: str, h: int, w: int, channels: int, pad: int = 0, data: bytes | None = None) -> Image:
    msg = Image(height=h, width=w, encoding=encoding, step=w * channels + pad)
    msg.data = np.arange(h * (w * channels + pad), dtype=np.uint32).astype(np.uint8).tobytes() if data is None else data
    return msg


def test_rgb_round_trip():
    rgb = np.random.default_rng(0).integers(0, 255, (6, 5, 3), dtype=np.uint8)
    back = image_to_rgb(rgb_to_image(rgb, Image().header.stamp, "cam"))
    assert np.array_equal(back, rgb)


def test_bgr_and_mono_are_converted():
    rgb = np.random.default_rng(1).integers(0, 255, (4, 3, 3), dtype=np.uint8)
    bgr = Image(height=4, width=3, encoding="bgr8", step=9, data=rgb[:, :, ::-1].tobytes())
    assert np.array_equal(image_to_rgb(bgr), rgb)
    mono = make("mono8", 4, 3, 1)
    out = image_to_rgb(mono)
    assert out.shape == (4, 3, 3) and np.array_equal(out[:, :, 0], out[:, :, 2])


def test_padded_rows_are_cropped():
    msg = make("rgb8", 3, 2, 3, pad=4)
    rows = np.frombuffer(msg.data, np.uint8).reshape(3, 10)
    assert np.array_equal(image_to_rgb(msg), rows[:, :6].reshape(3, 2, 3))


@pytest.mark.parametrize("msg, reason", [
    (make("16UC1", 4, 4, 2), "encoding"),
    (make("32FC1", 4, 4, 4), "encoding"),
    (make("rgb8", 4, 4, 3, data=b"\x00" * 10), "bytes"),
    (make("rgb8", 0, 4, 3, data=b""), "empty"),
    (Image(height=4, width=4, encoding="rgb8", step=5, data=b"\x00" * 20), "step"),
    (Image(height=100000, width=100000, encoding="rgb8", step=300000, data=b""), "limit"),
])
def test_bad_images_are_rejected(msg, reason):
    with pytest.raises(InputRejected, match=reason):
        image_to_rgb(msg)


def test_camera_info_carries_the_intrinsics():
    K = np.array([[100.0, 0, 64], [0, 100.0, 64], [0, 0, 1]])
    info = camera_info(K, 128, 128, Image().header.stamp, "cam")
    assert list(info.k) == K.reshape(-1).tolist() and info.p[0] == 100.0 and info.width == 128
