"""Recording (``vla record``) and bag import (``vla data from-bag``): round trips and bad inputs."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from rosbags.interfaces import QosDurability
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from sim_bags import write_bag

from vla_policy.dataset import list_episodes
from vla_ros import qos, topics
from vla_ros.bag_import import ConvertOptions, convert_bags, from_bag_main
from vla_ros.images import decode_rgb, resize_like_policy
from vla_ros.recording import DEFAULT_TOPICS, BagRecorder, record_main

TS = get_typestore(Stores.ROS2_JAZZY)
T0 = 1_700_000_000 * 10**9  # bag clock, ns
MS = 10**6


def _msg(msgtype: str, **fields):
    return TS.types[msgtype](**fields)


def _header(stamp: int):
    time_ = _msg("builtin_interfaces/msg/Time", sec=stamp // 10**9, nanosec=stamp % 10**9)
    return _msg("std_msgs/msg/Header", stamp=time_, frame_id="panda_link0")


def _image(stamp: int, value: int, width: int = 64, height: int = 48):
    data = np.zeros((height, width, 3), np.uint8)
    data[..., 0] = value  # red channel encodes which frame this is
    return _msg("sensor_msgs/msg/Image", header=_header(stamp), height=height, width=width, encoding="rgb8",
                is_bigendian=0, step=width * 3, data=data.reshape(-1))


def _demo_messages(episode_end: bool = True, end_values: dict | None = None) -> list[tuple[int, str, str, object]]:
    """1 s of a demo: camera and pose at 20 Hz, twist at 20 Hz for 0.5 s, gripper closes at 0.6 s."""
    msgs = [(T0, topics.INSTRUCTION, "std_msgs/msg/String", _msg("std_msgs/msg/String", data="pick up the red cup"))]
    for i in range(21):
        t = T0 + i * 50 * MS
        msgs.append((t, topics.CAMERA_IMAGE, "sensor_msgs/msg/Image", _image(t, value=i)))
        pose = _msg("geometry_msgs/msg/Pose",
                    position=_msg("geometry_msgs/msg/Point", x=0.4 + 0.01 * i, y=0.0, z=0.3),
                    orientation=_msg("geometry_msgs/msg/Quaternion", x=1.0, y=0.0, z=0.0, w=0.0))
        msgs.append((t, topics.EE_POSE, "geometry_msgs/msg/PoseStamped",
                     _msg("geometry_msgs/msg/PoseStamped", header=_header(t), pose=pose)))
        msgs.append((t, topics.JOINT_STATES, "sensor_msgs/msg/JointState",
                     _msg("sensor_msgs/msg/JointState", header=_header(t),
                          name=["panda_joint1", "panda_finger_joint1", "panda_finger_joint2"],
                          position=np.array([0.1, 0.02, 0.02]), velocity=np.zeros(0), effort=np.zeros(0))))
        if i <= 10:
            linear = _msg("geometry_msgs/msg/Vector3", x=0.05, y=-0.02, z=0.0)
            angular = _msg("geometry_msgs/msg/Vector3", x=0.0, y=0.0, z=0.0)
            twist = _msg("geometry_msgs/msg/Twist", linear=linear, angular=angular)
            msgs.append((t, topics.TWIST_CMD, "geometry_msgs/msg/TwistStamped",
                         _msg("geometry_msgs/msg/TwistStamped", header=_header(t), twist=twist)))
    layout = _msg("std_msgs/msg/MultiArrayLayout", dim=[], data_offset=0)
    msgs.append((T0 + 600 * MS, topics.GRIPPER_CMD, "std_msgs/msg/Float64MultiArray",
                 _msg("std_msgs/msg/Float64MultiArray", layout=layout, data=np.array([-0.5]))))
    if episode_end:
        values = [_msg("diagnostic_msgs/msg/KeyValue", key=k, value=v)
                  for k, v in {"seed": "7", "target": "red", "outcome": "success", "success": "True",
                               **(end_values or {})}.items()]
        msgs.append((T0 + 1000 * MS, topics.EPISODE, "diagnostic_msgs/msg/DiagnosticStatus",
                     _msg("diagnostic_msgs/msg/DiagnosticStatus", level=0, name="episode", message="done",
                          hardware_id="sim", values=values)))
        # After the end: the start of an episode the recording cut off.
        t = T0 + 1100 * MS
        msgs.append((t, topics.CAMERA_IMAGE, "sensor_msgs/msg/Image", _image(t, value=99)))
    return msgs


def test_convert_bag_round_trip(tmp_path):
    bag = tmp_path / "demo"
    write_bag(bag, _demo_messages())
    summary = convert_bags([bag], tmp_path / "data", ConvertOptions(rate=10, image_size=32, keypoints=False))
    # Ticks at 0, 0.1, ..., 1.0 s (the episode message at 1.0 s closes it); 1.1 s: cut off, skipped.
    assert summary == {"episodes": 1, "frames": 11, "skipped": 1, "idle": 0, "failed": 0, "unlabelled": 0, "gaps": 0,
                       "bad_messages": 0, "anchor_unlocated": 0}
    [episode] = list_episodes(tmp_path / "data")
    arrays = episode.arrays(mmap=False)
    assert arrays["frames"].shape == (11, 32, 32, 3) and arrays["frames"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["frames"][:, 0, 0, 0], np.arange(11) * 2)  # newest frame at each tick
    assert (arrays["frames"][..., 1:] == 0).all()
    np.testing.assert_allclose(arrays["proprio"][:, 0], 0.4 + 0.02 * np.arange(11), atol=1e-6)
    np.testing.assert_allclose(arrays["proprio"][:, 3:7], [[1, 0, 0, 0]] * 11)
    np.testing.assert_allclose(arrays["proprio"][:, 7], 0.04)  # two fingers of 0.02 m
    # Twist until 0.5 s, still fresh at 0.7 s (< 0.2 s old), zero after; gripper closes (clamped to 0) at 0.6 s.
    expected = np.array([[0.05, -0.02, 0.0, 1.0]] * 6 + [[0.05, -0.02, 0.0, 0.0]] * 2 + [[0.0, 0.0, 0.0, 0.0]] * 3)
    np.testing.assert_allclose(arrays["actions"], expected, atol=1e-6)
    assert np.isnan(arrays["target_uv"]).all()
    meta = episode.meta
    assert meta["instruction"] == "pick up the red cup" and meta["target"] == "red" and meta["seed"] == 7
    assert meta["success"] is True and meta["outcome"] == "success" and meta["steps"] == 11
    assert meta["image_size"] == [32, 32] and meta["control_hz"] == 10 and "camera" not in meta


def test_relational_episodes_keep_their_kind(tmp_path):
    """A /sim/episode record of a relational episode labels the imported episode with its kind and cup."""
    bag = tmp_path / "demo"
    write_bag(bag, _demo_messages(end_values={"refer": "next-to", "anchor": "blue", "target_instance": "red_2",
                                               "wrong_instance": ""}))
    convert_bags([bag], tmp_path / "data", ConvertOptions(rate=10, image_size=16, keypoints=False))
    [episode] = list_episodes(tmp_path / "data")
    assert {k: episode.meta[k] for k in ("refer", "anchor", "target_instance")} == {
        "refer": "next-to", "anchor": "blue", "target_instance": "red_2"}
    write_bag(tmp_path / "plain", _demo_messages())  # an older simulator's record: no kind, none written
    convert_bags([tmp_path / "plain"], tmp_path / "data2", ConvertOptions(rate=10, image_size=16, keypoints=False))
    assert "refer" not in list_episodes(tmp_path / "data2")[0].meta


def test_bag_without_episode_messages_is_one_demo(tmp_path):
    bag = tmp_path / "demo"
    msgs = [m for m in _demo_messages(episode_end=False) if m[1] != topics.INSTRUCTION]
    write_bag(bag, msgs)
    assert from_bag_main([str(bag), "--out", str(tmp_path / "none"), "--no-keypoints"]) == 2  # no instruction
    assert not (tmp_path / "none").exists()
    summary = convert_bags([bag, bag], tmp_path / "data", ConvertOptions(
        rate=5, image_size=16, instruction="grab the cup", target="blue", keypoints=False))
    assert (summary["episodes"], summary["frames"], summary["skipped"]) == (2, 12, 0)
    episodes = list_episodes(tmp_path / "data")
    assert [e.meta["instruction"] for e in episodes] == ["grab the cup"] * 2
    assert episodes[0].meta["target"] == "blue" and episodes[0].meta["success"] is True


def test_image_encodings():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.concatenate([rgb.reshape(2, 9), np.zeros((2, 3), np.uint8)], axis=1)  # step 12 > 9
    np.testing.assert_array_equal(decode_rgb("rgb8", 2, 3, 12, padded.tobytes()), rgb)
    np.testing.assert_array_equal(decode_rgb("bgr8", 2, 3, 9, rgb[..., ::-1].tobytes()), rgb)
    mono = decode_rgb("mono8", 2, 3, 3, bytes(range(6)))
    assert mono.shape == (2, 3, 3) and (mono[..., 2] == np.arange(6).reshape(2, 3)).all()
    with pytest.raises(ValueError, match="16UC1"):
        decode_rgb("16UC1", 2, 3, 6, bytes(12))


@pytest.mark.parametrize("shape", [(480, 640), (48, 64), (100, 100), (20, 30)])
def test_resize_averages_when_shrinking_and_keeps_the_policy_size(shape):
    """Frames are squashed to the policy's square input; shrinking averages areas (no aliasing)."""
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    got = resize_like_policy(rgb, 64)
    assert got.shape == (64, 64, 3) and got.dtype == np.uint8
    assert got.mean() == pytest.approx(rgb.mean(), abs=2.0)


def test_shrinking_a_fine_pattern_gives_its_average_not_aliases():
    """A 1-px checkerboard at 640x480 is mid-grey at 128², as a camera would average it; plain
    bilinear sampling at these positions would return the pattern's extremes instead."""
    yy, xx = np.mgrid[:480, :640]
    board = (((yy + xx) % 2) * 255).astype(np.uint8)[..., None].repeat(3, axis=2)
    small = resize_like_policy(board, 128)
    assert np.abs(small.astype(np.float32) - 127.5).max() < 20


def test_recorder_over_dds(tmp_path, ros_env):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
    from geometry_msgs.msg import TwistStamped

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        executor = SingleThreadedExecutor(context=context)
        source = rclpy.create_node("test_source", context=context)
        recorder = BagRecorder(tmp_path / "bag", context=context)
        executor.add_node(source)
        executor.add_node(recorder)
        pubs = {
            topics.CAMERA_IMAGE: source.create_publisher(Image, topics.CAMERA_IMAGE, qos.IMAGE_QOS),
            topics.INSTRUCTION: source.create_publisher(String, topics.INSTRUCTION, qos.INSTRUCTION_QOS),
            topics.TWIST_CMD: source.create_publisher(TwistStamped, topics.TWIST_CMD, qos.COMMAND_QOS),
        }

        def spin_until(condition, what: str, timeout: float = 10.0) -> None:
            deadline = time.monotonic() + timeout
            while not condition():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                executor.spin_once(timeout_sec=0.05)

        spin_until(lambda: all(p.get_subscription_count() >= 1 for p in pubs.values()), "matching")
        n = 4
        for i in range(n):  # one at a time: depth-1 topics keep only the newest unacknowledged message
            image = Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(i, i + 18)))
            for topic, msg in ((topics.CAMERA_IMAGE, image), (topics.INSTRUCTION, String(data=f"go {i}")),
                               (topics.TWIST_CMD, TwistStamped())):
                before = recorder.received[topic]
                pubs[topic].publish(msg)
                spin_until(lambda: recorder.received[topic] > before, f"message {i} on {topic}")
        executor.remove_node(recorder)
        recorder.destroy_node()  # closes the bag
        source.destroy_node()
    finally:
        context.try_shutdown()

    with Reader(tmp_path / "bag") as reader:
        counts = {topic: info.msgcount for topic, info in reader.topics.items()}
        assert counts == {**dict.fromkeys(DEFAULT_TOPICS, 0), topics.CAMERA_IMAGE: n,
                          topics.INSTRUCTION: n, topics.TWIST_CMD: n}
        [conn] = reader.topics[topics.INSTRUCTION].connections
        assert conn.ext.offered_qos_profiles[0].durability == QosDurability.TRANSIENT_LOCAL  # replays latched
        images = [TS.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages()
                  if c.topic == topics.CAMERA_IMAGE]
    last = images[-1]
    assert (last.height, last.width, last.encoding) == (2, 3, "rgb8")
    assert bytes(last.data) == bytes(range(n - 1, n - 1 + 18))


def test_record_cli_stops_cleanly_on_ctrl_c(tmp_path, ros_env):
    out = tmp_path / "bag"
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from vla_ros.recording import record_main; "
                             "sys.exit(record_main(sys.argv[1:]))", "--out", str(out), "--topics", topics.CAMERA_IMAGE,
                             "/chatter:std_msgs/msg/String", "--ros-args", "-r", "__node:=test_recorder"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ros_env)
    try:
        assert proc.stdout.readline().startswith("recording 2 topics")  # subscribed, bag open
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "/chatter" in stdout
    with Reader(out) as reader:
        assert set(reader.topics) == {topics.CAMERA_IMAGE, "/chatter"}


def test_bad_inputs(tmp_path, capsys):
    assert from_bag_main([str(tmp_path / "nope"), "--out", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such bag" in err
    assert not (tmp_path / "data").exists()

    no_camera = tmp_path / "no_camera"
    write_bag(no_camera, [m for m in _demo_messages() if m[1] != topics.CAMERA_IMAGE])
    assert from_bag_main([str(no_camera), "--out", str(tmp_path / "data")]) == 2
    assert topics.CAMERA_IMAGE in capsys.readouterr().err

    corrupt = tmp_path / "corrupt"
    write_bag(corrupt, _demo_messages())
    mcap = next(corrupt.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    assert from_bag_main([str(corrupt), "--out", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "corrupt: not a readable rosbag2 bag" in err
    assert not (tmp_path / "data").exists()

    existing = tmp_path / "existing"
    existing.mkdir()
    assert record_main(["--out", str(existing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err
    assert record_main(["--out", str(tmp_path / "new"), "--topics", "/unknown"]) == 2
    assert "unknown topic" in capsys.readouterr().err
