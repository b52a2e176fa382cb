"""Procedural hollow cups that fit the Panda's 8 cm finger opening.

A cup is one rigid compound: a bottom disc plus ``STAVES`` thin boxes forming
the wall. The staves stand *on* the disc, never on the table: wall boxes that
touch the table multiply the contact count (~7 -> ~150) and slow stepping ~8x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pybullet as p

STAVES = 12
WALL = 0.004  # wall thickness (m)
BOTTOM = 0.006  # bottom disc thickness (m)
MASS = 0.12  # kg
FRICTION = 1.0
TAPER = 0.72  # a tapered cup's base radius over its rim radius


@dataclass(frozen=True)
class CupSpec:
    """Geometry, placement and colour of one cup (base frame, metres)."""

    colour: str
    rgba: tuple[float, float, float, float]
    x: float
    y: float
    radius: float
    height: float
    yaw: float
    name: str = ""
    """Instance id: the colour, or ``red_2`` for a second cup of one colour (empty: the colour)."""
    style: str = "straight"
    """``straight`` (every training cup), ``mug`` (a handle on the side) or ``tapered`` (the base
    ``TAPER`` times the rim's radius): other shapes for ``vla eval --perturb cup_shape``."""

    @property
    def instance(self) -> str:
        return self.name or self.colour


def spawn_cup(client: int, spec: CupSpec) -> int:
    """Create the cup in ``client`` standing on the table (z = 0); return its body id."""
    if spec.style not in ("straight", "mug", "tapered"):
        raise ValueError(f"unknown cup style {spec.style!r}")
    base_r = spec.radius * (TAPER if spec.style == "tapered" else 1.0)
    wall_h = spec.height - BOTTOM
    lean = math.atan2(spec.radius - base_r, wall_h)  # staves lean out so the rim keeps ``radius``
    # Stave width covers its share of the circumference (at mid-height) with a little overlap.
    r_mid = (spec.radius + base_r) / 2.0 - WALL / 2.0
    stave_w = 2.0 * (spec.radius + base_r) / 2.0 * math.tan(math.pi / STAVES) * 1.1
    shape_types = [p.GEOM_CYLINDER]
    half_extents: list[list[float]] = [[0.0, 0.0, 0.0]]
    radii = [base_r]
    lengths = [BOTTOM]
    positions: list[list[float]] = [[0.0, 0.0, BOTTOM / 2.0]]
    orientations: list[list[float]] = [[0.0, 0.0, 0.0, 1.0]]
    for i in range(STAVES):
        a = 2.0 * math.pi * i / STAVES
        shape_types.append(p.GEOM_BOX)
        half_extents.append([WALL / 2.0, stave_w / 2.0, wall_h / 2.0 / math.cos(lean)])
        radii.append(0.0)
        lengths.append(0.0)
        positions.append([r_mid * math.cos(a), r_mid * math.sin(a), BOTTOM + wall_h / 2.0])
        orientations.append(list(p.getQuaternionFromEuler([0.0, lean, a])))
    if spec.style == "mug":  # a handle: a bar standing off the wall, joined to it at top and bottom
        for z, half in ((BOTTOM + wall_h * 0.5, [0.004, 0.005, wall_h * 0.3]),
                        (BOTTOM + wall_h * 0.78, [0.009, 0.005, 0.004]),
                        (BOTTOM + wall_h * 0.22, [0.009, 0.005, 0.004])):
            shape_types.append(p.GEOM_BOX)
            half_extents.append(half)
            radii.append(0.0)
            lengths.append(0.0)
            off = spec.radius + (0.014 if half[0] == 0.004 else 0.006)
            positions.append([off, 0.0, z])
            orientations.append([0.0, 0.0, 0.0, 1.0])
    parts = dict(shapeTypes=shape_types, halfExtents=half_extents, radii=radii, lengths=lengths,
                 positions=positions, orientations=orientations)
    # Centre of mass low in the cup, as for a real one, so it stands stably.
    return spawn_compound(client, parts, MASS, spec.height * 0.35, spec.x, spec.y, spec.yaw, spec.rgba,
                          lateralFriction=FRICTION, spinningFriction=0.001, rollingFriction=0.0001)


def spawn_compound(client: int, parts: dict, mass: float, com_z: float, x: float, y: float, yaw: float, rgba,
                   **dynamics: float) -> int:
    """One rigid body standing on the table at (x, y) from ``parts`` (PyBullet shape-array lists:
    ``shapeTypes``, ``halfExtents``, ``radii``, ``lengths``, ``positions``, ``orientations``, in the body's
    base frame), its centre of mass ``com_z`` above the base; ``dynamics`` go to ``changeDynamics``."""
    shapes = dict(shapeTypes=parts["shapeTypes"], halfExtents=parts["halfExtents"], radii=parts["radii"],
                  lengths=parts["lengths"], physicsClientId=client)
    collision = p.createCollisionShapeArray(
        **shapes, collisionFramePositions=parts["positions"], collisionFrameOrientations=parts["orientations"]
    )
    visual = p.createVisualShapeArray(**shapes, visualFramePositions=parts["positions"],
                                      visualFrameOrientations=parts["orientations"])
    body = p.createMultiBody(
        baseMass=mass,
        baseCollisionShapeIndex=collision,
        baseVisualShapeIndex=visual,
        basePosition=[x, y, 0.0005],
        baseOrientation=p.getQuaternionFromEuler([0.0, 0.0, yaw]),
        baseInertialFramePosition=[0.0, 0.0, com_z],
        physicsClientId=client,
    )
    p.changeVisualShape(body, -1, rgbaColor=list(rgba), physicsClientId=client)
    p.changeDynamics(body, -1, **dynamics, physicsClientId=client)
    return body
