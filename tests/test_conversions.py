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


def test_compressed_frames_round_trip_and_decode_as_the_raw_ones():
    from sensor_msgs.msg import CompressedImage

    from vla_ros.conversions import compressed_to_rgb, rgb_to_compressed

    yy, xx = np.mgrid[0:64, 0:64]
    rgb = np.stack([xx * 4, yy * 4, (xx + yy) * 2], -1).astype(np.uint8)  # smooth, as a rendered table is
    msg = rgb_to_compressed(rgb, Image().header.stamp, "cam", quality=90)
    assert "jpeg" in msg.format and len(msg.data) < rgb.nbytes / 4
    back = compressed_to_rgb(msg)
    assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb).mean() < 3.0
    import cv2

    png = CompressedImage(format="png", data=cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes())
    assert np.array_equal(compressed_to_rgb(png), rgb)  # lossless, and channels in RGB order


@pytest.mark.parametrize("fmt, data, reason", [
    ("theora", b"\x00" * 100, "unsupported compressed format"),
    ("16UC1; compressedDepth", b"\x00" * 100, "unsupported compressed format"),
    ("jpeg", b"", "empty"),
    ("jpeg", b"this is not a jpeg" * 20, "could not be decoded"),
])
def test_bad_compressed_frames_are_rejected(fmt, data, reason):
    from sensor_msgs.msg import CompressedImage

    from vla_ros.conversions import compressed_to_rgb

    with pytest.raises(InputRejected, match=reason):
        compressed_to_rgb(CompressedImage(format=fmt, data=data))


def test_a_small_compressed_frame_declaring_a_huge_image_is_refused_before_allocation():
    # A fresh process: OpenCV reads its pixel limit once, at its first decode (set when vla_ros.images loads).
    import subprocess
    import sys

    code = """
import struct, zlib
from vla_ros.images import InputRejected, decode_compressed_rgb
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
w = h = 30000  # 2.7 GB decoded, from ~3 MB of zeros: here only the header and a few rows
png = (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(b"\\x00" * (3 * w + 1) * 20)) + chunk(b"IEND", b""))
try:
    decode_compressed_rgb("png", png)
except InputRejected as exc:
    print("REJECTED", exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "REJECTED" in out and "pixel limit" in out, out
