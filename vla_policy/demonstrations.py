"""``vla data generate``: scripted-expert demonstrations in parallel processes.

Episode i uses scene seed ``seed + i`` and is written as ``episode_{i:06d}``;
finished episodes are skipped on a rerun, so an interrupted run resumes.
Training seeds start at 1,000,000 by default, evaluation seeds stay below it.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm
from vla_sim.expert import NOISE_STD, NOISY_FRACTION, noise_scale

from .dataset import episode_name, frames_for, valid_frame_stride, write_episode
from .phase_clock import PhaseClock

DEFAULT_SEED = 1_000_000
ABSENT_FRACTION = 0.12  # scenes without the named cup: the label is "abstain"
ABSENT_FRAMES = 8  # frames recorded in absent scenes while the arm wanders


@dataclass(frozen=True)
class GenerationConfig:
    """Settings of one demonstration run."""

    distractors: tuple[int, int] = (0, 5)
    """Inclusive range of non-target cups."""
    image_size: int = 128
    """Square camera image size (pixels)."""
    absent_fraction: float = ABSENT_FRACTION
    """Share of scenes with no cup of the named colour."""
    noisy_fraction: float = NOISY_FRACTION
    """Share of episodes executing noisy actions."""
    max_steps: int | None = None
    """Cut episodes after this many control steps (None: the env's episode length)."""
    refer: tuple[str, ...] = ("colour",)
    """Reference kinds (``vla_sim.referring.KINDS``), one drawn uniformly per episode. Relational
    episodes always hold their referent (no absent scenes) and never a combination held out from
    training (``vla_sim.referring.HELD_OUT``); their instruction is the kind's canonical phrasing."""
    perturb: tuple[str, ...] = ()
    """``vla_sim.perturbations`` axes applied to every scene (domain randomisation: training on what
    ``vla eval --perturb`` measures, drawn from the demonstration seeds, never the evaluation's)."""
    objects_in_target_colour: bool = False
    """With ``distractor_objects``: the first object in the referred cup's colour in every scene
    (``EnvConfig.objects_in_target_colour``)."""
    frame_stride: int = 1
    """Render and keep the camera frame of every k-th control step only (steps 0, k, 2k, ...); proprio,
    actions and target pixels stay at every step, so a frame's action chunk is at the control rate.
    Rendering is most of a demonstration's time: k = 2 made x1.55 the episodes per minute (README)."""

    def __post_init__(self) -> None:
        from vla_sim.perturbations import parse_axes
        from vla_sim.referring import validate_kind

        if not self.refer:
            raise ValueError("refer needs at least one kind")
        for name in ("absent_fraction", "noisy_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # also rejects nan
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        object.__setattr__(self, "refer", tuple(validate_kind(k) for k in self.refer))
        object.__setattr__(self, "perturb", parse_axes(self.perturb) if self.perturb else ())
        if self.objects_in_target_colour and "distractor_objects" not in self.perturb:
            raise ValueError("objects_in_target_colour needs the distractor_objects perturbation")
        if not valid_frame_stride(self.frame_stride):
            raise ValueError(f"frame_stride must be an integer >= 1, got {self.frame_stride!r}")


def episode_setup(seed: int, config: GenerationConfig):
    """The env (not yet reset), the episode's rng and its absent/noisy draws, all from the seed."""
    from vla_sim import EnvConfig, PickCupEnv

    rng = np.random.default_rng([seed, 7])
    absent = bool(rng.random() < config.absent_fraction)
    noisy = bool(rng.random() < config.noisy_fraction) and not absent
    kind = config.refer[int(rng.integers(len(config.refer)))] if len(config.refer) > 1 else config.refer[0]
    absent = absent and kind == "colour"
    lo, hi = config.distractors
    env = PickCupEnv(EnvConfig(
        num_cups=(lo, hi) if absent else (lo + 1, hi + 1),
        target="random",
        target_absent=absent,
        refer=kind,
        camera={"width": config.image_size, "height": config.image_size},
        perturb=config.perturb,
        objects_in_target_colour=config.objects_in_target_colour,
    ))
    return env, rng, absent, noisy


@functools.lru_cache(maxsize=1)
def _load_policy(path: str):
    """The acting policy, loaded once per worker process (with its text encoder), not per episode."""
    import torch

    from .modeling_vla import VLAPolicy

    torch.set_num_threads(1)  # one per worker process
    return VLAPolicy.from_pretrained(path)


def first_anchor_uv(env) -> list[float] | None:
    """Pixels [u, v] of a next-to scene's anchor cup as the episode starts (None for other kinds):
    a marker policy (``anchor_marker``) is trained with it where inference uses the located anchor."""
    scene = env.scene
    if scene.anchor is None or scene.refer != "next-to":
        return None
    return _cup_uv(env, scene.anchor)


def _cup_uv(env, colour: str) -> list[float]:
    """Pixels [u, v] of the one cup of ``colour`` now."""
    (index,) = [i for i, cup in enumerate(env.scene.cups) if cup.colour == colour]
    return [round(float(x), 3) for x in env.camera.project(env.cup_states()[index].position[None])[0]]


def hindsight_relabels(env) -> list[dict]:
    """The other instructions this episode's demonstration also answers: every reference whose referent
    is the same cup (``vla_sim.referring.references_to``), each as ``{"refer", "instruction", "target",
    "anchor"}`` plus ``anchor_uv`` for next-to. Training may condition on one of them instead of the
    episode's own (``train.hindsight_relabel``): more instructions per rendered frame."""
    from vla_sim.referring import references_to

    scene = env.scene
    if scene.target_index is None:  # absent target: nothing was picked
        return []
    xy = np.array([[cup.x, cup.y] for cup in scene.cups])
    colours = [cup.colour for cup in scene.cups]
    own = scene.reference.instruction
    target = colours[scene.target_index]
    return [{"refer": ref.kind, "instruction": ref.instruction, "target": target, "anchor": ref.anchor,
             **({"anchor_uv": _cup_uv(env, ref.anchor)} if ref.kind == "next-to" else {})}
            for ref in references_to(scene.target_index, xy, colours) if ref.instruction != own]


def _generate_one(index: int, seed: int, out: str, config: GenerationConfig,
                  policy_path: str | None = None) -> tuple[dict, dict[str, float]]:
    """One episode: (its meta, wall seconds by phase). Without a policy the scripted expert acts (its
    actions are the labels); with one (DAgger) the policy acts and the corrective expert labels every
    state it visits."""
    from vla_sim import CorrectiveExpert, ScriptedExpert
    from vla_sim.instructions import sample_training_instruction

    clock = PhaseClock()
    with clock("scene"):
        env, rng, absent, noisy = episode_setup(seed, config)
    try:
        with clock("scene"):
            obs, info = env.reset(seed=seed)
        render_before_steps = env.render_seconds
        # Colour tasks: a training paraphrase; relational ones: the canonical phrasing, which is what the
        # policy is conditioned on once the understanding model has resolved any other wording.
        instruction = sample_training_instruction(rng, info["target"]) if info["refer"] == "colour" \
            else info["instruction"]
        expert = ScriptedExpert(env)
        corrective = CorrectiveExpert(env) if policy_path else None
        policy = _load_policy(policy_path) if policy_path else None
        if policy is not None:
            policy.reset()
        frames, proprio, actions, uvs = [], [], [], []
        stride = config.frame_stride
        target_index = env.scene.target_index
        anchor_uv = first_anchor_uv(env)
        relabels = hindsight_relabels(env)
        for step in range(min(env.config.max_steps, config.max_steps or env.config.max_steps)):
            acting = time.perf_counter()
            if policy is not None:
                label = corrective.label(obs)
                if label is None:  # absent target: DAgger has nothing to correct here
                    break
                executed = policy.select_action({**obs, "instruction": instruction})
                if policy.abstained:  # a false abstention: the frames so far still teach "present"
                    break
            else:
                label = expert.select_action(obs)
                if expert.abstained:
                    if step >= ABSENT_FRAMES:
                        info = env.abstain()
                        break
                    label = np.array([0.0, 0.0, 0.0, 1.0])
                    executed = np.concatenate([rng.normal(0, 0.1, 3), [1.0]])  # wander so frames differ
                else:
                    executed = label.copy()
                    if noisy:
                        # labels stay clean: the noise only moves the arm (teaches recovery)
                        executed[:3] += rng.normal(0.0, NOISE_STD * noise_scale(expert.phase), 3)
            clock.add("expert" if policy is None else "policy", time.perf_counter() - acting)
            if step % stride == 0:
                frames.append(obs["image"])
            proprio.append(np.concatenate([obs["ee_pose"], obs["gripper_width"]]))
            actions.append(label)
            if target_index is not None:
                state = env.cup_states()[target_index]
                uvs.append(env.camera.project(state.position[None])[0])  # centre of mass, inside the cup
            else:
                uvs.append(np.array([np.nan, np.nan]))
            with clock("simulate"):
                obs, _, terminated, truncated, info = env.step(executed, render=(step + 1) % stride == 0)
            if terminated or truncated:
                break
        # the frames rendered by step() are render time, not simulation (reset's first frame stays in scene)
        rendered = env.render_seconds - render_before_steps
        clock.add("render", rendered)
        clock.add("simulate", -rendered)
        meta = {
            "seed": seed,
            "instruction": instruction,
            "target": info["target"],
            "target_present": not absent,
            "refer": info["refer"],
            "anchor": info["anchor"],
            **({"anchor_uv": anchor_uv} if anchor_uv is not None else {}),
            "target_instance": info["target_instance"],
            "hindsight_relabels": relabels,
            "outcome": info["outcome"],
            "success": info["success"],
            "steps": len(actions),
            **({"frame_stride": stride} if stride > 1 else {}),
            "image_size": [config.image_size, config.image_size],
            "control_hz": env.config.control_hz,
            "noisy": noisy,
            **({"perturb": list(config.perturb)} if config.perturb else {}),
            **({"objects_in_target_colour": True} if config.objects_in_target_colour else {}),
            "relabelled": policy is not None,  # DAgger: labels from the corrective expert, any outcome is usable
            "camera": {"K": env.camera.K.tolist(), "T_base_cam": env.camera.T_base_cam.tolist()},
        }
        with clock("write"):
            write_episode(out, index, {
                "frames": np.stack(frames),
                "proprio": np.stack(proprio),
                "actions": np.stack(actions),
                "target_uv": np.stack(uvs),
            }, meta)
        return meta, clock.seconds()
    finally:
        env.close()


def generate(out: str | Path, episodes: int, seed: int = DEFAULT_SEED, workers: int = 1,
             config: GenerationConfig | None = None, progress: bool = True, policy: str | None = None) -> dict:
    """Generate the missing episodes among ``0..episodes-1``; returns a summary. With ``policy`` (a
    checkpoint folder) the policy acts and the corrective expert labels its states (DAgger)."""
    config = config or GenerationConfig()
    if policy is not None and config.frame_stride != 1:
        raise ValueError("a policy acting (DAgger) sees every frame: frame_stride must be 1 with --policy")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(episodes) if not (out / episode_name(i) / "meta.json").is_file()]
    start = time.perf_counter()
    metas: list[dict] = []
    phases = PhaseClock()  # summed over workers: shares of the generating processes' wall time

    def done(result: tuple[dict, dict[str, float]]) -> None:
        meta, seconds = result
        metas.append(meta)
        for name, value in seconds.items():
            phases.add(name, value)
        bar.update(1)

    bar = tqdm(total=episodes, initial=episodes - len(todo), desc="demonstrations", unit="ep",
               disable=not progress, dynamic_ncols=True)
    try:
        if workers <= 1:
            for i in todo:
                done(_generate_one(i, seed + i, str(out), config, policy))
        else:
            with ProcessPoolExecutor(workers, mp.get_context("spawn")) as pool:
                futures = [pool.submit(_generate_one, i, seed + i, str(out), config, policy) for i in todo]
                for future in as_completed(futures):
                    done(future.result())
    finally:
        bar.close()
    minutes = (time.perf_counter() - start) / 60.0
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {
        "generated": len(metas),
        "skipped_existing": episodes - len(todo),
        "episodes_per_min": len(metas) / minutes if minutes > 0 else 0.0,
        "frames": sum(frames_for(m["steps"], m.get("frame_stride", 1)) for m in metas),
        "failed_episodes": sum(1 for m in metas if m["target_present"] and not m["success"]),
        "dataset_bytes": size,
        "seconds_by_phase": phases.seconds(),
    }
