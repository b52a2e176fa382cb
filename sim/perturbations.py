"""Test-time perturbations the training scenes never have: ``vla eval --perturb AXIS[,AXIS...]``.

Each episode's perturbation is drawn from its seed with a generator of its own, so the scene itself (cups,
layout, instruction) is the unperturbed episode's: a perturbed row and the plain row of the same seeds are a
paired comparison. Every axis is drawn for every episode and only the chosen ones are applied, so ``lighting``
alone and ``lighting`` inside ``all`` are the same change. Levels (training in brackets):

- ``lighting``: intensity x0.5-x1.5 (ambient and diffuse together; training x1), light colour from a
  2,700-9,000 K colour temperature (white), and a second light from another direction (one).
- ``table_texture``: a checker, stripe or blotch texture in two colours with saturation 0.35-0.8 or
  brightness 0.08-0.3 (plain grey 0.45-0.8 tinted +/-0.08).
- ``camera_pose``: the camera moved 2-5 cm along each axis and turned 2-5 degrees about each axis, random
  signs (+/-2 cm, +/-1 cm look-at point, no rotation about the optical axis).
- ``distractor_objects``: 1-3 objects that are not cups (blocks, bowls, bottles) in cup colours among the
  cups (cups only). Lifting one is a ``wrong_cup`` outcome: something nobody asked for.
- ``image_noise``: exposure x0.6-x1.4, Gaussian blur sigma 0.6-1.2 px, sensor noise sigma 3-8 grey levels,
  JPEG quality 25-60, on every observation frame (clean renders).
- ``cup_shape``: every cup becomes a mug with a handle (40 %), a tapered cup (40 %) or stays straight,
  each scaled x0.8-x1.2 (straight cups only, radius 2.6-3.0 cm, height 8.5-10.5 cm).
- ``all``: all of the above at once.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import cv2
import numpy as np

AXES = ("lighting", "table_texture", "camera_pose", "distractor_objects", "image_noise", "cup_shape")
_SALT = 0x9E3779B1  # the perturbation's generator: [seed, _SALT], never the scene's own draws

# Colour temperature (K) -> light colour (brightest channel 1), for interpolation.
_KELVIN = np.array([2700.0, 4000.0, 5500.0, 6500.0, 9000.0])
_KELVIN_RGB = np.array([[1.0, 0.66, 0.39], [1.0, 0.81, 0.65], [1.0, 0.93, 0.87], [1.0, 0.98, 0.98],
                        [0.82, 0.88, 1.0]])
# PyBullet TinyRenderer's default light coefficients (what training frames are rendered with).
AMBIENT, DIFFUSE, SPECULAR = 0.6, 0.35, 0.05
CUP_STYLES = ("straight", "mug", "tapered")
DISTRACTOR_KINDS = ("block", "bowl", "bottle")


def parse_axes(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"lighting,camera_pose"`` or ``"all"`` -> the axes in canonical order; ValueError naming the choices."""
    parts = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text)]
    parts = [t for t in parts if t]
    if not parts:
        raise ValueError(f"no perturbation axis given; choose from {', '.join(AXES)} or all")
    unknown = [t for t in parts if t != "all" and t not in AXES]
    if unknown:
        raise ValueError(f"unknown perturbation axis {unknown[0]!r}; choose from {', '.join(AXES)} or all")
    return AXES if "all" in parts else tuple(a for a in AXES if a in parts)


@dataclass(frozen=True)
class Lighting:
    scale: float  # ambient and diffuse times this
    colour: tuple[float, float, float]  # light RGB from a colour temperature
    kelvin: float
    second_direction: tuple[float, float, float]
    second_strength: float  # diffuse coefficient of the second light (no ambient of its own)


@dataclass(frozen=True)
class CameraShift:
    offset: tuple[float, float, float]  # metres, base frame
    rotation_deg: tuple[float, float, float]  # about the optical x, y, z axes


@dataclass(frozen=True)
class ImageNoise:
    exposure: float
    blur_sigma: float
    noise_sigma: float
    jpeg_quality: int


@dataclass(frozen=True)
class TableTexture:
    pattern: str  # checker, stripes or blotches
    colours: tuple[tuple[float, float, float], tuple[float, float, float]]
    period: int  # pixels of the 128 px texture per pattern repeat
    seed: int

    def image(self) -> np.ndarray:
        """(128, 128, 3) uint8 RGB."""
        n = 128
        yy, xx = np.mgrid[0:n, 0:n]
        if self.pattern == "checker":
            mask = ((xx // self.period + yy // self.period) % 2).astype(np.float32)
        elif self.pattern == "stripes":  # wood-like bands with a wobble
            wobble = 3.0 * np.sin(yy / 9.0 + self.seed % 7)
            mask = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + wobble) / self.period)
        else:  # blotches: coarse noise, upsampled
            coarse = np.random.default_rng(self.seed).random((n // self.period + 1,) * 2).astype(np.float32)
            mask = cv2.resize(coarse, (n, n), interpolation=cv2.INTER_CUBIC).clip(0, 1)
        a, b = (np.asarray(c, np.float32) for c in self.colours)
        img = a[None, None] * (1 - mask[..., None]) + b[None, None] * mask[..., None]
        return (img * 255).round().clip(0, 255).astype(np.uint8)


@dataclass(frozen=True)
class CupShape:
    style: str  # straight, mug or tapered
    scale: float  # radius and height times this


@dataclass(frozen=True)
class Distractor:
    kind: str  # block, bowl or bottle
    colour: str  # a cup colour name (what a careless policy could take it for)
    size: float  # block half side, bowl radius or bottle radius (m)
    height: float  # block: = 2 * size; bowl and bottle: their height (m)
    yaw: float


@dataclass(frozen=True)
class Perturbation:
    """One episode's perturbation; an axis not chosen is None (or empty)."""

    seed: int
    axes: tuple[str, ...]
    lighting: Lighting | None = None
    table_texture: TableTexture | None = None
    camera_pose: CameraShift | None = None
    distractors: tuple[Distractor, ...] = field(default_factory=tuple)
    image_noise: ImageNoise | None = None
    cup_shapes: tuple[CupShape, ...] = field(default_factory=tuple)  # one per scene cup slot (up to 6)
    layout_seed: int = 0  # where the distractors go, among the scene's cups

    def degrade(self, image: np.ndarray, step: int) -> np.ndarray:
        """The observation frame through the ``image_noise`` axis (noise seeded by episode and step)."""
        n = self.image_noise
        if n is None:
            return image
        img = image.astype(np.float32) * n.exposure
        img = cv2.GaussianBlur(img, (0, 0), n.blur_sigma)
        rng = np.random.default_rng([self.seed, _SALT, step])
        img = img + rng.normal(0.0, n.noise_sigma, img.shape).astype(np.float32)
        img = img.round().clip(0, 255).astype(np.uint8)
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, n.jpeg_quality])
        if not ok:  # not expected; a frame without the compression is still a perturbed frame
            return img
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _signed(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo, hi, n) * rng.choice([-1.0, 1.0], n)


def _unusual_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    """A table colour outside the training range: strongly coloured, or dark."""
    if rng.random() < 0.7:
        rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.35, 0.8), rng.uniform(0.35, 0.9))
    else:
        rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.08, 0.3))
    return tuple(float(v) for v in rgb)  # type: ignore[return-value]


def draw_perturbation(seed: int, axes: tuple[str, ...]) -> Perturbation:
    """The perturbation of episode ``seed`` on ``axes`` (validated by :func:`parse_axes`)."""
    from .config import COLOURS

    axes = parse_axes(axes)
    rng = np.random.default_rng([int(seed), _SALT])
    # Every axis is drawn, in this fixed order, whatever is chosen: an axis looks the same alone or combined.
    kelvin = float(rng.uniform(2700.0, 9000.0))
    light_dir = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.5, 1.5)])
    lighting = Lighting(
        scale=float(rng.uniform(0.5, 1.5)),
        colour=tuple(float(np.interp(kelvin, _KELVIN, _KELVIN_RGB[:, i])) for i in range(3)),  # type: ignore[arg-type]
        kelvin=kelvin,
        second_direction=tuple(float(v) for v in light_dir),  # type: ignore[arg-type]
        second_strength=float(rng.uniform(0.2, 0.45)),
    )
    texture = TableTexture(
        pattern=str(rng.choice(["checker", "stripes", "blotches"])),
        colours=(_unusual_colour(rng), _unusual_colour(rng)),
        period=int(rng.integers(10, 33)),
        seed=int(rng.integers(2**31)),
    )
    camera = CameraShift(offset=tuple(float(v) for v in _signed(rng, 0.02, 0.05, 3)),  # type: ignore[arg-type]
                         rotation_deg=tuple(float(v) for v in _signed(rng, 2.0, 5.0, 3)))  # type: ignore[arg-type]
    distractors = []
    for _ in range(int(rng.integers(1, 4))):
        kind = str(rng.choice(DISTRACTOR_KINDS))
        colour = str(rng.choice(list(COLOURS)))
        if kind == "block":
            size = float(rng.uniform(0.018, 0.028))
            height = 2 * size
        elif kind == "bowl":
            size, height = float(rng.uniform(0.045, 0.06)), float(rng.uniform(0.035, 0.05))
        else:
            size, height = float(rng.uniform(0.022, 0.03)), float(rng.uniform(0.14, 0.2))
        distractors.append(Distractor(kind, colour, size, height, float(rng.uniform(-np.pi, np.pi))))
    noise = ImageNoise(exposure=float(rng.uniform(0.6, 1.4)), blur_sigma=float(rng.uniform(0.6, 1.2)),
                       noise_sigma=float(rng.uniform(3.0, 8.0)), jpeg_quality=int(rng.integers(25, 61)))
    shapes = tuple(CupShape(style=str(rng.choice(CUP_STYLES, p=[0.2, 0.4, 0.4])), scale=float(rng.uniform(0.8, 1.2)))
                   for _ in range(6))
    layout_seed = int(rng.integers(2**31))
    return Perturbation(
        seed=int(seed), axes=axes,
        lighting=lighting if "lighting" in axes else None,
        table_texture=texture if "table_texture" in axes else None,
        camera_pose=camera if "camera_pose" in axes else None,
        distractors=tuple(distractors) if "distractor_objects" in axes else (),
        image_noise=noise if "image_noise" in axes else None,
        cup_shapes=shapes if "cup_shape" in axes else (),
        layout_seed=layout_seed,
    )


def shifted_pose(T_base_cam: np.ndarray, shift: CameraShift) -> np.ndarray:
    """The camera pose moved by ``shift.offset`` and turned about its own optical axes."""
    rx, ry, rz = np.radians(shift.rotation_deg)
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    T = np.array(T_base_cam, float, copy=True)
    T[:3, :3] = T[:3, :3] @ (Rz @ Ry @ Rx)
    T[:3, 3] += np.asarray(shift.offset)
    return T


def place_distractors(perturbation: Perturbation, cup_xy: np.ndarray, spacing: float) -> list[tuple[float, float]]:
    """Table positions (x, y) of the distractors, ``spacing`` (+ a bowl's extra radius) from every cup and
    from each other; one that finds no room is left out (the rest keep their places)."""
    rng = np.random.default_rng([perturbation.layout_seed, _SALT])
    placed: list[tuple[np.ndarray, float]] = [(np.asarray(xy, float), 0.0) for xy in cup_xy]
    out = []
    for d in perturbation.distractors:
        extra = max(0.0, d.size - 0.03)  # bowls are wider than cups
        for _ in range(300):
            cand = np.array([rng.uniform(0.32, 0.64), rng.uniform(-0.24, 0.24)])
            if all(np.linalg.norm(cand - q) >= spacing + extra + e for q, e in placed):
                placed.append((cand, extra))
                out.append((float(cand[0]), float(cand[1])))
                break
        else:
            out.append((float("nan"), float("nan")))
    return out
