"""Soak: many consecutive closed-loop episodes over ROS 2, watching every node's resources.

``python -m vla_ros.soak --episodes 200`` (``make soak``) runs ``launch/sim_demo.launch.yaml`` for
that many episodes and samples each node process's resident memory, open file descriptors and
threads every few seconds. It prints the success rate (Wilson 95 % interval) and the growth of each
resource from the end of the warm-up to the end, and writes them as JSON. A soak, not a test: it
reports, and its exit status says only whether the graph ran to the end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticStatus

from vla_sim.evaluation import wilson_interval

from . import qos, topics
from .launcher import Supervisor, find_launch_file, load_launch_file


def process_resources(pid: int) -> dict[str, float] | None:
    """Resident memory (MB), open file descriptors and threads of a live process; None once it
    has exited (an unreaped zombie still has a status file, without memory fields)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields or "Threads" not in fields:
        return None
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024.0, "fds": float(fds), "threads": float(fields["Threads"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vla_ros.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=90000, help="seed of the first episode (then +1 each)")
    parser.add_argument("--warmup", type=int, default=5, help="episodes before the resource baseline is taken")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between resource samples")
    parser.add_argument("--json", type=Path, default=None, help="report file (default: outputs/soak_<clock>.json)")
    parser.add_argument("--clock", choices=("sim", "wall"), default="sim",
                        help="sim: simulated /clock, as make demo runs (default); wall: real time, as on a robot")
    args = parser.parse_args(argv)
    args.json = args.json or Path(f"outputs/soak_{args.clock}.json")
    if args.episodes < 1 or not 0 <= args.warmup < args.episodes or args.every <= 0:
        parser.error("need --episodes >= 1, 0 <= --warmup < --episodes and --every > 0")
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    results: list[dict[str, str]] = []
    samples: dict[str, list[tuple[int, dict[str, float]]]] = {}  # node -> [(episodes done, resources)]
    stop = threading.Event()
    rclpy.init()
    node = rclpy.create_node("vla_soak")
    node.create_subscription(DiagnosticStatus, topics.EPISODE, lambda msg: results.append(
        {"outcome": msg.message, **{kv.key: kv.value for kv in msg.values}}), qos.COMMAND_QOS)

    def spin(_: Supervisor) -> None:
        while not stop.is_set():
            rclpy.spin_once(node, timeout_sec=0.1)

    def sample(sup: Supervisor) -> None:
        while not stop.wait(args.every):
            for name, proc in list(sup.procs.items()):
                found = process_resources(proc.pid) if proc.poll() is None else None
                if found is not None:
                    samples.setdefault(name, []).append((len(results), found))
            print(f"[soak] {len(results)}/{args.episodes} episodes, "
                  f"{sum(r['success'] == 'True' for r in results)} succeeded", flush=True)

    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        desc = load_launch_file(find_launch_file("sim_demo"), {
            "seed": str(args.seed), "episodes": str(args.episodes), "video": str(Path(tmp) / "soak.mp4"),
            "sim_time": "true" if args.clock == "sim" else "false"})
        try:
            status = Supervisor(desc, Path(tmp)).run_observed((spin, sample), stop)
        finally:
            node.destroy_node()
            rclpy.try_shutdown()

    ok = sum(r["success"] == "True" for r in results)
    low, high = wilson_interval(ok, len(results)) if results else (0.0, 0.0)
    growth = {}
    for name, series in samples.items():
        base = next((res for done, res in series if done >= args.warmup), None)
        if base is not None:
            last = series[-1][1]
            growth[name] = {key: round(last[key] - base[key], 1) for key in base} | {
                "rss_mb_at_baseline": round(base["rss_mb"], 1), "samples": len(series)}
    report = {"episodes": len(results), "successes": ok, "success_rate": ok / max(len(results), 1),
              "ci95": [low, high], "outcomes": {o: sum(r["outcome"] == o for r in results)
                                                 for o in sorted({r["outcome"] for r in results})},
              "growth_after_warmup": growth, "wall_minutes": round((time.monotonic() - start) / 60.0, 1),
              "exit_status": status, "seed": args.seed, "clock": args.clock,
              "failures": [r for r in results if r["success"] != "True"],
              "per_episode": [{"seed": r.get("seed"), "outcome": r["outcome"], "success": r.get("success") == "True",
                               **{k: r.get(k) or None for k in ("refer", "target_instance", "wrong_instance")}}
                              for r in results]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nsoak: {len(results)} episodes from seed {args.seed} ({args.clock} clock) in {report['wall_minutes']} min, exit status {status}")
    print(f"success {ok}/{len(results)} = {100 * report['success_rate']:.1f} % "
          f"(Wilson 95 % {100 * low:.1f}-{100 * high:.1f}); outcomes {report['outcomes']}")
    for name, g in growth.items():
        print(f"{name}: RSS {g['rss_mb_at_baseline']} MB at episode {args.warmup}, growth {g['rss_mb']:+.1f} MB; "
              f"fds {g['fds']:+.0f}; threads {g['threads']:+.0f}")
    print(f"wrote {args.json}")
    return 0 if status == 0 and len(results) == args.episodes else 1


if __name__ == "__main__":
    raise SystemExit(main())
