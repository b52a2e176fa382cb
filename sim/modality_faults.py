"""Missing modalities at test time: what the policy gets when an input fails while the robot runs.

``vla eval --fault KIND`` applies one to every step of an episode, after the simulator and before the
agent, and then expects the robot to hold or refuse: lifting, knocking over or pushing off any cup is
a failure. Each is deterministic, so the same seed gives the same episode.

- ``blank-instruction``: the instruction is the empty string (a dropped or cleared ``/instruction``).
- ``blank-camera``: every frame is black (a camera that delivers zeros).
- ``frozen-camera``: every frame is the episode's first (a driver that republishes a stale image).
- ``frozen-proprio``: the end-effector pose and gripper width stay those of the first step (a stalled
  joint-state stream).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MODALITY_FAULTS = ("blank-instruction", "blank-camera", "frozen-camera", "frozen-proprio")


class ModalityFault:
    """One fault for one episode: call :meth:`instruction` once, then :meth:`observe` every step."""

    def __init__(self, kind: str) -> None:
        if kind not in MODALITY_FAULTS:
            raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(MODALITY_FAULTS)}")
        self.kind = kind
        self._first: dict[str, Any] | None = None

    def instruction(self, text: str) -> str:
        return "" if self.kind == "blank-instruction" else text

    def observe(self, obs: dict[str, Any]) -> dict[str, Any]:
        if self._first is None:
            self._first = {k: np.array(v, copy=True) for k, v in obs.items()}
        if self.kind == "blank-camera":
            return {**obs, "image": np.zeros_like(obs["image"])}
        if self.kind == "frozen-camera":
            return {**obs, "image": self._first["image"]}
        if self.kind == "frozen-proprio":
            return {**obs, "ee_pose": self._first["ee_pose"], "gripper_width": self._first["gripper_width"],
                    "joint_positions": self._first["joint_positions"]}
        return obs
