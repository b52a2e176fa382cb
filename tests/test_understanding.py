"""The shipped instruction-understanding model: what it understands, what it refuses, and that
bad input never crashes it. The held-out sentences here were never used in its training."""

import time

import pytest

from vla_policy.language_corpus import KOREAN_EXAMPLE, PARITY, korean_instructions, shade_instructions, \
    unsupported_instructions
from vla_policy.modeling_vla import CheckpointError
from vla_policy.understanding import DEFAULT_UNDERSTANDING, Understanding, check_input, load_understanding

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
