"""Recordings to training data without simulator labels: hindsight keypoints, calibration, bad bags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sim_bags import msg, sim_episode_messages, write_bag

from vla_policy.calibration import CameraPose, load_calibration, save_calibration
from vla_policy.dataset import list_episodes
from vla_policy.hindsight import hindsight_points, project_labels, scale_intrinsics
from vla_ros import topics
from vla_ros.bag_import import MAX_GAP_NS, BagImportError, ConvertOptions, convert_bags, from_bag_main
from vla_ros.label_quality import anchor_quality, measure, perturbed
from vla_ros.label_quality import main as main_label_quality


@pytest.fixture(scope="module")
def two_episodes() -> tuple[list, list]:
    """Messages of two successful expert episodes (seeds no evaluation uses), back to back."""
    first, info = sim_episode_messages(1_900_001)
    assert info["success"]
    second, info2 = sim_episode_messages(1_900_002, start=info["end"] + 100_000_000)
    assert info2["success"]
    return first, second


def _without(messages: list, *drop: str) -> list:
    return [m for m in messages if m[1] not in drop]


# -- the labeller -------------------------------------------------------------------------------------
def test_hindsight_labels_the_approach_and_follows_the_held_cup():
    t = 10
    ee = np.c_[np.linspace(0.3, 0.5, t), np.zeros(t), np.r_[[0.2] * 4, [0.07] * 3, [0.1, 0.15, 0.2]]]
    grip = np.r_[[1.0] * 5, [0.0] * 5]  # closes at sample 5
    width = np.r_[[0.08] * 5, 0.06, 0.055, 0.055, 0.055, 0.055]  # settles at sample 7
    found = hindsight_points(ee, grip, width, lifted=None, keypoint_depth=0.03)
    assert found.labelled and found.grasp_step == 7 and found.first_step == 0 and found.closes == 1
    np.testing.assert_allclose(found.points[:7], np.tile(ee[7] - [0, 0, 0.03], (7, 1)))  # the cup stood there
    np.testing.assert_allclose(found.points[7:], ee[7:] - [0, 0, 0.03])  # then moved with the gripper


def test_hindsight_regrasp_drops_frames_before_the_last_opening_and_failures_get_nothing():
    t = 12
    ee = np.c_[np.zeros((t, 2)), np.r_[[0.07] * 10, 0.15, 0.2]]
    grip = np.r_[1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0].astype(float)  # closed, reopened, closed again at 7
    width = np.r_[[0.08] * 7, 0.06, 0.055, 0.055, 0.055, 0.055]  # settled at 9 (same width as at 8)
    found = hindsight_points(ee, grip, width, lifted=True)
    assert found.closes == 2 and found.first_step == 4 and found.grasp_step == 9
    assert np.isnan(found.points[:4]).all() and np.isfinite(found.points[4:]).all()
    assert hindsight_points(ee, grip, width, lifted=False).reason == "not lifted"
    assert hindsight_points(ee, np.ones(t), width).reason == "no grasp"
    empty = np.r_[[0.08] * 7, [0.001] * 5]  # fingers closed on nothing: the robot's own check says no lift
    assert not hindsight_points(ee, grip, empty, lifted=None).labelled


def test_intrinsics_scale_with_the_squashed_frame():
    K = np.array([[600.0, 0, 319.5], [0, 600.0, 239.5], [0, 0, 1]])
    small = scale_intrinsics(K, 640, 480, 128)
    T = np.eye(4)
    point = np.array([[0.1, -0.05, 1.0]])
    (u, v), = project_labels(point, K, T, 640)
    (us, vs), = project_labels(point, small, T, 128)
    assert us == pytest.approx((u + 0.5) * 128 / 640 - 0.5) and vs == pytest.approx((v + 0.5) * 128 / 480 - 0.5)


# -- recorded sim episodes --------------------------------------------------------------------------
def test_hindsight_label_of_a_recorded_episode_matches_the_simulator(two_episodes, tmp_path):
    """The target keypoint derived from the robot's own data is within a few pixels of the simulator's
    projection of the cup, at the policy's 128 px; the gripper keypoint comes with the calibration."""
    bag = tmp_path / "bag"
    write_bag(bag, two_episodes[0] + two_episodes[1])
    report = measure([bag], calibration_error=(0.01, 2.0), draws=4)
    assert report["episodes"] == 2 and report["conversion"]["unlabelled"] == 0
    assert report["target_label_error"]["n"] > 40
    assert report["target_label_error"]["median_px"] < 2.0 and report["target_label_error"]["max_px"] < 5.0
    off = report["calibration_error"]
    assert 1.0 < off["target_label_error"]["median_px"] < 12.0 and off["gripper_label_error"]["median_px"] > 1.0

    convert_bags([bag], tmp_path / "data")
    for episode in list_episodes(tmp_path / "data"):
        arrays = episode.arrays(mmap=False)
        camera, labels = episode.meta["camera"], episode.meta["labels"]
        assert np.asarray(camera["K"]).shape == (3, 3) and labels["target"] == "hindsight"
        assert np.isfinite(arrays["target_uv"][: labels["grasp_step"]]).all()
        assert episode.meta["seed"] in (1_900_001, 1_900_002) and episode.meta["outcome"] == "success"


def test_calibration_file_replaces_the_bags_camera_pose(two_episodes, tmp_path):
    bag = tmp_path / "bag"
    write_bag(bag, _without(two_episodes[0], topics.CAMERA_POSE))
    assert from_bag_main([str(bag), "--out", str(tmp_path / "a")]) == 2  # no pose anywhere: one-line error
    assert not (tmp_path / "a").exists()
    pose = next(m for m in two_episodes[0] if m[1] == topics.CAMERA_POSE)[3].pose
    T = np.eye(4)
    from vla_policy.calibration import quaternion_matrix

    T[:3, :3] = quaternion_matrix([pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w])
    T[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    calib = tmp_path / "handeye.yaml"
    save_calibration(CameraPose(T, "panda_link0", "camera_optical_frame"), calib)
    np.testing.assert_allclose(load_calibration(calib).T_base_cam, T, atol=1e-9)  # round trip
    assert from_bag_main([str(bag), "--out", str(tmp_path / "b"), "--calibration", str(calib)]) == 0
    [episode] = list_episodes(tmp_path / "b")
    np.testing.assert_allclose(episode.meta["camera"]["T_base_cam"], T, atol=1e-9)
    # A calibration 1 cm / 2 degrees off moves the labels by a few pixels, no more.
    write_bag(tmp_path / "full", two_episodes[0])
    convert_bags([tmp_path / "full"], tmp_path / "exact")
    convert_bags([tmp_path / "full"], tmp_path / "off", ConvertOptions(
        calibration=CameraPose(perturbed(T, 0.01, 2.0, np.random.default_rng(1)))))
    a, b = (list_episodes(tmp_path / d)[0].arrays(mmap=False)["target_uv"] for d in ("exact", "off"))
    shift = np.nanmedian(np.linalg.norm(a - b, axis=1))
    assert 0.5 < shift < 12


def test_calibration_error_option_puts_every_episode_off_by_the_same_draw(two_episodes, tmp_path, capsys):
    """--calibration-error (the measurement of what a calibration that far off costs): one seeded offset,
    the same for every episode, in the meta camera and the labels alike."""
    bag = tmp_path / "bag"
    write_bag(bag, two_episodes[0] + two_episodes[1])
    convert_bags([bag], tmp_path / "exact")
    assert from_bag_main([str(bag), "--out", str(tmp_path / "off"), "--calibration-error", "0.01", "2"]) == 0
    exact, off = (sorted(list_episodes(tmp_path / d), key=lambda e: e.meta["seed"]) for d in ("exact", "off"))
    deltas = []
    for e, o in zip(exact, off):
        Te, To = (np.asarray(x.meta["camera"]["T_base_cam"]) for x in (e, o))
        assert abs(np.linalg.norm(To[:3, 3] - Te[:3, 3]) - 0.01) < 1e-9
        angle = np.degrees(np.arccos(np.clip((np.trace(To[:3, :3] @ Te[:3, :3].T) - 1) / 2, -1, 1)))
        assert abs(angle - 2.0) < 1e-6
        deltas.append(To[:3, 3] - Te[:3, 3])
        uv_e, uv_o = (x.arrays(mmap=False)["target_uv"] for x in (e, o))
        shift = np.nanmedian(np.linalg.norm(uv_e - uv_o, axis=1))
        assert 0.5 < shift < 12
    np.testing.assert_allclose(deltas[0], deltas[1], atol=1e-12)  # systematic, as one calibration's error is
    _fails([bag], tmp_path / "bad", capsys, "--calibration-error", options=["--calibration-error", "-1", "2"])


# -- bad bags: a one-line error or a counted skip, and nothing half-written ----------------------------
def _fails(bags: list[Path], out: Path, capsys, *words: str, options: list[str] = ()) -> None:
    assert from_bag_main([*map(str, bags), "--out", str(out), *options]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    assert not out.exists()


def test_bad_bags(two_episodes, tmp_path, capsys):
    first = two_episodes[0]
    cases = {
        "no_info": (_without(first, topics.CAMERA_INFO), [topics.CAMERA_INFO, "--no-keypoints"]),
        "no_pose": (_without(first, topics.EE_POSE), ["no episode converted"]),
        "no_calibration": (_without(first, topics.CAMERA_POSE), ["--calibration"]),
    }
    for name, (messages, words) in cases.items():
        write_bag(tmp_path / name, messages)
        _fails([tmp_path / name], tmp_path / f"out_{name}", capsys, *words)

    # A topic with another message type than the converter reads.
    wrong = [m if m[1] != topics.EE_POSE else (m[0], m[1], "std_msgs/msg/String", msg("std_msgs/msg/String", data="x"))
             for m in first]
    write_bag(tmp_path / "wrong", wrong)
    _fails([tmp_path / "wrong"], tmp_path / "out_wrong", capsys, "/ee_pose has type std_msgs/msg/String")

    # A good bag, then a truncated one: the good bag's episodes are not left behind either.
    write_bag(tmp_path / "good", first)
    write_bag(tmp_path / "cut", first)
    mcap = next((tmp_path / "cut").glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size * 2 // 3])
    _fails([tmp_path / "good", tmp_path / "cut"], tmp_path / "out_cut", capsys, "cut")

    # A calibration file that is not one.
    bad_calib = tmp_path / "calib.yaml"
    bad_calib.write_text("translation: [0, 0]\nrotation_xyzw: [0, 0, 0, 1]\n")
    _fails([tmp_path / "good"], tmp_path / "out_calib", capsys, "calib.yaml", "translation",
           options=["--calibration", str(bad_calib)])

    # Episodes that never succeed (the expert lifts another cup): counted, then one error, nothing written.
    failed, info = sim_episode_messages(1_900_003, expert_colour="blue", target="red")
    assert not info["success"]
    write_bag(tmp_path / "failed", failed)
    _fails([tmp_path / "failed"], tmp_path / "out_failed", capsys, "no episode converted (1 failed)")


def test_clock_jump_and_failed_episodes_are_counted_skips(two_episodes, tmp_path):
    first, second = two_episodes
    jump = 3600 * 10**9  # the recorder's clock jumped an hour in the middle of the second episode
    half = sorted(second, key=lambda m: m[0])
    cut = half[len(half) // 2][0]
    jumped = first + [(t + jump if t >= cut else t, *rest) for t, *rest in half]
    failed, _ = sim_episode_messages(1_900_003, start=max(t for t, *_ in jumped) + 10**8, expert_colour="blue")
    write_bag(tmp_path / "bag", jumped + failed)
    summary = convert_bags([tmp_path / "bag"], tmp_path / "data")
    # The first episode converts; the second is cut by the jump (both halves skipped); the third failed.
    assert summary["gaps"] == 1 and summary["failed"] == 1 and summary["skipped"] > 20
    episodes = list_episodes(tmp_path / "data")
    assert [e.meta["seed"] for e in episodes] == [1_900_001]
    assert MAX_GAP_NS < jump
    names = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert names == ["episode_000000"]


def test_bag_without_outcomes_judges_the_lift_itself(two_episodes, tmp_path):
    """A real robot's bag has no /sim/episode: the lift is judged from the gripper and the arm."""
    write_bag(tmp_path / "bag", _without(two_episodes[0], topics.EPISODE))
    summary = convert_bags([tmp_path / "bag"], tmp_path / "data", ConvertOptions(target="red"))
    [episode] = list_episodes(tmp_path / "data")
    assert summary["episodes"] == 1 and episode.meta["outcome"] == "success" and episode.meta["seed"] is None
    assert episode.meta["labels"]["target"] == "hindsight"
    json.dumps(episode.meta)  # plain JSON


def test_options_are_validated(tmp_path, capsys):
    with pytest.raises(BagImportError, match="rate"):
        convert_bags([tmp_path], tmp_path / "x", ConvertOptions(rate=0))
    assert from_bag_main([str(tmp_path), "--out", str(tmp_path / "y"), "--keypoint-depth", "nan"]) == 2
    assert "--keypoint-depth" in capsys.readouterr().err


# -- the whole path over ROS: expert commander -> vla record -> from-bag -> train -------------------------
def test_record_convert_train_over_ros(ros_env, tmp_path):
    """`vla launch sim_demo commander:=expert` drives the robot over DDS and `vla record` records it
    (`vla_ros.record_demos` runs both, no frame lost), the bag converts with hindsight labels close to the simulator's, and a small policy trains on it with both
    keypoint losses active (and without them on a --no-keypoints conversion)."""
    import re
    import subprocess
    import sys

    from vla_policy.configuration_vla import VLAConfig
    from vla_policy.modeling_vla import VLAPolicy
    from vla_policy.training import TrainConfig, train

    bag = tmp_path / "bag"
    run = subprocess.run([sys.executable, "-m", "vla_ros.record_demos", "--out", str(bag), "--episodes", "3",
                          "--seed", "1900010", "--json", str(tmp_path / "figures.json"),
                          # the second of the three scenes (seed 1900011) has no cup of the named colour: the
                          # expert holds still
                          "--launch-arg", "absent_fraction:=0.1", "--launch-arg", "abstain_after:=0.5"],
                         env=ros_env, capture_output=True, text=True, timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert re.findall(r"episode (\d): (\w+) after", log) == [("0", "success"), ("1", "abstained"), ("2", "success")], log[-3000:]
    assert "vla_policy_node" not in run.stdout  # the expert commands; the policy node is not started
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["episodes"] == 3 and figures["frames_written"] > 100, figures
    assert figures["missing_frames"] == 0 and figures["distinct_stamps"] == figures["frames_written"]

    report = measure([bag])
    assert report["episodes"] == 3 and report["conversion"]["unlabelled"] == 0 and report["conversion"]["failed"] == 0
    assert report["conversion"]["idle"] > 0  # the pause before each episode's first motion, trimmed
    assert report["target_label_error"]["median_px"] < 3.0 and report["target_label_error"]["p90_px"] < 6.0

    small = VLAConfig(image_size=64, vision_channels=(16, 16, 32), dim=64, heads=2, blocks=1, chunk_size=4,
                      keypoint_readout=True, aux_heatmap_weight=0.1)
    cfg = TrainConfig(steps=2, batch_size=8, val_every=2, eval_every=0, checkpoint_every=2, warmup_steps=1,
                      paraphrase=False)
    losses = {}
    for name, flags in (("labelled", []), ("plain", ["--no-keypoints"])):
        assert from_bag_main([str(bag), "--out", str(tmp_path / name), "--image-size", "64", *flags]) == 0
        episodes = list_episodes(tmp_path / name)
        # The first episode whole: the sim's clock waited for the recorder (wait_for_camera_subscribers:=1).
        assert [e.meta["seed"] for e in episodes] == [1900010, 1900011, 1900012]
        starts = [e.arrays(mmap=False)["proprio"][0, :3] for e in episodes]
        np.testing.assert_allclose(starts[0], starts[2], atol=0.002)  # both from the reset pose, not mid-way
        present = [e.meta["target_present"] for e in episodes]
        assert present == [True, False, True]  # the operator's "no such cup" is kept, labelled abstain
        summary = train([str(tmp_path / name)], str(tmp_path / f"policy_{name}"), small, cfg, progress=False)
        losses[name] = summary["final_train"]
        VLAPolicy.from_pretrained(tmp_path / f"policy_{name}")  # loads as --policy would
    assert losses["labelled"]["heatmap"] > 0 and losses["labelled"]["ee_heatmap"] > 0
    assert losses["plain"]["heatmap"] == 0 and losses["plain"]["ee_heatmap"] == 0


def test_frame_continuity_counts_frames_the_recorder_missed(tmp_path):
    """record_demos' check: 30 Hz stamps with two frames missing, then a clock restart (a new simulator
    run, not a drop)."""
    from sim_bags import header

    from vla_ros.record_demos import frame_continuity

    period = 10**9 // 30
    stamps = [i * period for i in range(10) if i not in (4, 5)] + [60 * 10**9 + i * period for i in range(3)]
    def image(t: int):
        return msg("sensor_msgs/msg/Image", header=header(t, topics.CAMERA_FRAME), height=1, width=1,
                   encoding="rgb8", is_bigendian=0, step=3, data=np.zeros(3, np.uint8))

    write_bag(tmp_path / "bag", [(10**9 + t, topics.CAMERA_IMAGE, "sensor_msgs/msg/Image", image(t)) for t in stamps])
    figures = frame_continuity(tmp_path / "bag")
    assert figures["frames_written"] == figures["distinct_stamps"] == 11
    assert figures["missing_frames"] == 2 and figures["episodes"] == 0
    assert 0.99 < figures["minutes"] < 1.01  # the bag spans 60.1 s of its clock


def test_samples_before_the_arm_moves_are_trimmed(two_episodes, tmp_path):
    """A robot held still at the start (paused between episodes, an operator not started yet) while
    twists already arrive: those samples' actions did not act. The episode starts at the last still one."""
    from sim_bags import STEP_NS, T0

    first = two_episodes[0]
    idle_ns = 10 * STEP_NS
    step0 = [m for m in first if m[0] == T0 + STEP_NS // 2 or m[0] == T0 + STEP_NS // 2 + 1000]
    assert {m[1] for m in step0} >= {topics.EE_POSE, topics.CAMERA_IMAGE, topics.TWIST_CMD}
    held = [(s + k * STEP_NS, topic, t, m) for k in range(10) for s, topic, t, m in step0]  # 1 s of step 0
    moved = [(s if topic in (topics.INSTRUCTION, topics.CAMERA_POSE) else s + idle_ns, topic, t, m)
             for s, topic, t, m in first]
    write_bag(tmp_path / "plain", first)
    write_bag(tmp_path / "held", held + moved)
    plain, still = (convert_bags([tmp_path / d], tmp_path / f"{d}_out") for d in ("plain", "held"))
    assert plain["idle"] == 0 and still["idle"] >= 9, still
    [a], [b] = (list_episodes(tmp_path / f"{d}_out") for d in ("plain", "held"))
    assert abs(a.meta["steps"] - b.meta["steps"]) <= 1, (a.meta["steps"], b.meta["steps"])
    pa, pb = a.arrays(mmap=False)["proprio"], b.arrays(mmap=False)["proprio"]
    assert np.linalg.norm(pb[1, :3] - pb[0, :3]) > 0.002  # the arm moves from the second sample on
    np.testing.assert_allclose(pb[0], pa[0], atol=1e-9)


def test_next_to_anchor_is_located_by_a_colour_policy_as_on_the_robot(tmp_path, capsys):
    """``--anchor-policy``: a next-to episode's anchor label is where the shipped recordings-only colour
    policy finds the anchor's colour on the first frame, within a few pixels of the simulator's truth
    (scene rebuilt from the seed); without it the episode carries none; a bad checkpoint is one line."""
    messages, info = sim_episode_messages(1_900_020, refer="next-to")
    assert info["success"] and info["refer"] == "next-to" and info["anchor"]
    bag = tmp_path / "bag"
    write_bag(bag, messages)
    report = anchor_quality([bag], "vla_policy/checkpoints/from_bags_colour", cups=(3, 4))
    assert report["episodes_rebuilt"] == 1 and report["episodes_not_rebuilt"] == 0
    assert report["anchor_label_error"]["max_px"] < 4.0

    summary = convert_bags([bag], tmp_path / "plain")
    (plain,) = list_episodes(tmp_path / "plain")
    assert summary["anchor_unlocated"] == 0 and "anchor_uv" not in plain.meta
    assert plain.meta["refer"] == "next-to" and plain.meta["anchor"] == info["anchor"]

    capsys.readouterr()
    assert from_bag_main([str(bag), "--out", str(tmp_path / "bad"), "--anchor-policy", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--anchor-policy" in err and len(err.splitlines()) == 1 and not (tmp_path / "bad").exists()
    # frames of another size than the locator reads: refused before anything is written
    assert from_bag_main([str(bag), "--out", str(tmp_path / "bad"), "--image-size", "64",
                          "--anchor-policy", "vla_policy/checkpoints/from_bags_colour"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--image-size 128" in err and not (tmp_path / "bad").exists()
    assert main_label_quality([str(bag), "--anchor-policy", "vla_policy/checkpoints/from_bags_colour", "--cups", "0", "9"]) == 2
    assert "--cups 0 9" in capsys.readouterr().err


def _compressed(messages: list, fmt: str = "png") -> list:
    """The messages with each camera frame sent compressed instead (as a robot over a network records it)."""
    import cv2

    out = []
    for stamp, topic, msgtype, m in messages:
        if topic == topics.CAMERA_IMAGE:
            rgb = np.asarray(m.data, np.uint8).reshape(m.height, m.width, 3)
            ok, buf = cv2.imencode(f".{fmt}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            assert ok
            m = msg("sensor_msgs/msg/CompressedImage", header=m.header, format=fmt, data=buf.reshape(-1))
            topic, msgtype = topics.CAMERA_IMAGE_COMPRESSED, "sensor_msgs/msg/CompressedImage"
        out.append((stamp, topic, msgtype, m))
    return out


def test_a_bag_of_compressed_frames_converts_to_the_same_episodes(tmp_path, two_episodes):
    first, _ = two_episodes
    write_bag(tmp_path / "raw", first)
    write_bag(tmp_path / "png", _compressed(first))
    opts = ConvertOptions(rate=10, image_size=64)
    raw = convert_bags([tmp_path / "raw"], tmp_path / "from_raw", opts)
    png = convert_bags([tmp_path / "png"], tmp_path / "from_png", opts)
    assert raw == png and raw["episodes"] == 1
    a, b = (list_episodes(tmp_path / d)[0].arrays(mmap=False) for d in ("from_raw", "from_png"))
    assert np.array_equal(a["frames"], b["frames"])  # PNG is lossless: the very same training frames
    np.testing.assert_array_equal(a["actions"], b["actions"])


def _corrupt(messages: list, which: int) -> list:
    """The messages with their ``which``-th compressed camera frame replaced by bytes that do not decode."""
    out = list(messages)
    k = [i for i, m in enumerate(out) if m[1] == topics.CAMERA_IMAGE_COMPRESSED][which]
    stamp, topic, msgtype, m = out[k]
    out[k] = (stamp, topic, msgtype, msg(msgtype, header=m.header, format="jpeg",
                                        data=np.frombuffer(b"not an image" * 10, np.uint8)))
    return out


def test_a_corrupt_frame_is_counted_and_its_ticks_keep_the_last_good_frame(tmp_path, two_episodes):
    first, _ = two_episodes
    clean = _compressed(first)
    write_bag(tmp_path / "clean", clean)
    write_bag(tmp_path / "mid", _corrupt(clean, 10))
    write_bag(tmp_path / "start", _corrupt(clean, 0))
    opts = ConvertOptions(rate=10, image_size=64)
    good = convert_bags([tmp_path / "clean"], tmp_path / "good", opts)
    mid = convert_bags([tmp_path / "mid"], tmp_path / "out_mid", opts)
    assert mid == good | {"bad_messages": good["bad_messages"] + 1}  # nothing else changes
    a, b = (list_episodes(tmp_path / d)[0].arrays(mmap=False)["frames"] for d in ("good", "out_mid"))
    differ = [t for t in range(len(a)) if not np.array_equal(a[t], b[t])]
    assert differ and all(t > 0 and np.array_equal(b[t], b[t - 1]) for t in differ), differ  # held, not invented
    start = convert_bags([tmp_path / "start"], tmp_path / "out_start", opts)  # no good frame yet: its ticks skipped
    assert start["bad_messages"] == good["bad_messages"] + 1 and start["episodes"] == 1
