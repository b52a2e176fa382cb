"""``vla bench``: the stack's speed figures in one run, printed and written as JSON.

A benchmark: it prints what it measures and never fails because a machine is slow. Each section runs on
its own; one that raises is written with its error and the others still run (the exit status is then 1:
that is a defect, not slowness). Where a reference exists it is measured in the same run and given as a
ratio (the compiled network against the eager one, the view-culled renderer against drawing every link),
so a busy machine slows both sides alike.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vla_policy.lerobot_policy import LEROBOT_PREFIX
from vla_policy.phase_clock import describe

# torch loads in the sections that use it: `vla --help` and argument errors stay fast.
SECTIONS = ("policy", "training", "simulator", "ros")


def machine() -> dict[str, Any]:
    import torch

    from vla_policy.benchmark import cpu_model

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "cuda_device": cuda, "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def bench_policy(policy: str, quick: bool, reference: str | None = None) -> dict[str, Any]:
    """Step latency through the decision core (what ``vla eval`` and the ROS node run), and the network's
    forward pass alone, eager and ``torch.compile``d, on CPU and on CUDA where present. With ``reference``
    (a checkpoint folder or ``lerobot:DIR``) that policy steps on the same frames in alternating order."""
    import torch

    from vla_policy.agent import PolicyAgent
    from vla_policy.benchmark import agent_step_latency, benchmark_scenes, forward_latency, summarise
    from vla_policy.modeling_vla import VLAPolicy
    from vla_policy.understanding import load_understanding

    steps = 100 if quick else 400
    model = VLAPolicy.from_pretrained(policy)
    understanding = load_understanding(text_encoder=model.text_encoder)
    understanding.warm_up()
    scenes = benchmark_scenes(model.config.image_size, 4 if quick else 8)
    agent = PolicyAgent(model, understanding)
    agents: dict[str, Any] = {"policy": agent}
    if reference and reference.startswith(LEROBOT_PREFIX):  # served from LeRobot's Python, as many threads
        from vla_policy.lerobot_policy import make_lerobot_agent

        agents["reference"] = make_lerobot_agent(checkpoint=reference[len(LEROBOT_PREFIX):],
                                                 threads=torch.get_num_threads())
    elif reference:
        agents["reference"] = PolicyAgent(VLAPolicy.from_pretrained(reference), understanding)
    try:
        step_ms, first_ms = agent_step_latency(agents, scenes, steps)
    finally:
        if hasattr(agents.get("reference", agent).policy, "close"):
            agents["reference"].policy.close()
    out: dict[str, Any] = {"checkpoint": policy, "image_size": model.config.image_size,
                           "step_cpu": summarise(step_ms["policy"]), "first_command_cpu": summarise(first_ms["policy"]),
                           "abstained_on_scenes": agent.core.vote.abstained}
    if reference:
        out.update(reference=reference, reference_step_cpu=summarise(step_ms["reference"]),
                   step_ratio_policy_vs_reference=_ratio(np.percentile(step_ms["policy"], 50),
                                                         np.percentile(step_ms["reference"], 50)))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        net = model if device == "cpu" else VLAPolicy.from_pretrained(policy, device=device)
        eager, compiled, first_s = forward_latency(net, scenes[0], steps, device)
        out[f"forward_{device}_eager"] = summarise(eager)
        if isinstance(compiled, str):  # no compiler toolchain: the eager figures still stand
            out[f"forward_{device}_compiled"] = {"error": compiled}
            continue
        out[f"forward_{device}_compiled"] = {**summarise(compiled), "first_call_s": round(first_s, 1)}
        out[f"forward_{device}_speedup_compiled_vs_eager"] = _ratio(np.percentile(eager, 50), np.percentile(compiled, 50))
    return out


# Training variants measured against eager float32 in the same run (CUDA trains in bf16 already): each is
# (training settings, network settings) changed from the reference. ``context_layer`` is the shipped network's
# one attention layer over all 256 visual tokens and the words (the relational kinds need it): its cost.
TRAIN_VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "prefetch": ({"prefetch": True}, {}), "bf16": ({"cpu_bf16": True}, {}), "compiled": ({"compile": True}, {}),
    "context_layer": ({}, {"context_layers": 1})}


def bench_training(quick: bool) -> dict[str, Any]:
    """Demonstration episodes/min (the scripted expert, 128 x 128 frames, every core) and where their
    time goes; training samples/s of the shipped recipe's network on those demonstrations, where its
    time goes, and the speed of batches drawn on a thread, bf16 autocast on CPU, ``torch.compile`` and the
    network with a context layer as ratios to eager (after each run's first step, which holds the
    compilation; its seconds are reported)."""
    import torch

    from vla_policy.configuration_vla import VLAConfig
    from vla_policy.demonstrations import GenerationConfig, generate
    from vla_policy.training import TrainConfig, train

    episodes, steps = (4, 20) if quick else (16, 100)
    workers = min(2, os.cpu_count() or 1)
    cuda = torch.cuda.is_available()
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="vla-bench-") as tmp:
        data = generate(Path(tmp) / "data", episodes, seed=960_000, workers=workers, progress=False)
        # the same scenes keeping every second frame (--frame-stride 2): what rendering fewer frames buys
        strided = generate(Path(tmp) / "strided", episodes, seed=960_000, workers=workers, progress=False,
                           config=GenerationConfig(frame_stride=2))

        def run(name: str, network: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
            cfg = TrainConfig(steps=steps, warmup_steps=1, val_every=10**9, eval_every=0, checkpoint_every=10**9,
                              **extra)
            return train([str(Path(tmp) / "data")], str(Path(tmp) / name), VLAConfig(**(network or {})), cfg,
                         progress=False)

        eager = run("eager")  # the reference: its failure is the section's, reported with its own cause
        for name, (extra, network) in TRAIN_VARIANTS.items():
            if cuda and name == "bf16":
                continue
            try:
                runs[name] = run(name, network, **extra)
            except Exception as exc:  # noqa: BLE001 - e.g. no compiler toolchain: the other figures still stand
                runs[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    fig: dict[str, Any] = {
        "demo_episodes": episodes, "demo_workers": workers,
        "demo_episodes_per_min": round(data["episodes_per_min"], 1), "demo_frames": data["frames"],
        "demo_seconds_by_phase": data["seconds_by_phase"],
        "demo_stride2_episodes_per_min": round(strided["episodes_per_min"], 1),
        "demo_speedup_stride2_vs_every_frame": _ratio(strided["episodes_per_min"], data["episodes_per_min"]),
        "train_steps": steps, "train_batch_size": TrainConfig().batch_size,
        "train_samples_per_s": round(eager["samples_per_s"], 1),
        "train_seconds_by_phase": eager["seconds_by_phase"],
        "train_device": "cuda" if cuda else "cpu"}
    steady = eager["samples_per_s_after_first_step"]
    for name in TRAIN_VARIANTS:
        run = runs.get(name)
        if run is None:
            continue
        if "error" in run:
            fig[f"train_{name}"] = run["error"]
            continue
        fig[f"train_{name}_samples_per_s_after_first_step"] = round(run["samples_per_s_after_first_step"], 1)
        fig[f"train_{name}_first_step_s"] = round(run["first_step_seconds"], 1)
        fig[f"train_speedup_{name}_vs_eager"] = _ratio(run["samples_per_s_after_first_step"], steady)
    return fig


def bench_simulator(quick: bool) -> dict[str, Any]:
    """Physics steps/s and rendered frames/s at the policy's 128 x 128 (culled against every link drawn)."""
    from vla_sim.benchmark import physics_steps_per_s, render_fps

    culled, full = render_fps(128, 128)
    return {"physics_steps_per_s": round(physics_steps_per_s(1200 if quick else 4800)),
            "rendered_frames_per_s_128": round(culled, 1), "rendered_frames_per_s_128_every_link": round(full, 1),
            "culling_speedup": _ratio(culled, full)}


def bench_ros(policy: str, quick: bool) -> dict[str, Any]:
    """The closed loop over ROS 2 (``sim_demo``: camera at 30 Hz, policy node, video recorder):
    camera stamp -> command latency and how close the control rate comes to its target."""
    from . import benchmark

    episodes = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="vla-bench-") as tmp:
        fig = benchmark.measure(episodes, seed=70000, checkpoint=policy, video=str(Path(tmp) / "bench.mp4"))
    last = fig["policy"]
    if not last:
        raise RuntimeError(f"the policy node published no diagnostics (launch exit status {fig['exit_status']})")
    rates = np.array(fig["control_rates_hz"])
    target = float(last["target_rate_hz"])
    return {"episodes": episodes, "wall_s": fig["wall_s"], "exit_status": fig["exit_status"],
            "camera_to_command_ms": {"p50_ms": float(last["latency_ms_p50"]), "p99_ms": float(last["latency_ms_p99"])},
            "commands": int(last["commands"]), "commands_over_budget": int(last["commands_over_budget"]),
            "control_rate_hz_median": round(float(np.median(rates)), 2), "control_rate_hz_min": round(float(rates.min()), 2),
            "control_rate_target_hz": target, "control_rate_accuracy": _ratio(float(np.median(rates)), target),
            "cpu_percent_of_one_core": fig["cpu_percent_of_one_core"]}


def _lines(name: str, fig: dict[str, Any]) -> list[str]:
    """The human-readable lines of one section."""
    if "error" in fig:
        return [f"{name}: FAILED: {fig['error']}"]
    if name == "policy":
        lines = [f"policy step (decision core + policy, batch 1, CPU): p50 {fig['step_cpu']['p50_ms']:.1f} ms, "
                 f"p99 {fig['step_cpu']['p99_ms']:.1f} ms; first command of an instruction p50 "
                 f"{fig['first_command_cpu']['p50_ms']:.1f} ms"]
        if "reference" in fig:
            ref = fig["reference_step_cpu"]
            lines.append(f"reference {fig['reference']}, same frames, alternating: p50 {ref['p50_ms']:.1f} ms, p99 "
                         f"{ref['p99_ms']:.1f} ms; ours x{fig['step_ratio_policy_vs_reference']} of its p50")
        for device in ("cpu", "cuda"):
            if f"forward_{device}_eager" not in fig:
                continue
            eager, comp = fig[f"forward_{device}_eager"], fig[f"forward_{device}_compiled"]
            text = f"network forward, {device}: eager p50 {eager['p50_ms']:.2f} ms, p99 {eager['p99_ms']:.2f} ms"
            if "error" in comp:
                text += f"; torch.compile unavailable ({comp['error']})"
            else:
                text += (f"; compiled p50 {comp['p50_ms']:.2f} ms, p99 {comp['p99_ms']:.2f} ms (first call "
                         f"{comp['first_call_s']} s; x{fig[f'forward_{device}_speedup_compiled_vs_eager']} vs eager)")
            lines.append(text)
        if "forward_cuda_eager" not in fig:
            lines.append("CUDA: not present on this machine (no GPU figures)")
        if fig["abstained_on_scenes"]:
            lines.append("warning: the policy abstained on the benchmark scenes; its step figures are not the acting path")
        return lines
    if name == "training":
        lines = [f"demonstrations: {fig['demo_episodes_per_min']} episodes/min ({fig['demo_workers']} workers, "
                 f"128x128 frames)",
                 f"training: {fig['train_samples_per_s']} samples/s on {fig['train_device']} (batch "
                 f"{fig['train_batch_size']}, {fig['train_steps']} steps)"]
        if "demo_stride2_episodes_per_min" in fig:
            lines.append(f"demonstrations keeping every second frame (--frame-stride 2): "
                         f"{fig['demo_stride2_episodes_per_min']} episodes/min "
                         f"(x{fig['demo_speedup_stride2_vs_every_frame']} of every frame)")
        if "demo_seconds_by_phase" in fig:
            lines.append(f"demonstration time by phase: {describe(fig['demo_seconds_by_phase'])}")
            lines.append(f"training time by phase: {describe(fig['train_seconds_by_phase'])}")
        for variant in TRAIN_VARIANTS:
            if f"train_{variant}" in fig:
                lines.append(f"training {variant}: {fig[f'train_{variant}']}")
            elif f"train_speedup_{variant}_vs_eager" in fig:
                lines.append(f"training {variant}: {fig[f'train_{variant}_samples_per_s_after_first_step']} samples/s "
                             f"after its first step (x{fig[f'train_speedup_{variant}_vs_eager']} vs eager; first "
                             f"step {fig[f'train_{variant}_first_step_s']} s)")
        return lines
    if name == "simulator":
        return [f"physics: {fig['physics_steps_per_s']:,} steps/s (Panda, table, 6 cups, 240 Hz)",
                f"rendering 128x128: {fig['rendered_frames_per_s_128']} frames/s (every link drawn: "
                f"{fig['rendered_frames_per_s_128_every_link']}; culling x{fig['culling_speedup']})"]
    lat = fig["camera_to_command_ms"]
    return [f"ROS 2 closed loop ({fig['episodes']} episode(s)): camera -> command p50 {lat['p50_ms']} ms, "
            f"p99 {lat['p99_ms']} ms; control rate median {fig['control_rate_hz_median']} Hz of "
            f"{fig['control_rate_target_hz']} Hz (x{fig['control_rate_accuracy']}), min {fig['control_rate_hz_min']} Hz"]


def run(json_path: str | None, quick: bool, sections: tuple[str, ...], policy: str, reference: str | None = None) -> int:
    report: dict[str, Any] = {"machine": machine(), "quick": quick, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              "sections": {}}
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, CUDA: {m['cuda_device'] or 'none'}, "
          f"torch {m['torch']}", flush=True)
    jobs: dict[str, Callable[[], dict[str, Any]]] = {
        "policy": lambda: bench_policy(policy, quick, reference), "training": lambda: bench_training(quick),
        "simulator": lambda: bench_simulator(quick), "ros": lambda: bench_ros(policy, quick)}
    t_all = time.perf_counter()
    failed = False
    for name in sections:
        t0 = time.perf_counter()
        try:
            fig = jobs[name]()
        except Exception as exc:  # noqa: BLE001 - the other sections still run; the error is reported
            fig = {"error": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc(file=sys.stderr)
            failed = True
        fig["seconds"] = round(time.perf_counter() - t0, 1)
        report["sections"][name] = fig
        for line in _lines(name, fig):
            print(line, flush=True)
        if json_path:  # after every section: an interrupted run keeps what it measured
            report["seconds"] = round(time.perf_counter() - t_all, 1)
            Path(json_path).write_text(json.dumps(report, indent=1))
    print(f"bench: {time.perf_counter() - t_all:.0f} s" + (f"; figures in {json_path}" if json_path else ""))
    return 1 if failed else 0
