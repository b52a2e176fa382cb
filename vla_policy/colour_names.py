"""Colour words -> the cup colour they mean, or a refusal.

People name colours with far more words than the six cup colours ("crimson", "navy",
"sapphire", "sky blue"). The frozen language model does not know shades (the nearest cup
colour by MiniLM embedding was right for 12 of 43 common shade words), so the meaning of a
colour word comes from data that does: the 1,100 named colours with RGB values that
matplotlib ships (the XKCD colour survey and CSS4). A word's hue is compared with the cups'
own hues (navy and sky blue are both the blue cup); it resolves to the nearest cup colour only
when that is clearly nearer than the second nearest, and is refused otherwise (teal sits between
green and blue; pink, brown and grey are near no cup at all).

Typos ("rde", "purpel", "crimsen") are matched to a name at edit distance 1 (2 for long words)
when that match is unique in meaning.
"""

from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass

import numpy as np

# The cups' nominal colours (``vla_sim.config.COLOURS``), repeated here as data so the policy
# package does not need the simulator to understand a sentence. A test keeps them equal.
CUP_RGB: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.08, 0.08),
    "orange": (0.98, 0.50, 0.05),
    "yellow": (0.95, 0.85, 0.10),
    "green": (0.10, 0.65, 0.15),
    "blue": (0.10, 0.25, 0.90),
    "purple": (0.55, 0.15, 0.70),
}
MODIFIERS = ("dark", "light", "pale", "bright", "deep", "dull", "vivid", "pastel", "dusty", "darker",
             "lighter", "medium", "soft", "strong", "rich", "faded", "neon", "electric", "royal")
MIN_SATURATION = 0.3  # below: white, grey, beige, cream... no cup has such a colour
MIN_VALUE = 0.18  # below: black
MAX_HUE_DISTANCE = 40.0  # degrees; farther from every cup's hue: no cup of that colour
MARGIN = 1.6  # the second-nearest cup's hue must be this many times farther


@dataclass(frozen=True)
class ColourMeaning:
    """What a colour phrase means: ``cup`` (a cup colour) or ``refusal`` (why not), never both."""

    phrase: str
    cup: str | None = None
    refusal: str | None = None
    matched: str | None = None  # the table name it matched (differs from ``phrase`` after a typo fix)


def normalise_phrase(text: str) -> str:
    """Lower case, letters only, single spaces ("Sky-Blue" -> "sky blue")."""
    return " ".join(re.findall(r"[a-z]+", text.casefold()))


@functools.lru_cache(maxsize=1)
def named_colours() -> dict[str, tuple[float, float, float]]:
    """Every named colour matplotlib knows, keyed by normalised phrase (XKCD wins on clashes)."""
    from matplotlib import colors

    table: dict[str, tuple[float, float, float]] = {}
    for source in (colors.CSS4_COLORS, {k.removeprefix("xkcd:"): v for k, v in colors.XKCD_COLORS.items()}):
        for name, value in source.items():
            key = normalise_phrase(name)
            if key:
                table[key] = tuple(float(v) for v in colors.to_rgb(value))  # type: ignore[assignment]
    for cup, rgb in CUP_RGB.items():  # the cups' own names mean the cups, whatever the survey says
        table[cup] = rgb
    return table


def _hsv(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    """Hue in degrees, saturation and value in [0, 1]."""
    import colorsys

    h, s, v = colorsys.rgb_to_hsv(*rgb)
    return 360.0 * h, s, v


def _hue_distance(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def meaning_of_rgb(rgb: tuple[float, float, float], phrase: str = "") -> ColourMeaning:
    """The cup colour whose hue is clearly nearest ``rgb``'s, or a refusal saying why not.

    Hue decides (navy and sky blue are both the blue cup); colours with little saturation or
    light (white, grey, black, beige) and the light and dark ends of the red-orange hues that
    people name apart from them (pink, brown) have no cup."""
    hue, sat, val = _hsv(rgb)
    if sat < MIN_SATURATION or val < MIN_VALUE:
        return ColourMeaning(phrase, refusal=f"no cup is '{phrase}': it is greyish, and every cup is a vivid colour")
    if (hue >= 325 or hue < 15) and sat < 0.7 and val > 0.55:
        return ColourMeaning(phrase, refusal=f"no cup is '{phrase}' (a pink: paler than the red cup)")
    if 15 <= hue < 50 and val < 0.55:
        return ColourMeaning(phrase, refusal=f"no cup is '{phrase}' (a brown: darker than the orange cup)")
    if 45 <= hue < 90 and (val < 0.55 or sat < 0.5):
        return ColourMeaning(phrase, refusal=f"no cup is '{phrase}' (an olive or khaki: duller than the yellow cup)")
    cups = list(CUP_RGB)
    dist = np.array([_hue_distance(hue, _hsv(CUP_RGB[c])[0]) for c in cups])
    order = np.argsort(dist)
    best, second = cups[order[0]], cups[order[1]]
    if dist[order[0]] > MAX_HUE_DISTANCE:
        return ColourMeaning(phrase, refusal=f"no cup is '{phrase}' (nearest: {best}, too far)")
    if dist[order[1]] < MARGIN * dist[order[0]]:
        return ColourMeaning(phrase, refusal=f"'{phrase}' lies between {best} and {second}: say which")
    return ColourMeaning(phrase, cup=best)


@functools.lru_cache(maxsize=1)
def _meanings() -> dict[str, ColourMeaning]:
    return {name: meaning_of_rgb(rgb, name) for name, rgb in named_colours().items()}


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, capped at ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
        if min(prev) > limit:
            return limit + 1
    return prev[-1]


def _typo_match(phrase: str) -> ColourMeaning | None:
    """The meaning of the table names within a small edit distance of ``phrase``, if they agree."""
    if len(phrase) < 3:
        return None
    limit = 1 if len(phrase) < 7 else 2
    hits = [(d, name) for name in _meanings() if (d := _edit_distance(phrase, name, limit)) <= limit]
    if not hits:
        return None
    best = min(d for d, _ in hits)
    names = sorted(name for d, name in hits if d == best)
    cups = {_meanings()[n].cup for n in names}
    if len(cups) == 1 and None not in cups:
        return ColourMeaning(phrase, cup=cups.pop(), matched=names[0])
    if len(cups) == 1:  # all refusals (e.g. a misspelt "pink")
        meaning = _meanings()[names[0]]
        return ColourMeaning(phrase, refusal=meaning.refusal, matched=names[0])
    return ColourMeaning(phrase, refusal=f"'{phrase}' could be {' or '.join(names[:3])}: unclear colour")


def resolve(phrase: str) -> ColourMeaning:
    """Meaning of a colour phrase such as "crimson", "dark blue", "sky-blue", "rde"."""
    key = normalise_phrase(phrase)
    if not key:
        return ColourMeaning(phrase, refusal="no colour word")
    table = _meanings()
    if key in table:
        return table[key]
    words = key.split()
    core = [w for w in words if w not in MODIFIERS] or words
    for candidate in (" ".join(core), "".join(core)):  # "dark crimson" -> "crimson"; "sky blue" -> "skyblue"
        if candidate in table:
            return ColourMeaning(phrase, cup=table[candidate].cup, refusal=table[candidate].refusal,
                                 matched=candidate)
    if len(core) > 1:
        # "orange-hued", "deep ocean blue": the words that are colour names decide, if they agree.
        known = [table[w] for w in core if w in table]
        cups = {m.cup for m in known}
        if known and len(cups) == 1 and None not in cups:
            return ColourMeaning(phrase, cup=cups.pop(), matched=" ".join(w for w in core if w in table))
        if known:
            return ColourMeaning(phrase, refusal=f"'{phrase}' mixes colour words: say which cup")
        return ColourMeaning(phrase, refusal=f"'{phrase}' is not a colour this robot knows")
    typo = _typo_match(core[0])  # typos are matched word by word, never across a phrase
    if typo is not None:
        return ColourMeaning(phrase, cup=typo.cup, refusal=typo.refusal, matched=typo.matched)
    return ColourMeaning(phrase, refusal=f"'{phrase}' is not a colour this robot knows")


@functools.lru_cache(maxsize=1)
def colour_words() -> frozenset[str]:
    """Every word of a named colour, and the modifiers ("raspberry", "racing", "pastel")."""
    return frozenset(w for name in named_colours() for w in name.split()) | frozenset(MODIFIERS)


def shade_words(partition: str) -> dict[str, str]:
    """Single-word colour names that resolve to a cup colour, split by a fixed hash into
    ``train`` (~70 %, used to train the language model) and ``held_out`` (never trained on)."""
    if partition not in ("train", "held_out", "all"):
        raise ValueError(f"partition must be train, held_out or all, got {partition!r}")
    out = {}
    for name, meaning in sorted(_meanings().items()):
        if meaning.cup is None or " " in name or name in CUP_RGB:
            continue
        held = zlib.crc32(name.encode()) % 10 >= 7
        if partition == "all" or (partition == "held_out") == held:
            out[name] = meaning.cup
    return out
