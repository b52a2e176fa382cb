"""JPEG camera frames (/camera/image_raw/compressed), what a policy on another computer over a lossy link
takes: the simulator publishes them while someone listens, and the policy node acts on them with
image_transport:=compressed, rejecting and counting undecodable ones."""

import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from ros_probe import Probe, diagnostics_of, robot_state, start_node, stop  # noqa: E402


def test_the_simulator_publishes_jpeg_frames_that_decode_to_its_raw_frames(ros_env):
    from sensor_msgs.msg import CompressedImage, Image

    from vla_ros import qos, topics
    from vla_ros.conversions import compressed_to_rgb, image_to_rgb

    sim = start_node("vla_sim_node", ros_env, "episodes:=0", "wait_for_commander:=false", "jpeg_quality:=90")
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    try:
        raw: dict[tuple[int, int], np.ndarray] = {}
        jpeg: list[CompressedImage] = []
        probe.node.create_subscription(Image, topics.CAMERA_IMAGE, lambda m: raw.__setitem__(
            (m.header.stamp.sec, m.header.stamp.nanosec), image_to_rgb(m)), qos.IMAGE_QOS)
        probe.node.create_subscription(CompressedImage, topics.CAMERA_IMAGE_COMPRESSED, jpeg.append, qos.IMAGE_QOS)
        probe.spin_until(lambda: len(jpeg) >= 5 and any((m.header.stamp.sec, m.header.stamp.nanosec) in raw
                                                        for m in jpeg), 60, "compressed frames", alive=(sim,))
        pairs = [(compressed_to_rgb(m), raw[(m.header.stamp.sec, m.header.stamp.nanosec)]) for m in jpeg
                 if (m.header.stamp.sec, m.header.stamp.nanosec) in raw]
        decoded, original = pairs[-1]
        assert decoded.shape == original.shape == (128, 128, 3)
        assert np.abs(decoded.astype(int) - original).mean() < 3.0  # JPEG at quality 90: a close copy
        assert all(len(m.data) < 128 * 128 * 3 / 6 and "jpeg" in m.format for m in jpeg)
    finally:
        probe.close()
        stop(sim)


def test_the_policy_node_acts_on_compressed_frames_and_counts_undecodable_ones(ros_env):
    from geometry_msgs.msg import PoseStamped, TwistStamped
    from sensor_msgs.msg import CompressedImage, JointState
    from std_msgs.msg import String

    from vla_ros import qos, topics
    from vla_ros.conversions import rgb_to_compressed
    from vla_sim import PickCupEnv

    env = PickCupEnv()
    obs, info = env.reset(seed=0)
    env.close()
    assert info["target"] == "red"
    policy = start_node("vla_policy_node", ros_env, "torch_threads:=1", "publish_attention:=false",
                        "image_transport:=compressed")
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    try:
        node = probe.node
        diag = diagnostics_of(probe, "vla_policy")
        twists: list[np.ndarray] = []
        node.create_subscription(TwistStamped, topics.TWIST_CMD, lambda m: twists.append(
            np.array([m.twist.linear.x, m.twist.linear.y, m.twist.linear.z])), qos.COMMAND_QOS)
        pub_image = node.create_publisher(CompressedImage, topics.CAMERA_IMAGE_COMPRESSED, qos.IMAGE_QOS)
        pub_pose = node.create_publisher(PoseStamped, topics.EE_POSE, qos.COMMAND_QOS)
        pub_joints = node.create_publisher(JointState, topics.JOINT_STATES, qos.COMMAND_QOS)
        pub_text = node.create_publisher(String, topics.INSTRUCTION, qos.INSTRUCTION_QOS)
        probe.spin_until(lambda: pub_image.get_subscription_count() > 0 and pub_text.get_subscription_count() > 0,
                         120, "the policy node (model loading)", alive=(policy,))

        def tick(garbage: bool = False) -> None:
            stamp = node.get_clock().now().to_msg()
            frame = rgb_to_compressed(obs["image"], stamp, topics.CAMERA_FRAME, 90)
            if garbage:
                frame.data = b"not a jpeg" * 50
            pose, joints = robot_state(obs, stamp)
            pub_pose.publish(pose)
            pub_joints.publish(joints)
            pub_image.publish(frame)
            probe.spin_for(1.0 / 30.0)

        pub_text.publish(String(data="pick up the red cup"))
        deadline = time.monotonic() + 15.0
        while not any(v.any() for v in twists[-3:]):
            assert time.monotonic() < deadline and policy.poll() is None, "never acted on compressed frames"
            tick()
        for _ in range(5):
            tick(garbage=True)
        seen = len(diag)
        while len(diag) == seen or int(diag[-1]["rejected_images"]) < 5:
            assert time.monotonic() < deadline + 10 and policy.poll() is None, "no diagnostics"
            tick()
        status = diag[-1]
        assert int(status["rejected_images"]) == 5 and int(status["frames"]) > 0, status
        assert status["state"] == "acting", status
        assert policy.poll() is None
    finally:
        probe.close()
        out = stop(policy)
    assert "image rejected" in out and "could not be decoded" in out, out[-2000:]
