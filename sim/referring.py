"""Referring expressions: which cup an instruction refers to, by colour, side, distance or neighbour.

Everything is in the robot's base frame (metres). **Left and right are the robot's own**: +y is
left, as a person standing behind the robot sees the table (the scene camera faces the robot, so
the robot's left is on the *right* of its image). Distances are measured from the base origin.

A scene built for a kind (:func:`vla_sim.scene.sample_scene`) always has one referent that wins
its relation by at least :data:`MARGIN`; :func:`referent` decides it from the cups' positions,
the same way for the scene generator, the expert and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .config import validate_colour

KINDS = ("colour", "left", "right", "leftmost", "rightmost", "nearest", "farthest", "next-to")
NAMES_COLOUR = ("colour", "left", "right")  # kinds whose instruction names the target's colour
MARGIN = 0.05  # m: the referent wins its relation by at least this much
# Combinations no training episode contains (compositional generalisation is measured on them):
# (kind, target colour or None, anchor colour or None).
HELD_OUT = (("next-to", None, "purple"), ("right", "orange", None))


@dataclass(frozen=True)
class Reference:
    """What an instruction refers to: a kind, and the colours it names."""

    kind: str = "colour"
    colour: str | None = None  # the target's colour, for the kinds in NAMES_COLOUR
    anchor: str | None = None  # the anchor's colour, for next-to

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown reference kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if (self.colour is not None) != (self.kind in NAMES_COLOUR):
            raise ValueError(f"reference kind {self.kind!r} {'needs' if self.kind in NAMES_COLOUR else 'takes no'} "
                             "target colour")
        if (self.anchor is not None) != (self.kind == "next-to"):
            raise ValueError("an anchor colour goes with kind 'next-to' only, and it needs one")
        for c in (self.colour, self.anchor):
            if c is not None:
                validate_colour(c)

    @property
    def instruction(self) -> str:
        """The canonical phrasing: what the policy is trained on and conditioned with."""
        return canonical_instruction(self.kind, self.colour, self.anchor)

    def describe(self) -> str:
        """Short English name of the referent, for captions and logs ("red cup on the left")."""
        return self.instruction.removeprefix("pick up the ")

    @property
    def held_out(self) -> bool:
        """True for a combination that no training episode contains."""
        return is_held_out(self.kind, self.colour, self.anchor)


def validate_kind(kind: str) -> str:
    key = kind.strip().lower().replace("_", "-")
    if key not in KINDS:
        raise ValueError(f"unknown reference kind {kind!r}; choose one of {', '.join(KINDS)}")
    return key


def canonical_instruction(kind: str = "colour", colour: str | None = None, anchor: str | None = None) -> str:
    kind = validate_kind(kind)
    if kind in NAMES_COLOUR and colour is None or kind == "next-to" and anchor is None:
        raise ValueError(f"kind {kind!r} needs {'an anchor' if kind == 'next-to' else 'a target'} colour")
    return {
        "colour": f"pick up the {colour} cup",
        "left": f"pick up the {colour} cup on the left",
        "right": f"pick up the {colour} cup on the right",
        "leftmost": "pick up the leftmost cup",
        "rightmost": "pick up the rightmost cup",
        "nearest": "pick up the cup closest to you",
        "farthest": "pick up the cup farthest from you",
        "next-to": f"pick up the cup next to the {anchor} cup",
    }[kind]


def is_held_out(kind: str, colour: str | None, anchor: str | None) -> bool:
    return any(kind == k and (c is None or c == colour) and (a is None or a == anchor) for k, c, a in HELD_OUT)


def _scores(kind: str, xy: np.ndarray, colours: Sequence[str], ref: Reference) -> tuple[np.ndarray, np.ndarray]:
    """(score per cup, higher wins; mask of the candidate cups) for a kind."""
    n = len(xy)
    cand = np.ones(n, bool)
    if kind in NAMES_COLOUR:
        cand = np.array([c == ref.colour for c in colours])
    if kind in ("left", "leftmost"):
        score = xy[:, 1]
    elif kind in ("right", "rightmost"):
        score = -xy[:, 1]
    elif kind == "nearest":
        score = -np.linalg.norm(xy, axis=1)
    elif kind == "farthest":
        score = np.linalg.norm(xy, axis=1)
    elif kind == "next-to":
        anchors = [i for i, c in enumerate(colours) if c == ref.anchor]
        if len(anchors) != 1:
            return np.zeros(n), np.zeros(n, bool)
        cand[anchors[0]] = False
        score = -np.linalg.norm(xy - xy[anchors[0]], axis=1)
    else:  # colour: the single cup of that colour
        score = np.zeros(n)
    return score, cand


def referent(ref: Reference, xy: np.ndarray, colours: Sequence[str]) -> tuple[int | None, float]:
    """(index of the referred cup or None, its margin in metres over the runner-up).

    ``None`` when no cup fits (the named colour or the anchor is missing, or the anchor is not
    unique). For ``colour`` the margin is infinite when exactly one cup has the colour and the
    referent is None when two have it (ambiguous)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    score, cand = _scores(ref.kind, xy, colours, ref)
    idx = np.flatnonzero(cand)
    if len(idx) == 0:
        return None, 0.0
    if ref.kind == "colour":
        return (int(idx[0]), float("inf")) if len(idx) == 1 else (None, 0.0)
    if len(idx) == 1:  # "the red cup on the left" with one red cup does not refer (needs two to compare)
        return (int(idx[0]), float("inf")) if ref.kind == "next-to" else (None, 0.0)
    order = idx[np.argsort(-score[idx], kind="stable")]
    return int(order[0]), float(score[order[0]] - score[order[1]])


def references_to(index: int, xy: np.ndarray, colours: Sequence[str]) -> list[Reference]:
    """Every reference (kinds in :data:`KINDS` order, anchors by colour) whose referent is cup ``index``
    by at least :data:`MARGIN`, held-out combinations left out. A demonstration that picks cup ``index``
    is then also a demonstration of each (hindsight relabelling: new instructions, no new frames)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    colour = colours[index]
    candidates = [Reference("colour", colour=colour), Reference("left", colour=colour),
                  Reference("right", colour=colour)]
    candidates += [Reference(kind) for kind in ("leftmost", "rightmost", "nearest", "farthest")]
    candidates += [Reference("next-to", anchor=a) for a in sorted(set(colours)) if a != colour]
    found = []
    for ref in candidates:
        winner, margin = referent(ref, xy, colours)
        if winner == index and margin >= MARGIN and not ref.held_out:
            found.append(ref)
    return found


__all__ = ["KINDS", "MARGIN", "HELD_OUT", "Reference", "canonical_instruction", "referent", "references_to",
           "validate_kind", "is_held_out"]
