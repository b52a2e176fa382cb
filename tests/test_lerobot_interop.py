"""LeRobotDataset interop: the project's demonstrations go out through LeRobot's own API and come back
unchanged; a dataset without the project's metadata is read through the understanding model; failures
leave nothing behind. The round trips need LeRobot's environment (`make lerobot-env`) and are skipped,
with that reason, where it is absent."""

import json
import os
import shutil
import stat

import numpy as np
import pytest

from vla_policy.dataset import ARRAYS, DatasetError, list_episodes
from vla_policy.demonstrations import GenerationConfig, generate
from vla_policy.lerobot_interop import LeRobotUnavailable, export_lerobot, import_lerobot, lerobot_python


def _lerobot_or_skip() -> str:
    try:
        return lerobot_python()
    except LeRobotUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    root = tmp_path_factory.mktemp("demos") / "data"
    generate(root, 3, seed=3_100_000, workers=1, progress=False,
             config=GenerationConfig(distractors=(1, 2), absent_fraction=0.0))
    return root


def test_lossless_round_trip_gives_every_array_and_meta_back(demos, tmp_path):
    _lerobot_or_skip()
    exported = export_lerobot([str(demos)], tmp_path / "lerobot", video=False, progress=False)
    assert exported["episodes"] == 3
    info = json.loads((tmp_path / "lerobot" / "meta" / "info.json").read_text())
    assert info["total_episodes"] == 3 and info["codebase_version"].startswith("v3")
    assert set(info["features"]) >= {"observation.image", "observation.state", "action", "observation.target_uv"}
    back = import_lerobot(tmp_path / "lerobot", tmp_path / "back", progress=False)
    assert back["imported"] == 3 and back["skipped"] == {} and back["project_metadata"]
    before, after = list_episodes(demos), list_episodes(tmp_path / "back")
    for a, b in zip(before, after):
        assert a.meta == b.meta
        for key in ARRAYS:
            assert np.array_equal(a.arrays(mmap=False)[key], b.arrays(mmap=False)[key], equal_nan=True), key


def test_video_export_and_a_dataset_without_project_metadata(demos, tmp_path):
    _lerobot_or_skip()
    export_lerobot([str(demos)], tmp_path / "lerobot", progress=False)  # AV1 videos, lossy frames
    (tmp_path / "lerobot" / "meta" / "vla_episodes.jsonl").unlink()  # as a dataset recorded elsewhere
    back = import_lerobot(tmp_path / "lerobot", tmp_path / "back", progress=False)
    assert back["imported"] == 3 and not back["project_metadata"]
    for a, b in zip(list_episodes(demos), list_episodes(tmp_path / "back")):
        # the target comes from the robot's own reading of the task text, not from the exporter
        assert b.meta["instruction"] == a.meta["instruction"] and b.meta["target"] == a.meta["target"]
        assert b.meta["refer"] == "colour" and b.meta["seed"] is None and b.meta["target_present"] is True
        fa, fb = a.arrays(mmap=False), b.arrays(mmap=False)
        assert np.array_equal(fa["proprio"], fb["proprio"]) and np.array_equal(fa["actions"], fb["actions"])
        assert fb["frames"].shape == fa["frames"].shape
        assert np.abs(fb["frames"].astype(int) - fa["frames"]).mean() < 6.0  # video compression, not a new image


def test_import_of_a_folder_that_is_not_a_lerobot_dataset(tmp_path):
    _lerobot_or_skip()
    (tmp_path / "plain").mkdir()
    with pytest.raises(DatasetError, match="not a LeRobotDataset"):
        import_lerobot(tmp_path / "plain", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() and not (tmp_path / ".partial-out").exists()


def test_missing_lerobot_is_a_clear_error(monkeypatch, demos, tmp_path):
    monkeypatch.setenv("VLA_LEROBOT_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(LeRobotUnavailable, match="not an executable"):
        export_lerobot([str(demos)], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_failing_lerobot_side_leaves_nothing_half_written(monkeypatch, demos, tmp_path):
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\necho 'error: disk full' >&2\nmkdir -p \"$4\"\nexit 2\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("VLA_LEROBOT_PYTHON", str(fake))
    with pytest.raises(DatasetError, match="disk full"):
        export_lerobot([str(demos)], tmp_path / "out", progress=False)
    assert sorted(os.listdir(tmp_path)) == ["fake-python"]


def test_export_refuses_an_existing_folder_and_mixed_image_sizes(demos, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(DatasetError, match="already exists"):
        export_lerobot([str(demos)], tmp_path / "taken", progress=False)
    other = tmp_path / "other"
    shutil.copytree(demos, other)
    for meta_file in other.glob("episode_*/meta.json"):
        meta = json.loads(meta_file.read_text())
        meta["image_size"] = [96, 96]
        meta_file.write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="one image size"):
        export_lerobot([str(demos), str(other)], tmp_path / "mixed", progress=False)
