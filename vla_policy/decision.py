"""The decision core: from an instruction and observations to the command at time ``t``.

Everything the robot decides lives here, free of ROS, with the clock passed in: whether it
understood the instruction (or refuses it, saying why), whether its inputs are fresh enough to
act on, whether the named cup is in view (the abstain vote), and which action the ensembled
predictions give for this instant. ``vla eval`` and ``vla demo`` drive it with the simulator's
step clock, the ROS policy node with its node clock, so the evaluation measures what ships.

The caller runs the policy: it asks :meth:`DecisionCore.policy_instruction` for the text to
condition on (``None``: nothing to predict), passes each prediction to :meth:`add_prediction`
with the observation's stamp, reports usable frames and robot states with :meth:`note_frame` /
:meth:`note_state`, and asks :meth:`command` for the command at each control instant.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .ensemble import AbstainVote, ChunkEnsembler, binarise_gripper
from .training_view import CUP_CENTRE_Z, training_view

if TYPE_CHECKING:  # the core itself needs no torch: the ROS node imports it before loading models
    from .understanding import Verdict

ACT, HOLD, REFUSED, ABSTAINED = "act", "hold", "refused", "abstained"
# What a policy with ``anchor_marker`` is conditioned on for these kinds, once the anchor is marked:
# no colour word, so the relation cannot lean on the anchor's colour (it is found by the colour query).
MARKED_TEXT = {"next-to": "pick up the cup next to the marked cup"}
# ... and a policy with ``side_marker`` for left/right, once the cup on the named side is marked.
SIDE_KINDS = ("left", "right")
SIDE_TEXT = "pick up the marked cup"


def acts_on_marked_cup(kind: str, side_marker: bool, colour_marker: bool) -> bool:
    """Whether a task of ``kind`` is located, marked and acted on as :data:`SIDE_TEXT`: left/right for a
    side-marker policy, colour for a colour-marker one."""
    return (side_marker and kind in SIDE_KINDS) or (colour_marker and kind == "colour")


def conditioning_text(kind: str, canonical: str, anchor_marker: bool, side_marker: bool = False,
                      colour_marker: bool = False) -> str:
    """The text a policy is conditioned on for a task of ``kind`` with canonical phrasing ``canonical``
    (training and the core share this, so both feed the policy the same words)."""
    if acts_on_marked_cup(kind, side_marker, colour_marker):
        return SIDE_TEXT
    return MARKED_TEXT[kind] if anchor_marker and kind in MARKED_TEXT else canonical


def colour_query(colour: str) -> str:
    """The plain colour request that locates a marker task's cups ("pick up the blue cup"): the pathway
    every colour is trained on."""
    return f"pick up the {colour} cup"


# A left/right pair is found among this many heatmap peaks of the colour query ...
PAIR_CANDIDATES = 8
# ... as two peaks at least this far apart on the table (m). Closer peaks are one cup: its heat spills
# over its rim and body (the second of the two strongest peaks was the first cup's shoulder in 4 of 400
# left/right scenes, and the pick went to the wrong cup). At 8 cm a policy trained on perturbed scenes,
# whose heat spreads further, still paired a cup with its own shoulder 8-9 cm off (6 of 200 canonical left
# scenes, first frame); 10 cm is just below the 10.5 cm between cup centres that a gripper needs to take
# one cup of two, so no real pair is closer.
PAIR_MIN_SPACING = 0.10
# The colour cross-check: another colour's query claims the named colour's cup when its peak lies this close
# to the named colour's peak on the table (m): on the same cup. Two queries that read one cup put their peaks
# 0.4-1.9 cm apart (measured); a cup is 5-6 cm wide and neighbours stand >= 10.5 cm apart, but located peaks
# are off by a few cm: at 8 cm a red query's peak on the red cup 7.6 cm from an orange cup's overruled it.
CHECK_RADIUS = 0.04
# A pose counts as frozen only once this many changed camera images came while it stood still (with the
# commanded motion): the camera shows the arm moving, the pose does not.
FROZEN_POSE_FRAMES = 3
# The frozen-camera watch counts the hand's motion only while it projects this far (share of the frame)
# inside the frame's edges.
IN_VIEW_MARGIN = 0.08
# After a missed grasp the gripper counts as open again from this width (m; the Panda's fully open: 0.08),
# or this long (s) after the miss, whichever comes first (a gripper that opens less wide still rises).
REOPENED_WIDTH = 0.07
REOPEN_SECONDS = 1.0
REGRASP_SPEED = 0.15  # m/s, straight up
# ... and, with ``regrasp_over_target`` and the located cup within ``regrasp_target_radius`` of the miss,
# sideways towards it at up to this speed (m/s), closing the gap in about CENTRE_TIME_CONSTANT (s), until it
# is under CENTRE_TOLERANCE (m) or CENTRE_SECONDS (s) after the rise should have ended.
CENTRE_SPEED = 0.15
CENTRE_TIME_CONSTANT = 0.3
CENTRE_TOLERANCE = 0.01
CENTRE_SECONDS = 2.0


def table_points(pixels: np.ndarray, image_size: float, z: float = CUP_CENTRE_Z) -> np.ndarray:
    """Base-frame (x, y) (k, 2) of located points (k, 2): each pixel ray of the training camera (frames of
    ``image_size`` pixels) meets the horizontal plane at height ``z`` (m; default: the cup centres')."""
    from vla_sim.camera import pixels_to_plane

    return pixels_to_plane(*training_view(image_size), pixels, z)[:, :2]


def _pixels(uv: Any, what: str) -> np.ndarray | None:
    """Pixels (2,) from a caller, or None; anything but two finite numbers is a ValueError."""
    if uv is None:
        return None
    try:
        out = np.asarray(uv, dtype=np.float64).reshape(2)
    except (TypeError, ValueError):
        out = None
    if out is None or not np.isfinite(out).all():
        raise ValueError(f"{what} pixels must be two finite numbers, got {uv!r}")
    return out


def robot_left_of(pixels: np.ndarray, image_size: float) -> np.ndarray:
    """How far to the robot's left (+y of the base frame, m) each located cup (k, 2) is (:func:`table_points`).
    Left and right are the robot's, not the image's: with perspective, a far cup can sit further
    right in the image than a nearer cup that is further right on the table."""
    return table_points(pixels, image_size)[:, 1]


def pair_of(candidates: np.ndarray, image_size: float = 128) -> np.ndarray | None:
    """The two cups of a left/right pair among heatmap peaks (k, 2), strongest first: the strongest, and
    the strongest at least :data:`PAIR_MIN_SPACING` from it on the table; None when every peak is that
    close (one cup in view, the rest of its heat on its rim or body)."""
    xy = table_points(candidates, image_size)
    far = np.linalg.norm(xy - xy[0], axis=1) >= PAIR_MIN_SPACING
    if not far.any():
        return None
    return candidates[[0, int(np.argmax(far))]]


def pick_side(candidates: np.ndarray, side: str, image_size: float = 128) -> np.ndarray:
    """The candidate pixels (k, 2) on the robot's ``side`` ("left" / "right") of the table."""
    y = robot_left_of(candidates, image_size)
    return candidates[int(np.argmax(y) if side == "left" else np.argmin(y))]


@dataclass
class DecisionConfig:
    """Timing and safety settings of :class:`DecisionCore`."""

    step_seconds: float = 0.1
    """Time between the actions of a predicted chunk (the policy's 10 Hz training rate)."""
    image_timeout: float = 0.5
    """No usable frame for this long (s) holds the arm."""
    stale_frames: float = 2.5
    """... nor for this many camera periods (measured from the frames), whichever is shorter."""
    state_timeout: float = 0.5
    """No robot state (end-effector pose) for this long (s) holds the arm."""
    frozen_travel: float = 0.03
    """A frozen input holds the arm: the camera image stays byte-identical while the end effector moves
    this far (m), or the end-effector pose stays bit-identical while the commanded motion adds up to this
    far and the camera shows things moving (a driver republishing a stale buffer, a stalled state
    stream). A live sensor never repeats a frame or a pose exactly while the arm moves; fresh stamps alone
    do not show it. A robot that ignores commands (paused, not yet engaged) changes neither pose nor
    image, and is not mistaken for one. 0 disables."""
    hold_until_vote: bool = True
    """Hold until the abstain vote has decided the named cup is in view, so the arm never starts
    towards a cup that is not there."""
    abstain_window: int = 3
    """Predictions averaged by the abstain vote."""
    abstain_threshold: float = 0.5
    """Abstain when their mean target-present probability is below this."""
    ensemble_decay: float = 0.1
    """Temporal ensembling of overlapping chunks (see :class:`~vla_policy.ensemble.ChunkEnsembler`)."""
    refer_kinds: tuple[str, ...] = ("colour",)
    """Reference kinds the policy was trained on (its config's ``refer_kinds``). An understood
    instruction of another kind ("the leftmost cup" for a colour-only policy) is refused: the
    understanding model may know a relation the policy behind it never learned, and guessing
    would lift a cup nobody asked for."""
    anchor_marker: bool = False
    """The policy takes ``next-to`` in two steps (its config's ``anchor_marker``): locate the anchor
    with the colour query (:meth:`DecisionCore.locate_instruction`), then act on the marked text."""
    side_marker: bool = False
    """Left/right in two steps (its config's ``side_marker``): locate the colour's two cups, mark the
    one on the named side, act on :data:`SIDE_TEXT`."""
    colour_marker: bool = False
    """Colour tasks in two steps too (its config's ``colour_marker``; needs ``side_marker``): locate the
    named colour's cup with its colour query, mark it, act on :data:`SIDE_TEXT`. The actions then go
    to the located cup, not to whatever else on the table has its colour."""
    image_size: int = 128
    """Pixels of the policy's square frames (its config's ``image_size``): located cups are in them."""
    colours: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple")
    """Cup colours the policy knows (its config's ``colours``): the colour cross-check asks each."""
    missed_grasp_width: float = 0.003
    """A gripper commanded closed whose fingers come closer than this (m) holds nothing: fingers that close
    on nothing meet (0 mm), while a cup keeps them apart by its width (3-7 cm) or, taken by its rim, by its
    wall (4 mm in the simulator; a wall grasp lifts the cup, measured: 7.6 mm). The core then stops the
    arm, reopens the gripper, forgets the chunks planned for a held cup and lets the policy approach again:
    a policy that lifts an empty gripper never comes back down by itself (it learned from an expert that
    never missed). 0 disables."""
    regrasp_rise: float = 0.08
    """After a missed grasp and the gripper open again, the arm rises this far (m) before the policy
    takes over: it approaches again from above, as it learned to, instead of from among the cups."""
    max_regrasps: int = 4
    """Missed grasps retried per task; after more, the arm holds with the gripper open."""
    regrasp_over_target: bool = True
    """The rise after a missed grasp also moves the hand over the cup the policy's own target heatmap
    located on the abstain vote's frames (before the arm moved: nothing hides the cups then; given to
    :meth:`DecisionCore.add_prediction` as ``target_uv``), so the policy approaches again from above it.
    A policy that missed tends to miss the same way again (the hand between the cup and its neighbour);
    where it located the cup is often right all the same. Where the policy also saw the hand at the miss
    (its end-effector keypoint, ``ee_uv``, while the gripper reopens), the located cup is taken relative
    to it: a camera away from the pose the pixels are mapped through shifts both alike. Measured against
    the straight rise on the same episodes (README, "A grasp that closes on nothing"): no success rate
    lower in 33 paired rows (a moved and uncalibrated camera included), wrong cups 24 -> 17; of eight more
    rows one lost an episode. Without a located cup, or off, straight up."""
    regrasp_target_radius: float = 0.08
    """With :attr:`regrasp_over_target`, the rise steers over the located cup only if it lies within this
    distance (m, on the table) of the hand where the grasp missed; else straight up. A miss lands a few cm
    beside the cup the policy went for (0.7-7.4 cm in 15 picks traced), while a located cup farther off is
    another cup (measured: README, "A grasp that closes on nothing"). Cup centres stand >= 10.5 cm apart."""
    colour_check: bool = True
    """The colour cross-check (:meth:`DecisionCore.check_queries`): on the vote's first frame, ask the plain
    query of every cup colour too; if another colour's query finds the named colour's cup more surely,
    abstain. A cup whose shading one query misreads is read right by the query of its own colour
    (measured: stage 7 called a green cup blue once in 200 scenes without blue)."""

    def __post_init__(self) -> None:
        problems = [
            (self.step_seconds <= 0, f"step_seconds must be > 0, got {self.step_seconds}"),
            (self.image_timeout <= 0 or self.state_timeout <= 0, "image_timeout and state_timeout must be > 0"),
            (self.stale_frames < 1.0, f"stale_frames must be >= 1, got {self.stale_frames}"),
            (not self.frozen_travel >= 0.0, f"frozen_travel must be >= 0 m, got {self.frozen_travel}"),
            (self.abstain_window < 1, f"abstain_window must be >= 1, got {self.abstain_window}"),
            (self.image_size < 1, f"image_size must be >= 1, got {self.image_size}"),
            (not 0.0 <= self.missed_grasp_width < REOPENED_WIDTH,
             f"missed_grasp_width must be in [0, {REOPENED_WIDTH}) m, got {self.missed_grasp_width}"),
            (not 0.0 <= self.regrasp_rise <= 0.3, f"regrasp_rise must be in [0, 0.3] m, got {self.regrasp_rise}"),
            (not 0.0 < self.regrasp_target_radius <= 0.5,
             f"regrasp_target_radius must be in (0, 0.5] m, got {self.regrasp_target_radius}"),
            (isinstance(self.max_regrasps, bool) or not isinstance(self.max_regrasps, int) or self.max_regrasps < 0,
             f"max_regrasps must be an int >= 0, got {self.max_regrasps!r}"),
            (self.colour_marker and not self.side_marker, "colour_marker needs side_marker (the marked-cup pathway)"),
            (not self.colours or len(set(self.colours)) != len(self.colours),
             f"colours must name each cup colour once, got {self.colours}"),
        ]
        for bad, message in problems:
            if bad:
                raise ValueError(message)


def decision_config_for(policy_config: Any, **overrides: Any) -> DecisionConfig:
    """The core's settings from a policy config (abstain threshold, ensembling)."""
    return DecisionConfig(abstain_threshold=policy_config.abstain_threshold,
                          ensemble_decay=policy_config.ensemble_decay,
                          refer_kinds=tuple(getattr(policy_config, "refer_kinds", ("colour",))),
                          anchor_marker=bool(getattr(policy_config, "anchor_marker", False)),
                          side_marker=bool(getattr(policy_config, "side_marker", False)),
                          colour_marker=bool(getattr(policy_config, "colour_marker", False)),
                          image_size=int(getattr(policy_config, "image_size", 128)),
                          colours=tuple(policy_config.colours), **overrides)


@dataclass(frozen=True)
class Command:
    """What to send now. ``action`` (4,) when acting; otherwise hold: zero twist, gripper as it is."""

    kind: str  # ACT, HOLD, REFUSED or ABSTAINED
    state: str  # "acting", or why not, in one line
    gripper: float
    action: np.ndarray | None = None

    @property
    def twist(self) -> np.ndarray:
        return self.action[:3] if self.action is not None else np.zeros(3)


class DecisionCore:
    """See the module docstring. Not thread-safe: a caller with threads holds its own lock."""

    def __init__(self, understanding: Any, config: DecisionConfig | None = None) -> None:
        self.understanding = understanding
        self.config = config or DecisionConfig()
        c = self.config
        self.ensembler = ChunkEnsembler(c.ensemble_decay, step_seconds=c.step_seconds)
        self.vote = AbstainVote(c.abstain_threshold, c.abstain_window)
        self.verdict: "Verdict | None" = None
        self.generation = 0  # bumped by every reset: predictions started before it are dropped
        self.gripper = 1.0
        self.present_prob = 1.0
        self.last_prediction: float | None = None  # stamp of the newest prediction
        self.frame_times: deque[float] = deque(maxlen=16)  # arrival of recent usable frames
        self.state_time: float | None = None
        self.predictions = 0
        self.marker_uv: np.ndarray | None = None  # (2,) pixels of the located anchor (anchor_marker)
        self.anchor_present: float | None = None  # P(the anchor is in view), from the locating pass
        self.pair_missing = False  # left/right: only one cup of the pair found on the last frame
        self.colour_checked = False  # the colour cross-check ran for this task
        self.vetoed_by: str | None = None  # the colour whose query claimed the named cup: abstain
        self.overruled_by: str | None = None  # ... where the named query alone would have said "in view"
        # Frozen inputs: the newest frame's checksum and the first pose seen with it while the hand was in
        # view; the newest pose and the motion commanded since it last changed.
        self.ee_position: np.ndarray | None = None
        self._frame_sum: int | None = None
        self._frame_sum_at: np.ndarray | None = None
        self._pose: bytes | None = None
        self._commanded = 0.0
        self._new_frames = 0  # images that differed from the one before, since the pose last changed
        self._last_act: float | None = None
        self.gripper_width: float | None = None  # the fingers' opening (m), newest
        self.missed_grasps = 0  # this task's
        self.reopening = False  # after a missed grasp, until the fingers are open again and the arm has risen
        self._missed_at = 0.0  # when the last missed grasp was seen (core clock)
        self._rise_until: float | None = None  # end of the rise after it
        self.target_uv: np.ndarray | None = None  # (2,) where the policy located the cup on the vote's frames
        self._regrasp_xy: np.ndarray | None = None  # (2,) table point the rise steers to, this miss's
        self._miss_view: tuple[np.ndarray, np.ndarray] | None = None  # the hand's pixels (2,) and pose (3,) at the miss

    # -- task --------------------------------------------------------------------------
    def set_instruction(self, text: Any) -> "Verdict":
        """A new instruction replaces the task. An understood one starts afresh from an open
        gripper; a refused one holds the arm and keeps the gripper as it is (never drop a cup
        because of a sentence)."""
        verdict = self.understanding.understand(text)
        if verdict.understood and verdict.refer not in self.config.refer_kinds:
            verdict = dataclasses.replace(
                verdict, refusal=f"this policy was not trained to pick a cup that way ({verdict.reference.describe()}); "
                f"it knows: {', '.join(self.config.refer_kinds)}", kind="untrained_reference")
        self.verdict = verdict
        self.reset(open_gripper=self.verdict.understood)
        return self.verdict

    def reset(self, open_gripper: bool = True) -> None:
        """New episode or task: forget predictions and the vote."""
        self._forget_plans()
        self.vote.reset()
        if open_gripper:
            self.gripper = 1.0
        self.present_prob = 1.0
        self.last_prediction = None
        self.marker_uv = None
        self.anchor_present = None
        self.pair_missing = False
        self.colour_checked = False
        self.vetoed_by = self.overruled_by = None
        self._last_act = None  # the frozen-input watch itself carries over: a stalled sensor stays stalled
        self.missed_grasps = 0
        self.reopening = False
        self.target_uv = self._regrasp_xy = self._miss_view = None

    def policy_instruction(self) -> str | None:
        """Text the policy conditions on: the understood task, or None (nothing to predict)."""
        if self.verdict is None or not self.verdict.understood or self.vote.abstained:
            return None
        return conditioning_text(self.verdict.refer, self.verdict.task_instruction, self.config.anchor_marker,
                                 self.config.side_marker, self.config.colour_marker)

    def _marks_side(self) -> bool:
        return self.config.side_marker and self.verdict is not None and self.verdict.refer in SIDE_KINDS

    def _marks_target(self) -> bool:
        """The cup to pick is located and marked before acting: left/right, and colour with ``colour_marker``."""
        c = self.config
        return self.verdict is not None and acts_on_marked_cup(self.verdict.refer, c.side_marker, c.colour_marker)

    def locate_instruction(self) -> str | None:
        """The colour query that locates the anchor ("pick up the blue cup") for a marker policy's
        next-to task, or the named colour's cups for a side-marker policy's left/right task and a
        colour-marker policy's colour task, on every frame the abstain vote decides on; else None. The
        caller runs the policy's ``locate`` (with :meth:`locate_peaks` peaks) on the frame it is about
        to predict from and hands the result to :meth:`set_marker`. Nothing is located again once the
        arm moves: it may hide the cups."""
        if self.policy_instruction() is None:
            return None
        marks_anchor = self.verdict.refer in MARKED_TEXT and self.config.anchor_marker
        if not (marks_anchor or self._marks_target()) or (self.marker_uv is not None and self.vote.decided):
            return None
        return colour_query(self.verdict.anchor if marks_anchor else self.verdict.target)

    def locate_peaks(self) -> int:
        """How many heatmap peaks :meth:`locate_instruction` asks for: candidates for the two cups of a
        left/right pair (:func:`pair_of`), else one."""
        return PAIR_CANDIDATES if self._marks_side() else 1

    def set_marker(self, uv: np.ndarray, present_prob: float, generation: int | None = None) -> bool:
        """The located anchor's pixels (2,) (a colour-marker policy's colour task: the named cup's), or
        for left/right the candidate peaks (k, 2) (k >= 2) of which the pair is found (:func:`pair_of`)
        and the one on the robot's named side is marked (:func:`robot_left_of`), and the probability that
        the colour is in view (the colour query's target-present head, trained on scenes without the
        named colour); False (ignored) if located before the last reset. The vote counts the lower of the
        anchor's and the referent's presence, so a missing anchor abstains instead of marking a random
        place; so does a left/right pair of which only one cup is found (the side cannot be told, and is not guessed)."""
        if generation is not None and generation != self.generation:
            return False
        uv = np.asarray(uv, dtype=np.float32)
        present_prob = float(present_prob)
        if not 0.0 <= present_prob <= 1.0:  # also NaN, which min() in the vote would silently drop
            raise ValueError(f"anchor presence must be a probability in [0, 1], got {present_prob}")
        if not np.isfinite(uv).all():
            raise ValueError(f"marker pixels must be finite, got {uv}")
        self.pair_missing = False
        if self._marks_side():
            if uv.ndim != 2 or uv.shape[0] < 2 or uv.shape[1] != 2:
                raise ValueError(f"left/right needs the pixels of two or more located cups (k, 2), got shape {uv.shape}")
            pair = pair_of(uv, self.config.image_size)
            if pair is None:
                self.pair_missing, present_prob, pair = True, 0.0, uv[:2]
            uv = pick_side(pair, self.verdict.refer, self.config.image_size)
        self.marker_uv, self.anchor_present = uv.reshape(2), present_prob
        return True

    def _named_colour(self) -> str | None:
        v = self.verdict
        return v.anchor if v.refer in MARKED_TEXT else v.target

    def check_queries(self) -> list[str]:
        """The colour cross-check's queries for the frame about to be predicted from: on the abstain vote's
        first frame, if the task names a cup colour (the target's, or next-to's anchor), the plain query
        of that colour first, then of every other cup colour; else none. The caller runs the policy's
        ``locate`` for each on that frame and hands the results to :meth:`check_colour`. Once per task:
        the vote's later frames (whose chunks the arm starts on) cost no more than any other."""
        if not self.config.colour_check or self.policy_instruction() is None or self.vote.decided \
                or self.colour_checked:
            return []
        named = self._named_colour()
        if named not in self.config.colours:
            return []
        return [colour_query(named)] + [colour_query(c) for c in self.config.colours if c != named]

    def check_colour(self, located: list[tuple[np.ndarray, float]], generation: int | None = None) -> bool:
        """Results (pixels (2,), P(in view)) of :meth:`check_queries`, in its order; False (ignored) if
        located before the last reset. If another colour's query puts its peak within
        :data:`CHECK_RADIUS` of the named colour's on the table and is surer of it, the cup the named
        query found is that colour's: every prediction's presence counts as 0, and the vote abstains."""
        if generation is not None and generation != self.generation:
            return False
        if self.verdict is None or not self.verdict.understood:
            raise ValueError("no colour to check: no understood instruction")
        named = self._named_colour()
        others = [c for c in self.config.colours if c != named]
        if len(located) != len(others) + 1:
            raise ValueError(f"the colour cross-check needs {len(others) + 1} located queries, got {len(located)}")
        uv = np.array([np.asarray(p, dtype=np.float64).reshape(2) for p, _ in located])  # (C, 2)
        prob = np.array([float(q) for _, q in located])
        if not np.isfinite(uv).all() or not ((prob >= 0.0) & (prob <= 1.0)).all():
            raise ValueError(f"located pixels must be finite and presences probabilities, got {uv.tolist()}, {prob.tolist()}")
        xy = table_points(uv, self.config.image_size)  # (C, 2)
        near = np.linalg.norm(xy[1:] - xy[0], axis=1) < CHECK_RADIUS
        rivals = [(prob[1 + i], c) for i, c in enumerate(others) if near[i] and prob[1 + i] > prob[0]]
        self.colour_checked = True
        self.vetoed_by = max(rivals)[1] if rivals else None
        if self.vetoed_by is not None and prob[0] >= self.config.abstain_threshold:
            self.overruled_by = self.vetoed_by  # said when abstaining: the named query alone said "in view"
        return True

    # -- inputs ------------------------------------------------------------------------
    def note_frame(self, now: float, image: Any = None) -> None:
        """A usable camera frame arrived (decoded, in time). Unusable ones are not noted, so a
        camera that sends only garbage is a stale camera. With its pixels (``image``: an array or
        bytes) the core also watches for a frozen camera (:attr:`DecisionConfig.frozen_travel`)."""
        self.frame_times.append(now)
        if image is None:
            return
        checksum = zlib.crc32(memoryview(np.ascontiguousarray(image)).cast("B"))
        if checksum != self._frame_sum:  # a new image: the next pose says where the arm was when it came
            self._frame_sum, self._frame_sum_at = checksum, None
            self._new_frames += 1

    def note_state(self, now: float, ee_pose: Any = None) -> None:
        """A robot state (end-effector pose) arrived. With the pose itself (position first, any
        orientation after) the core also watches for a frozen state stream."""
        self.state_time = now
        if ee_pose is None:
            return
        pose = np.asarray(ee_pose, dtype=np.float64).ravel()
        if pose.size < 3 or not np.isfinite(pose).all():
            raise ValueError(f"end-effector pose must be finite with a position (x, y, z) first, got {pose.tolist()}")
        key = pose.tobytes()
        if key != self._pose:
            self._pose, self._commanded, self._new_frames = key, 0.0, 0
        self.ee_position = pose[:3].copy()
        if self._frame_sum is not None and self._frame_sum_at is None and self._hand_in_view():
            self._frame_sum_at = self.ee_position  # the first pose seen with this frame, the hand in view

    def note_gripper(self, width: Any) -> None:
        """The gripper's opening (m), from the finger joints: how the core tells a missed grasp."""
        width = float(width)
        if not np.isfinite(width) or width < 0:
            raise ValueError(f"gripper width must be a finite opening >= 0 m, got {width}")
        self.gripper_width = width

    def _hand_in_view(self) -> bool:
        """The end effector projects well inside the training camera's frame: moving, it must change the
        image (at the start the hand is above the frame, and the image stays the same while it moves)."""
        from vla_sim.camera import project_points

        size = self.config.image_size
        uv = project_points(*training_view(size), self.ee_position[None])[0]  # NaN behind the camera
        return bool(np.all((uv >= IN_VIEW_MARGIN * size) & (uv <= (1 - IN_VIEW_MARGIN) * size)))

    def frozen_input(self) -> str | None:
        """Why an input counts as frozen (one line), or None (see :attr:`DecisionConfig.frozen_travel`)."""
        limit = self.config.frozen_travel
        if limit <= 0:
            return None
        if self._frame_sum_at is not None and self.ee_position is not None:
            moved = float(np.linalg.norm(self.ee_position - self._frame_sum_at))
            if moved >= limit:
                return f"camera frozen: the same image while the arm moved {100 * moved:.0f} cm"
        if self._commanded >= limit and self._new_frames >= FROZEN_POSE_FRAMES:
            return (f"end-effector pose frozen: unchanged over {100 * self._commanded:.0f} cm of commanded motion "
                    f"and {self._new_frames} changing camera frames")
        return None

    def add_prediction(self, stamp: float, chunk: np.ndarray, present_prob: float, generation: int | None = None,
                       target_uv: Any = None, ee_uv: Any = None) -> bool:
        """A predicted chunk (K, 4) for the observation at ``stamp``; False (dropped) if it was
        started before the last reset (``generation``) or nothing is to be predicted. ``target_uv`` and
        ``ee_uv`` (2,) each: the pixels where the same pass located the cup to pick (its target heatmap's
        peak) and the hand (its end-effector keypoint), or None; the core keeps the cup of the vote's last
        frame and the hand of the last frame before the rise after a missed grasp, with the pose then
        (see :attr:`DecisionConfig.regrasp_over_target` and :meth:`wants_keypoints`)."""
        target_uv, ee_uv = _pixels(target_uv, "target"), _pixels(ee_uv, "end-effector")
        if (generation is not None and generation != self.generation) or self.policy_instruction() is None:
            return False
        if not self.vote.decided:
            # The arm holds until the vote is in: chunks planned for an arm that was to move from
            # their frame on no longer fit, keep only the newest.
            self.ensembler.clear()
            if target_uv is not None:
                self.target_uv = target_uv
        elif ee_uv is not None and self._before_rise() and self.ee_position is not None:
            self._miss_view = ee_uv, self.ee_position  # note_state replaces the array, never changes it
        if self.anchor_present is not None:
            present_prob = min(float(present_prob), self.anchor_present)
        if self.vetoed_by is not None:  # the colour cross-check: the named colour's cup is another colour's
            present_prob = 0.0
        self.vote.add(present_prob)
        self.present_prob = float(present_prob)
        self.ensembler.add(stamp, chunk)
        self.last_prediction = stamp
        self.predictions += 1
        return True

    def wants_keypoints(self) -> bool:
        """Whether the caller should hand :meth:`add_prediction` its pass's located cup and hand (``target_uv``,
        ``ee_uv``): only with :attr:`DecisionConfig.regrasp_over_target`, on the vote's frames and while the
        gripper reopens after a missed grasp, so a policy finds them only then."""
        return self.config.regrasp_over_target and (not self.vote.decided or self._before_rise())

    def _before_rise(self) -> bool:
        """After a missed grasp, the gripper reopening and the arm still where it missed."""
        return self.reopening and self._rise_until is None

    def frame_deadline(self) -> float:
        """How long (s) after the newest usable frame the camera counts as stale."""
        c = self.config
        if len(self.frame_times) < 4:
            return c.image_timeout
        period = float(np.median(np.diff(self.frame_times)))
        return min(c.image_timeout, c.stale_frames * period)

    def _forget_plans(self) -> None:
        """Drop the predicted chunks, and any prediction already under way (its frame is outdated)."""
        self.generation += 1
        self.ensembler.clear()

    def _missed_grasp(self, now: float) -> tuple[str, np.ndarray | None] | None:
        """After a missed grasp (see :attr:`DecisionConfig.missed_grasp_width`): why the policy is not
        followed at ``now`` and the core's own action (None: hold), or None (follow the policy)."""
        c, width = self.config, self.gripper_width
        if self.reopening:
            label = f"missed grasp: retry {self.missed_grasps} of {c.max_regrasps}"
            opening = width is None or width < REOPENED_WIDTH
            if opening and now < self._missed_at + REOPEN_SECONDS:  # open first, the arm still: the fingers may straddle a cup
                return f"{label}: reopening the gripper", None
            if self._rise_until is None:  # timed, not measured: an arm at its ceiling ends the rise too
                self._rise_until = now + c.regrasp_rise / REGRASP_SPEED
                self._regrasp_xy = self._steer_point()
            rising = now < self._rise_until - 1e-9
            sideways = self._towards_target() if now < self._rise_until + CENTRE_SECONDS else None
            if rising or sideways is not None:
                vx, vy = (0.0, 0.0) if sideways is None else sideways
                where = "" if sideways is None else "over the located cup "
                up = REGRASP_SPEED if rising else 0.0
                return f"{label}: rising {where}to approach again", np.array([vx, vy, up, 1.0])
            self.reopening = False
            self._forget_plans()  # predicted for the way down and back up
            return None
        if self.missed_grasps > c.max_regrasps:
            return f"holding: the grasp missed {self.missed_grasps} times", None
        if c.missed_grasp_width > 0 and self.gripper < 0.5 and width is not None and width < c.missed_grasp_width:
            self.missed_grasps += 1
            self.gripper = 1.0
            self._forget_plans()
            self.reopening, self._missed_at, self._rise_until = self.missed_grasps <= c.max_regrasps, now, None
            self._regrasp_xy = self._miss_view = None
            return self._missed_grasp(now)
        return None

    def _steer_point(self) -> np.ndarray | None:
        """Where on the table (2,) the rise after this miss steers to, or None (straight up): the located
        cup, if ``regrasp_over_target`` is on, a cup was located and it lies within ``regrasp_target_radius``
        of the hand. With the hand's pixels at the miss, the cup is placed relative to where those put the
        hand: both pixels are mapped through the training camera, so a camera moved from it shifts both
        alike and the shift cancels (measured under a moved camera: 0.9-3.4 cm left of 3.9-18.4, README)."""
        c = self.config
        if not c.regrasp_over_target or self.target_uv is None or self.ee_position is None:
            return None
        cup = table_points(self.target_uv[None], c.image_size)[0]  # (2,) m
        if self._miss_view is not None:
            ee_uv, ee = self._miss_view
            cup = cup - (table_points(ee_uv[None], c.image_size, z=ee[2])[0] - ee[:2])
        return cup if np.linalg.norm(cup - self.ee_position[:2]) <= c.regrasp_target_radius else None

    def _towards_target(self) -> np.ndarray | None:
        """The sideways velocity (2,) that takes the hand over the cup chosen at the miss
        (:meth:`_steer_point`, only with an end-effector position), or None (none chosen, or already within
        CENTRE_TOLERANCE)."""
        if self._regrasp_xy is None:
            return None
        gap = self._regrasp_xy - self.ee_position[:2]  # (2,) m
        distance = float(np.linalg.norm(gap))
        if distance < CENTRE_TOLERANCE:
            return None
        return gap * min(1.0 / CENTRE_TIME_CONSTANT, CENTRE_SPEED / distance)

    # -- output ------------------------------------------------------------------------
    def command(self, now: float) -> Command:
        """The command for instant ``now``."""
        kind, state, action = HOLD, "", None
        if self.verdict is None:
            state = "no instruction"
        elif not self.verdict.understood:
            kind, state = REFUSED, f"refused: {self.verdict.refusal}"
        elif not self.frame_times or now - self.frame_times[-1] > self.frame_deadline():
            state = "camera stale: no usable frame" if self.frame_times else "no camera frame"
        elif self.state_time is None or now - self.state_time > self.config.state_timeout:
            state = "no end-effector pose"
        elif (frozen := self.frozen_input()) is not None:
            state = frozen
        elif self.vote.abstained and self.pair_missing:
            kind, state = ABSTAINED, f"abstained: one {self.verdict.target} cup in view, {self.verdict.refer} needs two"
        elif self.vote.abstained:
            missing = f"{self.verdict.anchor or self.verdict.target} cup" if self.anchor_present is not None and \
                self.anchor_present < self.config.abstain_threshold else self.verdict.reference.describe()
            kind, state = ABSTAINED, f"abstained: no {missing} in view"
            if self.overruled_by is not None:
                state += f" (the cup taken for {self._named_colour()} is the {self.overruled_by} query's)"
        elif self.config.hold_until_vote and not self.vote.decided:
            state = "checking the named cup is in view"
        elif (missed := self._missed_grasp(now)) is not None:
            state, action = missed
            if action is not None:
                kind = ACT
        else:
            raw = self.ensembler.action(now)
            if raw is None:
                state = "waiting for a prediction"
            else:
                action = binarise_gripper(raw)
                self.gripper = float(action[3])
                kind, state = ACT, "acting"
        if kind == ACT and self._last_act is not None:  # the motion asked for since the last command
            self._commanded += float(np.linalg.norm(action[:3])) * min(max(now - self._last_act, 0.0),
                                                                         self.config.step_seconds)
        self._last_act = now if kind == ACT else None
        return Command(kind, state, self.gripper, action)
