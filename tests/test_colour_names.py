"""Colour words resolve to the cup they mean, or are refused with a reason."""

import pytest

from vla_policy.colour_names import CUP_RGB, resolve, shade_words
from vla_sim.config import COLOURS


def test_cup_colours_match_the_simulator():
    assert CUP_RGB == {name: rgba[:3] for name, rgba in COLOURS.items()}


@pytest.mark.parametrize("phrase, cup", [
    ("red", "red"), ("scarlet", "red"), ("crimson", "red"), ("maroon", "red"), ("dark red", "red"),
    ("navy", "blue"), ("sapphire", "blue"), ("cobalt", "blue"), ("sky blue", "blue"), ("Sky-Blue", "blue"),
    ("emerald", "green"), ("jade", "green"), ("lemon", "yellow"), ("mustard", "yellow"), ("gold", "yellow"),
    ("violet", "purple"), ("lilac", "purple"), ("indigo", "purple"), ("tangerine", "orange"),
    ("rde", "red"), ("purpel", "purple"), ("bleu", "blue"), ("ornage", "orange"), ("crimsen", "red"),
])
def test_shades_synonyms_and_typos_resolve(phrase, cup):
    assert resolve(phrase).cup == cup, resolve(phrase)


@pytest.mark.parametrize("phrase, why", [
    ("pink", "pink"), ("black", "grey"), ("white", "grey"), ("grey", "grey"), ("brown", "brown"),
    ("teal", "too far"), ("magenta", "between"), ("amber", "between"), ("table", "not a colour"), ("", "no colour"),
])
def test_colours_no_cup_has_are_refused_with_a_reason(phrase, why):
    meaning = resolve(phrase)
    assert meaning.cup is None and why in meaning.refusal, meaning


def test_shade_partitions_are_disjoint_and_cover_every_cup():
    train, held = shade_words("train"), shade_words("held_out")
    assert not set(train) & set(held)
    assert set(train.values()) == set(held.values()) == set(CUP_RGB)
    assert all(resolve(w).cup == c for w, c in {**train, **held}.items())
    with pytest.raises(ValueError):
        shade_words("test")
