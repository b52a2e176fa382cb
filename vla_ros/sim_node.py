"""``vla_sim_node``: the PyBullet simulator as a ROS 2 robot.

Publishes the camera (image + camera_info), joint states and the end-effector pose at
the camera rate; takes MoveIt-Servo-style twist commands and a forward-command gripper
command; holds the arm still when commands stop for ``command_timeout`` (as MoveIt Servo
does). Each tick advances the physics by one camera period, in real time by default.

A frame shows the world at the *end* of the period its tick simulated, so it is held and
released (stamped and published) when that instant comes: frames leave on an even
30 Hz beat whatever each tick's render cost, as a camera's would.

Episodes refer to their target by colour or by a relation (``refer``: "the leftmost cup", "the
cup next to the blue cup"); left and right are the robot's own (+y of the base frame). Each
episode's outcome on ``/sim/episode`` carries ``refer``, ``anchor``, ``target_instance`` and
``wrong_instance``; the sim's ``/diagnostics`` status says on which side of the image the robot's
left is (``robot_left_side``, from this episode's camera), for the video recorder.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped, TwistStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.duration import Duration
from rclpy.executors import Executor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from vla_sim.evaluation import fill_instruction
from vla_sim.outcomes import WRONG_LIFT
from vla_sim.video import robot_left_side

from . import qos, topics
from .conversions import (InputRejected, camera_info, finite_vector, key_values, pose_stamped, rate_hz,
                          rgb_to_compressed, rgb_to_image)
from .node_main import run_node, spin_forever

JOINT_NAMES = list(topics.ARM_JOINTS + topics.FINGER_JOINTS)
CANONICAL = "canonical"  # the instruction parameter's default: each episode's canonical instruction


def _check_reference(refer: str, anchor: str, instruction: str) -> tuple[str, str]:
    """(kind, anchor colour or "random") normalised; a ValueError naming the parameter otherwise."""
    from vla_sim.config import validate_colour
    from vla_sim.referring import validate_kind

    try:
        refer = validate_kind(refer)
    except ValueError as exc:
        raise ValueError(f"refer: {exc}") from None
    if anchor.strip().lower() != "random":
        try:
            anchor = validate_colour(anchor)
        except ValueError as exc:
            raise ValueError(f"anchor: {exc} (or 'random')") from None
    else:
        anchor = "random"
    if "{anchor}" in instruction and refer != "next-to":
        raise ValueError(f"instruction {instruction!r} names an {{anchor}}, which only refer next-to has "
                         f"(refer is {refer!r})")
    return refer, anchor


class SimNode(Node):
    """Runs :class:`vla_sim.PickCupEnv` episodes and exposes them as topics and a reset service."""

    def __init__(self) -> None:
        super().__init__("vla_sim")
        p = self._declare
        self.seed = p("seed", 0, "scene seed of the first episode; episode i uses seed + i")
        self.episodes = p("episodes", 1, "episodes to run; 0 runs until stopped")
        self.min_cups = p("min_cups", 3, "fewest cups on the table, target included")
        self.max_cups = p("max_cups", 5, "most cups on the table, target included (at most 6)")
        self.target = p("target", "red", "target colour (red, orange, yellow, green, blue, purple) or random; "
                                         "used by refer colour, left and right (the other kinds pick by position)")
        self.refer = p("refer", "colour",
                       "how the instruction refers to the target: colour, left, right (two cups of the target "
                       "colour), leftmost, rightmost, nearest, farthest or next-to; left/right are the robot's "
                       "own (+y of the base frame, as seen standing behind the robot)")
        self.anchor = p("anchor", "random", "colour of the cup a next-to target stands beside, or random")
        self.max_margin = p("max_margin", 0.0,
                            "relational kinds: the referent wins its relation by at most this many metres (close "
                            "calls, e.g. a left/right pair nearly one behind the other); 0: any margin from 0.05 m")
        self.perturb = p("perturb", "",
                         "test-time perturbations the training scenes never have, comma-separated: lighting, "
                         "table_texture, camera_pose, distractor_objects, image_noise, cup_shape, or all "
                         "(drawn per episode from its seed; vla_sim.perturbations); empty: none")
        self.instruction = p("instruction", CANONICAL,
                             "instruction published on /instruction at each episode start: 'canonical' = the "
                             "kind's canonical phrasing ('pick up the red cup', 'pick up the leftmost cup'); "
                             "else a template ({colour} = target colour, {anchor} = anchor colour); "
                             "empty: publish none (a user or `vla instruct` gives it)")
        self.camera_rate = p("camera_rate_hz", 30.0, "camera and physics tick rate (240 must be a multiple of it)")
        self.image_size = p("image_size", 128, "square camera image size in pixels")
        self.jpeg_quality = p("jpeg_quality", 90, "JPEG quality (1-100) of the frames on /camera/image_raw/compressed, "
                              "published while something subscribes to it (a policy on another computer over a "
                              "slow or lossy link)")
        self.rtf = p("real_time_factor", 1.0, "simulated seconds per wall second (e.g. 2.0 runs twice as fast)")
        self.command_timeout = p("command_timeout", 0.1,
                                 "each twist moves the arm for this long (s); without a newer one it then holds still")
        self.brake_after = p("brake_after", 0.12,
                             "seconds without a new twist after which the arm stops where it is (it would "
                             "otherwise go on to the setpoint it lags behind); a little over one control period "
                             "of the commander; 0: never")
        self.max_command_age = p("max_command_age", 0.5,
                                 "twists stamped more than this many seconds ago are rejected as stale (commands "
                                 "a network outage held back arrive all at once when the link returns); "
                                 "unstamped twists (stamp 0) are taken as new; 0: no check")
        self.episode_seconds = p("episode_seconds", 20.0, "simulated seconds before an episode times out")
        self.base_frame = p("base_frame", topics.BASE_FRAME, "frame of twist commands and the end-effector pose")
        self.exit_when_done = p("exit_when_done", True, "shut the node down after the last episode")
        self.publish_clock = p("publish_clock", False,
                               "publish simulated time on /clock and stamp messages with it (run the other "
                               "nodes with use_sim_time:=true; with real_time_factor > 1 the graph runs faster)")
        self.episode_pause = p("episode_pause", 1.0,
                               "seconds each episode starts frozen (scene and instruction published, commands "
                               "ignored), so nothing in flight from the last episode acts in the next one")
        self.wait_for_commander = p("wait_for_commander", True,
                                    "hold the episode clock until a node publishes twist commands")
        self.wait_for_camera_subscribers = p("wait_for_camera_subscribers", 0,
                                             "... and until this many nodes subscribe to the camera (1 with a "
                                             "recorder: the bag then holds the first episode from its start)")
        self.absent_fraction = p("absent_fraction", 0.0,
                                 "share of refer-colour episodes whose scene has no cup of the named colour "
                                 "(drawn from each episode's seed; demonstrations of 'no such cup')")
        self.abstain_after = p("abstain_after", 0.0,
                               "end a scene without the named cup as 'abstained' after this many simulated "
                               "seconds with nothing lifted (a recording's operator holding still says 'no such "
                               "cup'); 0: it runs until episode_seconds, as a policy's abstention does")

        from vla_sim import EnvConfig, PickCupEnv

        try:
            if not 1 <= self.jpeg_quality <= 100:
                raise ValueError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")
            if self.wait_for_camera_subscribers < 0:
                raise ValueError(f"wait_for_camera_subscribers must be >= 0, got {self.wait_for_camera_subscribers}")
            if not (0.0 <= self.absent_fraction <= 1.0) or not self.abstain_after >= 0.0:
                raise ValueError(f"absent_fraction must be in [0, 1] and abstain_after >= 0, got "
                                 f"{self.absent_fraction} and {self.abstain_after}")
            self.refer, self.anchor = _check_reference(self.refer, self.anchor, self.instruction)
            self.env = PickCupEnv(EnvConfig(
                num_cups=(self.min_cups, self.max_cups), target=self.target, control_hz=self.camera_rate,
                episode_seconds=self.episode_seconds, camera={"width": self.image_size, "height": self.image_size},
                refer=self.refer, anchor=self.anchor, max_margin=float(self.max_margin), perturb=self.perturb,
            ))
            # Scenes without the named cup: one cup fewer, none of the named colour.
            self.present_config = self.env.config
            self.absent_config = dataclasses.replace(self.present_config, target_absent=True,
                                                     num_cups=(self.min_cups - 1, self.max_cups - 1)) \
                if self.absent_fraction > 0 else None
        except ValueError as exc:
            raise SystemExit(f"vla_sim: invalid parameters: {exc}") from None

        self.pub_image = self.create_publisher(Image, topics.CAMERA_IMAGE, qos.CAMERA_WRITER_QOS)
        self.pub_compressed = self.create_publisher(CompressedImage, topics.CAMERA_IMAGE_COMPRESSED,
                                                    qos.CAMERA_WRITER_QOS)
        self.pub_info = self.create_publisher(CameraInfo, topics.CAMERA_INFO, qos.COMMAND_QOS)
        self.pub_joints = self.create_publisher(JointState, topics.JOINT_STATES, qos.COMMAND_QOS)
        self.pub_pose = self.create_publisher(PoseStamped, topics.EE_POSE, qos.COMMAND_QOS)
        self.pub_episode = self.create_publisher(DiagnosticStatus, topics.EPISODE, qos.COMMAND_QOS)
        self.pub_instruction = self.create_publisher(String, topics.INSTRUCTION, qos.INSTRUCTION_QOS)
        self.pub_diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.COMMAND_QOS)
        self.pub_camera_pose = self.create_publisher(PoseStamped, topics.CAMERA_POSE, qos.LATCHED_QOS)
        self.pub_truth = self.create_publisher(DiagnosticStatus, topics.SIM_TARGET, qos.COMMAND_QOS)
        self.pub_clock = self.create_publisher(Clock, "/clock", qos.COMMAND_QOS) if self.publish_clock else None
        self.sim_ticks = 0
        self.sim_time_ns = 1_000_000_000  # simulated clock, starting at 1 s (0 reads as "unset" to some tools)
        self._released_ns: int | None = None  # the simulated instant whose frame went out last
        self.twist_sub = self.create_subscription(TwistStamped, topics.TWIST_CMD, self._on_twist, qos.COMMAND_QOS)
        self.create_subscription(Float64MultiArray, topics.GRIPPER_CMD, self._on_gripper, qos.COMMAND_QOS)
        self.create_subscription(String, topics.INSTRUCTION, self._on_instruction, qos.INSTRUCTION_QOS)
        self.create_service(Trigger, "~/reset", self._on_reset)

        self.velocity = np.zeros(3)
        self.gripper = 1.0
        self.pending = False  # a command arrived since the last tick
        self.counts = {"ticks": 0, "late_frames": 0, "rejected_commands": 0, "watchdog_holds": 0,
                       "clipped_commands": 0, "stale_commands": 0, "brakes": 0}
        self.silent_ticks = 0  # ticks since the last command (brake_after)
        self.episode_index = 0
        self.current_instruction = ""  # the latest on /instruction (ours or a user's)
        self.results: list[dict] = []
        self.done = False
        self.commander_seen = not self.wait_for_commander
        self._rate_window: list[float] = []
        self._start_episode()
        self.tick_period = 1.0 / (self.camera_rate * self.rtf)  # wall seconds; ticks are run by spin_until_done
        self.create_timer(1.0, self._publish_diagnostics)

    def _declare(self, name: str, default, description: str):
        return self.declare_parameter(name, default, ParameterDescriptor(description=description)).value

    # -- commands -----------------------------------------------------------------
    def _reject(self, reason: str) -> None:
        self.counts["rejected_commands"] += 1
        self.get_logger().warning(f"command rejected: {reason}", throttle_duration_sec=2.0)

    def _on_twist(self, msg: TwistStamped) -> None:
        if msg.header.frame_id != self.base_frame:
            return self._reject(f"twist in frame {msg.header.frame_id!r}, expected {self.base_frame!r}")
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if self.max_command_age > 0 and stamp_ns > 0:
            now = self._stamp()  # the clock this node stamps its own messages with
            age = (now.sec * 1_000_000_000 + now.nanosec - stamp_ns) / 1e9
            if age > self.max_command_age:
                self.counts["stale_commands"] += 1
                return self._reject(f"stale twist: stamped {age:.2f} s ago (max_command_age {self.max_command_age:g} s)")
        try:
            v = finite_vector([msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z], 3, "twist")
        except InputRejected as exc:
            self.velocity, self.pending = np.zeros(3), True  # garbage in: hold still
            return self._reject(str(exc))
        self.velocity, self.pending = v, True

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        try:
            g = finite_vector(msg.data[:1], 1, "gripper command")[0]
        except InputRejected as exc:
            return self._reject(str(exc))
        if g != self.gripper:
            self.gripper, self.pending = float(g), True

    def _on_instruction(self, msg: String) -> None:
        self.current_instruction = msg.data  # reported with the episode outcome

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.seed = self.get_parameter("seed").value
        self.target = self.get_parameter("target").value
        try:
            self.refer, self.anchor = _check_reference(self.get_parameter("refer").value,
                                                       self.get_parameter("anchor").value, self.instruction)
            self._start_episode()
        except ValueError as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success, response.message = True, f"episode {self.episode_index}: seed {self.env.scene.seed}"
        return response

    # -- episodes -----------------------------------------------------------------
    def _start_episode(self) -> None:
        seed = self.seed + self.episode_index
        absent = (self.absent_config is not None and self.refer == "colour"
                  and np.random.default_rng([seed, 11]).random() < self.absent_fraction)
        self.env.config = self.absent_config if absent else self.present_config
        obs, info = self.env.reset(seed=seed, options={"target": self.target, "refer": self.refer,
                                                       "anchor": self.anchor})
        self.velocity, self.gripper, self.pending = np.zeros(3), 1.0, False
        self.obs = obs
        cam = self.env.camera  # fixed for the episode: build its CameraInfo once, restamp per frame
        self.camera_info = camera_info(cam.K, cam.width, cam.height, self._stamp(), topics.CAMERA_FRAME)
        # This episode's camera pose, as a real robot's hand-eye calibration would give it (latched).
        self.pub_camera_pose.publish(pose_stamped(cam.T_base_cam, self._stamp(), self.base_frame))
        # A pause with the new scene on camera and the world frozen: whatever the commander still had
        # in flight for the last episode arrives, and is dropped. The instruction goes out when the
        # pause ends, so a policy resets with only this episode's frames and states behind it.
        self.pause_ticks = max(1, int(round(self.episode_pause * self.camera_rate)))
        if self.instruction == CANONICAL:
            self.current_instruction = info["instruction"]
        elif self.instruction:
            self.current_instruction = fill_instruction(self.instruction, info)
        # The image side of the robot's left (+y of the base frame) in this episode's camera, for the video.
        self.left_side = robot_left_side(cam.K, cam.T_base_cam)
        anchor = f", anchor {info['anchor']}" if info["anchor"] else ""
        self.get_logger().info(f"episode {self.episode_index}: seed {seed}, refer {info['refer']}, target "
                               f"{info['target_instance']}{anchor}")
        self._publish_diagnostics()  # the new scene's details (and the image side of the robot's left) at once

    def _finish_episode(self, info: dict) -> None:
        # ROS strings: an absent anchor / wrong cup is "".
        result = {"seed": info["seed"], "target": info["target"], "target_present": self.env.scene.target_present,
                  "instruction": self.current_instruction,
                  "outcome": info["outcome"], "success": info["success"], "steps": info["steps"],
                  "seconds": round(info["steps"] / self.camera_rate, 2), "refer": info["refer"],
                  "anchor": info["anchor"] or "", "target_instance": info["target_instance"] or "",
                  "wrong_instance": info["wrong_instance"] or ""}
        self.results.append(result)
        self.pub_episode.publish(DiagnosticStatus(
            level=DiagnosticStatus.OK if info["success"] else DiagnosticStatus.WARN,
            name="vla_sim/episode", message=info["outcome"], hardware_id="pybullet", values=key_values(result)))
        self.get_logger().info(f"episode {self.episode_index}: {info['outcome']} after {result['seconds']} s")
        self.episode_index += 1
        if self.episodes and self.episode_index >= self.episodes:
            self.done = True
        else:
            self._start_episode()

    def release(self, lateness: float = 0.0) -> None:
        """Publish the frame and robot state simulated for this instant. ``lateness`` (s): how long
        after that instant this runs; the stamp still names the instant the frame shows (as a
        camera's exposure stamp does), so readers see the delay as transport latency. Under simulated
        time the clock stands still until a commander appears: that instant's frame goes out once, not
        again at every period (a recorder would write one exposure twice)."""
        if self.pub_clock is not None:
            if self.sim_time_ns == self._released_ns:
                return
            self._released_ns = self.sim_time_ns
        self._publish_state(self.obs, lateness)

    def tick(self) -> None:
        """Apply the newest command and simulate the next camera period (released at the next tick)."""
        if self.done:
            return
        if not self.commander_seen:  # a policy still loading must not lose episode time
            if self.count_publishers(self.twist_sub.topic_name) == 0:
                return
            if self.count_subscribers(self.pub_image.topic_name) < self.wait_for_camera_subscribers:
                return
            self.commander_seen = True
            self.get_logger().info("a commander is publishing twists: episode clock running")
        now = time.monotonic()
        self._rate_window = [t for t in self._rate_window if now - t < 2.0] + [now]
        if self.pause_ticks > 0:
            self.pause_ticks -= 1
            self.velocity, self.gripper, self.pending = np.zeros(3), 1.0, False
            if self.pause_ticks == 0 and self.instruction:
                self.pub_instruction.publish(String(data=self.current_instruction))
            self._advance_clock()
            return
        if self.pending:
            # Watchdog: each command moves the arm for command_timeout seconds, then it holds still
            # (as MoveIt Servo does) unless a newer command replaced it.
            before = self.env.clipped_actions
            self.env.command(np.concatenate([self.velocity, [self.gripper]]), seconds=self.command_timeout)
            self.counts["clipped_commands"] += self.env.clipped_actions - before
            self.pending = False
            self.silent_ticks = 0
        else:
            self.silent_ticks += 1
            if self.brake_after > 0 and self.silent_ticks == max(1, math.ceil(self.brake_after * self.camera_rate - 1e-9)):
                self.env.brake()
                self.counts["brakes"] += 1
        if not self.env.moving and np.any(self.velocity != 0):
            self.counts["watchdog_holds"] += 1  # a tick held still: the commander fell silent (or late)
        obs, _, terminated, truncated, info = self.env.advance()
        self.counts["ticks"] += 1
        self._advance_clock()
        self.obs = obs
        if (not (terminated or truncated) and self.abstain_after > 0 and not self.env.scene.target_present
                and self.env.steps >= self.abstain_after * self.camera_rate
                and all(c.lift < WRONG_LIFT for c in self.env.cup_states())):
            info, terminated = self.env.abstain(), True
        if terminated or truncated:
            self._finish_episode(info)

    def _advance_clock(self) -> None:
        self.sim_ticks += 1
        self.sim_time_ns = 1_000_000_000 + round(self.sim_ticks * 1e9 / self.camera_rate)  # no rounding drift

    def _stamp(self, lateness: float = 0.0) -> TimeMsg:
        if self.pub_clock is None:
            return (self.get_clock().now() - Duration(nanoseconds=round(lateness * 1e9))).to_msg()
        return TimeMsg(sec=self.sim_time_ns // 1_000_000_000, nanosec=self.sim_time_ns % 1_000_000_000)

    def _publish_state(self, obs: dict, lateness: float = 0.0) -> None:
        stamp = self._stamp(lateness)
        if self.pub_clock is not None:
            self.pub_clock.publish(Clock(clock=stamp))
        joints = JointState(name=JOINT_NAMES, position=[float(q) for q in obs["joint_positions"]])
        joints.header.stamp = stamp
        self.pub_joints.publish(joints)
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, self.base_frame
        x, y, z, qx, qy, qz, qw = (float(v) for v in obs["ee_pose"])
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = x, y, z
        o = pose.pose.orientation
        o.x, o.y, o.z, o.w = qx, qy, qz, qw
        self.pub_pose.publish(pose)
        self.pub_truth.publish(self._target_truth(stamp))
        # The frame last: a reader that pairs it with the state of its instant finds that state waiting.
        self.camera_info.header.stamp = stamp
        self.pub_info.publish(self.camera_info)
        self.pub_image.publish(rgb_to_image(obs["image"], stamp, topics.CAMERA_FRAME))
        if self.pub_compressed.get_subscription_count() > 0:  # encoding costs ~0.2 ms: only for a listener
            self.pub_compressed.publish(rgb_to_compressed(obs["image"], stamp, topics.CAMERA_FRAME, self.jpeg_quality))

    def _target_truth(self, stamp: TimeMsg) -> DiagnosticStatus:
        """The referred cup's true pose (for the expert commander and label checks), as of this frame."""
        msg = DiagnosticStatus(level=DiagnosticStatus.OK, name="vla_sim/target", hardware_id="pybullet",
                               message=f"stamp {stamp.sec}.{stamp.nanosec:09d}")
        index = self.env.scene.target_index
        if index is not None:
            spec, cup = self.env.scene.cups[index], self.env.cup_states()[index]
            x, y, z = (float(v) for v in cup.position)
            msg.values = key_values({"instance": spec.instance, "x": f"{x:.5f}", "y": f"{y:.5f}", "z": f"{z:.5f}",
                                     "rim": f"{spec.height + cup.lift:.5f}", "lift": f"{cup.lift:.5f}"})
        return msg

    def close(self) -> None:
        self.env.close()

    def _publish_diagnostics(self) -> None:
        rate = rate_hz(self._rate_window)
        status = DiagnosticStatus(level=DiagnosticStatus.OK, name="vla_sim", hardware_id="pybullet",
                                  message="done" if self.done else f"episode {self.episode_index}")
        status.values = key_values({"tick_rate_hz": f"{rate:.1f}", "target_rate_hz": self.camera_rate * self.rtf,
                                    "seed": self.env.scene.seed, "target": self.env.scene.target,
                                    "refer": self.env.scene.refer, "anchor": self.env.scene.anchor or "",
                                    "target_instance": self.env.scene.target_instance or "",
                                    "robot_left_side": self.left_side,
                                    "instruction": self.current_instruction, **self.counts})
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self._stamp()
        self.pub_diag.publish(msg)


def spin_until_done(node: SimNode, executor: Executor, stop: threading.Event) -> None:
    """At each camera period: release the frame simulated for now, then simulate the next one;
    between ticks, serve callbacks. Commands that arrived before a tick are always applied at that
    tick (a plain timer lets ticks starve subscriptions when the simulator runs behind real time)."""
    next_tick = time.monotonic()
    waited = False  # callbacks were served since the last tick
    while rclpy.ok() and not node.done and not stop.is_set():
        now = time.monotonic()
        if now < next_tick:
            executor.spin_once(timeout_sec=next_tick - now)
            waited = True
            continue
        if now - next_tick > 0.5 * node.tick_period:
            node.counts["late_frames"] += 1  # the last tick overran its period (a scene reset, a slow render)
        node.release(lateness=time.monotonic() - next_tick)
        if not waited:  # running late: serve what is waiting (a twist, the gripper, an instruction)
            for _ in range(6):
                executor.spin_once(timeout_sec=0.0)
        waited = False
        node.tick()
        next_tick = max(next_tick + node.tick_period, time.monotonic() - node.tick_period)  # no catch-up burst
    if node.results:
        ok = sum(r["success"] for r in node.results)
        node.get_logger().info(f"done: {ok}/{len(node.results)} episodes succeeded")
    node.pub_episode.wait_for_all_acked(Duration(seconds=1.0))  # the last outcome reaches its readers
    if not node.exit_when_done:
        spin_forever(node, executor, stop)


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args, spin=spin_until_done)


if __name__ == "__main__":
    raise SystemExit(main())
