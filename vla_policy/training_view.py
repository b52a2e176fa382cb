"""Frames of a calibrated camera reprojected into the training camera's view.

The policy learned from one camera: the simulator's nominal camera, jittered by about 2 cm. A camera
mounted elsewhere (another cell, a knocked bracket, a 640x480 sensor with other intrinsics) shows the
table from another viewpoint, and a policy that maps image positions to arm motions goes to the wrong
place. With the camera's calibration (intrinsics ``K`` from ``camera_info``, pose ``T_base_cam`` from a
hand-eye calibration: :mod:`vla_policy.calibration`), each frame is warped by the homography of the
plane of the cup centres into the frame the training camera would have seen.

The warp is exact for points on that plane and for any camera rotation; a point ``h`` above or below
the plane moves by about ``h * |t| / d`` for a camera moved by ``t`` at distance ``d``: a cup rim 6.5 cm
above the plane under a 5 cm move, with the table 0.7 m away, moves 4.6 mm, under one pixel of a 128²
frame (about 5 mm on the table there); the gripper, higher up, moves more, and less as it descends.
Parts of the training view this camera does not see are filled from the frame's edge, as the training
frames' shifts were (a fill with the frame's median colour, an empty-looking table, did no better: 92
and 90 % against 96 and 92 % on A and B under ``camera_pose``).
"""

from __future__ import annotations

import functools
from typing import Any

import cv2
import numpy as np

CUP_CENTRE_Z = 0.035  # m above the table: the plane of the cup centres (the located pixels stand for it)


@functools.lru_cache(maxsize=1)
def training_camera() -> Any:
    """The simulator's nominal camera (a ``vla_sim.camera.PinholeCamera``): the view training frames show."""
    from vla_sim.camera import PinholeCamera

    return PinholeCamera.nominal()


def training_view(image_size: float) -> tuple[np.ndarray, np.ndarray]:
    """(K (3, 3), T_base_cam (4, 4)) of the training camera for frames of ``image_size`` pixels."""
    cam = training_camera()
    return cam.K * np.array([[image_size / cam.width], [image_size / cam.height], [1.0]]), cam.T_base_cam


def homography_to_training_view(K: np.ndarray, T_base_cam: np.ndarray, size: int,
                                plane_z: float = CUP_CENTRE_Z) -> np.ndarray:
    """(3, 3) map from pixels of a camera (``K``, ``T_base_cam``) to pixels of the training camera's
    ``size`` x ``size`` frame, for points on the horizontal plane at ``plane_z`` (base frame)."""
    from vla_sim.camera import pixels_to_plane, project_points

    K_train, T_train = training_view(size)
    corners = np.array([[0.0, 0.0], [size, 0.0], [size, size], [0.0, size]])  # (4, 2) training-view pixels
    on_plane = pixels_to_plane(K_train, T_train, corners, plane_z)  # (4, 3) base frame
    seen = project_points(K, T_base_cam, on_plane)  # (4, 2) pixels of this camera
    if not np.isfinite(seen).all():
        raise ValueError("the calibrated camera does not see the training camera's table (points behind it)")
    H = cv2.getPerspectiveTransform(seen.astype(np.float32), corners.astype(np.float32))
    # K puts pixel centres at +0.5 (the image spans [0, size]); OpenCV's warp puts them at integers.
    to_centres = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    return to_centres @ H @ np.linalg.inv(to_centres)


class TrainingViewWarp:
    """Warps frames of one calibrated camera (frames of ``width`` x ``height``) into the training view.

    A frame much larger than the output is first shrunk with area interpolation (a plain perspective
    warp of a 640x480 frame to 128 pixels would skip most pixels and alias), keeping its aspect."""

    def __init__(self, K: np.ndarray, T_base_cam: np.ndarray, width: int, height: int, size: int) -> None:
        if width < 1 or height < 1 or size < 1:
            raise ValueError(f"frame sizes must be positive, got {width}x{height} -> {size}")
        self.width, self.height, self.size = int(width), int(height), int(size)
        H = homography_to_training_view(np.asarray(K, float), np.asarray(T_base_cam, float), self.size)
        self.scale = min(1.0, 2.0 * self.size / min(self.width, self.height))
        if self.scale < 1.0:
            self.shrunk = (max(1, round(self.width * self.scale)), max(1, round(self.height * self.scale)))
            fx, fy = self.shrunk[0] / self.width, self.shrunk[1] / self.height  # as cv2.resize scales
            # pixel centres: x_small = fx * (x + 0.5) - 0.5
            S = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])
            H = H @ np.linalg.inv(S)
        self.H = H

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb`` (height, width, 3) uint8 -> (size, size, 3) uint8 in the training camera's view."""
        if rgb.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the calibration's camera {self.width}x{self.height}")
        if self.scale < 1.0:
            rgb = cv2.resize(rgb, self.shrunk, interpolation=cv2.INTER_AREA)
        return cv2.warpPerspective(rgb, self.H, (self.size, self.size), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
