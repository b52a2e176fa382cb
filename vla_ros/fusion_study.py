"""The fusion study: every way of combining vision and language, trained the same way and measured the same way.

``vla study`` trains one policy per variant on the same demonstrations with the same steps, seed and losses
(config/study.yaml; only ``policy.fusion`` or ``policy.input_ablation`` differs), evaluates each in closed
loop on the same seeded splits with ``vla eval``, measures parameters and control-step latency (all
variants on the same frames, in alternating order), and writes a Markdown table, a JSON summary and a PNG
chart. Every stage is skipped when its output exists and an interrupted training resumes, so rerunning the
command continues where it stopped; wall time per stage accumulates in ``OUT/timing.json``.

The trainings and evaluations are the ``vla train`` / ``vla eval`` commands a user would run (subprocesses
of this Python), so the study measures exactly what those commands do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from vla_policy.lerobot_policy import LEROBOT_PREFIX

# name -> the one policy field that differs from the study's base config
VARIANTS: dict[str, dict[str, str]] = {
    "film_xattn": {},  # the shipped fusion
    "xattn": {"fusion": "xattn"},
    "film_late": {"fusion": "film_late"},
    "late": {"fusion": "late"},
    "early": {"fusion": "early"},
    "no_language": {"input_ablation": "no_language"},
    "no_vision": {"input_ablation": "no_vision"},
}
VARIANT_LABELS = {
    "film_xattn": "FiLM + cross-attention (shipped)",
    "xattn": "cross-attention only",
    "film_late": "FiLM only (+ late merge)",
    "late": "late (pooled features merged)",
    "early": "early (instruction as input channels)",
    "no_language": "control: no language",
    "no_vision": "control: no vision",
}

# LeRobot's ACT beside them (``--act``): trained from scratch by LeRobot's own ``lerobot-train`` on the same
# demonstrations exported as a LeRobotDataset, on as many samples as each variant (steps x batch), and
# evaluated through ``vla eval --policy lerobot:DIR``. LeRobot's ACT defaults except: no pretrained backbone
# (offline, from scratch), chunks of 20 steps (2 s at 10 Hz, the ACT paper's 100 steps at 50 Hz; the
# decision core ensembles them as it does the project's chunks).
ACT = "act"
ACT_LABEL = "LeRobot ACT (from scratch)"
ACT_BATCH = 8  # LeRobot's default batch size
ACT_ARGS = ["--policy.type=act", "--policy.device=cpu", "--policy.pretrained_backbone_weights=null",
            "--policy.chunk_size=20", "--policy.n_action_steps=20", "--policy.push_to_hub=false",
            "--wandb.enable=false", "--num_workers=0"]

# name -> `vla eval` arguments; the seeds are those of `make eval-policy` / `make eval-refer`
SPLITS: dict[str, list[str]] = {
    "A": ["--seed", "0", "--target", "red", "--distractors", "2-4"],
    "B": ["--seed", "10000", "--target", "random", "--distractors", "3-5"],
    "C": ["--seed", "20000", "--target", "random", "--distractors", "2-4", "--paraphrases", "held-out"],
    "D": ["--seed", "30000", "--target", "random", "--distractors", "2-4", "--absent"],
    "shades": ["--seed", "40000", "--target", "random", "--distractors", "2-4", "--paraphrases", "shades"],
    "leftmost": ["--seed", "100000", "--refer", "leftmost", "--target", "random", "--distractors", "2-4"],
    "nearest": ["--seed", "100000", "--refer", "nearest", "--target", "random", "--distractors", "2-4"],
}
SPLIT_LABELS = {
    "A": "A: red, 2-4 distractors",
    "B": "B: random colour, 3-5",
    "C": "C: held-out paraphrases",
    "D": "D: colour absent (abstain)",
    "shades": "synonyms: shade words",
    "leftmost": "leftmost",
    "nearest": "nearest",
}


class StudyError(ValueError):
    """A study configuration or folder that cannot be used (one line, for the CLI)."""


def _names(text: str | None, known: dict[str, Any], what: str) -> list[str]:
    if not text:
        return list(known)
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise StudyError(f"--{what}: unknown {bad or text!r}; choose from {', '.join(known)}")
    return names


def variant_config(base: dict[str, Any], variant: str, steps: int | None) -> dict[str, Any]:
    """The base run config with the variant's one policy change (and ``steps`` when given)."""
    config = json.loads(json.dumps(base))  # deep copy of plain YAML data
    config.setdefault("policy", {}).update(VARIANTS[variant])
    if steps:
        config.setdefault("train", {})["steps"] = steps
    return config


def load_base(path: str | Path) -> dict[str, Any]:
    from vla_policy.training import load_run_config

    try:
        load_run_config(path)  # validates both sections with the same checks as `vla train`
        base = yaml.safe_load(Path(path).read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise StudyError(f"--config {path}: {exc}") from None
    if base.get("policy", {}).get("fusion", "film_xattn") != "film_xattn" or \
            base.get("policy", {}).get("input_ablation", "none") != "none":
        raise StudyError(f"--config {path}: the base must be the shipped fusion (film_xattn, no input_ablation); "
                         "each variant changes one of them")
    if base.get("train", {}).get("init_from"):
        raise StudyError(f"--config {path}: the study trains from scratch; remove train.init_from")
    return base


class Timing:
    """Wall seconds per stage, accumulated over interrupted and resumed runs (``OUT/timing.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}

    def add(self, key: str, seconds: float) -> None:
        self.data[key] = round(self.data.get(key, 0.0) + seconds, 1)
        self.path.write_text(json.dumps(self.data, indent=1, sort_keys=True) + "\n")


def _run(cmd: list[str], timing: Timing, key: str) -> None:
    print("+ vla " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    try:
        result = subprocess.run([sys.executable, "-m", "vla_ros.cli", *cmd])
    finally:
        timing.add(key, time.perf_counter() - t0)
    if result.returncode != 0:
        raise StudyError(f"`vla {' '.join(cmd)}` failed with exit status {result.returncode}")


def trained(folder: Path, steps: int) -> bool:
    summary = folder / "train_summary.json"
    if not (summary.exists() and (folder / "model.safetensors").exists()):
        return False
    return json.loads(summary.read_text()).get("steps") == steps


def train_variant(out: Path, variant: str, base: dict[str, Any], data: list[str], steps: int | None,
                  timing: Timing) -> None:
    folder = out / variant
    folder.mkdir(parents=True, exist_ok=True)
    config = variant_config(base, variant, steps)
    config_path = folder / "train.yaml"
    if config_path.exists() and yaml.safe_load(config_path.read_text()) != config:
        raise StudyError(f"{config_path} was written for another study config; use a new --out or delete "
                         f"{folder}")
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    if trained(folder, config["train"]["steps"]):
        return
    resume = (folder / "train_state" / "state.json").exists()
    _run(["train", "--config", str(config_path), "--data", *data, "--out", str(folder)]
         + (["--resume"] if resume else []), timing, f"train/{variant}")


def act_steps(base: dict[str, Any], steps: int | None) -> int:
    """ACT's steps for as many training samples as each variant sees."""
    train = base.get("train", {})
    samples = (steps or train.get("steps", 4000)) * train.get("batch_size", 64)
    return -(-samples // ACT_BATCH)


def _act_step(folder: Path) -> int:
    state = folder / "checkpoints" / "last" / "training_state" / "training_step.json"
    return int(json.loads(state.read_text())["step"]) if state.exists() else 0


def prune_act_checkpoints(folder: Path) -> list[str]:
    """Delete every ``lerobot-train`` checkpoint but the one ``checkpoints/last`` points to (each holds ACT's
    weights and optimizer state, ~0.6 GB; a full run would write 24). Returns the names deleted."""
    last = (folder / "checkpoints" / "last").resolve()
    removed = []
    for child in sorted((folder / "checkpoints").iterdir()):
        if child.name != "last" and child.is_dir() and not child.is_symlink() and child.resolve() != last:
            shutil.rmtree(child)
            removed.append(child.name)
    return removed


def train_act(out: Path, data: list[str], steps: int, timing: Timing) -> None:
    """Export the study's data as a LeRobotDataset (PNG frames: no video decoding in the training loop),
    then ``lerobot-train`` ACT, resuming from its last checkpoint."""
    from vla_policy.dataset import DatasetError
    from vla_policy.lerobot_interop import LeRobotUnavailable, export_lerobot, lerobot_python

    dataset, folder = out / "act_dataset", out / ACT
    try:
        python = lerobot_python()
        if not dataset.exists():
            print(f"+ vla data export --format lerobot --data {' '.join(data)} --out {dataset} --images", flush=True)
            t0 = time.perf_counter()
            export_lerobot(data, dataset, repo_id="local/vla_study", video=False)
            timing.add("export/act", time.perf_counter() - t0)
    except (DatasetError, LeRobotUnavailable) as exc:
        raise StudyError(f"--act: {exc}") from None
    if _act_step(folder) >= steps:
        return
    if (folder / "checkpoints" / "last").exists():
        prune_act_checkpoints(folder)
        args = ["--resume=true", f"--config_path={folder / 'checkpoints' / 'last' / 'pretrained_model' / 'train_config.json'}"]
    else:
        if folder.exists():  # lerobot-train refuses an existing output folder without a checkpoint to resume
            shutil.rmtree(folder)
        args = ["--dataset.repo_id=local/vla_study", f"--dataset.root={dataset}", *ACT_ARGS,
                f"--batch_size={ACT_BATCH}", f"--output_dir={folder}"]
    cmd = [python, "-m", "lerobot.scripts.lerobot_train", *args, f"--steps={steps}",
           f"--save_freq={max(1, min(500, steps))}", "--log_freq=100"]
    print("+ lerobot-train " + " ".join(cmd[3:]), flush=True)
    t0 = time.perf_counter()
    try:
        result = subprocess.run(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    finally:
        timing.add(f"train/{ACT}", time.perf_counter() - t0)
    if result.returncode != 0:
        raise StudyError(f"lerobot-train failed with exit status {result.returncode}")


def policy_spec(out: Path, variant: str) -> str:
    return f"{LEROBOT_PREFIX}{out / ACT}" if variant == ACT else str(out / variant)


def evaluate_variant(out: Path, variant: str, split: str, episodes: int, workers: int, timing: Timing) -> None:
    path = out / variant / f"eval_{split}.json"
    if path.exists() and json.loads(path.read_text()).get("episodes") == episodes:
        return
    _run(["eval", "--policy", policy_spec(out, variant), "--episodes", str(episodes), "--workers", str(workers),
          *SPLITS[split], "--json", str(path), "--quiet"], timing, f"eval/{variant}/{split}")


def measure_cost(out: Path, variants: list[str], steps: int = 200) -> dict[str, Any]:
    """Parameters (text encoder excluded) and control-step latency through the decision core, batch 1,
    every variant on the same frames in alternating order (``OUT/cost.json``; kept when it has them all)."""
    path = out / "cost.json"
    cost = json.loads(path.read_text()) if path.exists() else {}
    if all(v in cost.get("variants", {}) for v in variants):
        return cost
    import torch

    from vla_policy.agent import make_policy_agent
    from vla_policy.benchmark import agent_step_latency, benchmark_scenes, cpu_model, summarise
    from vla_policy.modeling_vla import count_parameters

    torch.set_num_threads(2)
    agents = {}
    for v in variants:
        if v == ACT:  # served from LeRobot's Python with 2 threads, like the others
            from vla_policy.lerobot_policy import make_lerobot_agent

            agents[v] = make_lerobot_agent(checkpoint=str(out / ACT), threads=2)
        else:
            agents[v] = make_policy_agent(checkpoint=str(out / v), device="cpu")
    size = next(iter(agents.values())).policy.config.image_size
    times, _ = agent_step_latency(agents, benchmark_scenes(size), steps)
    cost = {"machine": cpu_model(), "threads": 2, "steps": steps, "variants": {
        v: {"parameters": agents[v].policy.config.parameters if v == ACT else count_parameters(agents[v].policy),
            **summarise(times[v])} for v in variants}}
    for agent in agents.values():
        if hasattr(agent.policy, "close"):
            agent.policy.close()
    path.write_text(json.dumps(cost, indent=1) + "\n")
    return cost


def collect(out: Path, variants: list[str], splits: list[str]) -> dict[str, Any]:
    """Every finished figure of the study folder in one JSON-ready dict (missing ones are left out)."""
    timing = json.loads((out / "timing.json").read_text()) if (out / "timing.json").exists() else {}
    cost = json.loads((out / "cost.json").read_text()) if (out / "cost.json").exists() else {}
    rows: dict[str, Any] = {}
    for v in variants:
        row: dict[str, Any] = {"label": ACT_LABEL if v == ACT else VARIANT_LABELS[v], "splits": {}}
        if v in cost.get("variants", {}):
            row.update(cost["variants"][v])
        if f"train/{v}" in timing:
            row["train_minutes"] = round(timing[f"train/{v}"] / 60, 1)
        for s in splits:
            path = out / v / f"eval_{s}.json"
            if path.exists():
                e = json.loads(path.read_text())
                row["splits"][s] = {"successes": e["successes"], "episodes": e["episodes"],
                                    "rate": e["success_rate"], "ci95": e["ci95"], "outcomes": e["outcomes"]}
        rows[v] = row
    return {"variants": rows, "splits": splits, "machine": cost.get("machine"),
            "wall_hours": round(sum(timing.values()) / 3600, 2)}


def markdown_table(result: dict[str, Any]) -> str:
    splits = result["splits"]
    head = ["variant", "parameters", "step p50 / p99 ms", "training min"] + [SPLIT_LABELS[s] for s in splits]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["variants"].values():
        cells = [row["label"],
                 f"{row['parameters'] / 1e6:.3f} M" if "parameters" in row else "-",
                 f"{row['p50_ms']:.1f} / {row['p99_ms']:.1f}" if "p50_ms" in row else "-",
                 f"{row['train_minutes']:.1f}" if "train_minutes" in row else "-"]
        for s in splits:
            e = row["splits"].get(s)
            cells.append(f"{e['successes']}/{e['episodes']} ({100 * e['ci95'][0]:.0f}-{100 * e['ci95'][1]:.0f})"
                         if e else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ours_vs_act(result: dict[str, Any], ours: str = "film_xattn") -> dict[str, Any] | None:
    """The shipped fusion's figures as ratios to ACT's (success per split, step p50, parameters, training
    minutes), where both rows have them; None without both rows."""
    rows = result["variants"]
    if ours not in rows or ACT not in rows:
        return None
    a, b = rows[ours], rows[ACT]

    def ratio(x: float | None, y: float | None) -> float | None:
        if x is None or y is None:
            return None
        return round(x / y, 3) if y > 0 else None  # ACT at 0: no ratio

    return {"ours": ours,
            "success": {s: ratio(a["splits"][s]["rate"], b["splits"][s]["rate"])
                        for s in result["splits"] if s in a["splits"] and s in b["splits"]},
            "step_p50": ratio(a.get("p50_ms"), b.get("p50_ms")),
            "parameters": ratio(a.get("parameters"), b.get("parameters")),
            "train_minutes": ratio(a.get("train_minutes"), b.get("train_minutes"))}


def ratio_line(ratios: dict[str, Any]) -> str:
    """One markdown line: ``... / ACT: success A 1.80x, ...; step p50 0.06x; ...``."""
    def fmt(x: float | None, missing: str = "-") -> str:
        return missing if x is None else (f"{x:.2f}x" if x >= 0.1 else f"{x:.2g}x")

    success = ", ".join(f"{SPLIT_LABELS[s].split(':')[0]} {fmt(x, 'n/a (ACT 0)')}"
                        for s, x in ratios["success"].items())
    return (f"{VARIANT_LABELS[ratios['ours']]} / ACT: success {success}; step p50 {fmt(ratios['step_p50'])}; "
            f"parameters {fmt(ratios['parameters'])}; training minutes {fmt(ratios['train_minutes'])}\n")


def chart(result: dict[str, Any], path: Path) -> None:
    """Grouped bars: success per split for each variant, Wilson 95 % intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    splits, rows = result["splits"], result["variants"]
    fig, ax = plt.subplots(figsize=(12, 4.5), dpi=110)
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(splits))
    for i, (name, row) in enumerate(rows.items()):
        rates = np.array([row["splits"][s]["rate"] if s in row["splits"] else np.nan for s in splits]) * 100
        lo = np.array([row["splits"][s]["ci95"][0] if s in row["splits"] else np.nan for s in splits]) * 100
        hi = np.array([row["splits"][s]["ci95"][1] if s in row["splits"] else np.nan for s in splits]) * 100
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, rates, width, label=row["label"],
               yerr=np.nan_to_num(np.stack([rates - lo, hi - rates])), capsize=2, error_kw={"lw": 0.8})
    ax.set_xticks(x, [SPLIT_LABELS[s] for s in splits], fontsize=8)
    ax.set_ylabel("closed-loop success, % (Wilson 95 %)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    ax.set_title("Fusion study: same data, steps and seeds per variant", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    variants = _names(args.variants, VARIANTS, "variants")
    splits = _names(args.splits, SPLITS, "splits")
    out = Path(args.out)
    if not args.report_only:
        missing = [d for d in args.data if not Path(d).is_dir()]
        if missing:
            raise StudyError(f"--data: no such folder {missing[0]} (make study generates the study's data)")
        base = load_base(args.config)
        out.mkdir(parents=True, exist_ok=True)
        timing = Timing(out / "timing.json")
        for i, variant in enumerate(variants, 1):
            print(f"== study {i}/{len(variants)}: {variant} ({VARIANT_LABELS[variant]})", flush=True)
            train_variant(out, variant, base, args.data, args.steps, timing)
            for split in splits:
                evaluate_variant(out, variant, split, args.episodes, args.workers, timing)
        if args.act:
            print(f"== study: {ACT_LABEL}, {act_steps(base, args.steps)} steps of {ACT_BATCH}", flush=True)
            train_act(out, args.data, act_steps(base, args.steps), timing)
            for split in splits:
                evaluate_variant(out, ACT, split, args.episodes, args.workers, timing)
        t0 = time.perf_counter()
        measure_cost(out, variants + ([ACT] if args.act else []))
        timing.add("cost", time.perf_counter() - t0)
    result = collect(out, variants + ([ACT] if args.act else []), splits)
    ratios = ours_vs_act(result)
    if ratios:
        result["ours_vs_act"] = ratios
    (out / "study.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown_table(result) + (f"\n{ratio_line(ratios)}" if ratios else "")
    (out / "study.md").write_text(table)
    chart(result, Path(args.chart) if args.chart else out / "study.png")
    print(table)
    print(f"study wall time so far: {result['wall_hours']:.2f} h; wrote {out / 'study.md'}, {out / 'study.json'}, "
          f"{args.chart or out / 'study.png'}")
    return 0
