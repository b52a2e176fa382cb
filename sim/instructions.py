"""Instruction text of the task family "pick up the <colour> cup"."""

from __future__ import annotations

from .config import validate_colour


def canonical_instruction(colour: str) -> str:
    """The instruction the evaluation uses unless ``--instruction`` overrides it."""
    return f"pick up the {validate_colour(colour)} cup"
