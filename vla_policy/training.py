"""``vla train``: behaviour cloning of the cross-attention policy on demonstration folders.

Single process by default; under ``torchrun`` it runs data-parallel (DDP: NCCL
on CUDA, gloo on CPU). CUDA with bf16 autocast is used when present. State for
``--resume`` is saved as safetensors + JSON (no pickle).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from vla_sim.referring import KINDS

from .checkpoint_files import write_checkpoint
from .configuration_vla import VLAConfig
from .dataset import DatasetError, Episode, list_episodes
from .decision import MARKED_TEXT, SIDE_KINDS, SIDE_TEXT, colour_query, conditioning_text
from .modeling_vla import VLAPolicy, count_parameters
from .phase_clock import PhaseClock, describe
from .prefetch import BatchPrefetcher
from .weight_average import WeightEMA

STATE_DIR = "train_state"
LIVE_WEIGHTS = "live_model.safetensors"  # under STATE_DIR, with train.ema_decay: the weights being trained
MARKER_JITTER = 1.5  # pixels (std): training markers are moved by about the located anchor's error


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings of one training run."""

    steps: int = 6000
    """Optimiser steps."""
    batch_size: int = 64
    """Samples per optimiser step, split evenly across the processes of a ``torchrun`` run (so one recipe
    trains the same way on any number of processes)."""
    lr: float = 1e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay to 5 %)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup_steps: int = 200
    """Linear warm-up length."""
    grad_clip: float = 1.0
    """Max gradient norm."""
    val_fraction: float = 0.05
    """Share of episodes held out for the validation loss."""
    val_every: int = 500
    """Steps between validation losses."""
    eval_every: int = 2000
    """Steps between short closed-loop checks (0 disables)."""
    eval_episodes: int = 5
    """Episodes per closed-loop check (seeds 900000+, never used for data or the eval splits)."""
    checkpoint_every: int = 500
    """Steps between resumable checkpoints."""
    seed: int = 0
    """Seed of initialisation, sampling and augmentation."""
    threads: int = 0
    """torch CPU threads (0: all cores divided among local processes)."""
    hindsight_relabel: float = 0.0
    """The share of samples from an episode with ``hindsight_relabels`` in its meta (the other instructions
    its demonstration answers, written by ``vla data generate``) that condition on one of them, drawn
    uniformly, instead of the episode's own. A colour scene's pick is then also a lesson in
    "the leftmost cup" or "the cup next to the blue cup" whenever its cup is that one: more instructions
    per rendered frame. 0 keeps every episode's own instruction."""
    cpu_bf16: bool = False
    """bf16 autocast on CPU too (CUDA always uses it); faster only where the CPU has bf16 instructions
    (AVX512-BF16, AMX). Weights and optimiser state stay float32."""
    prefetch: bool = False
    """Draw the next batch on a thread while the current step computes (same batches, same resume)."""
    compile: bool = False
    """Run the training forward and backward through ``torch.compile`` (the first step then takes a
    minute or more to compile; the summary's ``seconds_by_phase`` shows what it saved)."""
    ema_decay: float = 0.0
    """Exponential moving average of the weights (0: off). When on, the checkpoint written is the average
    (about the last ``1 / (1 - ema_decay)`` steps); the live weights training continues from stay in
    ``train_state/live_model.safetensors`` for ``--resume``."""
    shift_pixels: int = 6
    """Random image shift augmentation (pixels); the heatmap target shifts with it."""
    rotate_degrees: float = 0.0
    """Random turn of the image about its centre, up to this many degrees either way, with its pixel
    targets (a camera rolled about its optical axis; the actions, in the robot's base frame, stay as
    they are, as they do when a real camera is knocked). 0: no turn, and the draws of earlier runs."""
    zoom: float = 0.0
    """Random scale of the image about its centre, up to this fraction either way, with its pixel
    targets (a camera moved along its axis). 0: no scale, and the draws of earlier runs."""
    brightness: float = 0.15
    """Random brightness scale range (+/-, below 1); hue is never changed, colour names must stay true."""
    paraphrase: bool = True
    """Draw a fresh training phrasing of the episode's task for every sample."""
    init_from: str | None = None
    """Checkpoint folder to start from (fine-tuning, e.g. on DAgger or relational data). Its config,
    normalisation statistics included, replaces the ``policy:`` section, except that ``policy:`` may
    add ``context_layers`` and turn on ``anchor_marker`` (new parts start as the identity),
    ``side_marker``, ``colour_marker`` or ``action_focus_heads``; the optimiser starts fresh."""
    kind_weights: dict[str, float] = dataclasses.field(default_factory=dict)
    """Sampling weight of the frames of each reference kind's episodes (default 1): ``{next-to: 3}``
    draws a next-to frame three times as often as one of another kind."""
    absent_weight: float = 1.0
    """Extra sampling weight of the frames of episodes whose named cup is not on the table (on top of
    their kind's). Such an episode is 8 frames of abstaining against ~40 of a picking one, so its
    frames, the only ones that teach the present head "not here", are rare in the draws."""
    same_colour_object_weight: float = 1.0
    """Extra sampling weight of the frames of episodes recorded with an object in the named cup's colour
    (``vla data generate --objects-in-target-colour``; on top of the others). Drawn at random, object
    colours give such a scene a third of the time, and these scenes hold the objects axis's misses."""
    pair_query: float = 0.0
    """Side-marker policies: the fraction of left/right samples that condition on the colour query the
    decision core locates the pair with ("pick up the orange cup", no marker) and teach only its
    target-present head, labelled present (no action or heatmap target: the query names two cups).
    Otherwise that query meets two cups of its colour only at inference, and a fine-tune that makes
    its present head stricter on absent colours also calls some pairs absent (a 500-step run: 4 of 200
    canonical left scenes abstained)."""
    colour_marker_share: float = 0.5
    """Colour-marker policies (``policy.colour_marker``): the fraction of samples of colour episodes with
    the named cup in view that are marked on that cup and conditioned on "pick up the marked cup". The
    rest keep the colour's own words: the colour query that places the marker at inference learns from
    them."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        share = self.hindsight_relabel
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ValueError(f"hindsight_relabel must be in [0, 1], got {share!r}")
        for name in ("compile", "cpu_bf16", "prefetch"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr < float("inf"):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        for name, limit in (("rotate_degrees", 45.0), ("zoom", 0.5), ("brightness", 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < limit:
                raise ValueError(f"{name} must be in [0, {limit:g}), got {value!r}")
        for name in ("absent_weight", "same_colour_object_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
                raise ValueError(f"{name} must be in (0, 100], got {value!r}")
        if isinstance(self.ema_decay, bool) or not isinstance(self.ema_decay, (int, float)) \
                or not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if not isinstance(self.pair_query, (int, float)) or not 0 <= self.pair_query < 1:
            raise ValueError(f"pair_query must be in [0, 1), got {self.pair_query!r}")
        share = self.colour_marker_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
            raise ValueError(f"colour_marker_share must be in (0, 1), got {share!r}")
        if not isinstance(self.kind_weights, dict):
            raise ValueError(f"kind_weights must be a mapping of kind to weight, got {self.kind_weights!r}")
        for kind, weight in self.kind_weights.items():
            if kind not in KINDS:
                raise ValueError(f"kind_weights: unknown reference kind {kind!r}; choose from {', '.join(KINDS)}")
            if not isinstance(weight, (int, float)) or not 0 < weight <= 100:
                raise ValueError(f"kind_weights: weight of {kind!r} must be in (0, 100], got {weight!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown train fields {unknown}; known: {sorted(known)}")
        return cls(**data)


def load_run_config(path: str | os.PathLike) -> tuple[VLAConfig, TrainConfig]:
    """YAML or JSON file with optional ``policy:`` (VLAConfig fields) and ``train:`` sections."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or set(data) - {"policy", "train"}:
        raise ValueError(f"{path}: expected top-level keys 'policy' and/or 'train'")
    try:
        policy = VLAConfig.from_dict(data.get("policy") or {})
        train = TrainConfig.from_dict(data.get("train") or {})
    except TypeError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return policy, train


def policy_text(meta: dict[str, Any], cfg: VLAConfig) -> str:
    """The text a recorded episode conditions the policy on (the marked text for a marker policy's next-to)."""
    return conditioning_text(meta.get("refer", "colour"), meta["instruction"], cfg.anchor_marker, cfg.side_marker)


# Frame files memory-mapped at once by a sampler. Each map holds a file descriptor, and a dataset of
# thousands of episodes mapped whole passes the process's limit (1,024 on many systems; here 5,000
# episodes with four maps each reached 20,000).
FRAME_MAPS_OPEN = 64


def relabels_in_use(meta: dict[str, Any], cfg: TrainConfig) -> list[dict[str, Any]]:
    """An episode's hindsight relabels that training draws from (none when ``hindsight_relabel`` is 0)."""
    return (meta.get("hindsight_relabels") or []) if cfg.hindsight_relabel > 0 else []


def warp_image(frame: np.ndarray, points: tuple[np.ndarray, ...], shift: tuple[int, int], turn_degrees: float,
               zoom: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """``frame`` (H, W, 3) shifted by ``shift`` pixels (u right, v down), turned by ``turn_degrees`` about
    its centre and scaled by 1 + ``zoom``, edges replicated; each of ``points`` (pixel coordinates (2,),
    the principal point at (W/2, H/2) as in ``sim.camera``; NaN stays NaN) moved the same way. A whole
    pixel shift alone moves every pixel exactly (no interpolation)."""
    h, w = frame.shape[:2]
    # OpenCV's pixel centres are at whole coordinates, ours at half ones: turn about ((W-1)/2, (H-1)/2).
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), turn_degrees, 1.0 + zoom)  # (2, 3)
    m[:, 2] += shift
    out = cv2.warpAffine(np.ascontiguousarray(frame), m, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    moved = [((m[:, :2] @ (p - 0.5)) + m[:, 2] + 0.5).astype(np.float32) for p in points]
    return out, moved


class DemoSampler:
    """Random (episode, step) samples from episodes on disk (frames memory-mapped), with augmentation."""

    def __init__(self, episodes: list[Episode], policy_cfg: VLAConfig, train_cfg: TrainConfig,
                 instructions: dict[str, int], rng: np.random.Generator) -> None:
        from vla_sim.camera import project_points
        from vla_sim.instructions import training_instructions

        self.episodes = episodes
        # The small arrays in memory; frames mapped on demand, at most FRAME_MAPS_OPEN at a time.
        self.arrays = [e.arrays(mmap=False, keys=("proprio", "actions", "target_uv")) for e in episodes]
        self._frames = functools.lru_cache(maxsize=FRAME_MAPS_OPEN)(
            lambda i: self.episodes[i].arrays(mmap=True, keys=("frames",))["frames"])
        # Samples are frames: an episode of T steps generated with --frame-stride k has ceil(T / k), at
        # steps 0, k, 2k, ... (every array but the frames has a row per step).
        self.lengths = np.array([e.frame_count for e in episodes])
        self.steps = np.array([e.length for e in episodes])
        self.strides = np.array([e.frame_stride for e in episodes])
        self.cum = np.concatenate([[0], np.cumsum(self.lengths)])
        # Per-episode draw probability: its frames times its kind's weight (uniform over frames by default).
        weights = self.lengths * np.array([train_cfg.kind_weights.get(e.meta.get("refer", "colour"), 1.0)
                                           * (train_cfg.absent_weight if e.meta.get("target_present") is False else 1.0)
                                           * (train_cfg.same_colour_object_weight
                                              if e.meta.get("objects_in_target_colour") else 1.0)
                                           for e in episodes])
        self.episode_p = weights / weights.sum()
        self.cfg, self.tcfg, self.rng = policy_cfg, train_cfg, rng
        self.instructions = instructions
        # End-effector pixels, from the recorded pose and the episode's camera calibration (NaN without one).
        self.ee_uv = [project_points(e.meta["camera"]["K"], e.meta["camera"]["T_base_cam"],
                                     a["proprio"][:, :3]).astype(np.float32)
                      if "camera" in e.meta else np.full((e.length, 2), np.nan, np.float32)
                      for e, a in zip(episodes, self.arrays)]
        # Colour tasks draw a fresh training phrasing per sample; relational ones keep their canonical
        # instruction (the understanding model maps other wordings onto it before the policy sees them).
        colours = {task["target"] for e in episodes for task in [e.meta, *relabels_in_use(e.meta, self.tcfg)]
                   if task.get("refer", "colour") == "colour"}
        self.phrasings = {c: [instructions[s] for s in training_instructions(c)] for c in sorted(colours)} \
            if train_cfg.paraphrase else {}

    def __len__(self) -> int:
        return int(self.cum[-1])

    def sample(self, batch_size: int, augment: bool = True) -> dict[str, Any]:
        if self.tcfg.kind_weights or self.tcfg.absent_weight != 1.0 or self.tcfg.same_colour_object_weight != 1.0:
            ep = self.rng.choice(len(self.episodes), batch_size, p=self.episode_p)
            t = (self.rng.random(batch_size) * self.lengths[ep]).astype(np.int64)
        else:  # the draws of earlier runs, unchanged
            flat = self.rng.integers(0, len(self), batch_size)
            ep = np.searchsorted(self.cum, flat, side="right") - 1
            t = flat - self.cum[ep]
        k, s = self.cfg.chunk_size, self.tcfg.shift_pixels if augment else 0
        images, proprio, actions, pads, present, uvs, ee_uvs, text_ids, markers = [], [], [], [], [], [], [], [], []
        for e, fi in zip(ep, t):
            arr, meta = self.arrays[e], self.episodes[e].meta
            frame = np.asarray(self._frames(int(e))[fi])
            ti = fi * self.strides[e]  # the frame's control step
            uv = np.asarray(arr["target_uv"][ti], dtype=np.float32).copy()
            ee_uv = self.ee_uv[e][ti].copy()
            pair_query = self._pair_query(meta)
            task = meta if pair_query or not augment else self._task(meta)  # its own instruction or a relabel
            marked_colour = self._marked_colour(task, meta)
            marker = np.full(2, np.nan, np.float32) if pair_query else self._marker(task, arr, marked_colour)
            if augment and np.isfinite(marker).all():  # the located cup is a few pixels off at inference
                marker += self.rng.normal(0.0, MARKER_JITTER, 2).astype(np.float32)
            if augment and (s or self.tcfg.rotate_degrees or self.tcfg.zoom):
                dx, dy = self.rng.integers(-s, s + 1, 2) if s else (0, 0)
                turn = self.rng.uniform(-1, 1) * self.tcfg.rotate_degrees if self.tcfg.rotate_degrees else 0.0
                zoom = self.rng.uniform(-1, 1) * self.tcfg.zoom if self.tcfg.zoom else 0.0
                frame, (uv, ee_uv, marker) = warp_image(frame, (uv, ee_uv, marker), (dx, dy), turn, zoom)
            markers.append(marker)
            images.append(frame)
            proprio.append(np.concatenate([arr["proprio"][ti, :3], arr["proprio"][ti, 7:8]]))
            end = min(ti + k, self.steps[e])
            chunk = np.asarray(arr["actions"][ti:end])
            pad = np.zeros(k, bool)
            if len(chunk) < k:  # past the episode end: repeat the last action, masked out of the loss
                pad[len(chunk):] = True
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], k - len(chunk), 0)])
            actions.append(chunk)
            pads.append(np.ones(k, bool) if pair_query else pad)  # a pair query's only label is "present"
            present.append(float(meta["target_present"]))
            uvs.append(np.full(2, np.nan, np.float32) if pair_query else uv)
            ee_uvs.append(ee_uv)
            if pair_query:
                text_ids.append(self.instructions[colour_query(meta["target"])])
            elif marked_colour:
                text_ids.append(self.instructions[SIDE_TEXT])
            elif augment and self.tcfg.paraphrase and task.get("refer", "colour") == "colour":
                options = self.phrasings[task["target"]]
                text_ids.append(options[int(self.rng.integers(len(options)))])
            else:
                text_ids.append(self.instructions[policy_text(task, self.cfg)])
        imgs = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()  # (B, 3, H, W) uint8
        if augment and self.tcfg.brightness > 0:
            scale = torch.from_numpy(self.rng.uniform(1 - self.tcfg.brightness, 1 + self.tcfg.brightness,
                                                      (batch_size, 1, 1, 1)).astype(np.float32))
            imgs = (imgs.float() * scale).clamp(0, 255).round().to(torch.uint8)  # stays uint8, as at inference
        return {
            "images": imgs,
            "proprio": torch.from_numpy(np.stack(proprio).astype(np.float32)),
            "actions": torch.from_numpy(np.stack(actions).astype(np.float32)),
            "action_pad": torch.from_numpy(np.stack(pads)),
            "present": torch.tensor(present),
            "target_uv": torch.from_numpy(np.stack(uvs)),
            "ee_uv": torch.from_numpy(np.stack(ee_uvs)),
            "text_ids": torch.tensor(text_ids),
            **({"marker_uv": torch.from_numpy(np.stack(markers))} if self.cfg.anchor_marker else {}),
        }

    def _task(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The episode's meta, or with probability ``train.hindsight_relabel`` the meta with one of its
        relabels' reference (kind, instruction, target colour, anchor and its pixels) in place of its own."""
        relabels = relabels_in_use(meta, self.tcfg)
        if not relabels or self.rng.random() >= self.tcfg.hindsight_relabel:
            return meta
        return {**meta, **relabels[int(self.rng.integers(len(relabels)))]}

    def _pair_query(self, meta: dict[str, Any]) -> bool:
        """Whether this sample teaches the colour query's present head on a left/right pair (``pair_query``)."""
        return (self.tcfg.pair_query > 0 and self.cfg.side_marker and meta.get("refer") in SIDE_KINDS
                and bool(meta["target_present"]) and self.rng.random() < self.tcfg.pair_query)

    def _marked_colour(self, task: dict[str, Any], meta: dict[str, Any]) -> bool:
        """Whether this sample of a colour task is marked on its cup (``colour_marker_share``)."""
        return (self.cfg.colour_marker and task.get("refer", "colour") == "colour" and bool(meta["target_present"])
                and self.rng.random() < self.tcfg.colour_marker_share)

    def _marker(self, meta: dict[str, Any], arr: dict[str, Any], marked_colour: bool = False) -> np.ndarray:
        """The anchor's pixels at the episode's first frame (``meta["anchor_uv"]``) for a marker
        policy's next-to episodes, the referent's (its ``target_uv``) for a side-marker policy's
        left/right episodes and a colour-marker policy's marked colour samples, else NaN (no marker)."""
        if (self.cfg.side_marker and meta.get("refer") in SIDE_KINDS) or marked_colour:
            # The first labelled frame's: a recording's re-grasp leaves the frames before it unlabelled (NaN).
            uv = np.asarray(arr["target_uv"], dtype=np.float32)
            labelled = np.flatnonzero(np.isfinite(uv).all(axis=1))
            return uv[labelled[0]].copy() if len(labelled) else np.full(2, np.nan, np.float32)
        if self.cfg.anchor_marker and meta.get("refer") in MARKED_TEXT:
            if "anchor_uv" not in meta:
                raise DatasetError(f"episode seed {meta['seed']}: next-to without anchor_uv (regenerate it with "
                                   "`vla data generate`, which records it, or convert its bag with `vla data from-bag "
                                   "--anchor-policy CHECKPOINT`)")
            return np.asarray(meta["anchor_uv"], dtype=np.float32).copy()
        return np.full(2, np.nan, np.float32)


def _usable(episodes: list[Episode]) -> list[Episode]:
    """Successful demonstrations, absent-target scenes (labels: abstain) and relabelled (DAgger)
    episodes, whose labels are right whatever the acting policy did."""
    return [e for e in episodes
            if (not e.meta["target_present"]) or e.meta.get("success") or e.meta.get("relabelled")]


def _lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _gather_rng_states(rng_state: dict[str, Any], world: int) -> list[tuple[dict[str, Any], torch.Tensor]]:
    """Every process's (numpy, torch) random state, in rank order: each draws its own batches, so a resumed
    data-parallel run continues each process's stream. A collective call under torchrun."""
    mine = (rng_state, torch.get_rng_state())
    if world == 1:
        return [mine]
    states: list[Any] = [None] * world
    dist.all_gather_object(states, mine)
    return states


def _save_state(out: Path, model: VLAPolicy, opt: torch.optim.Optimizer, step: int,
                rng_states: list[tuple[dict[str, Any], torch.Tensor]], history: list[dict],
                ema: WeightEMA | None = None) -> None:
    """``rng_states``: (numpy, torch) random state of each process, in rank order."""
    from safetensors.torch import save_file

    state_dir = out / STATE_DIR
    state_dir.mkdir(parents=True, exist_ok=True)
    if ema is None:
        model.save_pretrained(out)
    else:  # the checkpoint is the average; the live weights are training state
        write_checkpoint(out, ema.state, model.config.to_json(), "vla_xattn")
        live = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(live, str(state_dir / (LIVE_WEIGHTS + ".tmp")))
        os.replace(state_dir / (LIVE_WEIGHTS + ".tmp"), state_dir / LIVE_WEIGHTS)
    tensors: dict[str, torch.Tensor] = {f"torch_rng.{r}": t for r, (_, t) in enumerate(rng_states)}
    for i, p in enumerate(model.parameters()):
        for key, value in opt.state.get(p, {}).items():
            value = value.detach().cpu()
            tensors[f"opt.{i}.{key}"] = value.reshape(-1) if value.dim() == 0 else value.contiguous()
    save_file(tensors, str(state_dir / "optimizer.safetensors.tmp"))
    os.replace(state_dir / "optimizer.safetensors.tmp", state_dir / "optimizer.safetensors")
    meta = {"step": step, "world": len(rng_states), "numpy_rng": [n for n, _ in rng_states], "history": history}
    (state_dir / "state.json.tmp").write_text(json.dumps(meta))
    os.replace(state_dir / "state.json.tmp", state_dir / "state.json")


def _load_state(out: Path, model: VLAPolicy, opt: torch.optim.Optimizer, rng: np.random.Generator,
                ema_decay: float = 0.0, rank: int = 0, world: int = 1) -> tuple[int, list, WeightEMA | None]:
    from safetensors.torch import load_file

    state_dir = out / STATE_DIR
    if not (state_dir / "state.json").is_file():
        raise ValueError(f"--resume: {state_dir} has no saved state")
    meta = json.loads((state_dir / "state.json").read_text())
    saved_world = int(meta.get("world", 1))
    if saved_world != world:  # each process's batches come from its own saved random stream
        raise ValueError(f"--resume: {out} was trained by {saved_world} process(es), this run has {world}; "
                         f"resume it with the same number (torchrun --nproc_per_node {saved_world})")
    loaded = VLAPolicy.from_pretrained(out, text_encoder=model._text_encoder)
    live_file = state_dir / LIVE_WEIGHTS
    if ema_decay > 0 and not live_file.is_file():
        raise ValueError(f"--resume: {out} was trained without train.ema_decay; resume it with ema_decay: 0")
    if ema_decay == 0 and live_file.is_file():
        raise ValueError(f"--resume: {out} was trained with train.ema_decay; resume it with the same ema_decay")
    model.load_state_dict(load_file(str(live_file)) if ema_decay > 0 else loaded.state_dict())
    ema = WeightEMA(model, ema_decay, loaded.state_dict()) if ema_decay > 0 else None
    tensors = load_file(str(state_dir / "optimizer.safetensors"))
    params = list(model.parameters())
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, i, key = name.split(".", 2)
            p = params[int(i)]
            opt.state[p][key] = value.reshape(()) if key == "step" else value
    torch.set_rng_state(tensors.get(f"torch_rng.{rank}", tensors.get("torch_rng")))  # older states: one process
    numpy_rng = meta["numpy_rng"]
    rng.bit_generator.state = numpy_rng[rank] if isinstance(numpy_rng, list) else numpy_rng
    return int(meta["step"]), meta["history"], ema


def closed_loop_check(model: VLAPolicy, episodes: int, seed: int = 900_000) -> float:
    """Success rate over a few random-target episodes (seeds disjoint from data and eval splits)."""
    from vla_sim import EnvConfig, PickCupEnv
    from vla_sim.evaluation import EpisodeSpec, run_episode

    from .agent import PolicyAgent
    from .understanding import load_understanding

    agent = PolicyAgent(model, load_understanding(text_encoder=model.text_encoder))
    env = PickCupEnv(EnvConfig(num_cups=(3, 5), target="random",
                               camera={"width": model.config.image_size, "height": model.config.image_size}))
    was_training = model.training
    model.eval()
    try:
        wins = sum(run_episode(env, agent, EpisodeSpec(seed + i, "random"))["success"] for i in range(episodes))
    finally:
        env.close()
        model.train(was_training)
    return wins / max(1, episodes)


def train(data_dirs: list[str], out: str, policy_cfg: VLAConfig, cfg: TrainConfig, resume: bool = False,
          progress: bool = True) -> dict[str, Any]:
    """Train and write ``out/config.json`` + ``out/model.safetensors``; returns the final figures."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    from vla_sim.instructions import all_training_instructions

    from .language import TextEncoder

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = torch.cuda.is_available()
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)  # NCCL collectives use the current device
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // local))
    if cfg.batch_size % world:
        raise ValueError(f"train.batch_size {cfg.batch_size} does not split evenly across {world} processes")
    per_process = cfg.batch_size // world  # (B / world) samples drawn by each process
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, rank])
    out_dir = Path(out)
    is_main = rank == 0

    episodes = _usable([e for d in data_dirs for e in list_episodes(d)])
    if len(episodes) < 2:
        raise ValueError(f"need at least 2 usable episodes, found {len(episodes)} in {data_dirs}")
    order = np.random.default_rng(cfg.seed).permutation(len(episodes))
    n_val = max(1, int(round(cfg.val_fraction * len(episodes))))
    val_eps = [episodes[i] for i in sorted(order[:n_val])]
    train_eps = [episodes[i] for i in sorted(order[n_val:])]
    init = VLAPolicy.from_pretrained(cfg.init_from) if cfg.init_from else None
    if init is not None:  # architecture and normalisation come with the weights; context layers may be added
        policy_cfg = dataclasses.replace(init.config, context_layers=max(init.config.context_layers,
                                                                         policy_cfg.context_layers),
                                         anchor_marker=init.config.anchor_marker or policy_cfg.anchor_marker,
                                         side_marker=init.config.side_marker or policy_cfg.side_marker,
                                         colour_marker=init.config.colour_marker or policy_cfg.colour_marker,
                                         action_focus_heads=max(init.config.action_focus_heads,
                                                                policy_cfg.action_focus_heads))
    else:  # normalisation statistics from the training frames, saved in config.json
        prop = np.concatenate([e.arrays(mmap=False, keys=("proprio",))["proprio"] for e in train_eps])
        prop = np.concatenate([prop[:, :3], prop[:, 7:8]], axis=1)
        policy_cfg.proprio_mean = prop.mean(0).round(5).tolist()
        policy_cfg.proprio_std = np.maximum(prop.std(0), 1e-3).round(5).tolist()

    if cfg.pair_query > 0 and not policy_cfg.side_marker:
        raise ValueError("pair_query teaches the colour query of a side-marker policy's left/right pairs: set "
                         "policy.side_marker (or --init a side-marker checkpoint), or pair_query: 0")

    # The kinds of reference the policy learns are those of its data (and of the checkpoint it starts from).
    relabels = [r for e in episodes for r in relabels_in_use(e.meta, cfg)]
    kinds = {e.meta.get("refer", "colour") for e in episodes} | {r["refer"] for r in relabels} \
        | set(init.config.refer_kinds if init else ())
    policy_cfg.refer_kinds = tuple(k for k in KINDS if k in kinds)
    encoder = TextEncoder(policy_cfg.text_encoder, policy_cfg.text_encoder_sha256, policy_cfg.max_text_tokens)
    recorded = [policy_text(m, policy_cfg) for m in [*(e.meta for e in episodes), *relabels]]
    if cfg.pair_query > 0:
        recorded += [colour_query(e.meta["target"]) for e in episodes if e.meta.get("refer") in SIDE_KINDS]
    if policy_cfg.colour_marker:
        recorded.append(SIDE_TEXT)
    texts = list(dict.fromkeys((all_training_instructions() if cfg.paraphrase else []) + recorded))
    text_ids = {t: i for i, t in enumerate(texts)}
    text_feats, text_pad = encoder.encode(texts)  # (T, L, Dt), (T, L)
    policy_cfg.text_dim = encoder.dim

    model = VLAPolicy(policy_cfg, text_encoder=encoder)
    if init is not None:
        missing, unexpected = model.load_state_dict(init.state_dict(), strict=False)
        added = [k for k in missing if not k.startswith("context.") and k not in ("marker_embed", "focus_gain")]
        if added or unexpected:
            raise ValueError(f"--init {cfg.init_from}: weights do not fit (missing {added[:3]}, "
                             f"unexpected {unexpected[:3]})")
    model = model.to(device)
    if not cuda:
        model = model.to(memory_format=torch.channels_last)  # ~15 % faster convolutions on CPU
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, history = 0, []
    ema = WeightEMA(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    if resume:
        step, history, ema = _load_state(out_dir, model, opt, rng, cfg.ema_decay, rank, world)
    ddp = DDP(model) if world > 1 else model
    if cfg.compile:  # the uncompiled module still owns the weights that are saved
        ddp = torch.compile(ddp, dynamic=False)
    train_sampler = DemoSampler(train_eps, policy_cfg, cfg, text_ids, rng)
    val_sampler = DemoSampler(val_eps, policy_cfg, cfg, text_ids, np.random.default_rng(12345))
    if is_main:
        print(f"train: {len(train_eps)} episodes / {len(train_sampler)} frames, val: {len(val_eps)} episodes; "
              f"{count_parameters(model) / 1e6:.2f} M parameters; device {device}; world {world}; "
              f"threads {torch.get_num_threads()}" + (f"; resuming at step {step}" if step else ""))

    def to_device(batch: dict[str, Any]) -> dict[str, Any]:
        ids = batch.pop("text_ids")
        batch["text"], batch["text_pad"] = text_feats[ids], text_pad[ids]
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}

    def run(batch: dict[str, Any], net) -> tuple[torch.Tensor, dict[str, float]]:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda or cfg.cpu_bf16):
            out = net(batch["images"], batch["proprio"], batch["text"], batch["text_pad"], marker_uv=batch.get("marker_uv"))
        return model.loss(out, batch)

    bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", disable=not (progress and is_main),
               dynamic_ncols=True)
    model.train()
    prefetcher = BatchPrefetcher(functools.partial(train_sampler.sample, per_process), rng) \
        if cfg.prefetch else None
    t0, samples, first_step_s = time.perf_counter(), 0, None
    last_logs: dict[str, float] = {}
    # Where the wall time goes (profile before optimising): the phases of each step and the extras.
    phases = PhaseClock()
    try:
        while step < cfg.steps:
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, cfg)
            with phases("data"):  # with prefetch: the wait for the batch drawn meanwhile
                batch = to_device(prefetcher.next() if prefetcher else train_sampler.sample(per_process))
            with phases("forward"):  # the loss's .item() calls wait for the device
                loss, logs = run(batch, ddp)
            with phases("backward"):
                opt.zero_grad(set_to_none=True)
                loss.backward()
            with phases("optimizer"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
            step += 1
            if ema is not None:
                with phases("optimizer"):
                    ema.update(model, step)
            samples += cfg.batch_size
            if first_step_s is None:  # warm-up, and compilation under train.compile
                first_step_s = time.perf_counter() - t0
            last_logs = logs
            bar.update(1)
            bar.set_postfix(loss=f"{logs['loss']:.3f}")
            record: dict[str, Any] = {}
            if step % cfg.val_every == 0 or step == cfg.steps:
                model.eval()
                with torch.no_grad(), phases("validation"):
                    vals = [run(to_device(val_sampler.sample(cfg.batch_size, augment=False)), model)[1]
                            for _ in range(4)]
                model.train()
                record["val_loss"] = float(np.mean([v["loss"] for v in vals]))
            if is_main and cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
                with phases("closed_loop_check"):
                    record["closed_loop_success"] = closed_loop_check(model, cfg.eval_episodes)
            if record and is_main:
                record.update(step=step, train_loss=logs["loss"],
                              samples_per_s=samples / (time.perf_counter() - t0))
                history.append(record)
                bar.write(json.dumps(record))
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                with phases("checkpoint"):
                    states = _gather_rng_states(prefetcher.rng_state if prefetcher else rng.bit_generator.state,
                                                world)
                    if is_main:
                        _save_state(out_dir, model, opt, step, states, history, ema)
    finally:
        bar.close()
        if prefetcher:
            prefetcher.close()
        if world > 1:
            dist.destroy_process_group()
    elapsed = time.perf_counter() - t0
    after_first = samples - cfg.batch_size, elapsed - (first_step_s or 0.0)
    summary = {"steps": step, "samples": samples, "samples_per_s": samples / elapsed if elapsed > 0 else 0.0, "seconds": elapsed,
               "first_step_seconds": first_step_s,
               "samples_per_s_after_first_step": after_first[0] / after_first[1] if after_first[0] > 0 else None,
               "seconds_by_phase": phases.seconds(elapsed), "final_train": last_logs, "history": history}
    if is_main:
        (out_dir / "train_summary.json").write_text(json.dumps(summary, indent=1))
        if progress:
            print("train: wall time by phase: " + describe(summary["seconds_by_phase"]))
    return summary
