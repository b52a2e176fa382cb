"""The policy node against hostile input over DDS: it never acts on garbage, never dies, counts
every rejection, and stops the arm within two control periods when the camera stops."""

import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from ros_probe import Probe, diagnostics_of, robot_state, start_node, stop  # noqa: E402

BAD_INSTRUCTIONS = ["", "   ", "x" * 10_000, "sing a song", "recoge la taza roja", "pick up the 🔴 cup",
                    "pick up the pink cup", "pick up the red cup and the blue cup"]


def bad_images(good):
    """(name, Image) of every class of broken frame, built from a good one."""
    from sensor_msgs.msg import Image

    def like(**fields) -> Image:
        msg = Image(header=good.header, height=good.height, width=good.width, encoding=good.encoding,
                    step=good.step, data=good.data)
        for key, value in fields.items():
            setattr(msg, key, value)
        return msg

    data = bytes(good.data)
    return [
        ("16UC1", like(encoding="16UC1", step=good.width * 2, data=data[: good.height * good.width * 2])),
        ("32FC1", like(encoding="32FC1", step=good.width * 4, data=data[: good.height * good.width * 4])),
        ("unknown encoding", like(encoding="yuv422_yuy2")),
        ("short data", like(data=data[:1000])),
        ("empty", like(height=0, width=0, step=0, data=b"")),
        ("step below width", like(step=good.width)),
        ("huge", like(height=60_000, width=60_000, step=180_000, data=b"")),
    ]


def stamped(msg, stamp):
    msg.header.stamp = stamp
    return msg


def test_policy_node_rejects_garbage_keeps_running_and_stops_when_the_camera_stops(ros_env):
    from geometry_msgs.msg import PoseStamped, TwistStamped
    from rclpy.duration import Duration
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String

    from vla_ros import qos, topics
    from vla_ros.conversions import rgb_to_image
    from vla_sim import PickCupEnv

    env = PickCupEnv()
    obs, info = env.reset(seed=0)
    assert info["target"] == "red"
    env.close()

    policy = start_node("vla_policy_node", ros_env, "torch_threads:=1", "publish_attention:=false")
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    try:
        node = probe.node
        diag = diagnostics_of(probe, "vla_policy")
        twists: list[tuple[float, np.ndarray]] = []
        node.create_subscription(TwistStamped, topics.TWIST_CMD, lambda m: twists.append(
            (time.monotonic(), np.array([m.twist.linear.x, m.twist.linear.y, m.twist.linear.z]))), qos.COMMAND_QOS)
        pub_image = node.create_publisher(Image, topics.CAMERA_IMAGE, qos.IMAGE_QOS)
        pub_pose = node.create_publisher(PoseStamped, topics.EE_POSE, qos.COMMAND_QOS)
        pub_joints = node.create_publisher(JointState, topics.JOINT_STATES, qos.COMMAND_QOS)
        pub_text = node.create_publisher(String, topics.INSTRUCTION, qos.INSTRUCTION_QOS)
        probe.spin_until(lambda: pub_image.get_subscription_count() > 0 and pub_text.get_subscription_count() > 0,
                         120, "the policy node (model loading)", alive=(policy,))

        def now():
            return node.get_clock().now()

        def good_frame(encoding: str = "rgb8"):
            msg = rgb_to_image(obs["image"], now().to_msg(), topics.CAMERA_FRAME)
            if encoding == "bgr8":
                msg.encoding, msg.data = "bgr8", np.ascontiguousarray(obs["image"][:, :, ::-1]).tobytes()
            return msg

        def state():
            pose, joints = robot_state(obs, now().to_msg())
            pub_pose.publish(pose)
            pub_joints.publish(joints)

        def stream(seconds: float, extra=None) -> None:
            """Good frames (and robot state) at ~30 Hz; ``extra(i)`` may publish more between them."""
            end, i = time.monotonic() + seconds, 0
            while time.monotonic() < end:
                pub_image.publish(good_frame("bgr8" if i % 5 == 4 else "rgb8"))  # bgr8 is converted, not rejected
                state()
                if extra is not None:
                    extra(i)
                probe.spin_for(1.0 / 30.0)
                i += 1

        def latest(camera: bool = True) -> dict:
            """The next /diagnostics status (1 Hz), the camera streaming meanwhile unless told not to."""
            seen, deadline = len(diag), time.monotonic() + 5.0
            while len(diag) == seen:
                assert time.monotonic() < deadline and policy.poll() is None, "no diagnostics"
                stream(0.1) if camera else probe.spin_for(0.1)
            return diag[-1]

        # 1. Instructions the policy does not understand: it holds and says why.
        for text in BAD_INSTRUCTIONS:
            pub_text.publish(String(data=text))
            stream(0.15)
        twists.clear()
        stream(1.0)
        status = latest()
        assert status["state"].startswith("refused: "), status
        assert int(status["rejected_instructions"]) == len(BAD_INSTRUCTIONS)
        assert twists and all(not v.any() for _, v in twists), "moved on an instruction it did not understand"

        # 1b. A cup that is not on the table (seed 0 has no yellow one): it abstains.
        pub_text.publish(String(data="pick up the yellow cup"))
        twists.clear()
        stream(2.0)
        status = latest()
        assert status["state"].startswith("abstained"), status
        assert twists and all(not v.any() for _, v in twists), "moved towards a cup that is not there"

        # 2. A real one: it acts.
        pub_text.publish(String(data="pick up the red cup"))
        deadline = time.monotonic() + 10.0
        while not any(v.any() for _, v in twists[-3:]):
            assert time.monotonic() < deadline and policy.poll() is None, "never acted on a valid instruction"
            stream(0.1)
        assert latest()["state"] == "acting"

        # 3. Broken frames between good ones: each is counted, none stops the node.
        broken = bad_images(good_frame())
        stale = [("stamped 2 s ago", stamped(good_frame(), (now() - Duration(seconds=2.0)).to_msg())),
                 ("stamped 5 s ahead", stamped(good_frame(), (now() + Duration(seconds=5.0)).to_msg()))]
        before = int(latest()["rejected_images"])
        send = broken + stale
        stream(len(send) / 10.0 + 0.5, extra=lambda i: pub_image.publish(send[i // 3][1]) if i % 3 == 0 and i // 3 < len(send) else None)
        status = latest()
        assert int(status["rejected_images"]) - before == len(send), (status, [name for name, _ in send])
        assert status["state"] == "acting" and policy.poll() is None

        # 3b. Broken joint states (the gripper's width tells the core a grasp missed): counted, none a miss.
        fingers = ["panda_finger_joint1", "panda_finger_joint2"]
        bad_joints = [JointState(name=fingers, position=[float("nan"), 0.04]),  # not finite
                      JointState(name=fingers, position=[-0.3, -0.3]),  # far below closed
                      JointState(name=fingers, position=[0.04])]  # names and positions disagree
        arm_only = JointState(name=["panda_joint1"], position=[0.1])  # another group's states: not the fingers'
        before = int(latest()["rejected_joint_states"])
        stream(1.0, extra=lambda i: pub_joints.publish(bad_joints[i // 3] if i // 3 < len(bad_joints) else arm_only)
               if i % 3 == 0 else None)
        status = latest()
        assert int(status["rejected_joint_states"]) - before == len(bad_joints), status
        assert status["state"] == "acting" and int(status["missed_grasps"]) == 0 and policy.poll() is None

        # 4. Only garbage from now on (the camera "stops"): zero twist within two control periods.
        last_good = time.monotonic()
        end = last_good + 1.0
        while time.monotonic() < end:
            pub_image.publish(broken[0][1])
            state()
            probe.spin_for(1.0 / 30.0)
        stopped = [t for t, v in twists if t > last_good and not v.any()]
        assert stopped, "never stopped"
        assert stopped[0] - last_good <= 0.2 + 0.03, f"stopped {stopped[0] - last_good:.3f} s after the last frame"
        assert all(not v.any() for t, v in twists if t > stopped[0]), "moved again on garbage"
        print(f"[figure] camera stopped: first zero twist {(stopped[0] - last_good) * 1e3:.0f} ms after the last good frame")
        assert latest(camera=False)["state"].startswith("camera stale"), "stale means no usable frame"
    finally:
        probe.close()
        out = stop(policy)
    assert "Traceback" not in out, out[-3000:]
