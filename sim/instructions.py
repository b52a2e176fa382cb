"""Instruction text of the task family "pick up the <colour> cup".

Training instructions come from templates with synonyms for verb, object,
politeness and word order. ``HELD_OUT`` holds phrasings that never occur in
training (evaluation split C): new verbs ("raise", "fetch", "hoist") or new
sentence shapes around familiar ones ("go get that ... cup").
"""

from __future__ import annotations

import itertools

import numpy as np

from .config import COLOURS, validate_colour

VERBS = ("pick up", "grab", "lift", "take", "get", "grasp")
OBJECTS = ("cup", "mug")
PREFIXES = ("", "please ", "can you ", "now ", "robot, ")
SUFFIXES = ("", " please", " for me", " now")
# "{verb} the {colour} {obj}" and the order-swapped "the {colour} {obj}, {verb} it"
ORDERS = ("{verb} the {colour} {obj}", "the {colour} {obj}, {verb} it")

# Held-out paraphrases (split C): none of them is a training phrasing (a test checks).
HELD_OUT = (
    "raise the {colour} cup",
    "could you fetch the {colour} mug",
    "i would like you to pick the {colour} cup up",
    "find the {colour} cup and hold it up",
    "hoist the {colour} mug off the table",
    "go get that {colour} cup",
    "your job: the {colour} cup, lift it up high",
    "bring up the {colour} mug",
)


def canonical_instruction(colour: str) -> str:
    """The instruction the evaluation uses unless ``--instruction`` overrides it."""
    return f"pick up the {validate_colour(colour)} cup"


def training_instructions(colour: str) -> list[str]:
    """Every training phrasing of the task for ``colour`` (deterministic order)."""
    colour = validate_colour(colour)
    out = []
    for verb, obj, pre, suf, order in itertools.product(VERBS, OBJECTS, PREFIXES, SUFFIXES, ORDERS):
        out.append((pre + order.format(verb=verb, colour=colour, obj=obj) + suf).strip())
    return out


def held_out_instructions(colour: str) -> list[str]:
    colour = validate_colour(colour)
    return [t.format(colour=colour) for t in HELD_OUT]


def sample_training_instruction(rng: np.random.Generator, colour: str) -> str:
    options = training_instructions(colour)
    return options[int(rng.integers(len(options)))]


def all_training_instructions() -> list[str]:
    return [s for c in COLOURS for s in training_instructions(c)]
