"""Instruction templates: every colour is covered and the held-out split never leaks into training."""

from vla_sim.config import COLOURS
from vla_sim.instructions import (
    HELD_OUT,
    all_training_instructions,
    canonical_instruction,
    held_out_instructions,
    training_instructions,
)


def test_held_out_paraphrases_never_appear_in_training():
    training = set(all_training_instructions())
    for colour in COLOURS:
        held = held_out_instructions(colour)
        assert len(held) == len(HELD_OUT) and not training & set(held)
        assert canonical_instruction(colour) in training  # split A's sentence is a training phrasing


def test_every_colour_gets_its_own_distinct_phrasings():
    per_colour = {c: training_instructions(c) for c in COLOURS}
    for colour, texts in per_colour.items():
        assert len(texts) == len(set(texts)) > 100
        assert all(colour in t for t in texts)
    assert len(all_training_instructions()) == sum(len(t) for t in per_colour.values())
