"""ROS 2 graph figures: camera stamp -> command latency, control rate, CPU per node.

``python -m vla_ros.benchmark [--episodes N] [--seed S] [--checkpoint DIR]`` starts ``launch/sim_demo.launch.yaml``
(the same graph as ``make demo``), listens to ``/diagnostics`` and prints the policy node's own
measurements plus the CPU each node process used. A benchmark: it prints, it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray

from . import qos, topics
from .launcher import Supervisor, find_launch_file, load_launch_file

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def measure(episodes: int = 3, seed: int = 70000, checkpoint: str = "default", sim_time: bool = False,
            video: str = "outputs/benchmark_ros.mp4") -> dict[str, Any]:
    """Run ``sim_demo`` for ``episodes`` episodes and return what its nodes reported on ``/diagnostics``
    (the policy node's last acting sample, every control rate, the simulator's last sample) and the CPU
    each node process used in steady state (from 15 s, models and renderer loaded, to the end)."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    desc = load_launch_file(find_launch_file("sim_demo"), {
        "seed": str(seed), "episodes": str(episodes), "video": video, "checkpoint": checkpoint,
        "sim_time": "true" if sim_time else "false"})
    samples: dict[str, list[dict[str, str]]] = {"vla_policy": [], "vla_sim": []}
    rclpy.init()
    node = rclpy.create_node("vla_benchmark")
    node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, lambda msg: [
        samples[s.name].append({kv.key: kv.value for kv in s.values}) for s in msg.status if s.name in samples
    ], qos.COMMAND_QOS)
    stop = threading.Event()

    def spin(_: Supervisor) -> None:
        while not stop.is_set():
            rclpy.spin_once(node, timeout_sec=0.1)

    cpu: dict[str, list[tuple[float, float]]] = {}  # node -> [(time, cpu seconds)]

    def sample_cpu(sup: Supervisor) -> None:
        while not stop.wait(1.0):
            for name, proc in list(sup.procs.items()):
                if proc.poll() is None:
                    cpu.setdefault(name, []).append((time.monotonic(), cpu_seconds(proc.pid)))

    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        try:
            status = Supervisor(desc, Path(tmp)).run_observed((spin, sample_cpu), stop)
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
    cpu_percent = {}
    for name, series in cpu.items():
        steady = [(t, c) for t, c in series if t - start >= 15.0]
        if len(steady) >= 2:
            (t0, c0), (t1, c1) = steady[0], steady[-1]
            cpu_percent[name] = round(100 * (c1 - c0) / (t1 - t0), 1)
    acting = [s for s in samples["vla_policy"] if s.get("state") == "acting"] or samples["vla_policy"]
    rates = [float(s["control_rate_hz"]) for s in acting]
    ticks = [float(s["tick_rate_hz"]) for s in samples["vla_sim"] if float(s["tick_rate_hz"]) > 0]
    return {"episodes": episodes, "seed": seed, "wall_s": round(time.monotonic() - start, 1), "exit_status": status,
            "policy": acting[-1] if acting else None, "control_rates_hz": rates,
            "worst_latency_p99_ms": max((float(s["latency_ms_p99"]) for s in acting), default=None),
            "sim": samples["vla_sim"][-1] if samples["vla_sim"] else None, "sim_tick_rates_hz": ticks,
            "cpu_percent_of_one_core": cpu_percent}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vla_ros.benchmark", description=__doc__)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=70000)
    parser.add_argument("--checkpoint", default="default", help="policy checkpoint folder or 'default' (the launch argument)")
    parser.add_argument("--sim-time", action="store_true",
                        help="run the graph on simulated time (latencies are then in simulated seconds)")
    args = parser.parse_args(argv)
    fig = measure(args.episodes, args.seed, args.checkpoint, args.sim_time)
    print(f"\nsim_demo, {args.episodes} episodes from seed {args.seed}, {fig['wall_s']:.0f} s wall, "
          f"exit status {fig['exit_status']}")
    last = fig["policy"]
    if last:
        rates = np.array(fig["control_rates_hz"])
        print(f"camera stamp -> command publish latency (policy node, last 200 commands): "
              f"p50 {last['latency_ms_p50']} ms, p99 {last['latency_ms_p99']} ms "
              f"(worst p99 of any 200: {fig['worst_latency_p99_ms']:.1f} ms)")
        timed, over = int(last["timed_commands"]), int(last["commands_over_budget"])
        print(f"commands {last['commands']} (+ {last['hold_commands']} holds); over the {last['latency_budget_ms']} ms "
              f"budget: {over} of {timed} ({100 * over / max(timed, 1):.1f} %); left out of the latency figures "
              f"because the camera frame was late: {last['late_camera_commands']}")
        print(f"inference: p50 {last['inference_ms_p50']} ms, p99 {last['inference_ms_p99']} ms; "
              f"frames {last['frames']}, skipped (a later frame served the tick) {last['frames_skipped']}, "
              f"dropped (replaced before inference) {last['frames_dropped']}")
        print(f"control rate: median {np.median(rates):.2f} Hz, min {rates.min():.2f} Hz "
              f"(target {last['target_rate_hz']} Hz)")
        print(f"frame-to-robot-state stamp skew at inference: p99 {last['state_skew_ms_p99']} ms")
    sim = fig["sim"]
    if sim:
        if fig["sim_tick_rates_hz"]:
            print(f"camera/physics rate: median {np.median(fig['sim_tick_rates_hz']):.1f} Hz "
                  f"(target {sim['target_rate_hz']} Hz)")
        print(f"sim ticks {sim['ticks']}: late frames {sim['late_frames']}, ticks held by the command watchdog "
              f"{sim['watchdog_holds']}")
    for name, percent in fig["cpu_percent_of_one_core"].items():
        print(f"CPU {name}: {percent:.0f} % of one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
