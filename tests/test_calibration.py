"""Camera calibration files: this project's format round-trips, the common ROS formats read as the same
pose, and bad files give one clear error each."""

import json

import numpy as np
import pytest

from vla_policy.calibration import (LINK_FROM_OPTICAL, CalibrationError, CameraPose, load_calibration,
                                    matrix_quaternion, quaternion_matrix, save_calibration)
from vla_sim.camera import PinholeCamera, project_points

CUPS = np.array([(0.45, 0.05, 0.035), (0.60, -0.20, 0.035), (0.35, 0.25, 0.035)])


def test_quaternions_and_matrices_convert_both_ways():
    rng = np.random.default_rng(0)
    for _ in range(200):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        R = quaternion_matrix(q)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1.0)
        back = matrix_quaternion(R)
        assert np.allclose(back, q if q[3] >= 0 else -q, atol=1e-9)


def test_the_simulator_camera_round_trips_and_projects_the_same_pixels(tmp_path):
    cam = PinholeCamera.nominal()
    pose = CameraPose(cam.T_base_cam, "panda_link0", "camera_optical")
    save_calibration(pose, tmp_path / "calibration.yaml")
    loaded = load_calibration(tmp_path / "calibration.yaml")
    assert np.allclose(loaded.T_base_cam, cam.T_base_cam, atol=1e-9)
    assert (loaded.base_frame, loaded.camera_frame) == ("panda_link0", "camera_optical")
    assert np.allclose(project_points(cam.K, loaded.T_base_cam, CUPS), cam.project(CUPS), atol=1e-6)
    # The same pose as a 4x4 matrix in JSON.
    (tmp_path / "calibration.json").write_text(json.dumps({"T_base_cam": cam.T_base_cam.tolist()}))
    assert np.allclose(load_calibration(tmp_path / "calibration.json").T_base_cam, cam.T_base_cam)


def test_easy_handeye_and_static_transform_files_give_the_same_pose(tmp_path):
    cam = PinholeCamera.nominal()
    t, q = cam.T_base_cam[:3, 3], matrix_quaternion(cam.T_base_cam[:3, :3])
    (tmp_path / "handeye.yaml").write_text(
        "eye_on_hand: false\nrobot_base_frame: panda_link0\ntracking_base_frame: camera_color_optical_frame\n"
        f"transformation: {{x: {t[0]}, y: {t[1]}, z: {t[2]}, qx: {q[0]}, qy: {q[1]}, qz: {q[2]}, qw: {q[3]}}}\n")
    (tmp_path / "static.txt").write_text(" ".join(str(v) for v in [*t, *q]) + " panda_link0 camera_optical\n")
    flags = " ".join(f"--{k} {v}" for k, v in zip(("x", "y", "z", "qx", "qy", "qz", "qw"), [*t, *q]))
    (tmp_path / "static2.txt").write_text(flags + " --frame-id panda_link0 --child-frame-id camera_optical\n")
    for name in ("handeye.yaml", "static.txt", "static2.txt"):
        assert np.allclose(load_calibration(tmp_path / name).T_base_cam, cam.T_base_cam, atol=1e-9), name


def test_a_camera_link_pose_becomes_the_optical_frame(tmp_path):
    # A camera_link at 1 m height looking along the base's +x (identity rotation): its optical z (viewing
    # direction) is base +x, optical x (image right) is base -y, optical y (image down) is base -z.
    (tmp_path / "link.yaml").write_text("convention: link\ntranslation: [0, 0, 1]\nrotation_xyzw: [0, 0, 0, 1]\n")
    R = load_calibration(tmp_path / "link.yaml").T_base_cam[:3, :3]
    assert np.allclose(R, LINK_FROM_OPTICAL)
    assert np.allclose(R[:, 2], (1, 0, 0)) and np.allclose(R[:, 0], (0, -1, 0)) and np.allclose(R[:, 1], (0, 0, -1))
    (tmp_path / "link.txt").write_text("0 0 1 0 0 0 1 base_link camera_link")
    assert np.allclose(load_calibration(tmp_path / "link.txt").T_base_cam[:3, :3], LINK_FROM_OPTICAL)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("[1, 2, 3]", "mapping"),
    ("foo: [unclosed", "not valid YAML"),
    ("name: something", "not a camera calibration"),
    ("translation: [0, 0]\nrotation_xyzw: [0, 0, 0, 1]", "3 finite numbers"),
    ("translation: [0, 0, 1]\nrotation_xyzw: [0, 0, 0, 2]", "not unit length"),
    ("translation: [0, 0, 1]\nrotation_xyzw: [0, 0, .nan, 1]", "4 finite numbers"),
    ("convention: sideways\ntranslation: [0, 0, 1]\nrotation_xyzw: [0, 0, 0, 1]", "convention"),
    ("T_base_cam: [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]", "not a rigid transform"),
    ("T_base_cam: [[1, 0], [0, 1]]", "4x4"),
    ("eye_on_hand: true\ntransformation: {x: 0, y: 0, z: 0, qx: 0, qy: 0, qz: 0, qw: 1}", "eye-on-hand"),
    ("eye_on_hand: false\ntransformation: {x: 0, y: 0}", "qx, qy, qz, qw"),
    ("0 0 1 0 0 0 1 base", "static transform line"),
    ("0 0 one 0 0 0 1 base cam", "must be numbers"),
    ("--x 0 --yaw 1 --frame-id base --child-frame-id cam", "quaternion"),
])
def test_bad_calibration_files_give_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CalibrationError, match=message) as info:
        load_calibration(path)
    assert str(path) in str(info.value)
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration(tmp_path / "missing.yaml")
