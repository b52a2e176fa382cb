"""Hindsight keypoint labels from what a robot knows about its own demonstration.

The policy's heatmap head is trained to point at the target cup. A simulator knows where that cup is;
a robot does not, but after a successful pick it knows where its gripper closed: that is where the
target was. So, per episode (end-effector positions, gripper commands and finger widths, one row per
sample):

* the **grasp** is the last close command (open -> closed) of the episode; its position is the
  end-effector's once the fingers have stopped closing (they centre the cup between them);
* the episode counts only if that grasp **lifted** something: the outcome says so where the recording
  has one (``lifted``), else the end-effector rose :data:`LIFT_CHECK` while the fingers stayed apart on
  an object (wider than :data:`EMPTY_WIDTH`); otherwise no frame is labelled;
* frames from the last re-opening before that grasp up to it see the target at the grasp point (the
  cup was standing there); once the fingers hold it, the cup moves with the gripper; frames before an
  earlier, abandoned grasp are left unlabelled (NaN), since that attempt may have pushed the cup;
* the keypoint sits ``keypoint_depth`` below the grasp point: the training keypoint is the cup's centre
  of mass (the simulator's label), below where the fingers close. A cup pushed during the final
  approach without a re-grasp is invisible to the robot; the label-quality figures measure that error.

Labels are pixels of the camera that recorded the frames: base-frame points projected through the
intrinsics ``K`` and the hand-eye calibration ``T_base_cam``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEYPOINT_DEPTH = 0.032  # m: the simulator's cups' centre of mass lies this far (on average) below the grasp
LIFT_CHECK = 0.05  # m the end-effector must rise after the grasp, fingers holding, to count as a lift
EMPTY_WIDTH = 0.005  # m: fingers closer than this hold nothing
SETTLED = 0.0005  # m per sample: the fingers have stopped closing


@dataclass
class Hindsight:
    """What the labeller found in one episode."""

    points: np.ndarray  # (T, 3) base-frame keypoint per sample; NaN where unlabelled
    grasp: np.ndarray | None  # (3,) end-effector position at the final grasp
    grasp_step: int | None  # sample at which the fingers settled on it
    first_step: int | None  # first labelled sample
    closes: int  # close commands in the episode (> 1: re-grasped)
    reason: str  # "" when labelled, else why not: "no grasp", "not lifted"

    @property
    def labelled(self) -> bool:
        return self.grasp is not None


def hindsight_points(ee: np.ndarray, gripper_cmd: np.ndarray, width: np.ndarray, lifted: bool | None = None,
                     keypoint_depth: float = KEYPOINT_DEPTH) -> Hindsight:
    """Target keypoints (base frame) of one episode from end-effector positions ``ee`` (T, 3), gripper
    commands ``gripper_cmd`` (T,) (1 open, 0 closed) and finger widths ``width`` (T,) (m).
    ``lifted``: the recorded outcome (None: judge from the robot's own data)."""
    ee = np.asarray(ee, np.float64)
    t = len(ee)
    nothing = np.full((t, 3), np.nan)
    closed = np.asarray(gripper_cmd, np.float64) < 0.5
    starts = [i for i in range(t) if closed[i] and (i == 0 or not closed[i - 1])]
    if not starts:
        return Hindsight(nothing, None, None, None, 0, "no grasp")
    c = starts[-1]
    width = np.asarray(width, np.float64)
    s = next((i for i in range(c + 1, t) if abs(width[i] - width[i - 1]) < SETTLED), t - 1)
    if lifted is None:
        held = closed[s:] & (width[s:] > EMPTY_WIDTH)
        lifted = bool(held.any() and (ee[s:, 2][held] - ee[s, 2]).max() >= LIFT_CHECK)
    if not lifted:
        return Hindsight(nothing, None, None, None, len(starts), "not lifted")
    # Labelled from the last opening before the grasp (the start, when it is the only one).
    r = 0
    if len(starts) > 1:
        r = next(i for i in range(c - 1, -1, -1) if closed[i]) + 1
    drop = np.array([0.0, 0.0, keypoint_depth])
    points = nothing.copy()
    grasp = ee[s].copy()
    points[r:s] = grasp - drop
    points[s:] = ee[s:] - drop  # held: the cup moves with the gripper
    return Hindsight(points, grasp, s, r, len(starts), "")


def project_labels(points: np.ndarray, K: np.ndarray, T_base_cam: np.ndarray, image_size: int) -> np.ndarray:
    """Pixels (T, 2) of base-frame ``points`` (T, 3); NaN for unlabelled rows and points outside the image."""
    from vla_sim.camera import project_points

    uv = project_points(K, T_base_cam, points)  # (T, 2)
    with np.errstate(invalid="ignore"):
        outside = ~((uv >= 0) & (uv < image_size)).all(axis=1)
    uv[outside] = np.nan
    return uv


def scale_intrinsics(K: np.ndarray, width: int, height: int, size: int) -> np.ndarray:
    """``K`` of a ``width`` x ``height`` camera, for its frames squashed to ``size`` x ``size`` (as
    :func:`vla_ros.images.resize_like_policy` squashes them: pixel centres map to pixel centres)."""
    sx, sy = size / width, size / height
    K = np.asarray(K, np.float64).copy()
    K[0, 0] *= sx
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 1] *= sy
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K
