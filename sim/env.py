"""``PickCupEnv``: a Franka Panda, a table and 1-6 coloured cups in PyBullet.

Action (4,): end-effector linear velocity (vx, vy, vz) in the robot base frame
(m/s, clipped per axis to ``max_linear_speed``) and a gripper command in [0, 1]
(1 = fully open, 0 = closed with 40 N). The same interface the ROS layer exposes
as a MoveIt-Servo-style twist plus a gripper command.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet as p
from gymnasium import spaces

from .camera import PinholeCamera
from .config import EnvConfig, validate_colour
from .culling import FrustumCuller
from .cups import spawn_cup
from .objects import spawn_distractor
from .outcomes import (
    ABSTAINED,
    SUCCESS,
    TIMEOUT,
    CupState,
    OutcomeTracker,
)
from .perturbations import AMBIENT, DIFFUSE, SPECULAR, Perturbation, draw_perturbation, place_distractors, shifted_pose
from .robot import EE_LINK, IK_EVERY, Panda
from .scene import MIN_SPACING, SceneSpec, sample_scene

TABLE_Z = -0.626  # table URDF origin so that its top is at z = 0 in the base frame
SETTLE_STEPS = 24
VIDEO_SIZE = (480, 360)


class PickCupEnv(gym.Env):
    """Pick up the cup of the named colour. See the module docstring for the action."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, config: EnvConfig | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        if config is None:
            config = EnvConfig(**overrides)
        elif overrides:
            raise TypeError("pass either an EnvConfig or keyword overrides, not both")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.config = config
        self.render_mode = render_mode
        self.client = p.connect(p.GUI if config.gui else p.DIRECT)
        if self.client < 0:
            raise RuntimeError("could not connect to PyBullet (GUI mode needs a display)")
        limit = np.float32(config.max_linear_speed)
        self.action_space = spaces.Box(
            low=np.array([-limit, -limit, -limit, 0.0], np.float32),
            high=np.array([limit, limit, limit, 1.0], np.float32),
            dtype=np.float32,
        )
        obs: dict[str, spaces.Space] = {
            "ee_pose": spaces.Box(np.array([-2.0] * 3 + [-1.0] * 4, np.float32),
                                  np.array([2.0] * 3 + [1.0] * 4, np.float32), dtype=np.float32),
            "gripper_width": spaces.Box(0.0, 0.08, (1,), np.float32),
            "joint_positions": spaces.Box(-2 * np.pi, 2 * np.pi, (9,), np.float32),
        }
        cam = config.camera
        if config.render_images:
            obs["image"] = spaces.Box(0, 255, (cam.height, cam.width, 3), np.uint8)
            if config.wrist_camera:
                obs["wrist_image"] = spaces.Box(0, 255, (cam.height, cam.width, 3), np.uint8)
        self.observation_space = spaces.Dict(obs)
        self.scene: SceneSpec | None = None
        self.camera: PinholeCamera | None = None
        self.robot: Panda | None = None
        self.cup_ids: dict[str, int] = {}
        self._rest_z: dict[str, float] = {}
        self._tracker: OutcomeTracker | None = None
        self._steps = 0
        self.clipped_actions = 0
        self._period: tuple[np.ndarray, np.ndarray, int, int] | None = None
        self._culler: FrustumCuller | None = None
        self.render_seconds = 0.0  # wall time spent rendering camera frames since the env was made (profiling)
        self.perturbation: Perturbation | None = None  # this episode's (config.perturb), None without
        self.object_ids: dict[str, int] = {}  # distractor objects: "red block" -> body
        self._texture_dir: str | None = None

    # -- gymnasium API -------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Build the scene of ``seed``. Options override the config: ``target`` (colour or "random"),
        ``refer`` (a kind of ``vla_sim.referring.KINDS``), ``anchor`` (colour or "random")."""
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        super().reset(seed=None if seed is None else int(seed))
        options = dict(options or {})
        target = options.pop("target", None)
        refer = options.pop("refer", None)
        anchor = options.pop("anchor", None)
        if options:
            raise ValueError(f"unknown reset options: {sorted(options)}; supported: ['anchor', 'refer', 'target']")
        for colour in (target, anchor):
            if colour is not None and colour != "random":
                validate_colour(colour)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        self.scene = sample_scene(self.config, seed, None if target is None else target.strip().lower(), refer,
                                  None if anchor is None else anchor.strip().lower())
        self.perturbation = draw_perturbation(seed, self.config.perturb) if self.config.perturb else None
        if self.config.objects_in_target_colour and self.perturbation is not None and self.perturbation.distractors:
            first, *rest = self.perturbation.distractors  # the same object and place, the referred cup's colour
            self.perturbation = dataclasses.replace(self.perturbation, distractors=(
                dataclasses.replace(first, colour=self.scene.target), *rest))
        if self.perturbation is not None and self.perturbation.cup_shapes:  # other shapes, the same places
            shapes = self.perturbation.cup_shapes
            self.scene = dataclasses.replace(self.scene, cups=tuple(
                dataclasses.replace(cup, style=shapes[i].style, radius=cup.radius * shapes[i].scale,
                                    height=cup.height * shapes[i].scale)
                for i, cup in enumerate(self.scene.cups)))
        self._build_world(self.scene)
        self._tracker = OutcomeTracker(self.scene.target_instance, self.scene.target_present,
                                       1.0 / self.config.control_hz)
        self._steps = 0
        self.clipped_actions = 0
        position = self.robot.setpoint.copy()
        self._period = (position, position, 0, 0)  # no command yet: hold
        return self._observation(), self._info()

    def step(self, action, render: bool = True):
        """One control period of ``action``: :meth:`command` then :meth:`advance`. ``render=False``
        leaves the camera images out of the observation (a demonstration that keeps every k-th frame)."""
        self.command(action)
        return self.advance(render)

    def command(self, action, seconds: float | None = None) -> None:
        """Start moving: the velocity integrates into the IK setpoint over ``seconds`` (default one
        control period), then the arm holds. A later command replaces the rest of this one. The ROS
        sim node calls this once per twist, so a twist moves the arm for at most its watchdog time."""
        self._require_episode()
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (4,):
            raise ValueError(f"action must have 4 values (vx, vy, vz, gripper), got shape {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action.tolist()}")
        clipped = np.clip(action, self.action_space.low, self.action_space.high)
        if np.any(clipped != action):
            self.clipped_actions += 1
        cfg = self.config
        dt = 1.0 / cfg.control_hz if seconds is None else float(seconds)
        if not 0 < dt <= 10.0:
            raise ValueError(f"command duration must be in (0, 10] s, got {seconds}")
        prev_start, prev_end, n, k = self._period
        if k < n:  # replacing a command mid-way: go on from the setpoint it reached, not from its end
            self.robot.setpoint = prev_start + (prev_end - prev_start) * (k / n)
        start, end = self.robot.begin_control_step(clipped[:3], float(clipped[3]), dt)
        self._period = (start, end, int(round(dt * cfg.physics_hz)), 0)  # (from, to, substeps, done)

    def advance(self, render: bool = True):
        """Simulate one control period (``physics_hz / control_hz`` substeps) under the current
        command and check the outcome; returns gymnasium's step tuple (without images when not ``render``)."""
        self._require_episode()
        cfg = self.config
        start, end, n, k = self._period
        for _ in range(cfg.substeps):
            if k < n and k % IK_EVERY == 0:
                self.robot.track(start + (end - start) * min(1.0, (k + IK_EVERY) / n))
            p.stepSimulation(physicsClientId=self.client)
            k += 1
        self._period = (start, end, n, k)
        self._steps += 1
        outcome = self._tracker.update(self.cup_states() + self.object_states())
        truncated = False
        if outcome is None and self._steps >= cfg.max_steps:
            outcome = self._tracker.timeout()
            truncated = True
        terminated = outcome is not None and not truncated
        return self._observation(render), 0.0 if outcome != SUCCESS else 1.0, terminated, truncated, self._info()

    def _require_episode(self) -> None:
        if self._tracker is None:
            raise RuntimeError("call reset() before step()")
        if self._tracker.outcome is not None:
            raise RuntimeError(f"episode already ended ({self._tracker.outcome}); call reset()")

    def brake(self) -> None:
        """Stop where the arm is now: the setpoint becomes the measured end-effector position (without this
        the arm goes on until it reaches the setpoint it lags behind, up to ``WINDUP`` away). For a commander
        that fell silent (the ROS sim node's ``brake_after``); the gripper keeps its command."""
        self._require_episode()
        here = self.robot.ee_position()
        self.robot.setpoint = here.copy()
        self.robot.track(here)
        self._period = (here, here, 0, 0)

    @property
    def moving(self) -> bool:
        """True while the last command is still being executed (False: holding still)."""
        return self._period[3] < self._period[2]

    def abstain(self) -> dict[str, Any]:
        """The policy reports the named cup is not there: end the episode (outcome ``abstained``)."""
        if self._tracker is None or self._tracker.outcome is not None:
            raise RuntimeError("abstain() needs an episode in progress")
        self._tracker.abstain()
        return self._info()

    def refuse(self) -> dict[str, Any]:
        """The robot refuses the instruction: end the episode (outcome ``refused``)."""
        if self._tracker is None or self._tracker.outcome is not None:
            raise RuntimeError("refuse() needs an episode in progress")
        self._tracker.refuse()
        return self._info()

    def render(self):
        """A larger frame from the observation camera, for videos."""
        if self.camera is None:
            raise RuntimeError("call reset() before render()")
        w, h = VIDEO_SIZE
        cam = PinholeCamera(w, h, self.camera.fov_deg, self.camera.T_base_cam, self.camera.near, self.camera.far)
        return self._render(cam)

    def close(self) -> None:
        if self.client is not None and p.isConnected(self.client):
            p.disconnect(self.client)
        self.client = None
        if self._texture_dir is not None:
            shutil.rmtree(self._texture_dir, ignore_errors=True)
            self._texture_dir = None

    # -- privileged state (expert, tests, labels) ------------------------------
    def cup_states(self) -> list[CupState]:
        """Pose, lift and tilt of every cup, in ``scene.cups`` order."""
        return [self._body_state(self.cup_ids[spec.instance], spec.instance, spec.colour, spec.name)
                for spec in self.scene.cups]

    def object_states(self) -> list[CupState]:
        """Pose, lift and tilt of every distractor object (``distractor_objects``); lifting one, like lifting a
        cup nobody asked for, ends the episode as ``wrong_cup``."""
        return [self._body_state(body, name, name.split()[0], name) for name, body in self.object_ids.items()]

    def _body_state(self, body: int, key: str, colour: str, name: str) -> CupState:
        """Pose, lift above its resting height (``_rest_z[key]``) and tilt from vertical of one body."""
        pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=self.client)
        axis_z = np.asarray(p.getMatrixFromQuaternion(orn)).reshape(3, 3)[:, 2]
        tilt = float(np.degrees(np.arccos(np.clip(axis_z[2], -1.0, 1.0))))
        return CupState(colour, np.asarray(pos), float(pos[2] - self._rest_z[key]), tilt, name)

    @property
    def instruction(self) -> str:
        """The canonical instruction of the current task ("pick up the red cup on the left")."""
        return self.scene.reference.instruction

    @property
    def steps(self) -> int:
        return self._steps

    # -- internals -------------------------------------------------------------
    def _build_world(self, scene: SceneSpec) -> None:
        # A full reset each episode makes the same seed give the same world, bit for bit.
        c = self.client
        p.resetSimulation(physicsClientId=c)
        p.setAdditionalSearchPath(Panda.data_path(), physicsClientId=c)
        p.setGravity(0, 0, -9.81, physicsClientId=c)
        p.setTimeStep(1.0 / self.config.physics_hz, physicsClientId=c)
        if self.config.gui:
            p.configureDebugVisualizer(p.COV_ENABLE_GUI, 0, physicsClientId=c)
        # The table before the floor: TinyRenderer draws in load order and depth-tests before shading,
        # so the floor's texture is then never shaded under the table top (same image, ~2.5 ms less).
        table = p.loadURDF("table/table.urdf", [0.5, 0, TABLE_Z], useFixedBase=True, physicsClientId=c)
        p.loadURDF("plane.urdf", [0, 0, TABLE_Z], physicsClientId=c)
        p.changeVisualShape(table, -1, rgbaColor=scene.table_rgba, physicsClientId=c)
        pert = self.perturbation
        if pert is not None and pert.table_texture is not None:
            p.changeVisualShape(table, -1, rgbaColor=[1.0, 1.0, 1.0, 1.0],
                                textureUniqueId=self._load_texture(pert.table_texture.image()), physicsClientId=c)
        self.robot = Panda(c)
        self.cup_ids = {cup.instance: spawn_cup(c, cup) for cup in scene.cups}  # instance id -> body
        self.object_ids = {}
        if pert is not None and pert.distractors:
            from .config import COLOURS

            cup_xy = np.array([[cup.x, cup.y] for cup in scene.cups]).reshape(-1, 2)
            for i, (d, (x, y)) in enumerate(zip(pert.distractors, place_distractors(pert, cup_xy, MIN_SPACING))):
                if np.isfinite(x):
                    self.object_ids[f"{d.colour} {d.kind} {i}"] = spawn_distractor(c, d, x, y, COLOURS[d.colour])
        for _ in range(SETTLE_STEPS):
            p.stepSimulation(physicsClientId=c)
        self._rest_z = {
            name: p.getBasePositionAndOrientation(body, physicsClientId=c)[0][2]
            for name, body in (self.cup_ids | self.object_ids).items()
        }
        if not self.config.gui:  # in the GUI, hidden parts would flicker
            links = [(self.robot.body, link) for link in range(-1, p.getNumJoints(self.robot.body, physicsClientId=c))]
            self._culler = FrustumCuller(c, links)
        cam = self.config.camera
        self.camera = PinholeCamera.look_at(
            cam.width, cam.height, scene.camera_fov_deg, scene.camera_eye, scene.camera_target,
            near=cam.near, far=cam.far,
        )
        if pert is not None and pert.camera_pose is not None:
            self.camera = dataclasses.replace(self.camera, T_base_cam=shifted_pose(self.camera.T_base_cam,
                                                                                   pert.camera_pose))

    def _load_texture(self, image: np.ndarray) -> int:
        """A PyBullet texture of ``image`` (RGB uint8), through a PNG file in this env's own folder."""
        import cv2

        if self._texture_dir is None:
            self._texture_dir = tempfile.mkdtemp(prefix="vla_sim_textures_")
        path = f"{self._texture_dir}/table_{self.scene.seed}.png"
        if not cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise RuntimeError(f"could not write the table texture {path}")
        return p.loadTexture(path, physicsClientId=self.client)

    def wrist_camera(self) -> PinholeCamera:
        """Camera on the hand, looking along the gripper, updated to the current pose."""
        pos, orn = p.getLinkState(self.robot.body, EE_LINK, physicsClientId=self.client)[4:6]
        R = np.asarray(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
        eye = np.asarray(pos) + R @ np.array([0.06, 0.0, -0.10])  # behind and beside the fingers
        target = np.asarray(pos) + R @ np.array([0.0, 0.0, 0.15])
        cam = self.config.camera
        return PinholeCamera.look_at(cam.width, cam.height, 70.0, eye, target, up=R[:, 0], near=0.02, far=2.0)

    def _observation(self, render: bool = True) -> dict[str, np.ndarray]:
        pos, quat = self.robot.ee_pose()
        obs = {
            "ee_pose": np.concatenate([pos, quat]).astype(np.float32),
            "gripper_width": np.array([self.robot.gripper_width()], np.float32),
            "joint_positions": self.robot.joint_positions().astype(np.float32),
        }
        if self.config.render_images and render:
            pert = self.perturbation
            obs["image"] = self._render(self.camera)
            if self.config.wrist_camera:
                obs["wrist_image"] = self._render(self.wrist_camera())
            if pert is not None and pert.image_noise is not None:  # the sensor's noise, not the world's
                obs = {**obs, **{k: pert.degrade(obs[k], 2 * self._steps + i)
                                 for i, k in enumerate(("image", "wrist_image")) if k in obs}}
        return obs

    def _render(self, camera: PinholeCamera) -> np.ndarray:
        start = time.perf_counter()
        if self._culler is not None:
            self._culler.apply(camera)
        light = self.perturbation.lighting if self.perturbation is not None else None
        if light is None:
            frame = camera.render(self.client, self.scene.light_direction)
        else:  # TinyRenderer has one light: the second one's diffuse light is a second render, added
            main = camera.render(self.client, self.scene.light_direction, light_colour=light.colour,
                                 coefficients=(AMBIENT * light.scale, DIFFUSE * light.scale, SPECULAR * light.scale))
            second = camera.render(self.client, light.second_direction, coefficients=(0.0, light.second_strength, 0.0))
            frame = np.clip(main.astype(np.uint16) + second, 0, 255).astype(np.uint8)
        self.render_seconds += time.perf_counter() - start
        return frame

    def _info(self) -> dict[str, Any]:
        tracker = self._tracker
        outcome = tracker.outcome if tracker else None
        scene = self.scene
        return {
            "seed": self.scene.seed,
            "target": self.scene.target,
            "target_present": self.scene.target_present,
            "instruction": self.instruction,
            "refer": scene.refer,
            "anchor": scene.anchor,
            "target_instance": scene.target_instance,
            "outcome": outcome,
            "wrong_instance": tracker.wrong_instance if tracker else None,
            "success": bool(outcome is not None and tracker.success(self.cup_states())),
            "steps": self._steps,
            "clipped_actions": self.clipped_actions,
            "perturb": list(self.config.perturb),
        }


__all__ = ["PickCupEnv", "ABSTAINED", "SUCCESS", "TIMEOUT"]
