"""The anchor cup of a recorded next-to demonstration, located the way the robot locates it at run time.

A policy with ``anchor_marker`` is trained on "pick up the cup next to the marked cup" with the anchor's
first-frame pixels marked on its visual tokens. In simulator data those pixels are the anchor's true
projection (``meta["anchor_uv"]`` from ``vla data generate``). A recording has no such truth and the
hindsight grasp labels only the referent, never the anchor; so ``vla data from-bag --anchor-policy
CHECKPOINT`` asks a colour policy (one trained on the user's own colour recordings, e.g.
``vla_policy/checkpoints/from_bags_colour``) where the anchor's colour is, with the plain colour query the
decision core uses for the same step on the robot (``decision.colour_query``). Training then sees the
marker where inference will put it, located errors included. An anchor the query does not find (P(in
view) below the checkpoint's ``abstain_threshold``, where the decision core would abstain on it) gives
no label: the episode is skipped and counted, never marked at a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decision import colour_query

@dataclass(frozen=True)
class LocatedAnchor:
    uv: np.ndarray | None  # (2,) pixels in the frame, or None when not located
    present: float  # the colour query's P(the anchor's colour is in view)


class AnchorLocator:
    """Locates a named cup colour on a frame with a checkpoint's colour query (CPU, one frame at a time)."""

    def __init__(self, checkpoint: str | Path) -> None:
        from .modeling_vla import VLAPolicy

        self.policy = VLAPolicy.from_pretrained(checkpoint).eval()
        self.image_size = int(self.policy.config.image_size)
        # P(in view) below this is "not there", as the decision core reads the same checkpoint's presence.
        self.min_present = float(self.policy.config.abstain_threshold)

    def locate(self, frame: np.ndarray, proprio: np.ndarray, colour: str) -> LocatedAnchor:
        """``frame`` (H, W, 3) uint8 at the policy's resolution, ``proprio`` (8,) = ee position (3),
        orientation (4), gripper width (1); ``colour`` the anchor's colour name."""
        if frame.shape[:2] != (self.image_size, self.image_size):
            raise ValueError(f"frames are {frame.shape[1]}x{frame.shape[0]} but the anchor policy reads "
                             f"{self.image_size}x{self.image_size}: convert with --image-size {self.image_size}")
        obs = {"image": np.array(frame), "ee_pose": proprio[:7], "gripper_width": proprio[7:8],
               "instruction": colour_query(colour)}
        uv, present = self.policy.locate(obs)
        if present < self.min_present:
            return LocatedAnchor(None, present)
        return LocatedAnchor(np.asarray(uv, dtype=np.float64).reshape(2), present)


__all__ = ["AnchorLocator", "LocatedAnchor"]
