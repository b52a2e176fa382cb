"""The caption on video frames (vla_sim.video) and the ROS video recorder that draws it: what the
robot was told, understood and did, the robot's left, and a video that starts with the episode."""

import os
import re
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from vla_sim import video
from vla_sim.video import AMBER, GREEN, RED, WHITE, ascii_fallback, caption_lines, draw_status, robot_left_side

ACTING = {"instruction": "pick up the red cup", "understood": "red cup", "refusal": "", "state": "acting",
          "present_prob": "0.970"}
HOLDING = dict(ACTING, state="holding: checking the named cup is in view", present_prob="0.500")
ABSTAINED = dict(ACTING, state="abstained: the named cup is not in view", present_prob="0.100")
REFUSED = {"instruction": "pick up the magenta cup", "understood": "", "refusal": "there is no magenta cup",
           "state": "refused: there is no magenta cup", "present_prob": "1.000"}


def grey(size: int = 384) -> np.ndarray:
    return np.full((size, size, 3), 128, np.uint8)


# -- caption_lines -----------------------------------------------------------------------------------
def test_caption_before_the_policy_speaks():
    assert caption_lines(None) == [("no instruction yet", video.GREY), ("understood: waiting for the policy", AMBER)]
    lines = caption_lines(None, instruction="pick up the red cup")
    assert lines[0] == ('"pick up the red cup"', WHITE)


def test_caption_acting_holding_abstained():
    acting = caption_lines(ACTING)
    assert acting == [('"pick up the red cup"', WHITE), ("target: red cup (present p=0.97)", GREEN), ("acting", GREEN)]
    holding = caption_lines(HOLDING)
    assert holding[1][1] == GREEN and holding[2] == ("holding: checking the named cup is in view", AMBER)
    abstained = caption_lines(ABSTAINED)
    assert abstained[2] == ("abstained: the named cup is not in view", RED)


def test_caption_refused():
    lines = caption_lines(REFUSED)
    assert lines[0][0] == '"pick up the magenta cup"'
    assert lines[1] == ("REFUSED: there is no magenta cup", RED)
    assert lines[2] == ("refused: there is no magenta cup", RED)
    assert all("target" not in text for text, _ in lines)


def test_caption_status_message_only_and_no_present_prob():
    lines = caption_lines({"message": "holding: no instruction"})
    assert lines == [("no instruction yet", video.GREY), ("target: none", AMBER), ("holding: no instruction", AMBER)]
    assert caption_lines(dict(ACTING, present_prob=""))[1] == ("target: red cup", GREEN)


def test_caption_outcome_after_the_episode():
    assert caption_lines(ACTING, {"outcome": "success", "success": "True"})[-1] == ("outcome: success", GREEN)
    assert caption_lines(ACTING, {"outcome": "wrong_cup", "success": "False"})[-1] == ("outcome: wrong_cup", RED)
    # abstaining counts as success in a scene without the named cup: the episode message says which
    assert caption_lines(ABSTAINED, {"outcome": "abstained", "success": "True"})[-1] == ("outcome: abstained", GREEN)
    assert caption_lines(REFUSED, "refused")[-1] == ("outcome: refused", RED)
    assert caption_lines(ACTING, "timeout")[-1] == ("outcome: timeout", RED)
    assert caption_lines(ACTING, "success")[-1] == ("outcome: success", GREEN)
    assert caption_lines(ACTING, {"message": "success", "success": "True"})[-1] == ("outcome: success", GREEN)


# -- draw_status -------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [256, 384, 512])
def test_draw_status_draws_a_band_and_keeps_the_frame(size):
    frame = grey(size)
    out = draw_status(frame, caption_lines(HOLDING, "success"))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (frame == 128).all(), "the input frame must not be drawn on"
    changed = np.any(out != frame, axis=2)
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.min() > size // 2 and rows.max() == size - 1, "the band sits along the bottom"
    band = out[rows.min():]
    assert (band[:, :2] < 128).all(), "the band darkens the frame under it (semi-transparent, not opaque)"
    assert band[:, :2].min() > 0
    assert np.count_nonzero(band.max(axis=2) > 150) > 50, "text is drawn in the band"
    assert not changed[: size // 2].any()
    # more lines, taller band
    fewer = np.any(draw_status(frame, caption_lines(HOLDING)) != frame, axis=2)
    assert np.flatnonzero(fewer.any(axis=1)).min() > rows.min()


def test_long_instructions_wrap_and_are_cut():
    text = "please pick up the red cup that stands on the table next to the blue one " * 4
    lines = [(f'"{text}"', WHITE)]
    rows_drawn = np.any(draw_status(grey(), lines) != grey(), axis=2).any(axis=1)
    short = np.any(draw_status(grey(), [('"pick up the red cup"', WHITE)]) != grey(), axis=2).any(axis=1)
    assert np.flatnonzero(rows_drawn).min() < np.flatnonzero(short).min(), "a long instruction wraps"
    measure = lambda s: 8 * len(s)  # noqa: E731
    rows = video._wrap(text, 300, measure, 2)
    assert len(rows) == 2 and rows[-1].endswith("...") and all(measure(r) <= 300 for r in rows)
    assert video._wrap("x" * 100, 80, measure, 2) == ["x" * 10, "x" * 7 + "..."]
    assert video._wrap("pick up", 300, measure, 2) == ["pick up"]


KOREAN = "테이블 위의 빨간 컵을 집어라"


def test_korean_falls_back_to_placeholders_without_a_hangul_font(monkeypatch):
    monkeypatch.setattr(video, "unicode_font", lambda: None)
    assert ascii_fallback(KOREAN) == "??? ?? ?? ?? ???"
    assert ascii_fallback("café") == "cafe"
    out = draw_status(grey(), caption_lines(dict(ACTING, instruction=KOREAN)))
    assert out.shape == (384, 384, 3) and np.any(out != grey())


def test_korean_with_whatever_font_this_machine_has():
    out = draw_status(grey(256), caption_lines(dict(ACTING, instruction=KOREAN)), left_marker="right")
    assert out.shape == (256, 256, 3) and np.any(out[200:] != 128)


def test_pillow_path_draws_non_ascii_text(monkeypatch):
    """A line that is not ASCII goes through Pillow when a font is found (DejaVu: Greek, no Hangul)."""
    import matplotlib

    dejavu = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not dejavu.is_file():
        pytest.skip("matplotlib's DejaVuSans.ttf is not there")
    assert not video.has_hangul(dejavu), "DejaVu has no Hangul: it must not be chosen for Korean"
    monkeypatch.setattr(video, "unicode_font", lambda: str(dejavu))
    plain = draw_status(grey(), [("abc", WHITE)])
    greek = draw_status(grey(), [("αβγ δέλτα", WHITE)])
    assert np.count_nonzero(np.any(greek != plain, axis=2)) > 30


def test_a_hangul_font_is_used_when_one_is_found():
    path = video.unicode_font()
    if path is None:
        pytest.skip("no font with Hangul glyphs on this machine (set VLA_CAPTION_FONT to one)")
    assert video.has_hangul(path)
    ko = draw_status(grey(), [(KOREAN, WHITE)])
    qq = draw_status(grey(), [(ascii_fallback(KOREAN), WHITE)])
    assert np.any(ko != qq)


# -- the robot's left --------------------------------------------------------------------------------
def test_left_marker_is_on_the_side_the_sim_camera_shows_the_robots_left(make_env):
    env = make_env()
    for seed in (0, 1, 2):
        env.reset(seed=seed)
        cam = env.camera
        (u_left, _), (u_right, _) = cam.project(np.array([[0.45, 0.2, 0.0], [0.45, -0.2, 0.0]]))
        expected = "right" if u_left > u_right else "left"
        assert robot_left_side(cam.K, cam.T_base_cam) == expected
    assert expected == "right", "the camera looks at the robot from in front: its left is on the image's right"
    assert robot_left_side() == "right"  # the nominal camera, as the recorder uses

    size = 384
    side = robot_left_side(env.camera.K, env.camera.T_base_cam)
    cols = np.flatnonzero(marker_pixels(draw_status(grey(size), [], left_marker=side)).any(axis=0))
    assert cols.min() > size // 2 and cols.max() >= size - 10, "the marker must sit at the right"
    cols = np.flatnonzero(marker_pixels(draw_status(grey(size), [], left_marker="left")).any(axis=0))
    assert cols.max() < size // 2 and cols.min() <= 10
    # in the band's first row, beside the instruction, which then leaves it room
    out = draw_status(grey(size), caption_lines(ACTING), left_marker=side)
    rows = np.flatnonzero(marker_pixels(out).any(axis=1))
    changed = np.flatnonzero(np.any(out != grey(size), axis=2).any(axis=1))
    assert rows.min() > changed.min() and rows.max() < changed.min() + 30
    assert not marker_pixels(draw_status(grey(size), caption_lines(ACTING))).any()


def test_episode_videos_mark_the_robots_left_from_the_env_camera(make_env, tmp_path):
    """`vla demo` / `vla eval --video` frames (vla_sim.evaluation._EpisodeVideo) carry the marker on the side
    the episode's camera shows base-frame +y: the robot's left, which faces the camera, is the image's right."""
    from types import SimpleNamespace

    from vla_sim.evaluation import _EpisodeVideo
    from vla_sim.referring import Reference

    env = make_env(refer="leftmost")
    env.reset(seed=3)
    # which way +y goes in the image, straight from the camera: (x, 0, 0) -> (x, 0.1, 0)
    (u0, _), (u1, _) = env.camera.project(np.array([[0.45, 0.0, 0.0], [0.45, 0.1, 0.0]]))
    expected = "right" if u1 > u0 else "left"
    assert expected == "right"
    verdict = SimpleNamespace(reference=Reference("leftmost"), refusal=None)
    ep = _EpisodeVideo(env, "pick up the leftmost cup", verdict)
    assert ep.left_side == expected
    frame = ep.frames[0]
    h, w = frame.shape[:2]
    cols = np.flatnonzero(marker_pixels(frame[h // 2:]).any(axis=0))
    assert cols.size and cols.min() > w // 2 and cols.max() >= w - 15, "the marker must sit at the image's right"


def test_recorder_left_side_parameter():
    pytest.importorskip("rclpy")
    from vla_ros.video_recorder import marker_side

    assert marker_side("auto", None) == robot_left_side() == "right"  # before the simulator said: its nominal camera
    assert marker_side("auto", "left") == "left" and marker_side("auto", "right") == "right"
    assert marker_side("auto", "sideways") == "right"
    assert marker_side("left", "right") == "left" and marker_side("right", None) == "right"
    assert marker_side("none", "right") is None


def marker_pixels(frame: np.ndarray) -> np.ndarray:
    """Where the robot's-left marker (light blue) is drawn."""
    r, g, b = (frame[..., i].astype(int) for i in range(3))
    return (b > 170) & (b - r > 60)


# -- the recorder over DDS ---------------------------------------------------------------------------
def _darkened_from(camera_panel: np.ndarray) -> int:
    """First row of the caption band: where the left edge (no text there) turns dark."""
    edge = camera_panel[:, 1:3].astype(int).mean(axis=(1, 2))
    dark = np.flatnonzero(edge < 0.75 * np.median(edge[: len(edge) // 2]))
    return int(dark.min()) if dark.size else len(edge)


def _recorder_publishers(probe, rec, *specs):
    """Publishers for (msg type, topic, QoS) specs, returned once the recorder has subscribed to each."""
    pubs = tuple(probe.node.create_publisher(*spec) for spec in specs)
    probe.spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs), 60,
                     "the recorder's subscriptions", alive=(rec,))
    return pubs


def _publish_frames(probe, image_pub, colour, n: int) -> None:
    """n flat frames from a 30 Hz camera, all delivered."""
    from rclpy.duration import Duration

    from vla_ros import topics
    from vla_ros.conversions import rgb_to_image

    for _ in range(n):
        rgb = np.full((128, 128, 3), colour, np.uint8)
        image_pub.publish(rgb_to_image(rgb, probe.node.get_clock().now().to_msg(), topics.CAMERA_FRAME))
        probe.spin_for(1 / 30)
    assert image_pub.wait_for_all_acked(Duration(seconds=10))


def test_recorder_starts_with_the_episode_and_draws_the_caption(ros_env, tmp_path):
    pytest.importorskip("rclpy")
    import imageio.v2 as imageio
    from diagnostic_msgs.msg import DiagnosticStatus
    from rclpy.duration import Duration
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from ros_probe import Probe, start_node
    from vla_ros import qos, topics
    from vla_ros.conversions import key_values

    out = tmp_path / "caption.mp4"
    rec = start_node("vla_video_recorder", ros_env, f"output:={out}", "outcome_seconds:=0.5", "fps:=30")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(rec.stdout), daemon=True)
    reader.start()
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    try:
        image_pub, status_pub, episode_pub, instruction_pub = _recorder_publishers(
            probe, rec, (Image, topics.CAMERA_IMAGE, qos.IMAGE_QOS), (DiagnosticStatus, topics.STATUS, qos.COMMAND_QOS),
            (DiagnosticStatus, topics.EPISODE, qos.COMMAND_QOS), (String, topics.INSTRUCTION, qos.INSTRUCTION_QOS))
        acked = Duration(seconds=10)
        _publish_frames(probe, image_pub, (40, 40, 220), 6)  # the simulator holding its episode clock: no instruction yet
        status_pub.publish(DiagnosticStatus(message=HOLDING["state"], values=key_values(HOLDING)))
        instruction_pub.publish(String(data="pick up the red cup"))  # the episode starts
        assert status_pub.wait_for_all_acked(acked) and instruction_pub.wait_for_all_acked(acked)
        _publish_frames(probe, image_pub, (40, 200, 40), 10)
        episode_pub.publish(DiagnosticStatus(message="success", values=key_values(
            {"seed": 3, "target": "red", "instruction": "pick up the red cup", "outcome": "success",
             "success": True, "steps": 10, "seconds": 0.33})))
        probe.spin_until(lambda: any("episode seed 3" in line for line in lines), 60, "the outcome line", alive=(rec,))
    finally:
        probe.close()
        rec.send_signal(2)
        try:
            rec.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rec.kill()
            rec.wait()
        reader.join(timeout=10)
    output = "".join(lines)
    assert rec.returncode == 0 and "Traceback" not in output, output
    assert 'episode seed 3: "pick up the red cup" -> success (success) after 0.33 s' in output
    written = int(re.search(r"video: .*caption\.mp4 \((\d+) frames; left camera, right policy attention\)",
                            output).group(1))
    video_frames = [f for f in imageio.get_reader(str(out), format="FFMPEG")]  # list() would ask len(): inf
    assert len(video_frames) == written
    assert video_frames[0].shape == (384, 768, 3)
    hold = 15  # outcome_seconds * fps
    # keep-last-1 camera QoS: a frame can be replaced before the recorder takes it, and at most the one
    # frame waiting when the instruction came can slip in before the episode starts
    assert hold + 1 <= written <= hold + 10 + 1, output
    camera = [f[:, :384] for f in video_frames]
    blue = [c for c in camera if c[150, 190, 2] > 150 and c[150, 190, 1] < 100]
    assert len(blue) <= 1, "frames from before the episode started are in the video"
    assert all(c[150, 190, 1] > 150 for c in camera[len(blue):]), "the episode's frames are the green ones"
    # the caption: instruction + target + state while running; the outcome line (one more row) at the end
    first, last = _darkened_from(camera[len(blue)]), _darkened_from(camera[-1])
    assert 384 // 2 < first < 384 - 40, first
    assert last < first, "the outcome line is missing from the held last frames"
    assert all(_darkened_from(c) == last for c in camera[-hold:])
    # the robot's-left marker at the right of the caption band
    cols = np.flatnonzero(marker_pixels(camera[-1]).any(axis=0))
    assert cols.size and cols.min() > 384 // 2, "the robot's-left marker is missing or on the wrong side"
    assert os.path.getsize(out) > 1000


def test_recorder_puts_the_marker_where_the_simulator_says(ros_env, tmp_path):
    """left_side auto: the side in the simulator's /diagnostics status (computed from its camera) wins
    over the nominal camera's; a bad left_side value stops the recorder at once with one line."""
    pytest.importorskip("rclpy")
    import imageio.v2 as imageio
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from rclpy.duration import Duration
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from ros_probe import Probe, start_node, stop
    from vla_ros import qos, topics
    from vla_ros.conversions import key_values

    bad = start_node("vla_video_recorder", ros_env, "left_side:=up")
    try:
        out, _ = bad.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        out = stop(bad)
    assert bad.returncode != 0 and "left_side must be one of auto, left, right, none, got 'up'" in out, out

    video_path = tmp_path / "side.mp4"
    rec = start_node("vla_video_recorder", ros_env, f"output:={video_path}", "outcome_seconds:=0.2")
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    try:
        image_pub, diag_pub, episode_pub, instruction_pub = _recorder_publishers(
            probe, rec, (Image, topics.CAMERA_IMAGE, qos.IMAGE_QOS), (DiagnosticArray, topics.DIAGNOSTICS, qos.COMMAND_QOS),
            (DiagnosticStatus, topics.EPISODE, qos.COMMAND_QOS), (String, topics.INSTRUCTION, qos.INSTRUCTION_QOS))
        acked = Duration(seconds=10)
        # a camera mounted behind the robot would show its left on the image's left
        diag_pub.publish(DiagnosticArray(status=[DiagnosticStatus(name="vla_sim", values=key_values(
            {"seed": 1, "robot_left_side": "left"}))]))
        instruction_pub.publish(String(data="pick up the leftmost cup"))
        assert diag_pub.wait_for_all_acked(acked) and instruction_pub.wait_for_all_acked(acked)
        _publish_frames(probe, image_pub, (128, 128, 128), 5)
        episode_pub.publish(DiagnosticStatus(message="success", values=key_values(
            {"seed": 1, "instruction": "pick up the leftmost cup", "success": True, "seconds": 0.2})))
        probe.spin_until(lambda: episode_pub.wait_for_all_acked(acked), 30, "the outcome", alive=(rec,))
        probe.spin_for(0.5)
    finally:
        probe.close()
        output = stop(rec, timeout=30)
    assert rec.returncode == 0 and "Traceback" not in output, output
    last = [f for f in imageio.get_reader(str(video_path), format="FFMPEG")][-1][:, :384]
    cols = np.flatnonzero(marker_pixels(last).any(axis=0))
    assert cols.size and cols.max() < 384 // 2 and cols.min() <= 10, "the marker must follow the simulator"
