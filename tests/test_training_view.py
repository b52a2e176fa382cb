"""Frames of a calibrated camera reprojected into the training camera's view (vla_policy.training_view):
a moved camera's frame comes out as the training camera's, points of the cup plane land on their training
pixels (a 640x480 camera with other intrinsics too), and what cannot be reprojected is refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vla_policy.training_view import CUP_CENTRE_Z, TrainingViewWarp, homography_to_training_view, training_view
from vla_sim import EnvConfig, PickCupEnv
from vla_sim.camera import PinholeCamera, project_points


def _first_frame(axes: tuple[str, ...], seed: int):
    env = PickCupEnv(EnvConfig(num_cups=(4, 4), target="red", perturb=axes))
    try:
        obs, _ = env.reset(seed=seed)
        cups = np.array([[c.x, c.y, CUP_CENTRE_Z] for c in env.scene.cups])
        return obs["image"], env.camera.K.copy(), env.camera.T_base_cam.copy(), cups
    finally:
        env.close()


def _apply(H: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Pixels (N, 2) in K's convention (centres at +0.5) through a warp's H (OpenCV's: centres at integers)."""
    h = np.c_[uv - 0.5, np.ones(len(uv))] @ H.T
    return h[:, :2] / h[:, 2:] + 0.5


def test_the_training_camera_itself_is_left_as_it_is():
    K, T = training_view(128)
    H = homography_to_training_view(K, T, 128)
    assert np.allclose(H / H[2, 2], np.eye(3), atol=1e-6)
    frame = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    assert np.array_equal(TrainingViewWarp(K, T, 128, 128, 128)(frame), frame)


@pytest.mark.parametrize("seed", [7, 123])
def test_a_moved_cameras_frame_comes_out_as_the_training_cameras(seed):
    plain, K0, T0, cups = _first_frame((), seed)
    moved, K1, T1, _ = _first_frame(("camera_pose",), seed)
    assert not np.allclose(T0, T1)
    K_train, T_train = training_view(128)
    warp = TrainingViewWarp(K1, T1, 128, 128, 128)
    # The cups' centres: several pixels away in the moved camera, on their training pixels after the warp.
    seen, wanted = project_points(K1, T1, cups), project_points(K_train, T_train, cups)
    assert np.abs(seen - wanted).max() > 4.0
    assert np.abs(_apply(warp.H, seen) - wanted).max() < 0.01
    # The whole frame: both cameras' frames, reprojected, agree far better than the frames did.
    raw = np.abs(moved.astype(int) - plain).mean()
    both = np.abs(warp(moved).astype(int) - TrainingViewWarp(K0, T0, 128, 128, 128)(plain)).mean()
    assert both < 2.5 and both < raw / 2.5, (raw, both)


def test_a_640x480_camera_with_other_intrinsics_lands_on_the_training_pixels():
    cam = PinholeCamera.look_at(640, 480, 55.0, eye=(1.0, 0.08, 0.62), target=(0.45, 0.02, 0.0))
    K_train, T_train = training_view(128)
    points = np.array([[0.45, -0.15, CUP_CENTRE_Z], [0.55, 0.12, CUP_CENTRE_Z], [0.35, 0.05, CUP_CENTRE_Z]])
    frame = np.zeros((480, 640, 3), np.uint8)
    for u, v in project_points(cam.K, cam.T_base_cam, points):
        cv2.circle(frame, (int(round(u - 0.5)), int(round(v - 0.5))), 9, (255, 255, 255), -1)
    warp = TrainingViewWarp(cam.K, cam.T_base_cam, 640, 480, 128)
    out = warp(frame)
    assert out.shape == (128, 128, 3) and warp.scale < 1.0  # shrunk with area interpolation first
    _, _, _, centroids = cv2.connectedComponentsWithStats((out[..., 0] > 60).astype(np.uint8))
    found = centroids[1:] + 0.5  # OpenCV's pixel centres -> K's
    for want in project_points(K_train, T_train, points):
        assert np.linalg.norm(found - want, axis=1).min() < 0.8, (found, want)


def test_what_cannot_be_reprojected_is_refused():
    K, T = training_view(128)
    away = T.copy()
    away[:3, :3] = T[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # turned half round: the table is behind it
    with pytest.raises(ValueError, match="does not see the training camera's table"):
        TrainingViewWarp(K, away, 128, 128, 128)
    warp = TrainingViewWarp(K, T, 128, 128, 128)
    with pytest.raises(ValueError, match="frame is 64x64, the calibration's camera 128x128"):
        warp(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="frame sizes must be positive"):
        TrainingViewWarp(K, T, 0, 128, 128)
