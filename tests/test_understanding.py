"""The shipped instruction-understanding model: what it understands, what it refuses, and that
bad input never crashes it. The held-out sentences here were never used in its training."""

import json
import time

import pytest

from vla_policy.language_corpus import KOREAN_EXAMPLE, KOREAN_MAIN_COLOURS, PARITY, RELATIONAL_KINDS, \
    korean_instructions, referring_held_out, referring_held_out_korean, shade_instructions, unsupported_instructions
from vla_policy.modeling_vla import CheckpointError
from vla_policy.understanding import DEFAULT_UNDERSTANDING, REASONS, Understanding, check_input, load_understanding
from vla_sim.referring import KINDS, NAMES_COLOUR, Reference, canonical_instruction

COLOURS = ("red", "orange", "yellow", "green", "blue", "purple")


@pytest.fixture(scope="module")
def understanding():
    u = load_understanding()
    u.warm_up()
    return u


def test_the_design_notes_korean_example_means_the_red_cup(understanding):
    verdict = understanding.understand(KOREAN_EXAMPLE)
    assert verdict.target == "red" and verdict.language == "ko", verdict


@pytest.mark.parametrize("text, target", PARITY)
def test_parity_list_verdicts(understanding, text, target):
    verdict = understanding.understand(text)
    assert verdict.target == target, verdict
    if target is None:
        assert verdict.refusal and "\n" not in verdict.refusal
    else:
        assert verdict.reference == Reference("colour", target)


# ---------------------------------------------------------------- referring expressions

def _reference(kind, colour):
    return Reference(kind, colour if kind in NAMES_COLOUR else None, colour if kind == "next-to" else None)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_canonical_instruction_is_understood(understanding, kind):
    """What the policy is conditioned on reads back as the same reference."""
    for colour in COLOURS:
        ref = _reference(kind, colour)
        verdict = understanding.understand(ref.instruction)
        assert verdict.understood and verdict.reference == ref, verdict
        assert verdict.task_instruction == canonical_instruction(kind, ref.colour, ref.anchor)


@pytest.mark.parametrize("text, kind, colour, anchor", [
    ("take the red mug on the left", "left", "red", None),
    ("grab the blue cup on the right-hand side", "right", "blue", None),
    ("could you pick up the left green cup?", "left", "green", None),
    ("pick up the leftmost cup", "leftmost", None, None),
    ("grab the cup on the far right", "rightmost", None, None),
    ("please take the mug nearest to you", "nearest", None, None),
    ("grab the cup closest to the robot", "nearest", None, None),
    ("lift the cup farthest away from you", "farthest", None, None),
    ("grab the cup beside the blue one", "next-to", None, "blue"),
    ("pick up the cup next to the crimson cup", "next-to", None, "red"),  # a shade names the anchor
    ("pick up the mug by the sapphire mug", "next-to", None, "blue"),
    ("take the scarlet cup on the left", "left", "red", None),  # and the target
    ("왼쪽에 있는 빨간 컵을 집어", "left", "red", None),
    ("오른쪽 파란 컵을 집어 줘", "right", "blue", None),
    ("가장 왼쪽에 있는 컵을 집어", "leftmost", None, None),
    ("맨 오른쪽 컵을 집어", "rightmost", None, None),
    ("너에게 가장 가까운 컵을 집어", "nearest", None, None),
    ("가장 먼 컵을 집어", "farthest", None, None),
    ("파란 컵 옆에 있는 컵을 집어", "next-to", None, "blue"),
])
def test_referring_expressions_resolve(understanding, text, kind, colour, anchor):
    verdict = understanding.understand(text)
    assert verdict.understood, verdict
    assert (verdict.refer, verdict.target, verdict.anchor) == (kind, colour, anchor), verdict
    assert verdict.reference == Reference(kind, colour, anchor)


def test_a_side_without_a_colour_means_the_outermost_cup(understanding):
    """Documented choice (model card): "the cup on the left" is the leftmost cup."""
    for text, kind in (("pick up the cup on the left", "leftmost"), ("grab the cup on the right", "rightmost"),
                       ("왼쪽에 있는 컵을 집어", "leftmost")):
        verdict = understanding.understand(text)
        assert verdict.understood and verdict.reference == Reference(kind), verdict


@pytest.mark.parametrize("text, kind", [
    ("pick up the leftmost red cup", "combination"),
    ("grab the red cup closest to you", "combination"),
    ("take the blue cup farthest from you", "combination"),
    ("pick up the red cup next to the blue cup", "combination"),
    ("가장 왼쪽에 있는 빨간 컵을 집어", "combination"),
    ("pick up the cup next to the pink cup", "unknown_colour"),
    ("pick up the cup next to it", "no_anchor"),
])
def test_references_that_do_not_fit_together_are_refused(understanding, text, kind):
    verdict = understanding.understand(text)
    assert not verdict.understood and verdict.kind == kind, verdict
    assert "\n" not in verdict.refusal


@pytest.mark.parametrize("text", [
    "pick up the second cup from the left", "pick up the third cup", "grab the cup behind the green one",
    "take the cup in front of the red one", "pick up the cup between the red and blue cups",
    "pick up the middle cup", "pick up the cup to the left of the blue cup", "grab the cup right of the red one",
    "왼쪽에서 두 번째 컵을 집어", "파란 컵 뒤에 있는 컵을 집어", "가운데 컵을 집어",
])
def test_unsupported_relations_are_refused_with_the_relation_reason(understanding, text):
    verdict = understanding.understand(text)
    assert not verdict.understood and verdict.kind == "relation", verdict
    assert verdict.refusal == REASONS["relation"]
    assert "next to the blue cup" in verdict.refusal  # it says what the robot can do


def _held_out_accuracy(understanding, kind, korean):
    templates = referring_held_out_korean(kind) if korean else referring_held_out(kind)
    forms = KOREAN_MAIN_COLOURS if korean else {c: c for c in COLOURS}
    right, wrong = [], []
    for template in templates:
        for colour in COLOURS if "{" in template else (None,):
            text = template.format(colour=forms.get(colour), anchor=forms.get(colour))
            verdict = understanding.understand(text)
            (right if verdict.understood and verdict.reference == _reference(kind, colour) else wrong).append(
                (text, verdict.summary()))
    return right, wrong


@pytest.mark.parametrize("kind", RELATIONAL_KINDS)
def test_held_out_referring_paraphrases_are_understood(understanding, kind):
    """Phrasings of each relation no training sentence uses, every colour: the right reference for
    nearly all, and never another cup (a miss is a refusal)."""
    for korean in (False, True):
        right, wrong = _held_out_accuracy(understanding, kind, korean)
        print(f"[figure] held-out {'ko' if korean else 'en'} {kind}: {len(right)}/{len(right) + len(wrong)}")
        assert len(right) >= 0.9 * (len(right) + len(wrong)), wrong[:5]
        assert all(summary.startswith("refused") for _, summary in wrong), wrong[:5]


def test_understand_json_has_the_reference(capsys):
    from vla_ros.cli import main

    assert main(["understand", "--json", "grab the cup beside the crimson one", "pick up the third cup"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert lines[0]["refer"] == "next-to" and lines[0]["anchor"] == "red" and lines[0]["target"] is None
    assert lines[1]["refusal"] == REASONS["relation"] and lines[1]["kind"] == "relation"


def test_held_out_sets_never_pick_a_wrong_cup(understanding):
    """Every held-out sentence: the named cup or a refusal, never another cup; mostly understood."""
    for colour in COLOURS:
        for text in shade_instructions(colour) + korean_instructions(colour):
            assert understanding.understand(text).target in (colour, None), text
        for text in unsupported_instructions(colour):
            verdict = understanding.understand(text)
            assert verdict.target is None and verdict.refusal, (text[:80], verdict)
    understood = [understanding.understand(t).target == c for c in COLOURS for t in shade_instructions(c)]
    assert sum(understood) >= 0.9 * len(understood)


@pytest.mark.parametrize("bad, why", [
    ("x" * 10_000, "too long"), ("pick up the red\x00 cup", "control characters"),
    ("\x1b[31mred cup", "control characters"), ("🥤🥤🥤", "no words"), ("", "empty"), ("   ", "empty"),
    ("pick up the красный cup", "mixes scripts"), ("빨간 cup 집어", "mixes scripts"),
    ("拿起红色的杯子", "not supported"), (b"pick up the red cup", "must be text"), (None, "must be text"),
])
def test_bad_input_is_refused_with_a_reason(understanding, bad, why):
    verdict = understanding.understand(bad)
    assert verdict.target is None and why in verdict.refusal, verdict


def test_understanding_costs_well_under_the_control_period(understanding):
    """Cost once per instruction (figure in the README: ~10 ms); a loose bound here, as CI is shared."""
    texts = [f"please grab the {c} mug number {i}" for i, c in enumerate(COLOURS * 3)]
    times = []
    for text in texts:
        t0 = time.perf_counter()
        understanding.understand(text)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"[figure] understanding p50 {times[len(times) // 2] * 1e3:.1f} ms")
    assert times[len(times) // 2] < 0.1


def test_save_load_roundtrip_and_broken_checkpoints(understanding, tmp_path):
    understanding.save_pretrained(tmp_path / "u")
    again = Understanding.from_pretrained(tmp_path / "u", understanding.encoder)
    for text in ("grab the navy mug", "push the red cup", KOREAN_EXAMPLE):
        assert again.understand(text) == understanding.understand(text)
    (tmp_path / "u" / "model.safetensors").write_bytes(b"\0" * 100)
    with pytest.raises(CheckpointError, match="unreadable"):
        Understanding.from_pretrained(tmp_path / "u")
    with pytest.raises(CheckpointError, match="missing"):
        Understanding.from_pretrained(tmp_path / "nothing")
    assert (DEFAULT_UNDERSTANDING / "model.safetensors").stat().st_size < 5 * 2**20


def test_input_check_keeps_emoji_out_of_the_words():
    assert check_input("pick up the red cup 🙂") == ("pick up the red cup", None, "en")
    assert check_input("빨간 컵을 집어") == ("빨간 컵을 집어", None, "ko")
