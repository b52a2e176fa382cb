"""How an episode ends, decided from the cups' poses alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUCCESS = "success"
WRONG_CUP = "wrong_cup"
KNOCKED_OVER = "knocked_over"
OFF_TABLE = "off_table"
TIMEOUT = "timeout"
ABSTAINED = "abstained"
REFUSED = "refused"  # the robot did not understand the instruction (or it asked for something else)
OUTCOMES = (SUCCESS, WRONG_CUP, KNOCKED_OVER, OFF_TABLE, TIMEOUT, ABSTAINED, REFUSED)

SUCCESS_LIFT = 0.10  # m above the cup's resting height
SUCCESS_HOLD = 0.5  # s
WRONG_LIFT = 0.05  # m
TIPPED_DEG = 50.0
# Table top in the base frame (x, y bounds; top at z = 0).
TABLE_X = (-0.25, 1.25)
TABLE_Y = (-0.50, 0.50)


@dataclass
class CupState:
    colour: str
    position: np.ndarray  # (3,) centre of mass, base frame
    lift: float  # metres above its resting height
    tilt_deg: float  # angle between the cup axis and vertical
    name: str = ""  # instance id when it is not the colour ("red_2": a second red cup)

    @property
    def instance(self) -> str:
        return self.name or self.colour


class OutcomeTracker:
    """Accumulates per-step cup states and reports the first terminal outcome."""

    def __init__(self, target: str | None, target_present: bool, control_dt: float) -> None:
        self.target = target  # instance id of the referred cup (its colour when unique); None when absent
        self.target_present = target_present
        self.control_dt = control_dt
        self.held_for = 0.0
        self.outcome: str | None = None
        self.wrong_instance: str | None = None  # the cup a wrong_cup outcome lifted ("red_2")

    def update(self, cups: list[CupState]) -> str | None:
        """Return the terminal outcome reached at this step, or None while the episode goes on."""
        for cup in cups:
            x, y, z = cup.position
            if not (TABLE_X[0] < x < TABLE_X[1] and TABLE_Y[0] < y < TABLE_Y[1]) or z < -0.05:
                return self._end(OFF_TABLE)
        for cup in cups:
            if cup.instance != self.target and cup.lift >= WRONG_LIFT:  # another cup, even of the same colour
                self.wrong_instance = cup.instance
                return self._end(WRONG_CUP)
        for cup in cups:
            if cup.tilt_deg > TIPPED_DEG and cup.lift < WRONG_LIFT:
                return self._end(KNOCKED_OVER)
        target = next((c for c in cups if c.instance == self.target), None)
        if target is not None and target.lift >= SUCCESS_LIFT:
            self.held_for += self.control_dt
            if self.held_for >= SUCCESS_HOLD - 1e-9:
                return self._end(SUCCESS)
        else:
            self.held_for = 0.0
        return None

    def abstain(self) -> str:
        """The policy declared the target absent: the episode ends here."""
        return self._end(ABSTAINED)

    def refuse(self) -> str:
        """The robot refused the instruction: the episode ends here, nothing moved."""
        return self._end(REFUSED)

    def timeout(self) -> str:
        return self._end(TIMEOUT)

    def _end(self, outcome: str) -> str:
        self.outcome = outcome
        return outcome

    def success(self, cups: list[CupState]) -> bool:
        """Success for the scene type: lift the target, or abstain (nothing lifted) when it is absent."""
        if self.target_present:
            return self.outcome == SUCCESS
        return self.outcome == ABSTAINED and all(c.lift < WRONG_LIFT for c in cups)
