"""Action limits, bad options, observation contract, gymnasium registration, camera geometry."""

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from vla_sim import ENV_ID, EnvConfig, PickCupEnv
from vla_sim.camera import PinholeCamera


def test_actions_beyond_limits_are_clipped(make_env):
    env = make_env(num_cups=(1, 1), render_images=False)
    obs, _ = env.reset(seed=0)
    start = obs["ee_pose"][:3].copy()
    obs, *_, info = env.step([5.0, 0.0, 0.0, 3.0])  # 20x the speed limit, gripper beyond 1
    assert info["clipped_actions"] == 1
    moved = obs["ee_pose"][0] - start[0]
    # At most 0.25 m/s for 0.1 s (+ tracking tolerance), and it moved in the commanded direction.
    assert 0.005 < moved <= 0.025 + 0.005
    obs, *_, info = env.step([0.1, 0.0, 0.0, 1.0])  # inside the limits: not counted
    assert info["clipped_actions"] == 1


@pytest.mark.parametrize("bad", [[np.nan, 0, 0, 1], [0, np.inf, 0, 1], [0, 0, 0], [[0, 0], [0, 0], [0, 1]]])
def test_malformed_actions_are_rejected(make_env, bad):
    env = make_env(num_cups=(1, 1), render_images=False)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(bad)


def test_bad_options_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown colour 'magenta'"):
        EnvConfig(target="magenta")
    with pytest.raises(ValueError, match="at most 6 cups"):
        EnvConfig(num_cups=(2, 7))
    with pytest.raises(ValueError, match="at most 5 cups"):
        EnvConfig(num_cups=(2, 6), target_absent=True)
    with pytest.raises(ValueError, match="num_cups"):
        EnvConfig(num_cups=(0, 2))
    with pytest.raises(ValueError, match="integer multiple"):
        EnvConfig(control_hz=7.0)
    with pytest.raises(ValueError, match="camera width"):
        EnvConfig(camera={"width": 4})


def test_bad_reset_arguments(make_env):
    env = make_env(render_images=False)
    with pytest.raises(ValueError, match="unknown colour"):
        env.reset(seed=0, options={"target": "teal"})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(seed=0, options={"cups": 3})
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=-1)
    with pytest.raises(RuntimeError, match="reset"):
        PickCupEnv(EnvConfig(render_images=False)).step([0, 0, 0, 1])


def test_observation_contract_and_gymnasium_registration():
    env = gymnasium.make(ENV_ID, config=EnvConfig(num_cups=(1, 3), wrist_camera=True))
    try:
        check_env(env.unwrapped, skip_render_check=True)
        obs, info = env.reset(seed=3)
        assert set(obs) == {"image", "wrist_image", "ee_pose", "gripper_width", "joint_positions"}
        assert env.observation_space.contains(obs)
        assert {"success", "target", "outcome"} <= set(info)
        assert info["target"] == "red" and info["outcome"] is None
        assert obs["wrist_image"].std() > 1.0  # it sees something, not a blank frame
    finally:
        env.close()


def test_camera_projection_matches_rendered_pixels(make_env):
    """Intrinsics/extrinsics are the ones the renderer uses: a cup's centre projects onto that cup."""
    env = make_env(num_cups=(4, 4), randomize_appearance=True)
    env.reset(seed=12)
    rgb, seg = env.camera.render(env.client, env.scene.light_direction, segmentation=True)
    for spec in env.scene.cups:
        body = env.cup_ids[spec.colour]
        # Centre of the cup's bottom disc: inside the cup, seen through its open top or wall.
        u, v = env.camera.project(np.array([[spec.x, spec.y, spec.height * 0.5]]))[0]
        ys, xs = np.nonzero(seg == body)
        assert len(xs) > 20, f"{spec.colour} cup not visible"
        assert abs(xs.mean() - u) < 4.0 and abs(ys.mean() - v) < 6.0
    K = env.camera.K
    assert K[0, 2] == 64.0 and K[1, 2] == 64.0 and K[0, 0] == K[1, 1] > 0


def test_look_at_pose_is_an_optical_frame():
    cam = PinholeCamera.look_at(64, 48, 60.0, eye=(1.0, 0.0, 0.5), target=(0.0, 0.0, 0.5))
    R = cam.T_base_cam[:3, :3]
    assert np.allclose(R.T @ R, np.eye(3))
    assert np.allclose(R[:, 2], [-1, 0, 0])  # z looks at the target
    assert R[2, 1] < 0  # image y points down (against base z)
    assert np.allclose(cam.project(np.array([[0.0, 0.0, 0.5]])), [[32.0, 24.0]])


def test_pixels_back_on_a_plane_invert_the_projection():
    from vla_sim.camera import pixels_to_plane

    cam = PinholeCamera.nominal()
    points = np.array([[0.40, -0.12, 0.035], [0.62, 0.18, 0.035], [0.50, 0.0, 0.035]])
    assert np.allclose(pixels_to_plane(cam.K, cam.T_base_cam, cam.project(points), 0.035), points, atol=1e-9)


def test_commands_faster_than_the_control_rate_move_the_arm_at_the_commanded_speed():
    """The ROS sim applies each twist for its watchdog time (0.1 s) and a teleoperator or the expert
    commander sends one every 30 Hz tick: each must go on from the setpoint the last one reached. Before,
    every twist restarted from the previous one's end point and the arm ran at ~0.31 m/s under a
    0.25 m/s command, so recordings did not match the 10 Hz dynamics a policy is evaluated under."""
    def descent(control_hz: float, seconds: float | None) -> float:
        env = PickCupEnv(EnvConfig(num_cups=(3, 3), control_hz=control_hz))
        try:
            z0 = env.reset(seed=5)[0]["ee_pose"][2]
            for _ in range(int(control_hz)):  # one second
                env.command(np.array([0.0, 0.0, -0.25, 1.0]), seconds=seconds)
                obs = env.advance()[0]
            return z0 - obs["ee_pose"][2]
        finally:
            env.close()

    at_10hz, at_30hz = descent(10.0, None), descent(30.0, 0.1)
    assert 0.15 < at_10hz < 0.26
    assert abs(at_30hz - at_10hz) < 0.02, (at_30hz, at_10hz)
