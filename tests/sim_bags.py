"""Bags of simulated episodes written without ROS: the messages the sim node and the expert commander
publish, from an in-process episode (fast enough for many tests; the over-DDS path has its own test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from vla_policy.calibration import matrix_quaternion
from vla_ros import topics

TS = get_typestore(Stores.ROS2_JAZZY)
T0 = 1_700_000_000 * 10**9
STEP_NS = 100_000_000  # the env's 10 Hz control step


def msg(msgtype: str, **fields):
    return TS.types[msgtype](**fields)


def header(stamp: int, frame: str = topics.BASE_FRAME):
    return msg("std_msgs/msg/Header", stamp=msg("builtin_interfaces/msg/Time", sec=stamp // 10**9,
                                                nanosec=stamp % 10**9), frame_id=frame)


def pose_msg(stamp: int, xyz, xyzw):
    pose = msg("geometry_msgs/msg/Pose", position=msg("geometry_msgs/msg/Point", x=float(xyz[0]), y=float(xyz[1]),
                                                      z=float(xyz[2])),
               orientation=msg("geometry_msgs/msg/Quaternion", x=float(xyzw[0]), y=float(xyzw[1]),
                               z=float(xyzw[2]), w=float(xyzw[3])))
    return msg("geometry_msgs/msg/PoseStamped", header=header(stamp), pose=pose)


def status(name: str, values: dict, level: int = 0):
    return msg("diagnostic_msgs/msg/DiagnosticStatus", level=level, name=name, message="", hardware_id="test",
               values=[msg("diagnostic_msgs/msg/KeyValue", key=k, value=str(v)) for k, v in values.items()])


def write_bag(path: Path, messages: list[tuple[int, str, str, object]]) -> None:
    """(stamp, topic, type, message) into an MCAP bag, as BagRecorder writes them."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for stamp, topic, msgtype, m in sorted(messages, key=lambda item: item[0]):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=TS)
            writer.write(conns[topic], stamp, TS.serialize_cdr(m, msgtype))


def sim_episode_messages(seed: int, start: int = T0, target: str = "red", expert_colour: str | None = None,
                         max_steps: int = 80, refer: str = "colour") -> tuple[list, dict]:
    """The messages of one expert episode (seed ``seed``) starting at ``start``, and its outcome info.
    ``expert_colour``: the cup the expert picks instead of the named one (a failed demonstration);
    ``refer``: how the instruction names the cup (a relational kind draws its colours at random, as the
    simulator node does with ``target:=random``)."""
    from vla_sim import EnvConfig, PickCupEnv, ScriptedExpert

    relational = {"target": "random", "refer": refer, "anchor": "random"} if refer != "colour" else {}
    env = PickCupEnv(EnvConfig(num_cups=(3, 4), **({"target": target} | relational)))
    try:
        obs, info = env.reset(seed=seed, options=relational or None)
        cam = env.camera
        T = cam.T_base_cam
        out = [(start, topics.INSTRUCTION, "std_msgs/msg/String", msg("std_msgs/msg/String", data=info["instruction"])),
               (start, topics.CAMERA_POSE, "geometry_msgs/msg/PoseStamped",
                pose_msg(start, T[:3, 3], matrix_quaternion(T[:3, :3])))]
        expert = ScriptedExpert(env, colour=expert_colour)
        layout = msg("std_msgs/msg/MultiArrayLayout", dim=[], data_offset=0)
        for step in range(max_steps):
            t = start + (step + 1) * STEP_NS - STEP_NS // 2  # between ticks: each tick sees one step
            image = msg("sensor_msgs/msg/Image", header=header(t, topics.CAMERA_FRAME), height=cam.height,
                        width=cam.width, encoding="rgb8", is_bigendian=0, step=cam.width * 3,
                        data=np.ascontiguousarray(obs["image"]).reshape(-1))
            info_msg = msg("sensor_msgs/msg/CameraInfo", header=header(t, topics.CAMERA_FRAME), height=cam.height,
                           width=cam.width, distortion_model="plumb_bob", d=np.zeros(5),
                           k=np.asarray(cam.K, float).reshape(-1), r=np.eye(3).reshape(-1),
                           p=np.c_[cam.K, np.zeros(3)].reshape(-1),
                           binning_x=0, binning_y=0,
                           roi=msg("sensor_msgs/msg/RegionOfInterest", x_offset=0, y_offset=0, height=0, width=0,
                                   do_rectify=False))
            joints = msg("sensor_msgs/msg/JointState", header=header(t), name=list(topics.ARM_JOINTS + topics.FINGER_JOINTS),
                         position=np.asarray(obs["joint_positions"], float), velocity=np.zeros(0), effort=np.zeros(0))
            index = env.scene.target_index
            truth = {}
            if index is not None:
                com = env.cup_states()[index].position
                truth = {"instance": env.scene.target_instance, "x": com[0], "y": com[1], "z": com[2]}
            action = expert.select_action(obs)
            twist = msg("geometry_msgs/msg/TwistStamped", header=header(t + 1000),
                        twist=msg("geometry_msgs/msg/Twist",
                                  linear=msg("geometry_msgs/msg/Vector3", x=float(action[0]), y=float(action[1]),
                                             z=float(action[2])),
                                  angular=msg("geometry_msgs/msg/Vector3", x=0.0, y=0.0, z=0.0)))
            out += [(t, topics.EE_POSE, "geometry_msgs/msg/PoseStamped", pose_msg(t, obs["ee_pose"][:3], obs["ee_pose"][3:])),
                    (t, topics.JOINT_STATES, "sensor_msgs/msg/JointState", joints),
                    (t, topics.SIM_TARGET, "diagnostic_msgs/msg/DiagnosticStatus", status("vla_sim/target", truth)),
                    (t, topics.CAMERA_INFO, "sensor_msgs/msg/CameraInfo", info_msg),
                    (t, topics.CAMERA_IMAGE, "sensor_msgs/msg/Image", image),
                    (t + 1000, topics.TWIST_CMD, "geometry_msgs/msg/TwistStamped", twist),
                    (t + 1000, topics.GRIPPER_CMD, "std_msgs/msg/Float64MultiArray",
                     msg("std_msgs/msg/Float64MultiArray", layout=layout, data=np.array([float(action[3])])))]
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        end = start + (step + 2) * STEP_NS
        out.append((end, topics.EPISODE, "diagnostic_msgs/msg/DiagnosticStatus",
                    status("vla_sim/episode", {"seed": seed, "target": info["target"], "outcome": info["outcome"],
                                               "success": info["success"], "refer": info["refer"],
                                               "anchor": info.get("anchor") or "",
                                               "target_instance": info["target_instance"] or ""})))
        return out, {**info, "end": end}
    finally:
        env.close()
