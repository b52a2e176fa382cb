"""Typed configuration of the pick-the-cup simulator.

Every field is validated in ``__post_init__`` so that a bad option fails at
construction with a message naming the field, not deep inside PyBullet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Cup colours (RGBA). Orange is the near-red hard negative for the red target.
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.08, 0.08, 1.0),
    "orange": (0.98, 0.50, 0.05, 1.0),
    "yellow": (0.95, 0.85, 0.10, 1.0),
    "green": (0.10, 0.65, 0.15, 1.0),
    "blue": (0.10, 0.25, 0.90, 1.0),
    "purple": (0.55, 0.15, 0.70, 1.0),
}
# Each cup in a scene has its own colour, so "the red cup" is never ambiguous.
MAX_CUPS = len(COLOURS)


def validate_colour(name: str) -> str:
    """Return ``name`` normalised, or raise a ValueError listing the known colours."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in COLOURS:
        raise ValueError(f"unknown colour {name!r}; choose one of {', '.join(COLOURS)}")
    return key


@dataclass
class CameraConfig:
    """Third-person RGB camera looking at the workspace from in front of the robot."""

    width: int = 128
    """Image width in pixels."""
    height: int = 128
    """Image height in pixels."""
    fov_deg: float = 50.0
    """Vertical field of view in degrees."""
    eye: tuple[float, float, float] = (0.85, 0.0, 0.55)
    """Camera position in the robot base frame (m)."""
    target: tuple[float, float, float] = (0.42, 0.0, 0.0)
    """Point the camera looks at, robot base frame (m)."""
    near: float = 0.05
    """Near clipping plane (m)."""
    far: float = 3.0
    """Far clipping plane (m)."""
    eye_jitter: float = 0.02
    """Per-episode uniform jitter of ``eye`` on each axis (m); 0 disables."""
    target_jitter: float = 0.01
    """Per-episode uniform jitter of ``target`` on each axis (m); 0 disables."""
    fov_jitter_deg: float = 1.5
    """Per-episode uniform jitter of the field of view (degrees)."""

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 16 <= value <= 2048:
                raise ValueError(f"camera {name} must be an integer in [16, 2048], got {value!r}")
        if not 5.0 <= self.fov_deg <= 150.0:
            raise ValueError(f"camera fov_deg must be in [5, 150], got {self.fov_deg}")
        if not 0 < self.near < self.far:
            raise ValueError(f"camera needs 0 < near < far, got near={self.near} far={self.far}")
        for name in ("eye_jitter", "target_jitter", "fov_jitter_deg"):
            if getattr(self, name) < 0:
                raise ValueError(f"camera {name} must be >= 0")


def validate_max_margin(value: float) -> float:
    """``max_margin``: 0 (any margin) or metres in [MARGIN + 0.01, 0.5]; ValueError otherwise (also NaN)."""
    from .referring import MARGIN

    if value != 0.0 and not MARGIN + 0.01 <= value <= 0.5:
        raise ValueError(f"max_margin: expected 0 (any) or metres in [{MARGIN + 0.01:.2f}, 0.5], got {value!r}")
    return value


@dataclass
class EnvConfig:
    """Scene, control and termination settings of :class:`~vla_sim.env.PickCupEnv`."""

    num_cups: tuple[int, int] = (3, 5)
    """Inclusive range of cups on the table (target included, unless ``target_absent``)."""
    target: str = "red"
    """Target colour, or ``"random"`` to draw it per episode among the cups in the scene."""
    target_absent: bool = False
    """Build scenes with no cup of the target colour (the correct behaviour is to abstain)."""
    refer: str = "colour"
    """How the instruction picks the target (``vla_sim.referring.KINDS``): ``colour`` (each colour once),
    ``left``/``right`` (two cups of the target colour), ``leftmost``/``rightmost``/``nearest``/``farthest``
    (any colours) or ``next-to`` (the cup nearest an anchor cup of a unique colour)."""
    anchor: str = "random"
    """Anchor colour of ``next-to`` scenes, or ``"random"`` per episode."""
    max_margin: float = 0.0
    """Relational scenes only: the referent wins its relation by at most this many metres (close calls,
    such as a left/right pair standing nearly one behind the other); 0 draws any margin from
    :data:`vla_sim.referring.MARGIN` up. Records or measures the hard cases on purpose."""
    control_hz: float = 10.0
    """Rate at which :meth:`step` takes actions."""
    physics_hz: float = 240.0
    """PyBullet integration rate; must be an integer multiple of ``control_hz``."""
    max_linear_speed: float = 0.25
    """Per-axis limit of the end-effector velocity command (m/s); larger commands are clipped."""
    episode_seconds: float = 20.0
    """Simulated time before an episode ends with ``timeout``."""
    camera: CameraConfig = field(default_factory=CameraConfig)
    """The observation camera."""
    wrist_camera: bool = False
    """Also render a camera mounted on the hand (observation key ``wrist_image``)."""
    render_images: bool = True
    """Render camera images; the privileged expert does not need them, which is ~10x faster."""
    randomize_appearance: bool = True
    """Randomise table colour, light direction and camera pose per episode."""
    gui: bool = False
    """Open the PyBullet GUI instead of running headless (needs a display)."""
    perturb: tuple[str, ...] = ()
    """Test-time perturbations the training scenes never have (``vla_sim.perturbations.AXES`` or
    ``("all",)``; a comma-separated string is accepted): drawn per episode from its seed, the scene
    itself unchanged. Empty: none."""
    objects_in_target_colour: bool = False
    """With the ``distractor_objects`` axis, the first object takes the colour of the referred cup: a
    block, bowl or bottle the policy must tell from the cup by its shape. For training sets (``vla data
    generate --objects-in-target-colour``); ``vla eval`` draws every object's colour at random."""

    def __post_init__(self) -> None:
        lo, hi = self.num_cups
        least = 0 if self.target_absent else 1  # an empty table is a valid "absent" scene
        if not (isinstance(lo, int) and isinstance(hi, int)) or lo < least or hi < lo:
            raise ValueError(f"num_cups must be a range {least} <= min <= max, got {self.num_cups}")
        limit = MAX_CUPS - 1 if self.target_absent else MAX_CUPS
        if hi > limit:
            raise ValueError(
                f"at most {limit} cups fit a scene{' without the target colour' if self.target_absent else ''} "
                f"(one per colour), got {hi}"
            )
        if self.target != "random":
            self.target = validate_colour(self.target)
        if self.anchor != "random":
            self.anchor = validate_colour(self.anchor)
        from .referring import validate_kind

        self.refer = validate_kind(self.refer)
        if self.target_absent and self.refer != "colour":
            raise ValueError(f"target_absent scenes exist for refer='colour' only, not {self.refer!r}")
        validate_max_margin(self.max_margin)
        if self.control_hz <= 0 or self.physics_hz <= 0:
            raise ValueError("control_hz and physics_hz must be positive")
        ratio = self.physics_hz / self.control_hz
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ValueError(
                f"physics_hz ({self.physics_hz}) must be an integer multiple of control_hz ({self.control_hz})"
            )
        if not 0 < self.max_linear_speed <= 2.0:
            raise ValueError(f"max_linear_speed must be in (0, 2] m/s, got {self.max_linear_speed}")
        if self.episode_seconds <= 0:
            raise ValueError(f"episode_seconds must be positive, got {self.episode_seconds}")
        if isinstance(self.camera, dict):
            self.camera = CameraConfig(**self.camera)
        if self.perturb:
            from .perturbations import parse_axes

            self.perturb = parse_axes(self.perturb)
        else:
            self.perturb = ()
        if self.objects_in_target_colour and "distractor_objects" not in self.perturb:
            raise ValueError("objects_in_target_colour needs the distractor_objects perturbation")

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return int(round(self.physics_hz / self.control_hz))

    @property
    def max_steps(self) -> int:
        """Control steps per episode before ``timeout``."""
        return int(round(self.episode_seconds * self.control_hz))
