"""Skip the robot links a camera cannot see: same image, fewer triangles for TinyRenderer.

TinyRenderer transforms and clips every triangle of every visual shape on each frame, seen or
not, and the Panda's visual meshes hold ~100k triangles. Hiding a link (alpha 0, which
TinyRenderer skips) while its bounding box, grown by ``margin``, lies wholly outside one plane
of the view frustum leaves the frame bit-identical: lighting has no shadows, so nothing outside
the view can change a pixel. ``tests/test_culling.py`` checks the identity over whole episodes.
"""

from __future__ import annotations

import math

import numpy as np
import pybullet as p

from .camera import PinholeCamera


class FrustumCuller:
    """Per frame, shows the ``links`` that may be in a camera's view and hides the others.
    Call :meth:`apply` before each render with that render's camera."""

    def __init__(self, client: int, links: list[tuple[int, int]], margin: float = 0.05) -> None:
        """``links``: (body, link index) pairs; ``margin`` (m) covers visual meshes reaching past
        the collision shapes whose bounding boxes PyBullet reports."""
        self.client = client
        self.margin = margin
        self.rgba: dict[tuple[int, int], tuple[float, ...]] = {}  # each link's colour, to restore it
        for body, link in links:
            shapes = [s for s in p.getVisualShapeData(body, physicsClientId=client) if s[1] == link]
            if shapes:
                self.rgba[(body, link)] = tuple(shapes[0][7])
        self.shown = dict.fromkeys(self.rgba, True)

    def apply(self, camera: PinholeCamera) -> None:
        """Show the links ``camera`` may see and hide the rest."""
        T_cam_base = np.linalg.inv(camera.T_base_cam)
        for key in self.rgba:
            lo, hi = p.getAABB(key[0], key[1], physicsClientId=self.client)
            self._set(key, box_in_frustum(np.asarray(lo) - self.margin, np.asarray(hi) + self.margin,
                                          T_cam_base, camera))

    def show_all(self) -> None:
        for key in self.rgba:
            self._set(key, True)

    def _set(self, key: tuple[int, int], visible: bool) -> None:
        if self.shown[key] != visible:
            rgba = self.rgba[key] if visible else (*self.rgba[key][:3], 0.0)
            p.changeVisualShape(key[0], key[1], rgbaColor=list(rgba), physicsClientId=self.client)
            self.shown[key] = visible


def box_in_frustum(lo: np.ndarray, hi: np.ndarray, T_cam_base: np.ndarray, camera: PinholeCamera) -> bool:
    """False only when the axis-aligned box [lo, hi] (base frame) is wholly outside one plane of
    the camera's view frustum; conservative, so True does not promise a visible pixel."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    c = corners @ T_cam_base[:3, :3].T + T_cam_base[:3, 3]  # (8, 3) in the optical frame: z forward, y down
    x, y, z = c[:, 0], c[:, 1], c[:, 2]
    tan_y = math.tan(math.radians(camera.fov_deg) / 2.0)
    tan_x = tan_y * camera.width / camera.height
    outside = (
        np.all(z < camera.near), np.all(z > camera.far),
        np.all(x > z * tan_x), np.all(x < -z * tan_x),
        np.all(y > z * tan_y), np.all(y < -z * tan_y),
    )
    return not any(outside)
