"""Pinhole camera: PyBullet render matrices plus the intrinsics/extrinsics a ROS
``CameraInfo`` (and a projection of 3-D points into the image) needs.

Conventions: extrinsics are ``T_base_cam`` (4x4, camera pose in the robot base
frame) in the *optical* frame of ROS (z forward, x right, y down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pybullet as p

if TYPE_CHECKING:
    from .config import CameraConfig


def _look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotation (3x3, columns = optical x, y, z axes in base frame) of a camera at ``eye`` looking at ``target``."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-6:  # looking straight along ``up``: pick any perpendicular
        x = np.cross(z, np.array([1.0, 0.0, 0.0]))
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def project_points(K, T_base_cam, points_base) -> np.ndarray:
    """Pixels (N, 2) (u right, v down) of (N, 3) base-frame points seen by a camera with intrinsics
    ``K`` and pose ``T_base_cam``; NaN for points behind it. Also used on recorded calibrations."""
    pts = np.atleast_2d(np.asarray(points_base, float))
    T_cam_base = np.linalg.inv(np.asarray(T_base_cam, float))
    cam = pts @ T_cam_base[:3, :3].T + T_cam_base[:3, 3]  # (N, 3) in the optical frame
    uvw = cam @ np.asarray(K, float).T
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[:, :2] / uvw[:, 2:3]
    uv[cam[:, 2] <= 0] = np.nan
    return uv


def pixels_to_plane(K, T_base_cam, pixels, z: float) -> np.ndarray:
    """Base-frame points (N, 3) where the rays through ``pixels`` (N, 2) meet the horizontal plane at
    height ``z``: the inverse of :func:`project_points` for points on that plane."""
    pix = np.atleast_2d(np.asarray(pixels, float))
    T = np.asarray(T_base_cam, float)
    rays = np.c_[pix, np.ones(len(pix))] @ np.linalg.inv(np.asarray(K, float)).T  # (N, 3) optical frame
    dirs = rays @ T[:3, :3].T  # (N, 3) base frame
    return T[:3, 3] + ((z - T[2, 3]) / dirs[:, 2])[:, None] * dirs


@dataclass
class PinholeCamera:
    """A camera with pose ``T_base_cam`` and a symmetric vertical field of view."""

    width: int
    height: int
    fov_deg: float
    T_base_cam: np.ndarray  # (4, 4)
    near: float = 0.05
    far: float = 3.0

    @classmethod
    def look_at(cls, width: int, height: int, fov_deg: float, eye, target, up=(0.0, 0.0, 1.0),
                near: float = 0.05, far: float = 3.0) -> "PinholeCamera":
        eye_v, target_v = np.asarray(eye, float), np.asarray(target, float)
        T = np.eye(4)
        T[:3, :3] = _look_at(eye_v, target_v, np.asarray(up, float))
        T[:3, 3] = eye_v
        return cls(width, height, fov_deg, T, near, far)

    @classmethod
    def nominal(cls, config: CameraConfig | None = None) -> PinholeCamera:
        """The camera ``config`` (default: ``CameraConfig()``) describes, without per-episode jitter."""
        from .config import CameraConfig

        c = config or CameraConfig()
        return cls.look_at(c.width, c.height, c.fov_deg, c.eye, c.target, near=c.near, far=c.far)

    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsic matrix; square pixels, principal point at the image centre."""
        fy = self.height / (2.0 * math.tan(math.radians(self.fov_deg) / 2.0))
        return np.array([[fy, 0.0, self.width / 2.0], [0.0, fy, self.height / 2.0], [0.0, 0.0, 1.0]])

    def view_matrix(self) -> list[float]:
        """PyBullet/OpenGL view matrix (column-major): the optical frame flipped to y up, z back."""
        gl_from_optical = np.diag([1.0, -1.0, -1.0, 1.0])
        T_cam_base = np.linalg.inv(self.T_base_cam)
        view = gl_from_optical @ T_cam_base
        return view.T.reshape(-1).tolist()

    def projection_matrix(self) -> list[float]:
        return list(p.computeProjectionMatrixFOV(self.fov_deg, self.width / self.height, self.near, self.far))

    def project(self, points_base: np.ndarray) -> np.ndarray:
        """Pixel coordinates (u right, v down) of (N, 3) base-frame points -> (N, 2)."""
        return project_points(self.K, self.T_base_cam, points_base)

    def render(self, client: int, light_direction=(0.5, 0.3, 1.0), segmentation: bool = False,
               light_colour=None, coefficients: tuple[float, float, float] | None = None):
        """RGB image (H, W, 3) uint8, and the body-id mask (H, W) when ``segmentation``. ``light_colour``
        (RGB) and ``coefficients`` (ambient, diffuse, specular) change TinyRenderer's light (default: its own)."""
        flags = 0 if segmentation else p.ER_NO_SEGMENTATION_MASK
        light: dict = {}
        if light_colour is not None:
            light["lightColor"] = list(light_colour)
        if coefficients is not None:
            light.update(lightAmbientCoeff=coefficients[0], lightDiffuseCoeff=coefficients[1],
                         lightSpecularCoeff=coefficients[2])
        _, _, rgba, _, seg = p.getCameraImage(
            self.width,
            self.height,
            viewMatrix=self.view_matrix(),
            projectionMatrix=self.projection_matrix(),
            lightDirection=list(light_direction),
            shadow=0,
            renderer=p.ER_TINY_RENDERER,
            flags=flags,
            physicsClientId=client,
            **light,
        )
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(self.height, self.width, 4)[:, :, :3].copy()
        if segmentation:
            return rgb, np.asarray(seg, dtype=np.int32).reshape(self.height, self.width)
        return rgb
