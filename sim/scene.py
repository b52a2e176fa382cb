"""Seeded scene sampling: which cups, where, and how the scene looks.

Pure numpy, no PyBullet: the same seed always yields the same :class:`SceneSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import COLOURS, EnvConfig, validate_colour
from .cups import CupSpec
from .referring import MARGIN, NAMES_COLOUR, Reference, is_held_out, referent, validate_kind

# Reachable with the gripper pointing down (beyond x ~ 0.62 m or |y| ~ 0.2 m it is not).
WORKSPACE_X = (0.36, 0.60)
WORKSPACE_Y = (-0.19, 0.19)
# Centre-to-centre spacing so an open gripper descending on one cup clears its neighbours.
MIN_SPACING = 0.105
CUP_RADIUS = (0.026, 0.030)
CUP_HEIGHT = (0.085, 0.105)
_MAX_LAYOUT_TRIES = 200
DUPLICATE_FRACTION = 0.5  # relational scenes that also hold two cups of one colour (colour alone never decides)


@dataclass(frozen=True)
class SceneSpec:
    """Everything random about one episode, drawn from its seed."""

    seed: int
    target: str
    target_present: bool
    cups: tuple[CupSpec, ...]
    table_rgba: tuple[float, float, float, float]
    light_direction: tuple[float, float, float]
    camera_eye: tuple[float, float, float]
    camera_target: tuple[float, float, float]
    camera_fov_deg: float
    refer: str = "colour"
    """How the instruction refers to the target (:data:`vla_sim.referring.KINDS`)."""
    anchor: str | None = None
    """Colour of the anchor cup (kind ``next-to``)."""
    target_index: int | None = None
    """Index in ``cups`` of the referred cup (None when it is absent)."""

    @property
    def reference(self) -> Reference:
        return Reference(self.refer, self.target if self.refer in NAMES_COLOUR else None, self.anchor)

    @property
    def target_instance(self) -> str | None:
        """Instance id of the referred cup (``red``, or ``red_2`` for a second red cup)."""
        return None if self.target_index is None else self.cups[self.target_index].instance


def _sample_positions(rng: np.random.Generator, n: int) -> np.ndarray:
    """Rejection-sample ``n`` cup centres with ``MIN_SPACING`` between them."""
    if n == 0:
        return np.zeros((0, 2))
    for _ in range(_MAX_LAYOUT_TRIES):
        pts: list[np.ndarray] = []
        for _ in range(50 * n):
            cand = np.array([rng.uniform(*WORKSPACE_X), rng.uniform(*WORKSPACE_Y)])
            if all(np.linalg.norm(cand - q) >= MIN_SPACING for q in pts):
                pts.append(cand)
                if len(pts) == n:
                    return np.stack(pts)
    raise RuntimeError(f"could not place {n} cups without overlap")  # unreachable for n <= 6


def sample_scene(config: EnvConfig, seed: int, target: str | None = None, refer: str | None = None,
                 anchor: str | None = None) -> SceneSpec:
    """Draw the scene of episode ``seed``.

    ``target``, ``refer`` and ``anchor`` override ``config.target`` (a colour or ``"random"``),
    ``config.refer`` and ``config.anchor``. A ``"random"`` colour never draws a combination held
    out from training (:data:`vla_sim.referring.HELD_OUT`): name it to get it.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    colours = list(COLOURS)
    wanted = config.target if target is None else target
    kind = validate_kind(config.refer if refer is None else refer)
    anchor = config.anchor if anchor is None else anchor
    n = int(rng.integers(config.num_cups[0], config.num_cups[1] + 1))
    target_index: int | None = None
    if kind != "colour":
        if config.target_absent:
            raise ValueError(f"scenes without the target exist for kind 'colour' only, not {kind!r}")
        chosen, xy, target_index, wanted, anchor = _sample_referring(rng, kind, n, wanted, anchor,
                                                                     config.max_margin)
    else:
        anchor = None
        if wanted == "random":
            wanted = colours[int(rng.integers(len(colours)))]
        others = [c for c in colours if c != wanted]
        if config.target_absent:
            chosen = [others[i] for i in rng.permutation(len(others))[:n]]
        else:
            chosen = [wanted] + [others[i] for i in rng.permutation(len(others))[: n - 1]]
            target_index = 0
        xy = _sample_positions(rng, len(chosen))
    seen: dict[str, int] = {}
    names = []
    for c in chosen:
        seen[c] = seen.get(c, 0) + 1
        names.append(c if seen[c] == 1 else f"{c}_{seen[c]}")
    cups = tuple(
        CupSpec(
            colour=c,
            rgba=_jitter_rgba(rng, COLOURS[c]),
            x=float(xy[i, 0]),
            y=float(xy[i, 1]),
            radius=float(rng.uniform(*CUP_RADIUS)),
            height=float(rng.uniform(*CUP_HEIGHT)),
            yaw=float(rng.uniform(-np.pi, np.pi)),
            name="" if names[i] == c else names[i],
        )
        for i, c in enumerate(chosen)
    )
    cam = config.camera
    jitter = config.randomize_appearance
    grey = rng.uniform(0.45, 0.8)
    tint = rng.uniform(-0.08, 0.08, size=3)
    table_rgba = tuple(float(v) for v in np.clip(grey + tint, 0, 1)) + (1.0,) if jitter else (0.7, 0.6, 0.5, 1.0)
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.8, 1.5)])
    eye = np.asarray(cam.eye) + rng.uniform(-cam.eye_jitter, cam.eye_jitter, 3)
    look = np.asarray(cam.target) + rng.uniform(-cam.target_jitter, cam.target_jitter, 3)
    fov = cam.fov_deg + rng.uniform(-cam.fov_jitter_deg, cam.fov_jitter_deg)
    if not jitter:
        light, eye, look, fov = np.array([0.5, 0.3, 1.0]), np.asarray(cam.eye), np.asarray(cam.target), cam.fov_deg
    return SceneSpec(
        seed=int(seed),
        target=wanted,
        target_present=not config.target_absent,
        cups=cups,
        table_rgba=table_rgba,  # type: ignore[arg-type]
        light_direction=tuple(float(v) for v in light),  # type: ignore[arg-type]
        camera_eye=tuple(float(v) for v in eye),  # type: ignore[arg-type]
        camera_target=tuple(float(v) for v in look),  # type: ignore[arg-type]
        camera_fov_deg=float(fov),
        refer=kind,
        anchor=anchor,
        target_index=target_index,
    )


def _draw_colour(rng: np.random.Generator, requested: str, kind: str, role: str) -> str:
    """The named colour, or a random one that keeps held-out combinations out."""
    if requested != "random":
        return validate_colour(requested)
    options = [c for c in COLOURS
               if not is_held_out(kind, c if role == "target" else None, c if role == "anchor" else None)]
    return options[int(rng.integers(len(options)))]


def _sample_referring(rng: np.random.Generator, kind: str, n: int, target: str, anchor: str,
                      max_margin: float = 0.0):
    """Colours and positions of a relational scene whose referent wins by ``MARGIN`` (and by at most
    ``max_margin`` when it is not 0): (colours, xy (n, 2), referent index, referent colour, anchor or None)."""
    colours = list(COLOURS)
    if kind in ("left", "right"):
        colour = _draw_colour(rng, target, kind, "target")
        n = max(n, 2)
        others = [c for c in colours if c != colour]
        chosen = [colour, colour] + [others[i] for i in rng.permutation(len(others))[: n - 2]]
        ref = Reference(kind, colour=colour)
    elif kind == "next-to":
        anchor_colour = _draw_colour(rng, anchor, kind, "anchor")
        n = max(n, 3)
        others = [c for c in colours if c != anchor_colour]
        chosen = [anchor_colour] + [others[i] for i in rng.permutation(len(others))[: n - 1]]
        if rng.random() < DUPLICATE_FRACTION:  # two cups of one (non-anchor) colour
            chosen[-1] = chosen[1]
        ref = Reference(kind, anchor=anchor_colour)
    else:  # leftmost, rightmost, nearest, farthest: any colours
        n = max(n, 2)
        chosen = [colours[i] for i in rng.permutation(len(colours))[:n]]
        if rng.random() < DUPLICATE_FRACTION:
            chosen[-1] = chosen[0]
        ref = Reference(kind)
    # Close calls are rarer: more layouts before giving up (the draws of max_margin=0 are unchanged).
    for _ in range(_MAX_LAYOUT_TRIES * (10 if max_margin else 1)):
        xy = _sample_positions(rng, len(chosen))
        index, margin = referent(ref, xy, chosen)
        if index is not None and margin >= MARGIN and (not max_margin or margin <= max_margin):
            return chosen, xy, index, chosen[index], ref.anchor
    raise RuntimeError(f"could not lay out a {kind!r} scene with a margin in [{MARGIN}, "
                       f"{max_margin or 'any'}] m")  # not seen for n <= 6


def _jitter_rgba(rng: np.random.Generator, rgba: tuple[float, float, float, float]) -> tuple[float, ...]:
    """Small per-channel jitter so colours vary like real cups, without crossing into a neighbour."""
    rgb = np.clip(np.asarray(rgba[:3]) + rng.uniform(-0.04, 0.04, 3), 0.0, 1.0)
    return tuple(float(v) for v in rgb) + (1.0,)
