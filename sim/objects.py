"""Objects that are not cups (blocks, bowls, bottles): the ``distractor_objects`` perturbation.

Like the cups, each is one rigid compound standing on the table (z = 0), in a cup colour, so "the red cup"
has a red block or bowl to be confused with.
"""

from __future__ import annotations

import math

import pybullet as p

from .cups import spawn_compound
from .perturbations import Distractor

BOWL_STAVES = 16
BOWL_LEAN_DEG = 40.0  # the bowl's wall leans out this far from vertical
MASS = {"block": 0.1, "bowl": 0.15, "bottle": 0.3}


def _compound(d: Distractor) -> dict:
    """PyBullet shape-array arguments of one distractor (frame at its base centre)."""
    if d.kind == "block":
        return dict(shapeTypes=[p.GEOM_BOX], halfExtents=[[d.size, d.size, d.size]], radii=[0.0], lengths=[0.0],
                    positions=[[0.0, 0.0, d.size]], orientations=[[0.0, 0.0, 0.0, 1.0]])
    if d.kind == "bottle":  # a body and a neck
        body_h, neck_h = 0.72 * d.height, 0.28 * d.height
        return dict(shapeTypes=[p.GEOM_CYLINDER, p.GEOM_CYLINDER], halfExtents=[[0.0] * 3] * 2,
                    radii=[d.size, 0.4 * d.size], lengths=[body_h, neck_h],
                    positions=[[0.0, 0.0, body_h / 2], [0.0, 0.0, body_h + neck_h / 2]],
                    orientations=[[0.0, 0.0, 0.0, 1.0]] * 2)
    if d.kind != "bowl":
        raise ValueError(f"unknown distractor kind {d.kind!r}")
    lean = math.radians(BOWL_LEAN_DEG)
    base_r, bottom = d.size - d.height * math.tan(lean), 0.005
    wall_len = d.height / math.cos(lean)
    r_mid = (base_r + d.size) / 2
    width = 2 * r_mid * math.tan(math.pi / BOWL_STAVES) * 1.15
    args = dict(shapeTypes=[p.GEOM_CYLINDER], halfExtents=[[0.0] * 3], radii=[base_r], lengths=[bottom],
                positions=[[0.0, 0.0, bottom / 2]], orientations=[[0.0, 0.0, 0.0, 1.0]])
    for i in range(BOWL_STAVES):
        a = 2 * math.pi * i / BOWL_STAVES
        args["shapeTypes"].append(p.GEOM_BOX)
        args["halfExtents"].append([0.002, width / 2, wall_len / 2])
        args["radii"].append(0.0)
        args["lengths"].append(0.0)
        args["positions"].append([r_mid * math.cos(a), r_mid * math.sin(a), d.height / 2])
        args["orientations"].append(list(p.getQuaternionFromEuler([0.0, lean, a])))
    return args


def spawn_distractor(client: int, d: Distractor, x: float, y: float, rgba) -> int:
    """Create ``d`` standing on the table at (x, y); return its body id."""
    return spawn_compound(client, _compound(d), MASS[d.kind], d.height * 0.3, x, y, d.yaw, rgba, lateralFriction=1.0)
