"""``vla_policy_node``: camera + instruction in, MoveIt-Servo twist + gripper command out.

What the robot decides (understand or refuse the instruction, hold on stale inputs, abstain,
which action now) is decided by :class:`vla_policy.decision.DecisionCore`, the same code
``vla eval`` runs; this node is its ROS adapter: topics, threads and timing. Inference runs on its own thread on the newest camera frame (older frames are dropped,
and counted); a fixed-rate control timer publishes from the temporally ensembled
action chunks, so commands keep coming at the control rate even when inference is slow.
The control timer locks its phase to the camera (:mod:`vla_ros.phase_lock`), so a tick
comes just after the inference on a fresh frame ends; a tick that still finds one running
waits up to ``fresh_wait`` for it. The node publishes a zero twist (and keeps the gripper
as it is) whenever it must not move the arm: no instruction, a stale camera, no robot
state, abstention, or no prediction covering the current time.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from vla_policy.calibration import CalibrationError, CameraPose, camera_intrinsics, load_calibration, pose_matrix
from vla_policy.decision import ACT, DecisionConfig, DecisionCore, decision_config_for
from vla_policy.training_view import TrainingViewWarp

from . import qos, topics
from .conversions import (InputRejected, compressed_to_rgb, image_to_rgb, key_values, rate_hz, rgb_to_image,
                          stamp_seconds)
from .images import resize_like_policy
from .node_main import run_node
from .phase_lock import PhaseLock
from .state_sync import StampedBuffer

MAX_WIDTH_UNDERSHOOT = 0.001  # m: a finger reading this far below closed is a bad joint state, not a closed gripper


def attention_overlay(frame: np.ndarray, attention: np.ndarray) -> np.ndarray:
    """Camera frame (H, W, 3) darkened outside the attended cells; attention (g, g) sums to ~1."""
    h, w = frame.shape[:2]
    a = attention / max(float(attention.max()), 1e-8)
    ys = np.arange(h) * attention.shape[0] // h
    xs = np.arange(w) * attention.shape[1] // w
    heat = a[ys][:, xs][:, :, None]  # (H, W, 1) nearest-neighbour upsampling
    out = frame.astype(np.float32) * (0.25 + 0.75 * heat)
    out[:, :, 0] += 120.0 * heat[:, :, 0]
    return np.clip(out, 0, 255).astype(np.uint8)


class PolicyNode(Node):
    """Runs a :class:`vla_policy.VLAPolicy` checkpoint against ROS topics."""

    def __init__(self) -> None:
        super().__init__("vla_policy")
        p = self._declare
        self.checkpoint = p("checkpoint", "default", "checkpoint folder (config.json + model.safetensors) or 'default'")
        self.device = p("device", "auto", "torch device: auto (CUDA when present), cpu, cuda, cuda:1, ...")
        self.control_rate = p("control_rate_hz", 10.0, "rate of twist and gripper commands")
        self.image_timeout = p("image_timeout", 0.5, "camera frames older than this (s) stop the arm, and frames "
                               "stamped longer ago than this are rejected")
        self.stale_frames = p("stale_frames", 2.5, "no new frame for this many camera periods also stops the arm "
                              "(a stopped camera is caught within two control periods)")
        self.future_tolerance = p("future_tolerance", 0.2, "frames stamped up to this far (s) ahead of this node's "
                                  "clock are accepted (clock skew); later ones are rejected")
        self.state_timeout = p("state_timeout", 0.5, "end-effector poses older than this (s) stop the arm")
        self.dry_run = p("dry_run", False, "run inference and diagnostics but publish no commands")
        self.base_frame = p("base_frame", topics.BASE_FRAME, "frame_id of the twist commands")
        self.publish_attention = p("publish_attention", True, "publish the cross-attention heatmap image")
        self.threads = p("torch_threads", 1, "CPU threads for inference (1 leaves the other cores to the simulator "
                         "and drivers; raise it where the policy has the machine to itself)")
        self.phase_lock = p("phase_lock", True, "lock the control timer's phase to the camera frames so commands "
                            "follow fresh inferences closely (off under use_sim_time, where ticks follow /clock)")
        self.phase_margin = p("phase_margin", 0.004, "aim the control tick this long (s) after 9 in 10 recent "
                              "inferences would have ended")
        self.phase_slew = p("phase_slew", 0.003, "largest shift (s) of one control period while locking the phase")
        self.infer_every_frame = p("infer_every_frame", False, "infer on every camera frame instead of only on "
                                   "the frames the next control tick will use")
        self.latency_budget = p("latency_budget", 0.05, "camera-stamp-to-command latency (s) above which a command "
                                "is counted in commands_over_budget")
        self.fresh_wait = p("fresh_wait", 0.02, "longest (s) a control tick waits for a prediction from a newer "
                            "frame that is being computed (0: never wait)")
        self.state_sync = p("state_sync", 0.01, "longest (s) inference waits for the end-effector pose and joint "
                            "state stamped at the frame's instant (the policy was trained on matching pairs); "
                            "0: take the newest")
        self.image_transport = p("image_transport", "raw", "camera frames as 'raw' (sensor_msgs/Image on "
                                 "/camera/image_raw) or 'compressed' (JPEG or PNG sensor_msgs/CompressedImage on "
                                 "/camera/image_raw/compressed: for a camera on another computer over a slow or "
                                 "lossy link)")
        self.camera_calibration = p(
            "camera_calibration", "", "the camera's pose in the robot base frame: '' (frames are only resized to the "
            "policy's square input: a camera where the training camera was), 'topic' (the pose latched on "
            "/camera/pose: the simulator latches each episode's; a cell can latch its hand-eye result there) or a "
            "calibration file (docs/calibration.md). With a pose, each frame is reprojected into the training "
            "camera's view using /camera/camera_info's intrinsics (vla_policy.training_view); until both have "
            "arrived frames are rejected and the arm holds")
        self.missed_grasp_width = p("missed_grasp_width", 0.003, "a gripper commanded closed whose fingers (from "
                                    "/joint_states) come closer than this (m) missed its cup: the arm stops, the "
                                    "gripper reopens, the arm rises and the policy approaches again; 0: off")
        self.max_regrasps = p("max_regrasps", 4, "missed grasps retried per instruction; after more the arm holds, "
                              "gripper open")
        self.regrasp_over_target = p("regrasp_over_target", True, "after a missed grasp the arm rises over the cup "
                                     "the policy located before it moved, placed relative to the hand it saw at the "
                                     "miss; false: straight up")
        self.regrasp_target_radius = p("regrasp_target_radius", 0.08, "with regrasp_over_target, the rise steers "
                                       "only to a located cup within this distance (m) of the missed grasp; else "
                                       "straight up")
        initial = p("instruction", "", "instruction to start with (until one arrives on /instruction)")
        self.understanding_path = p("understanding", "default", "instruction-understanding model: 'default' (shipped) "
                                    "or a folder from `vla train-language`")
        self._check_parameters()
        # Reprojection into the training view (camera_calibration): the pose and intrinsics in force, and the
        # warp built from them (rebuilt when either changes; view_lock guards the three across callbacks).
        self.view_lock = threading.Lock()
        self.camera_pose: np.ndarray | None = None
        self.intrinsics: tuple[np.ndarray, int, int] | None = None
        self.view_warp: TrainingViewWarp | None = None
        if self.camera_calibration not in ("", "topic"):
            try:
                self.camera_pose = load_calibration(self.camera_calibration).T_base_cam
            except CalibrationError as exc:
                raise SystemExit(f"vla_policy: invalid parameter camera_calibration: {exc}") from None

        import torch

        from vla_policy import DEFAULT_CHECKPOINT
        from vla_policy.modeling_vla import CheckpointError, VLAPolicy
        from vla_policy.understanding import load_understanding

        torch.set_num_threads(int(self.threads))
        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        path = DEFAULT_CHECKPOINT if self.checkpoint == "default" else self.checkpoint
        try:
            self.policy = VLAPolicy.from_pretrained(path, device=device)
            self.policy.text_encoder  # load the language model now, not on the first instruction
        except (CheckpointError, OSError, ValueError, RuntimeError) as exc:
            raise SystemExit(f"vla_policy: cannot load checkpoint {path}: {exc}") from None
        try:
            understanding = load_understanding(self.understanding_path, self.policy.text_encoder)
        except (CheckpointError, OSError, ValueError, RuntimeError) as exc:
            raise SystemExit(f"vla_policy: cannot load understanding model {self.understanding_path}: {exc}") from None
        understanding.warm_up()
        cfg = self.policy.config
        # One throw-away prediction: the first call pays for lazy initialisation (~10x a normal one),
        # which would otherwise land on the first real frame and skew the lag statistics.
        self.policy.predict_action_chunk({
            "image": np.zeros((cfg.image_size, cfg.image_size, 3), np.uint8), "ee_pose": np.zeros(3, np.float32),
            "gripper_width": np.array([topics.OPEN_GRIPPER_WIDTH], np.float32), "instruction": "pick up the red cup"})
        self.core = DecisionCore(understanding, decision_config_for(cfg, **self.core_settings))

        self.lock = threading.Condition()  # guards the state below and the core; notified when a frame arrives
        self.frame: tuple[Image | CompressedImage, np.ndarray, float] | None = None  # newest usable frame: message, RGB, receive time
        self.frame_seq = 0  # frames received
        self.frame_seq_used = 0  # newest frame taken by inference
        self.pose: tuple[np.ndarray, float] | None = None  # newest end-effector xyz, receive time
        self.poses: StampedBuffer[np.ndarray] = StampedBuffer()  # by header stamp, to pair with frames
        self.widths: StampedBuffer[float] = StampedBuffer()  # gripper widths from /joint_states
        self.instruction = ""  # the last text received
        self.counts = {"frames": 0, "frames_dropped": 0, "frames_skipped": 0, "rejected_images": 0, "rejected_instructions": 0,
                       "rejected_calibrations": 0, "rejected_joint_states": 0,
                       "inferences": 0, "commands": 0, "hold_commands": 0, "late_camera_commands": 0,
                       "timed_commands": 0, "commands_over_budget": 0}
        self.hold_reason = "no instruction"
        self.status_sent: tuple[str, str, str] | None = None  # (instruction, state, understood) last on /vla/status
        self.inference_ms: deque[float] = deque(maxlen=200)
        self.state_skew_ms: deque[float] = deque(maxlen=200)  # |pose stamp - frame stamp| at inference
        self.latency_ms: deque[float] = deque(maxlen=200)
        self.control_times: deque[float] = deque(maxlen=50)
        self.frame_times: deque[tuple[float, float]] = deque(maxlen=16)  # (received, stamp) of recent frames
        self.inference_lags: deque[float] = deque(maxlen=30)  # frame stamp -> its chunk accepted (s)
        self.phase = PhaseLock(self.phase_margin, self.phase_slew)
        self.frame_seq_done = 0  # newest frame whose inference has finished (or was skipped)
        self.last_stamp = None  # observation time of the newest chunk
        self.sim_time = bool(self.get_parameter("use_sim_time").value)
        self.deferred: tuple[float, float] | None = None  # sim time: (tick, wall deadline) awaiting its frame
        self.running = True

        self.pub_twist = self.create_publisher(TwistStamped, topics.TWIST_CMD, qos.COMMAND_QOS)
        self.pub_gripper = self.create_publisher(Float64MultiArray, topics.GRIPPER_CMD, qos.COMMAND_QOS)
        self.pub_attention = self.create_publisher(Image, topics.ATTENTION, qos.IMAGE_QOS)
        self.pub_diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.COMMAND_QOS)
        self.pub_status = self.create_publisher(DiagnosticStatus, topics.STATUS, qos.COMMAND_QOS)
        if self.image_transport == "compressed":
            self.create_subscription(CompressedImage, topics.CAMERA_IMAGE_COMPRESSED, self._on_image, qos.IMAGE_QOS)
        else:
            self.create_subscription(Image, topics.CAMERA_IMAGE, self._on_image, qos.IMAGE_QOS)
        self.create_subscription(String, topics.INSTRUCTION, self._on_instruction, qos.INSTRUCTION_QOS)
        self.create_subscription(PoseStamped, topics.EE_POSE, self._on_pose, qos.COMMAND_QOS)
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joints, qos.COMMAND_QOS)
        if self.camera_calibration:
            self.create_subscription(CameraInfo, topics.CAMERA_INFO, self._on_camera_info, qos.COMMAND_QOS)
        if self.camera_calibration == "topic":
            self.create_subscription(PoseStamped, topics.CAMERA_POSE, self._on_camera_pose, qos.LATCHED_QOS)
        self.create_service(Trigger, "~/reset", self._on_reset)
        if initial:
            self._set_instruction(initial)
        self.worker = threading.Thread(target=self._inference_loop, name="inference", daemon=True)
        self.worker.start()
        self.control_period_ns = round(1e9 / self.control_rate)
        self.control_timer = self.create_timer(1.0 / self.control_rate, self._control)
        if self.sim_time:
            self.phase_lock = False
        self.create_timer(1.0, self._publish_diagnostics)
        self.create_timer(1.0, lambda: self._publish_status(force=True))
        self.get_logger().info(f"policy {path} on {device}; control {self.control_rate} Hz; dry_run={self.dry_run}")

    def _check_parameters(self) -> None:
        period = 1.0 / self.control_rate if self.control_rate > 0 else 0.0
        problems = [
            (not 0.0 < self.control_rate <= 1000.0, f"control_rate_hz must be in (0, 1000], got {self.control_rate}"),
            (self.future_tolerance < 0, f"future_tolerance must be >= 0, got {self.future_tolerance}"),
            (not 0.0 <= self.phase_margin < 1.0, f"phase_margin must be in [0, 1) s, got {self.phase_margin}"),
            (not 0.0 <= self.phase_slew <= 0.1 * period,
             f"phase_slew must be in [0, {0.1 * period:g}] s (10 % of a control period), got {self.phase_slew}"),
            (not 0.0 <= self.fresh_wait < 0.5 * period,
             f"fresh_wait must be in [0, {0.5 * period:g}) s (half a control period), got {self.fresh_wait}"),
            (not 0.0 <= self.state_sync < 0.5 * period,
             f"state_sync must be in [0, {0.5 * period:g}) s (half a control period), got {self.state_sync}"),
            (int(self.threads) < 1, f"torch_threads must be >= 1, got {self.threads}"),
            (self.image_transport not in ("raw", "compressed"),
             f"image_transport must be raw or compressed, got {self.image_transport!r}"),
        ]
        for bad, message in problems:
            if bad:
                raise SystemExit(f"vla_policy: invalid parameter: {message}")
        # The decision core's own settings are checked by its config, here before any model loads.
        self.core_settings = dict(image_timeout=self.image_timeout, stale_frames=self.stale_frames,
                                  state_timeout=self.state_timeout, missed_grasp_width=self.missed_grasp_width,
                                  max_regrasps=self.max_regrasps, regrasp_over_target=self.regrasp_over_target,
                                  regrasp_target_radius=self.regrasp_target_radius)
        try:
            DecisionConfig(**self.core_settings)
        except ValueError as exc:
            raise SystemExit(f"vla_policy: invalid parameter: {exc}") from None

    def _declare(self, name: str, default, description: str):
        return self.declare_parameter(name, default, ParameterDescriptor(description=description)).value

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # -- inputs -------------------------------------------------------------------
    def _on_image(self, msg: Image | CompressedImage) -> None:
        now = self._now()
        age = now - stamp_seconds(msg.header.stamp)
        if now > 0 and (age < -self.future_tolerance or age > self.image_timeout):  # 0: no /clock yet
            # A frame from the future (clocks out of sync) or from long ago (a replayed or stuck
            # camera) must not pass for the current view.
            self.counts["rejected_images"] += 1
            what = f"{-age:.3f} s in the future" if age < 0 else f"{age:.3f} s old on arrival"
            self.get_logger().warning(f"image rejected: stamp {what}", throttle_duration_sec=2.0)
            return
        try:
            # Decoded (and made the policy's input) here: only a usable frame keeps the camera alive.
            decoded = compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else image_to_rgb(msg)
            rgb = self._policy_view(decoded)
        except InputRejected as exc:
            self.counts["rejected_images"] += 1
            self.get_logger().warning(f"image rejected: {exc}", throttle_duration_sec=2.0)
            return
        with self.lock:
            if self.frame is not None and self.frame_seq_used < self.frame_seq:
                self.counts["frames_dropped"] += 1  # replaced before inference reached it
            self.frame = (msg, rgb, now)
            self.frame_times.append((now, stamp_seconds(msg.header.stamp)))
            self.core.note_frame(now, rgb)  # the pixels too: a driver repeating one image is a frozen camera
            self.frame_seq += 1
            self.counts["frames"] += 1
            self.lock.notify_all()

    def _policy_view(self, rgb: np.ndarray) -> np.ndarray:
        """A decoded frame as the policy's input: resized, or reprojected into the training camera's view."""
        size = self.policy.config.image_size
        if not self.camera_calibration:
            return resize_like_policy(rgb, size)
        with self.view_lock:
            warp = self.view_warp
            if warp is None:
                if self.intrinsics is None or self.camera_pose is None:
                    missing = " and ".join(name for name, v in (("camera_info", self.intrinsics),
                                                                ("the camera pose", self.camera_pose)) if v is None)
                    raise InputRejected(f"no calibration to reproject it with yet: waiting for {missing}")
                K, width, height = self.intrinsics
                try:
                    warp = self.view_warp = TrainingViewWarp(K, self.camera_pose, width, height, size)
                except ValueError as exc:
                    raise InputRejected(f"the calibration cannot reproject it: {exc}") from None
        try:
            return warp(rgb)
        except ValueError as exc:  # a frame of another size than camera_info's
            raise InputRejected(str(exc)) from None

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = camera_intrinsics(msg)
        except CalibrationError as exc:
            self.counts["rejected_calibrations"] += 1
            self.get_logger().warning(f"camera_info rejected: {exc}", throttle_duration_sec=2.0)
            return
        with self.view_lock:
            old = self.intrinsics
            if old is None or old[1:] != intrinsics[1:] or not np.array_equal(old[0], intrinsics[0]):
                self.intrinsics, self.view_warp = intrinsics, None

    def _on_camera_pose(self, msg: PoseStamped) -> None:
        try:
            T = CameraPose(pose_matrix(msg.pose)).T_base_cam
        except CalibrationError as exc:
            self.counts["rejected_calibrations"] += 1
            self.get_logger().warning(f"camera pose rejected: {exc}", throttle_duration_sec=2.0)
            return
        with self.view_lock:
            if self.camera_pose is None or not np.array_equal(self.camera_pose, T):
                self.camera_pose, self.view_warp = T, None

    def _on_instruction(self, msg: String) -> None:
        self._set_instruction(msg.data)

    def _set_instruction(self, text: str) -> None:
        """A new instruction replaces the task; one the robot does not understand holds the arm."""
        with self.lock:
            verdict = self.core.set_instruction(text)  # resets predictions and the vote (a refusal keeps the gripper)
            self.instruction = verdict.text
            self._forget_frame_in_hand()
        if verdict.understood:
            self.get_logger().info(f"instruction {verdict.text!r}: {verdict.summary()}")
        else:
            self.counts["rejected_instructions"] += 1
            self.get_logger().warning(f"instruction {verdict.text[:80]!r} refused: {verdict.refusal}",
                                      throttle_duration_sec=2.0)
        self._command(self._now())  # hold at once if refused; never wait for the next tick
        self._publish_status()

    def _forget_frame_in_hand(self) -> None:
        """The newest frame predates the new task or episode: infer on the next one (lock held)."""
        self.frame_seq_used = self.frame_seq_done = self.frame_seq

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self.lock:
            self.core.reset()  # an inference already running belongs to the old episode: its chunk is dropped
            self._forget_frame_in_hand()
        response.success, response.message = True, "action queue and abstain vote cleared"
        return response

    def _stamp_or_now(self, stamp) -> float:
        """A header stamp in seconds; an unset one (0) reads as the arrival time."""
        return stamp_seconds(stamp) or self._now()

    def _on_pose(self, msg: PoseStamped) -> None:
        pos = msg.pose.position
        xyz = np.array([pos.x, pos.y, pos.z], dtype=np.float32)
        if np.all(np.isfinite(xyz)):
            with self.lock:
                self.pose = (xyz, self._now())
                q = msg.pose.orientation
                full = np.array([pos.x, pos.y, pos.z, q.x, q.y, q.z, q.w])
                self.core.note_state(self.pose[1], full if np.isfinite(full).all() else xyz)
                self.poses.add(self._stamp_or_now(msg.header.stamp), xyz)
                self.lock.notify_all()  # inference may be waiting for the pose of its frame

    def _on_joints(self, msg: JointState) -> None:
        paired = len(msg.position) == len(msg.name)
        if paired and not set(topics.FINGER_JOINTS) <= set(msg.name):
            return  # another joint group's states (the fingers may come on their own message)
        width = topics.finger_width(msg.name, msg.position) if paired else None
        if width is None or width < -MAX_WIDTH_UNDERSHOOT:
            with self.lock:
                self.counts["rejected_joint_states"] += 1
            return
        width = max(width, 0.0)  # the solver's micrometres below closed
        with self.lock:
            self.widths.add(self._stamp_or_now(msg.header.stamp), width)
            self.core.note_gripper(width)  # a gripper closed on nothing: the core retries the grasp
            self.lock.notify_all()

    def _state_at(self, stamp: float) -> tuple[np.ndarray, float]:
        """End-effector xyz and gripper width nearest ``stamp``, after waiting up to ``state_sync``
        for samples stamped at or after it (call with the lock held)."""
        if self.state_sync > 0:
            self.lock.wait_for(lambda: not self.running or (self.poses.covers(stamp) and (
                not self.widths.samples or self.widths.covers(stamp))), timeout=self.state_sync)
        pose_stamp, xyz = self.poses.nearest(stamp)
        self.state_skew_ms.append(abs(pose_stamp - stamp) * 1e3)
        width = self.widths.nearest(stamp)
        return xyz, (width[1] if width is not None else topics.OPEN_GRIPPER_WIDTH)

    # -- inference thread -----------------------------------------------------------
    def _inference_loop(self) -> None:
        while self.running:
            with self.lock:
                timeout = 0.5 if self.deferred is None else max(0.0, self.deferred[1] - time.monotonic())
                self.lock.wait_for(lambda: not self.running or self.frame_seq > self.frame_seq_used, timeout=timeout)
                expired = self.deferred is not None and time.monotonic() >= self.deferred[1]
                tick, self.deferred = (self.deferred[0], None) if expired else (None, self.deferred)
            if tick is not None:  # the frame of that tick's instant never came (or was not inferred) in time
                self._command(tick)
                continue
            with self.lock:
                if not self.running or self.frame is None or self.frame_seq == self.frame_seq_used:
                    continue
                msg, rgb, _ = self.frame
                seq = self.frame_seq_used = self.frame_seq
                instruction, generation = self.core.policy_instruction(), self.core.generation
                locate, marker = (self.core.locate_instruction(), self.core.locate_peaks()), self.core.marker_uv
                checks = self.core.check_queries()
                if not instruction or self.pose is None:
                    self.frame_seq_done = seq
                    continue
                if self._next_frame_will_do(stamp_seconds(msg.header.stamp)):
                    self.counts["frames_skipped"] += 1
                    self.frame_seq_done = seq
                    continue
                xyz, width = self._state_at(stamp_seconds(msg.header.stamp))
            try:
                accepted = self._infer(msg, rgb, instruction, xyz, width, generation, locate, marker, checks)
            finally:
                with self.lock:
                    self.frame_seq_done = max(self.frame_seq_done, seq)
                    self.lock.notify_all()  # a control tick may be waiting for this chunk
                    ready = self.deferred is not None and self.last_stamp is not None and \
                        self.last_stamp >= self.deferred[0] - 1e-6
                    tick, self.deferred = (self.deferred[0], None) if ready else (None, self.deferred)
            if tick is not None:
                self._command(tick)  # the deferred sim-time tick, now with the prediction of its instant
            self._publish_status()
            if accepted and self.publish_attention and self.policy.last_attention is not None:
                overlay = attention_overlay(rgb, self.policy.last_attention[0].cpu().numpy())
                self.pub_attention.publish(rgb_to_image(overlay, msg.header.stamp, msg.header.frame_id))

    def _next_frame_will_do(self, stamp: float) -> bool:
        """On-demand inference: skip this frame when the next one should still be predicted before
        the next control tick, so only the frames a tick uses cost an inference (one in three with a
        30 Hz camera and 10 Hz control, as ``vla eval`` runs the policy)."""
        if self.infer_every_frame or len(self.frame_times) < 4 or len(self.inference_lags) < 4:
            return False
        if not self.core.vote.decided:
            return False  # the arm holds until the target is confirmed in view: decide on the next frames
        until_tick = self.control_timer.time_until_next_call()
        if until_tick is None:
            return False
        frame_period = float(np.median(np.diff([s for _, s in self.frame_times])))
        tick = stamp + (self._now() - self.frame[2]) + until_tick * 1e-9  # the tick, on the camera's clock
        if self.sim_time:
            # A tick waits for the frame of its instant, so the next frame serves it if stamped by then;
            # this frame is the one a deferred tick waits for when stamped at (or after) that tick.
            if self.deferred is not None and stamp >= self.deferred[0] - 1e-6:
                return False
            return stamp + frame_period <= tick + 1e-6
        next_ready = stamp + frame_period + self.phase.target(self.inference_lags)  # on the camera's clock
        return next_ready <= tick

    def _infer(self, msg: Image, rgb: np.ndarray, instruction: str, ee_position: np.ndarray, width: float,
               generation: int, locate: tuple[str | None, int] = (None, 1), marker: np.ndarray | None = None,
               checks: list[str] | None = None) -> bool:
        """Predict a chunk from one frame and hand it to the core; False if the task changed meanwhile.
        ``locate``: the core's query for the cups to mark (next-to's anchor, a left/right pair) and how
        many to find, located on this frame first; ``checks``: the colour cross-check's queries."""
        t0 = time.perf_counter()
        obs = {"image": rgb, "ee_pose": ee_position, "gripper_width": np.array([width], np.float32)}
        if locate[0] is not None:
            marker, anchor_present = self.policy.locate({**obs, "instruction": locate[0]}, peaks=locate[1])
            with self.lock:
                if not self.core.set_marker(marker, anchor_present, generation):
                    return False  # re-targeted while locating
                marker = self.core.marker_uv  # of a left/right pair, the cup on the named side
        if checks:
            located = [self.policy.locate({**obs, "instruction": q}) for q in checks]
            with self.lock:
                if not self.core.check_colour(located, generation):
                    return False
        chunk, present = self.policy.predict_action_chunk({**obs, "instruction": instruction, "marker_uv": marker})
        self.inference_ms.append((time.perf_counter() - t0) * 1e3)
        stamp = stamp_seconds(msg.header.stamp)
        with self.lock:
            keypoints = self.core.wants_keypoints()
            target_uv, ee_uv = (self.policy.last_target_uv, self.policy.last_ee_uv) if keypoints else (None, None)
            if not self.core.add_prediction(stamp, chunk, present, generation, target_uv=target_uv, ee_uv=ee_uv):
                return False  # re-targeted (or a new episode) while this inference ran: the chunk is stale
            self.last_stamp = stamp
            if not checks:  # the vote's first frame runs six more passes (the colour cross-check): not the steady lag
                self.inference_lags.append(self._now() - stamp)
            self.counts["inferences"] += 1
        return True

    # -- control timer --------------------------------------------------------------
    def _control(self) -> None:
        """The control timer's tick."""
        tick = self._now()
        self.control_times.append(time.monotonic())
        with self.lock:
            late, self.deferred = (self.deferred[0] if self.deferred else None), None
        if late is not None:
            self._command(late)  # still waiting for its frame a whole period later
        if self.sim_time:
            with self.lock:
                if self._frame_due(tick):
                    # Under simulated time the tick fires as /clock reaches the instant a frame shows,
                    # before that frame is in: acting now would use the previous frame's prediction
                    # (one camera period behind every time). Publish once the frame's prediction is in.
                    self.deferred = (tick, time.monotonic() + self.fresh_wait)
                    return
        else:
            with self.lock:
                newest = self.frame_seq
                if (newest > self.frame_seq_done and self.core.policy_instruction() and self.pose is not None
                        and self.fresh_wait > 0):
                    # A prediction from a newer frame is moments away (being computed, or about to be).
                    self.lock.wait_for(lambda: self.frame_seq_done >= newest, timeout=self.fresh_wait)
        self._command(self._now())
        if self.phase_lock:
            self._lock_phase(tick)

    def _frame_due(self, tick: float) -> bool:
        """Sim time: the frame stamped at ``tick`` is expected but not predicted yet (lock held)."""
        return (self.fresh_wait > 0 and self.core.policy_instruction() is not None and self.pose is not None
                and self.frame is not None and tick - self.frame[2] <= self.core.frame_deadline()
                and (self.last_stamp is None or self.last_stamp < tick - 1e-6))

    def _command(self, now: float) -> None:
        """Publish the twist and gripper command for time ``now`` (from the timer, or from the
        inference thread for a deferred sim-time tick)."""
        twist = TwistStamped()
        twist.header.frame_id = self.base_frame
        with self.lock:  # two threads may command (the timer, and the inference thread under sim time)
            command = self.core.command(now)
            # The core's own motions (rising after a missed grasp) act but are not the policy's: said, and WARN.
            self.hold_reason = "" if command.state == "acting" else command.state
            twist.header.stamp = self.get_clock().now().to_msg()
            if command.kind == ACT:
                twist.twist.linear.x, twist.twist.linear.y, twist.twist.linear.z = (float(v) for v in command.twist)
                self.counts["commands"] += 1
                if self.last_stamp is not None and command.state == "acting":
                    if self._camera_on_time(now):
                        self.latency_ms.append((now - self.last_stamp) * 1e3)
                        self.counts["timed_commands"] += 1
                        if now - self.last_stamp > self.latency_budget:
                            self.counts["commands_over_budget"] += 1
                    else:
                        self.counts["late_camera_commands"] += 1
            else:
                self.counts["hold_commands"] += 1
            gripper = command.gripper
        if not self.dry_run:
            self.pub_twist.publish(twist)
            self.pub_gripper.publish(Float64MultiArray(data=[gripper]))
        self._publish_status()

    def _lock_phase(self, tick: float) -> None:
        with self.lock:
            shift = self.phase.update(tick, list(self.frame_times), list(self.inference_lags))
        if shift is not None:
            self.control_timer.timer_period_ns = self.control_period_ns - round(shift * 1e9)

    def _camera_on_time(self, now: float) -> bool:
        """The newest frame is under 1.5 frame periods old. Otherwise the camera is late (or has
        stopped) and a command's latency measures the camera, not this node: such commands are
        counted (``late_camera_commands``) instead of entering the latency figures."""
        with self.lock:
            if len(self.frame_times) < 2:
                return False
            received = [r for r, _ in self.frame_times]
            return now - received[-1] < 1.5 * float(np.median(np.diff(received)))

    def _publish_diagnostics(self) -> None:
        rate = rate_hz(self.control_times)
        inf = np.array(self.inference_ms) if self.inference_ms else np.zeros(1)
        lat = np.array(self.latency_ms) if self.latency_ms else np.zeros(1)
        now = self._now()
        with self.lock:
            image_age = now - self.frame[2] if self.frame else float("inf")
            values = {
                "state": self.hold_reason or "acting", **self._verdict_values(),
                "abstained": self.core.vote.abstained, "present_prob": f"{self.core.present_prob:.3f}",
                "missed_grasps": self.core.missed_grasps,
                "inference_ms_p50": f"{np.percentile(inf, 50):.1f}", "inference_ms_p99": f"{np.percentile(inf, 99):.1f}",
                "latency_ms_p50": f"{np.percentile(lat, 50):.1f}", "latency_ms_p99": f"{np.percentile(lat, 99):.1f}",
                "state_skew_ms_p99": f"{np.percentile(self.state_skew_ms, 99):.1f}" if self.state_skew_ms else "n/a",
                "control_rate_hz": f"{rate:.2f}", "target_rate_hz": self.control_rate,
                "latency_budget_ms": f"{1e3 * self.latency_budget:g}",
                "phase_error_ms": "n/a" if self.phase.error is None else f"{1e3 * self.phase.error:.1f}",
                "image_age_s": f"{image_age:.3f}", "dry_run": self.dry_run, "camera_view": self._camera_view(),
                **self.counts,
            }
        level = DiagnosticStatus.OK if not self.hold_reason else DiagnosticStatus.WARN
        status = DiagnosticStatus(level=level, name="vla_policy", message=self.hold_reason or "acting",
                                  hardware_id="vla_policy", values=key_values(values))
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)

    def _camera_view(self) -> str:
        """How frames reach the policy, for the diagnostics."""
        if not self.camera_calibration:
            return "resized"
        return "reprojected" if self.view_warp is not None else "waiting for calibration"

    def _verdict_values(self) -> dict[str, str]:
        """The instruction, what was understood ("red cup" or "") and the refusal ("" if none) (lock held)."""
        verdict = self.core.verdict
        return {"instruction": self.instruction,
                "understood": verdict.reference.describe() if verdict and verdict.understood else "",
                "refusal": (verdict.refusal or "") if verdict else ""}

    def _publish_status(self, force: bool = False) -> None:
        """What the robot understood and is doing, on /vla/status: on every change (and once a second)."""
        with self.lock:
            state = self.hold_reason or "acting"
            values = {**self._verdict_values(), "state": state, "present_prob": f"{self.core.present_prob:.3f}"}
            key = (values["instruction"], state, values["understood"])
            if not force and self.status_sent == key:
                return
            self.status_sent = key
        level = DiagnosticStatus.OK if state == "acting" else DiagnosticStatus.WARN
        self.pub_status.publish(DiagnosticStatus(level=level, name="vla_policy", message=state,
                                                 hardware_id="vla_policy", values=key_values(values)))

    def close(self) -> None:
        """Stop the inference thread (before the node is destroyed)."""
        with self.lock:
            self.running = False
            self.lock.notify_all()
        self.worker.join(timeout=2.0)


def main(args: list[str] | None = None) -> int:
    return run_node(PolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
