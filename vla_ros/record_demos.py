"""Record expert demonstrations over ROS, as a user records teleoperation: ``python -m vla_ros.record_demos``.

Starts ``vla record`` on the project's topics, then ``vla launch sim_demo commander:=expert`` for
``--episodes`` episodes (the scripted expert stands in for a person with a teleoperation device), stops
the recorder when the launch ends and checks the bag: frames received vs written by the recorder, and
camera frames missing from the stamp sequence (each frame is stamped with the simulated instant it
shows, one camera period apart). ``--duration`` records for that long instead (episodes run until then).

Used by ``make policy-from-bags``; the bag converts with ``vla data from-bag``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from .topics import CAMERA_IMAGE, EPISODE

PROG = "python -m vla_ros.record_demos"


def frame_continuity(bag: Path, rate_hz: float = 30.0) -> dict[str, float]:
    """Camera frames in ``bag``: written, distinct stamps, and stamps missing between consecutive ones
    (a gap of k periods is k - 1 frames the recorder never got), plus bag size per minute of the bag's
    clock (simulated time when recorded with use_sim_time)."""
    typestore = get_typestore(Stores.ROS2_JAZZY)
    stamps = []
    with Reader(bag) as reader:
        span_min = (reader.end_time - reader.start_time) / 60e9
        conns = [c for c in reader.connections if c.topic == CAMERA_IMAGE]
        for conn, _, raw in reader.messages(connections=conns):
            header = typestore.deserialize_cdr(raw, conn.msgtype).header.stamp
            stamps.append(header.sec * 10**9 + header.nanosec)
        episodes = reader.topics[EPISODE].msgcount if EPISODE in reader.topics else 0
    s = np.unique(np.array(stamps, np.int64))
    period = 1e9 / rate_hz
    steps = np.round(np.diff(s) / period).astype(np.int64) if len(s) > 1 else np.zeros(0, np.int64)
    # Clock restarts (a new simulator run) are not drops: only count gaps of under 2 s.
    missing = int(np.clip(steps[(steps > 1) & (steps < 2 * rate_hz)] - 1, 0, None).sum())
    size = sum(f.stat().st_size for f in Path(bag).rglob("*") if f.is_file())
    return {"frames_written": len(stamps), "distinct_stamps": int(len(s)), "missing_frames": missing,
            "episodes": episodes, "minutes": round(span_min, 2), "mb": round(size / 1e6, 1),
            "mb_per_minute": round(size / 1e6 / span_min, 1) if span_min > 0 else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Record expert demonstrations over ROS into a bag.")
    parser.add_argument("--out", required=True, type=Path, help="bag folder to create")
    parser.add_argument("--episodes", type=int, default=20, help="episodes to record (default 20)")
    parser.add_argument("--duration", type=float, default=None, help="record this many seconds instead")
    parser.add_argument("--seed", type=int, default=2_000_000, help="first scene seed (default 2,000,000)")
    parser.add_argument("--real-time-factor", type=float, default=1.0, help="simulated seconds per wall second")
    parser.add_argument("--launch-arg", action="append", default=[], metavar="NAME:=VALUE",
                        help="more sim_demo arguments (e.g. absent_fraction:=0.12 abstain_after:=0.8)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"--out {args.out}: already exists; choose a new folder")
    if args.episodes < 1 or (args.duration is not None and not args.duration > 0) or not args.real_time_factor > 0:
        parser.error("--episodes, --duration and --real-time-factor must be positive")
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    record = [str(bin_dir / "vla"), "record", "--out", str(args.out)]
    if args.duration is not None:
        record += ["--duration", f"{args.duration:g}"]
    # Stamp messages on the simulated clock (/clock, which sim_demo publishes): the converter's 10 Hz samples
    # are then 10 Hz of robot time whatever the real-time factor, as the policy acts.
    record.append("--use-sim-time")
    episodes = 0 if args.duration is not None else args.episodes
    launch = [str(bin_dir / "vla"), "launch", "sim_demo", "commander:=expert", f"episodes:={episodes}",
              f"seed:={args.seed}", "target:=random", f"real_time_factor:={float(args.real_time_factor)}",
              # the recorder is the camera's one subscriber: the episode clock waits for it, so nothing is lost
              "record_video:=false", "wait_for_camera_subscribers:=1", *args.launch_arg]
    start = time.monotonic()
    recorder = subprocess.Popen(record, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = recorder.stdout.readline()
        if not line.startswith("recording"):
            print(f"{PROG}: error: the recorder did not start ({line.strip()})", file=sys.stderr)
            return 1
        sim = subprocess.Popen(launch, env=env)
        try:
            if args.duration is not None:
                recorder.wait()
            else:
                sim.wait()
        finally:
            sim.send_signal(signal.SIGINT)
            sim.wait(timeout=60)
        recorder.send_signal(signal.SIGINT)
        print(recorder.communicate(timeout=120)[0], end="")
    finally:
        recorder.kill()
        recorder.wait()
    wall = (time.monotonic() - start) / 60
    figures = frame_continuity(args.out)
    figures = {"wall_minutes": round(wall, 2), "mb_per_wall_minute": round(figures["mb"] / wall, 1), **figures}
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0 if recorder.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
