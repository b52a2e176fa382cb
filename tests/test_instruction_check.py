"""Instructions outside the task are refused with a reason; every task phrasing passes."""

import pytest

from vla_policy.configuration_vla import VLAConfig
from vla_policy.instruction_check import InstructionNotUnderstood, check_instruction
from vla_sim.config import COLOURS
from vla_sim.instructions import held_out_instructions, training_instructions

CFG = VLAConfig()


def check(text: str) -> str:
    return check_instruction(text, CFG.colours, CFG.objects)


def test_every_training_and_held_out_phrasing_is_understood():
    assert set(CFG.colours) == set(COLOURS)
    for colour in COLOURS:
        for text in training_instructions(colour) + held_out_instructions(colour):
            assert check(text) == text


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   \t\n ", "empty"),
    ("x" * 10_000, "10000 characters"),
    ("pick up the red cup " * 500, "characters"),
    ("sing a song", "no colour"),
    ("recoge la taza roja", "no colour"),  # another language
    ("赤いカップを持ち上げて", "no colour"),
    ("pick up the 🔴 cup", "no colour"),  # emoji for the colour
    ("pick up the pink cup", "no colour"),  # a colour the policy never saw
    ("pick up the red cup and the blue cup", "2 colours"),
    ("red", "no object"),
    ("paint the table red", "no object"),
])
def test_out_of_task_instructions_are_refused_with_a_reason(text, reason):
    with pytest.raises(InstructionNotUnderstood, match=reason):
        check(text)


@pytest.mark.parametrize("text, expected", [
    ("  Pick UP the RED cup  ", "Pick UP the RED cup"),
    ("pick up the red cup 🙂", "pick up the red cup 🙂"),  # emoji beside a clear task: fine
    ("pick up the red\ufffd cup", "pick up the red\ufffd cup"),  # a replacement character from bad UTF-8
    ("pick up the red\x00 cup\x1b", "pick up the red cup"),  # control characters dropped
    ("ｐｉｃｋ ｕｐ ｔｈｅ ｒｅｄ ｃｕｐ", "pick up the red cup"),  # full-width letters (NFKC)
])
def test_noise_around_a_clear_task_is_tolerated(text, expected):
    assert check(text) == expected


def test_non_text_is_refused():
    with pytest.raises(InstructionNotUnderstood, match="must be text"):
        check_instruction(b"pick up the red cup", CFG.colours, CFG.objects)  # type: ignore[arg-type]


def test_config_vocabulary_is_validated():
    with pytest.raises(ValueError, match="colours"):
        VLAConfig(colours=())
    with pytest.raises(ValueError, match="objects"):
        VLAConfig(objects=("Cup!",))
