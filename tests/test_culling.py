"""Frustum culling of robot links changes no pixel, and culls what lies outside the view."""

import numpy as np

from vla_sim.camera import PinholeCamera
from vla_sim.culling import box_in_frustum
from vla_sim.expert import ScriptedExpert


def test_culled_frames_are_bit_identical_over_whole_episodes(make_env):
    env = make_env(target="random", wrist_camera=True)
    frames = hidden = 0
    for seed in (3, 11):  # the arm sweeps from out of view down to the cup and back up
        obs, _ = env.reset(seed=seed)
        expert = ScriptedExpert(env)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(expert.select_action(obs))
            done = terminated or truncated
            hidden += sum(not shown for shown in env._culler.shown.values())  # after the wrist render
            env._culler.show_all()
            for key, camera in (("image", env.camera), ("wrist_image", env.wrist_camera())):
                full = camera.render(env.client, env.scene.light_direction)
                assert np.array_equal(obs[key], full), f"seed {seed} step {info['steps']}: {key} differs"
            frames += 1
        assert info["outcome"] == "success"
    assert hidden > frames  # culling did hide links (more than one per frame on average)


def test_box_in_frustum_planes():
    cam = PinholeCamera.look_at(128, 128, 50.0, eye=(0.85, 0.0, 0.55), target=(0.42, 0.0, 0.0))
    T_cam_base = np.linalg.inv(cam.T_base_cam)

    def visible(centre, half=0.02):
        c = np.asarray(centre, float)
        return box_in_frustum(c - half, c + half, T_cam_base, cam)

    assert visible((0.42, 0.0, 0.0))  # the point it looks at
    assert not visible((1.5, 0.0, 0.9))  # behind the camera
    assert not visible((0.42, 1.0, 0.0))  # far to the side
    assert not visible((0.0, 0.0, 1.2))  # high above the view
    assert not visible((0.42, 0.0, 0.0) + 10.0 * (np.array([0.42, 0.0, 0.0]) - [0.85, 0.0, 0.55]))  # beyond far
    assert visible((0.42, 0.0, 0.0), half=5.0)  # a box around the whole camera is never culled
