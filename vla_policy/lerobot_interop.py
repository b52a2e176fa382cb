"""The project's demonstrations as a LeRobotDataset v3, and LeRobotDatasets back into the training format.

LeRobot 0.6.1 needs Python >= 3.12 and its own torch, so it lives in its own virtual environment
(``make lerobot-env``) and never in the project's. This module runs ``lerobot_side.py`` under that
environment's Python, which writes and reads datasets with LeRobot's own API; the two sides exchange
plain ``.npy`` files and JSON (the schema is in ``lerobot_side.py``). An export is written to a hidden
folder beside ``out`` and renamed when complete, an import likewise: an interrupted run leaves nothing
that passes for a dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import DatasetError, list_episodes, write_episode

SIDE_SCRIPT = Path(__file__).with_name("lerobot_side.py")
LEROBOT_PYTHON_ENV = "VLA_LEROBOT_PYTHON"
DEFAULT_LEROBOT_VENV = ".venv-lerobot"


class LeRobotUnavailable(RuntimeError):
    """No LeRobot environment to run the LeRobot side in."""


def lerobot_python() -> str:
    """The Python of the LeRobot environment: ``$VLA_LEROBOT_PYTHON``, else ``.venv-lerobot/bin/python`` in
    the working directory or beside this checkout."""
    explicit = os.environ.get(LEROBOT_PYTHON_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise LeRobotUnavailable(f"{LEROBOT_PYTHON_ENV}={explicit}: not an executable")
        return explicit
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = base / DEFAULT_LEROBOT_VENV / "bin" / "python"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise LeRobotUnavailable("LeRobot is not installed: run `make lerobot-env` (Python >= 3.12, about 2.2 GB) "
                             f"or set {LEROBOT_PYTHON_ENV} to the Python of an environment with lerobot 0.6.1")


def _run_side(args: list[str], progress: bool) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    errors = []
    # stdout to a file: whatever LeRobot prints there cannot fill a pipe while stderr is being read
    with tempfile.TemporaryFile("w+") as stdout:
        proc = subprocess.Popen([lerobot_python(), str(SIDE_SCRIPT), *args], stdout=stdout,
                                stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stderr is not None
        for line in proc.stderr:  # progress lines, and LeRobot's own warnings
            line = line.rstrip()
            if line.startswith(("exported episode", "read episode")):
                if progress:
                    print(f"\r{line}", end="", file=sys.stderr, flush=True)
            elif line:
                errors.append(line)
        code = proc.wait()
        stdout.seek(0)
        out = stdout.read()
    if progress:
        print(file=sys.stderr)
    if code != 0:
        reason = next((e[len("error: "):] for e in reversed(errors) if e.startswith("error: ")), None)
        raise DatasetError(reason or f"the LeRobot side failed (exit {code}): {errors[-1] if errors else 'no output'}")
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise DatasetError(f"the LeRobot side ended without its JSON summary: {out[-200:]!r}") from None


def _fresh_output(out: Path) -> Path:
    if out.exists():
        raise DatasetError(f"{out}: already exists (choose a new folder; nothing is overwritten)")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".partial-{out.name}"
    if partial.exists():
        shutil.rmtree(partial)
    return partial


def export_lerobot(data_dirs: list[str], out: str | os.PathLike, repo_id: str = "local/vla_demos",
                   video: bool = True, progress: bool = True) -> dict[str, Any]:
    """Write the episodes of ``data_dirs`` as one LeRobotDataset at ``out`` (videos, or PNG frames with
    ``video=False``); returns {"episodes", "frames", "root"}."""
    episodes = [e for d in data_dirs for e in list_episodes(d)]
    sizes = {tuple(e.meta.get("image_size", ())) for e in episodes}
    rates = {e.meta.get("control_hz") for e in episodes}
    if len(sizes) != 1 or len(next(iter(sizes))) != 2:
        raise DatasetError(f"one LeRobotDataset holds one image size; these episodes have {sorted(sizes)}")
    if len(rates) != 1 or not isinstance(next(iter(rates)), (int, float)):
        raise DatasetError(f"one LeRobotDataset holds one frame rate; these episodes have {sorted(map(str, rates))}")
    strided = sum(1 for e in episodes if e.frame_stride != 1)
    if strided:
        raise DatasetError(f"a LeRobotDataset pairs every action with a frame; {strided} of these episodes keep "
                           "every k-th frame only (vla data generate --frame-stride): export sets made without it")
    out = Path(out)
    partial = _fresh_output(out)
    manifest = {"repo_id": repo_id, "fps": int(next(iter(rates))), "video": video,
                "episodes": [{"path": str(e.path.resolve()), "meta": e.meta} for e in episodes]}
    with tempfile.TemporaryDirectory(prefix="vla-export-") as tmp:
        manifest_file = Path(tmp) / "manifest.json"
        manifest_file.write_text(json.dumps(manifest))
        try:
            summary = _run_side(["export", str(manifest_file), str(partial)], progress)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    os.replace(partial, out)
    return {**summary, "root": str(out)}


def _staged_meta(info: dict[str, Any], understanding: Any, shape: tuple[int, ...]) -> tuple[dict | None, str | None]:
    """The project's meta for one imported episode, or (None, why it is skipped)."""
    meta = info.get("vla_meta")
    if isinstance(meta, dict) and all(k in meta for k in ("instruction", "target", "target_present", "seed")):
        return {k: v for k, v in meta.items() if k != "format"}, None
    task = info.get("task")
    if not isinstance(task, str) or not task.strip():
        return None, "no task text"
    verdict = understanding.understand(task)
    if not verdict.understood:
        return None, f"instruction not understood ({verdict.kind})"
    if verdict.refer != "colour":  # the relational kinds need the anchor's pixels the project's meta carries
        return None, f"'{verdict.refer}' instruction without the project's episode metadata"
    return {"seed": None, "instruction": task, "target": verdict.target, "target_present": True,
            "success": True, "outcome": "success", "steps": shape[0], "image_size": list(shape[1:3]),
            "control_hz": info.get("fps"), "refer": "colour",
            "source": f"lerobot episode {info.get('episode_index')}"}, None


def import_lerobot(root: str | os.PathLike, out: str | os.PathLike, understanding: Any = None,
                   progress: bool = True) -> dict[str, Any]:
    """Convert a LeRobotDataset with the project's features into a training dataset at ``out``.

    Episodes exported by this project get their metadata back. A foreign episode's task text goes through
    the understanding model (the robot's own reading): a colour instruction it understands becomes the
    episode's target, assumed a successful demonstration; anything else is skipped and counted by reason."""
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    partial = _fresh_output(out)
    skipped: Counter[str] = Counter()
    imported = 0
    with tempfile.TemporaryDirectory(prefix="vla-import-") as staging:
        read = _run_side(["import", str(root), staging], progress)
        try:
            for folder in sorted(Path(staging).glob("episode_*")):
                info = json.loads((folder / "info.json").read_text())
                frames = np.load(folder / "frames.npy", allow_pickle=False)
                state = np.load(folder / "state.npy", allow_pickle=False)
                action = np.load(folder / "action.npy", allow_pickle=False)
                uv_file = folder / "target_uv.npy"
                uv = np.load(uv_file, allow_pickle=False) if uv_file.is_file() else np.full((len(frames), 2), np.nan)
                if not (len(frames) == len(state) == len(action) == len(uv)) or len(frames) == 0:
                    skipped["arrays of different lengths"] += 1
                    continue
                if info.get("vla_meta") is None and understanding is None:
                    from .understanding import load_understanding

                    understanding = load_understanding()
                meta, why = _staged_meta(info, understanding, frames.shape)
                if meta is None:
                    skipped[why] += 1
                    continue
                write_episode(partial, imported, {"frames": frames, "proprio": state, "actions": action,
                                                  "target_uv": uv}, meta)
                imported += 1
            if imported == 0:
                raise DatasetError(f"{root}: no episode could be imported (skipped: {dict(skipped) or 'none read'})")
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    os.replace(partial, out)
    return {"imported": imported, "skipped": dict(skipped), "frames_read": read["frames"], "episodes_read": read["episodes"],
            "project_metadata": read["vla_meta"], "root": str(out)}
