"""Labelled instructions (English and Korean) for training and calibrating the instruction model.

The robot does one thing: pick up one cup, named by colour (red, orange, yellow, green, blue,
purple; one cup per colour). A small learned model reads the instruction and must either say
which colour was meant (intent ``pick``) or refuse, naming why (the nine other intents). This
module writes the sentences it learns from, from hand-written templates, and fixed sentence lists
for the evaluation splits.

Two pools, disjoint by construction
-----------------------------------
Every list of material (pick verbs, sentence frames, object phrasings, cup nouns, non-cup nouns,
fillers, colour modifiers, shade words, colour names no cup has, refusal templates, chat lines,
languages for ``other_language``) exists twice: once for the ``train`` pool, once for the
``held_out`` pool, and no entry of one occurs in the other (``tests/test_language_corpus.py``
checks the lists, head words of verbs included). Only a small *shared core* is common to both:
the six base colour names, the noun "cup" / "컵", the Korean main colour forms (빨간, 주황, 노란,
초록, 파란, 보라 and 빨간색, 노란색, 파란색), two structural frames ("{VP}" and "{O}{을} {V}":
the bare verb phrase) and two object phrases ("the {C} {N}", "{C} {N}") whose content always
comes from the pool's own verbs and nouns. Every held-out
sentence therefore contains at least one word choice (verb, frame, filler or noun) the model never
saw in training, so accuracy on the held-out pool measures generalisation to sentences nobody
wrote down, not memorisation. The fixed evaluation lists (:func:`shade_instructions`,
:func:`korean_instructions`, :func:`unsupported_instructions`, :data:`PARITY`) are built from
held-out material only; :data:`PARITY_ANCHORS` names the three canonical sentences in
:data:`PARITY` built from training material on purpose ("pick up the red cup", :data:`KOREAN_EXAMPLE`,
"the red one, pick it up"); the first two are frequent in any training sample.

Colour words
------------
English colour phrases come from :mod:`vla_policy.colour_names`: the six names, modifier + name
("dark red", "neon green"), shade words (``shade_words(pool)``, "crimson", "sapphire"), shade +
name ("navy blue", "sky blue") and colours no cup has ("pink", "teal"; label ``"other"``). Every
phrase is kept only when ``resolve(phrase).cup`` equals its label (``None`` for ``"other"``), so
the labels agree with the resolver the robot uses. Shade words that are also ordinary words with
another meaning ("coffee", "tea", "dark", "royal", "earth") or that name a greyish colour the
resolver happens to map to a cup ("taupe", "puce", "brownish") are excluded (:data:`EXCLUDED_SHADES`).

``colour_spans`` marks every colour phrase in the sentence, whatever the intent and whether or
not a cup has that colour ("pink" in "pick up the pink cup" is a span too), so a model can learn
where colours are and learn the refusal from the structure around them. ``other_language``
sentences have no spans.

Generation is deterministic for a given (pool, n, seed) and uses :class:`random.Random` (fast:
60,000 sentences in well under a second after the one-off vocabulary build); :func:`perturb` adds
training noise with a :class:`numpy.random.Generator`.
"""

from __future__ import annotations


import functools
import random
import re
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

import numpy as np

from vla_policy.colour_names import named_colours, resolve, shade_words

# ============================================================================ public types

INTENTS = ("pick", "negation", "multiple", "other_task", "question", "relation", "no_target",
           "not_a_cup", "nonsense", "other_language")
CUP_COLOURS = ("red", "orange", "yellow", "green", "blue", "purple")
REFER_KINDS = ("colour", "left", "right", "leftmost", "rightmost", "nearest", "farthest", "next-to")  # vla_sim.referring.KINDS
RELATIONAL_KINDS = REFER_KINDS[1:]
POOLS = ("train", "held_out")
KOREAN_EXAMPLE = "테이블 위의 빨간 컵을 집어라"


@dataclass(frozen=True)
class Example:
    """One labelled instruction.

    ``colour``: for ``pick`` the cup colour meant, or ``"other"`` when the sentence names a colour
    no cup has; ``"none"`` for every other intent. ``colour_spans``: [start, end) offsets of every
    colour phrase in ``text`` (any intent; empty for ``other_language``)."""

    text: str
    intent: str
    language: str
    colour: str
    colour_spans: tuple[tuple[int, int], ...] = ()
    refer: str = "colour"
    """For ``pick``: how it picks the cup (:data:`REFER_KINDS`); "colour" for every other intent."""
    anchor: str = "none"
    """For ``pick`` with ``refer`` "next-to": the anchor cup's colour ("other" for a colour no cup has)."""
    colour_roles: tuple[str, ...] = ()
    """Per colour span: "target" (the cup to pick, or any colour of a refusal) or "anchor" (the cup
    it is next to, behind, left of...); empty means every span is a target."""

    def role(self, i: int) -> str:
        return self.colour_roles[i] if self.colour_roles else "target"

    def spans_of(self, role: str) -> tuple[tuple[int, int], ...]:
        return tuple(s for i, s in enumerate(self.colour_spans) if self.role(i) == role)


# Intent shares (per cent). Korean has no ``other_language``; its share goes to the others.
ENGLISH_SHARES: dict[str, float] = {
    "pick": 45.0, "negation": 6.0, "multiple": 6.0, "other_task": 6.5, "question": 6.0, "relation": 6.0,
    "no_target": 8.0, "not_a_cup": 8.0, "nonsense": 4.5, "other_language": 4.0,
}
KOREAN_SHARES: dict[str, float] = {
    "pick": 45.0, "negation": 6.5, "multiple": 6.5, "other_task": 7.0, "question": 6.5, "relation": 6.5,
    "no_target": 8.5, "not_a_cup": 8.5, "nonsense": 5.0,
}

# How picks refer to their cup (per cent of picks). "left-plain": a side with no colour ("the cup on the
# left", understood as the leftmost cup); "<kind>+colour": the target's colour named with a kind that
# takes none ("the leftmost red cup"); "next-to-plain": a neighbour with no colour ("the cup next to
# it"). The last two are refused by the understanding model's consistency check.
REFER_SHARES: dict[str, float] = {
    "colour": 45.0, "left": 8.0, "right": 8.0, "leftmost": 5.5, "rightmost": 5.5, "nearest": 6.0, "farthest": 6.0,
    "next-to": 8.5, "left-plain": 1.0, "right-plain": 1.0, "leftmost+colour": 1.0, "rightmost+colour": 1.0,
    "nearest+colour": 1.0, "farthest+colour": 1.0, "next-to+colour": 1.0, "next-to-plain": 0.5,
}


def canonical_instruction(kind: str, colour: str | None = None, anchor: str | None = None) -> str:
    """The policy's phrasing of a reference (the same as ``vla_sim.referring.canonical_instruction``)."""
    return {
        "colour": f"pick up the {colour} cup", "left": f"pick up the {colour} cup on the left",
        "right": f"pick up the {colour} cup on the right", "leftmost": "pick up the leftmost cup",
        "rightmost": "pick up the rightmost cup", "nearest": "pick up the cup closest to you",
        "farthest": "pick up the cup farthest from you", "next-to": f"pick up the cup next to the {anchor} cup",
    }[kind]


def expected_reference(ex: Example) -> tuple[str, str | None, str | None] | None:
    """(kind, target colour, anchor colour) the robot should act on for ``ex``, or None (refuse).

    A side with no colour ("the cup on the left") means the leftmost / rightmost cup; a colour no cup
    has, a target colour with a kind that takes none ("the leftmost red cup") and a next-to with no
    anchor colour are refused."""
    if ex.intent != "pick" or ex.colour == "other" or ex.anchor == "other":
        return None
    colour = ex.colour if ex.colour in CUP_COLOURS else None
    anchor = ex.anchor if ex.anchor in CUP_COLOURS else None
    if ex.refer == "colour":
        return ("colour", colour, None) if colour else None
    if ex.refer in ("left", "right"):
        return (ex.refer, colour, None) if colour else (ex.refer + "most", None, None)
    if colour is not None:
        return None
    if ex.refer == "next-to":
        return ("next-to", None, anchor) if anchor else None
    return ex.refer, None, None


# ============================================================================ shared core

SHARED_EN_CUP_NOUNS = ("cup",)
SHARED_EN_FRAME = "{VP}"  # the bare verb phrase; its verbs always come from the pool
SHARED_EN_OBJECT = "the {C} {N}"  # the plainest object phrase; always around the pool's own words
SHARED_KO_CUP_NOUNS = ("컵",)
SHARED_KO_FRAME = "{O}{을} {V}"
SHARED_KO_OBJECT = "{C} {N}"
CANONICAL_KO_FRAME = "테이블 위의 {O}{을} {V}"  # a train frame: KOREAN_EXAMPLE's, also used as is for 1 % of picks
SHARED_KO_COLOURS: dict[str, str] = {
    "빨간": "red", "빨간색": "red", "주황": "orange", "노란": "yellow", "노란색": "yellow",
    "초록": "green", "파란": "blue", "파란색": "blue", "보라": "purple",
}

# Shade words from ``shade_words()`` never used: ordinary words with another meaning in this task
# ("coffee cup", "tea cup", "dark", "earth"), greyish/brownish colours the hue rule maps to a cup,
# colour-ambiguous names (yellow-green, blue-violet), foreign words that clash with the
# other-language sentences, misspellings, and CSS run-together names (their spaced forms would mix
# modifiers across pools).
EXCLUDED_SHADES = frozenset({
    "dark", "royal", "coffee", "tea", "earth", "dust", "brownish", "taupe", "toupe", "puce", "burlywood",
    "sandybrown", "leather", "fawn", "mocha", "umber", "sepia", "peru", "hazel", "avocado", "pea", "pear",
    "bile", "diarrhea", "puke", "snot", "vomit", "poo", "booger", "barney", "apple", "azul", "rouge", "ocre",
    "liliac", "perrywinkle", "chartreuse", "olivedrab", "yellowgreen", "greenblue", "blueviolet", "greyblue",
    "navajowhite", "dusk", "twilight", "adobe", "lichen", "bruise", "watermelon",
    "cornflowerblue", "darkgreen", "darkmagenta", "darkorange", "darkslateblue", "deepskyblue", "dodgerblue",
    "forestgreen", "lightblue", "lightgreen", "lightskyblue", "limegreen", "mediumaquamarine", "mediumblue",
    "mediumseagreen", "mediumspringgreen", "midnightblue", "palegreen", "rebeccapurple", "seagreen",
    "steelblue", "darkblue", "darkorchid", "darkred", "darkviolet", "mediumorchid", "mediumslateblue",
    "royalblue", "skyblue", "slateblue", "springgreen",
})
# Shade words natural on their own as an adjective ("the crimson cup"); the others appear only
# before their base name ("the lemon yellow cup", "the sky blue mug").
BARE_SHADES = frozenset({
    "amethyst", "apricot", "aubergine", "azure", "bluish", "canary", "carmine", "cerulean", "cobalt", "crimson",
    "emerald", "fuchsia", "gold", "goldenrod", "indigo", "jade", "lilac", "maroon", "mustard", "navy", "ocher",
    "orangish", "orchid", "peach", "periwinkle", "purpleish", "purply", "ruby", "vermillion", "viridian",
    "yellowish", "heliotrope", "copper", "cranberry", "denim", "grape", "pumpkin", "mango", "tangerine",
    "auburn", "burgundy", "cerise", "claret", "golden", "greenish", "lavender", "mahogany", "marigold",
    "orangeish", "purplish", "sapphire", "scarlet", "violet", "wisteria", "ochre", "bordeaux", "shamrock",
    "cherry", "wine", "rust", "caramel", "butterscotch", "cinnamon",
})

# ============================================================================ English pools


@dataclass(frozen=True)
class LanguagePack:
    """Pick sentences (and a few others) in one foreign Latin-script language."""

    name: str
    pick: tuple[str, ...]       # with {O}
    other: tuple[str, ...]      # with {O}: questions, other tasks, negations
    objects: tuple[tuple[str, tuple[str, ...]], ...]  # (noun phrase with {C}, six colour forms in cup order)


@dataclass(frozen=True)
class EnglishPool:
    """All English material of one pool. Template slots: {VP} pick verb phrase (contains {O});
    {VPing} its gerund; {VPit} it with "it" as object; {O} object phrase; {O2} a second cup;
    {C} {C2} {C3} colour phrases (distinct cups); {N} / {Ns} cup noun / plural; {X} non-cup noun;
    {NUM} a count; {ORD} an ordinal; {FRAME} a pick frame; {OFRAME} a pick frame around an
    other-task verb. Refusal templates are "sentence || object", the object being a template or
    @pick (a cup with a colour), @plain (a cup without colour) or @thing (a non-cup object)."""

    pick_verbs: tuple[str, ...]
    pick_frames: tuple[str, ...]
    object_templates: tuple[str, ...]
    plain_objects: tuple[str, ...]
    cup_nouns: tuple[str, ...]
    thing_nouns: tuple[str, ...]
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    neutral_suffixes: tuple[str, ...]   # a subset of ``suffixes`` that suits any request
    modifiers: tuple[str, ...]
    other_colours: tuple[str, ...]
    shade_extras: tuple[str, ...]       # multi-word colour names beyond shade + base
    numbers: tuple[str, ...]
    ordinals: tuple[str, ...]
    other_task_verbs: tuple[str, ...]   # verb phrases with {O}, used inside the pick frames (70 %)
    refusals: dict[str, tuple[str, ...]]  # negation, multiple, other_task (cup-less commands), question, relation
    chat: tuple[str, ...]
    single_words: tuple[str, ...]
    salad_words: tuple[str, ...]
    languages: tuple[LanguagePack, ...]


_FRENCH = LanguagePack(
    "french",
    pick=("prends {O}", "ramasse {O}", "attrape {O}", "soulève {O}", "saisis {O}", "prenez {O}, s'il vous plaît",
          "pourriez-vous prendre {O} ?", "peux-tu ramasser {O} ?", "s'il te plaît, prends {O}", "va chercher {O}"),
    other=("où est {O} ?", "pousse {O}", "ne prends pas {O}", "renverse {O}", "est-ce que tu vois {O} ?"),
    objects=(("la tasse {C}", ("rouge", "orange", "jaune", "verte", "bleue", "mauve")),
             ("le gobelet {C}", ("rouge", "orange", "jaune", "vert", "bleu", "mauve"))),
)
_GERMAN = LanguagePack(
    "german",
    pick=("nimm {O}", "heb {O} auf", "greif {O}", "schnapp dir {O}", "bitte nimm {O}", "kannst du {O} nehmen?",
          "würdest du bitte {O} aufheben?", "pack {O}", "nimm bitte {O} hoch"),
    other=("wo ist {O}?", "schieb {O} weg", "nimm nicht {O}", "wirf {O} um", "siehst du {O}?"),
    objects=(("die {C} Tasse", ("rote", "orange", "gelbe", "grüne", "blaue", "lila")),
             ("den {C} Becher", ("roten", "orangen", "gelben", "grünen", "blauen", "lila"))),
)
_SPANISH = LanguagePack(
    "spanish",
    pick=("coge {O}", "toma {O}", "agarra {O}", "levanta {O}", "recoge {O}", "¿puedes coger {O}?",
          "por favor, toma {O}", "¿me agarras {O}?", "sujeta {O}"),
    other=("¿dónde está {O}?", "empuja {O}", "no cojas {O}", "tira {O}", "¿ves {O}?"),
    objects=(("la taza {C}", ("roja", "naranja", "amarilla", "verde", "azul", "morada")),
             ("el vaso {C}", ("rojo", "naranja", "amarillo", "verde", "azul", "morado"))),
)
_ITALIAN = LanguagePack(
    "italian",
    pick=("prendi {O}", "raccogli {O}", "afferra {O}", "solleva {O}", "puoi prendere {O}?", "per favore prendi {O}"),
    other=("dov'è {O}?", "spingi {O}", "non prendere {O}"),
    objects=(("la tazza {C}", ("rossa", "arancione", "gialla", "verde", "blu", "viola")),
             ("il bicchiere {C}", ("rosso", "arancione", "giallo", "verde", "blu", "viola"))),
)
_PORTUGUESE = LanguagePack(
    "portuguese",
    pick=("pega {O}", "apanha {O}", "levanta {O}", "pegue {O}", "você pode pegar {O}?", "por favor, pegue {O}"),
    other=("onde está {O}?", "empurra {O}", "não pegue {O}"),
    objects=(("a caneca {C}", ("vermelha", "laranja", "amarela", "verde", "azul", "roxa")),
             ("o copo {C}", ("vermelho", "laranja", "amarelo", "verde", "azul", "roxo"))),
)
_DUTCH = LanguagePack(
    "dutch",
    pick=("pak {O}", "pak {O} op", "til {O} op", "neem {O}", "kun je {O} pakken?", "pak alsjeblieft {O}"),
    other=("waar is {O}?", "duw {O}", "pak {O} niet"),
    objects=(("de {C} beker", ("rode", "oranje", "gele", "groene", "blauwe", "paarse")),
             ("het {C} kopje", ("rode", "oranje", "gele", "groene", "blauwe", "paarse"))),
)
_SWEDISH = LanguagePack(
    "swedish",
    pick=("ta {O}", "plocka upp {O}", "lyft {O}", "kan du ta {O}?", "snälla, ta {O}"),
    other=("var är {O}?", "knuffa {O}", "ta inte {O}"),
    objects=(("den {C} koppen", ("röda", "orangea", "gula", "gröna", "blåa", "lila")),
             ("den {C} muggen", ("röda", "orangea", "gula", "gröna", "blåa", "lila"))),
)
_POLISH = LanguagePack(
    "polish",
    pick=("podnieś {O}", "weź {O}", "chwyć {O}", "czy możesz podnieść {O}?", "proszę, weź {O}"),
    other=("gdzie jest {O}?", "popchnij {O}", "nie bierz {O}"),
    objects=(("{C} kubek", ("czerwony", "pomarańczowy", "żółty", "zielony", "niebieski", "fioletowy")),
             ("{C} filiżankę", ("czerwoną", "pomarańczową", "żółtą", "zieloną", "niebieską", "fioletową"))),
)
_TURKISH = LanguagePack(
    "turkish",
    pick=("{O} al", "{O} kaldır", "{O} tut", "{O} alır mısın?", "lütfen {O} al"),
    other=("{O} nerede?", "{O} it", "{O} alma"),
    objects=(("{C} bardağı", ("kırmızı", "turuncu", "sarı", "yeşil", "mavi", "mor")),
             ("{C} fincanı", ("kırmızı", "turuncu", "sarı", "yeşil", "mavi", "mor"))),
)
_INDONESIAN = LanguagePack(
    "indonesian",
    pick=("ambil {O}", "angkat {O}", "tolong ambil {O}", "bisakah kamu mengambil {O}?", "pegang {O}"),
    other=("di mana {O}?", "dorong {O}", "jangan ambil {O}"),
    objects=(("cangkir {C}", ("merah", "oranye", "kuning", "hijau", "biru", "ungu")),
             ("gelas {C}", ("merah", "oranye", "kuning", "hijau", "biru", "ungu"))),
)

ENGLISH_POOLS: dict[str, EnglishPool] = {
    "train": EnglishPool(
        pick_verbs=(
            "pick up {O}", "pick {O} up", "grab {O}", "take {O}", "lift {O}", "lift up {O}", "lift {O} up",
            "get {O}", "grasp {O}", "grip {O}", "take hold of {O}", "pick {O}",
            "reach for {O} and pick it up|reaching for {O} and picking it up",
            "grab {O} with your gripper", "take {O} in your gripper", "pick up {O} and hold it",
            # everyday verbs of picking up that users reach for (split C's phrasings use them too)
            "raise {O}", "hoist {O}", "hoist up {O}", "fetch {O}", "bring up {O}", "bring {O} up",
            "lift {O} up high", "find {O} and hold it up|finding {O} and holding it up",
        ),
        pick_frames=(
            "please {VP}", "{VP} please", "{VP}, please", "please, {VP}", "could you {VP}?", "can you {VP}?",
            "would you {VP}?", "could you please {VP}?", "would you mind {VPing}?", "can you {VP} for me?",
            "I want you to {VP}", "I'd like you to {VP}", "I would like you to {VP}", "I need you to {VP}",
            "you need to {VP}", "go ahead and {VP}", "now {VP}", "{VP} now", "your task is to {VP}",
            "your job is to {VP}", "kindly {VP}", "try to {VP}", "you should {VP}", "let's {VP}",
            "why don't you {VP}?", "don't forget to {VP}", "time to {VP}", "{VP}, thanks", "{VP}, thank you",
            "just {VP}", "simply {VP}", "quickly {VP}", "carefully {VP}", "the next step is to {VP}",
            "go on, {VP}", "{VP} and hold it up", "next, {VP}",
            "{O}, {VPit}", "{O} - {VPit}", "{O}: {VPit}", "{O}, please", "{O} please", "see {O}? {VPit}",
            "{O}. {VPit}",
        ),
        object_templates=(
            "the {C} {N}", "a {C} {N}", "the {C} one", "the {C}", "{C} {N}", "that {C} {N}", "that {C} one",
            "the {C} colored {N}", "the {C}-colored {N}", "the {N} that is {C}", "the {N} that's {C}",
            "the one that is {C}",
        ),
        plain_objects=(
            "the {N}", "a {N}", "any {N}", "one {N}", "it", "one", "something", "that", "this",
            "the {N} on the table", "a random {N}", "one of the {Ns}", "whatever {N}", "the thing", "an object",
        ),
        cup_nouns=("mug", "glass", "tumbler", "plastic cup", "paper cup", "drinking cup"),
        thing_nouns=("block", "ball", "cube", "bottle", "plate", "pen", "book", "box", "bowl", "spoon", "toy",
                     "phone", "marker", "sponge", "lid", "jar", "towel", "shoe", "hat", "crayon", "teapot",
                     "kettle", "pencil", "screwdriver", "tray", "saucer", "vase", "cloth", "bucket", "toy car"),
        prefixes=("robot, ", "hey robot, ", "hey, ", "ok, ", "okay, ", "alright, ", "ok robot, ", "now then, "),
        suffixes=(" please", " now", " on the table", " from the table", " for me", " quickly", " carefully",
                  ", thanks", ", thank you", " gently", " again", " asap"),
        neutral_suffixes=(" please", " now", ", thanks", ", thank you"),
        modifiers=("dark", "light", "bright", "deep", "pale", "vivid", "dull", "darker"),
        other_colours=("black", "white", "grey", "brown", "teal", "silver", "cream", "khaki", "olive", "aqua",
                       "rose", "dark grey", "off white"),
        shade_extras=("midnight blue", "steel blue", "sea green", "hunter green", "kelly green",
                      "fire engine red", "baby blue"),
        numbers=("two", "three", "2", "3"),
        ordinals=("second", "third", "fourth", "2nd", "3rd"),
        other_task_verbs=(
            "push {O}", "shove {O}", "knock over {O}", "knock {O} over", "tip over {O}", "throw {O}", "toss {O}",
            "slide {O} to the left", "slide {O} to the right", "rotate {O}", "spin {O}", "shake {O}",
            "fill {O} with water", "drop {O}", "kick {O}", "squeeze {O}", "crush {O}", "wash {O}", "clean {O}",
            "touch {O}", "tap {O}", "poke {O}", "point at {O}", "look at {O}", "flip {O}",
            "turn {O} upside down", "hit {O}", "smash {O}", "break {O}", "hide {O}", "move {O} to the left",
            "move {O} closer to me", "put down {O}", "set down {O}", "release {O}", "let go of {O}",
            "put {O} on {O2}", "place {O} in {O2}", "stack {O} on {O2}", "pour {O} into {O2}",
            "put {O} next to {O2}", "place {O} on top of {O2}", "swap {O} and {O2}", "put {O} in the {X}",
            "carry {O} to the edge of the table",
            "pick up {O} and put it on {O2}|picking up {O} and putting it on {O2}",
            "pick up {O} and shake it|picking up {O} and shaking it",
            "grab {O} and throw it|grabbing {O} and throwing it",
            "lift {O} and drop it|lifting {O} and dropping it",
            "take {O} to the other side of the table",
        ),
        refusals={
            "negation": (
                "don't {VP} || @pick", "do not {VP} || @pick", "never {VP} || @pick", "please don't {VP} || @pick",
                "you must not {VP} || @pick", "you shouldn't {VP} || @pick", "I don't want you to {VP} || @pick",
                "not {O} || the {C} one", "not {O} || the {C} {N}", "not {O}, any other one || the {C} {N}",
                "{FRAME} || the {N} that is not {C}", "{FRAME} || a {N} that isn't {C}",
                "{FRAME} || any {N} but the {C} one", "{FRAME} || any {N} except the {C} one",
                "{FRAME} || a {N} other than the {C} one", "{FRAME} || everything except the {C} {N}",
                "{FRAME} || anything but the {C} {N}", "{FRAME} || the non-{C} {N}",
                "{FRAME} || something that isn't {C}", "{FRAME} || any {N} that is not {C}",
                "{FRAME} || every {N} except the {C} one", "{FRAME} || one of the {Ns} that aren't {C}",
                "{VP}, just not the {C} one || a {N}", "{VP}, but not the {C} one || a {N}",
                "leave {O} || @pick", "leave {O} alone || @pick", "leave {O} where it is || @pick",
                "stay away from {O} || @pick", "avoid {O} || @pick", "ignore {O} || @pick",
                "don't touch {O} || @pick", "never touch {O} || @pick", "keep your hands off {O} || @pick",
                "skip {O} || @pick", "anything except {O} || @pick",
            ),
            "multiple": (
                "{FRAME} || the {C} {N} and the {C2} {N}", "{FRAME} || the {C} and the {C2} {Ns}",
                "{FRAME} || the {C} and {C2} {Ns}", "{FRAME} || both {Ns}",
                "{FRAME} || both the {C} and the {C2} {N}", "{FRAME} || all the {Ns}", "{FRAME} || all {Ns}",
                "{FRAME} || every {N}", "{FRAME} || the {C} {N} or the {C2} {N}", "{FRAME} || the {C} or {C2} {N}",
                "{FRAME} || {NUM} {Ns}", "{FRAME} || the {C}, {C2} and {C3} {Ns}",
                "{FRAME} || the {C} {N} as well as the {C2} one", "{FRAME} || the {C} one and the {C2} one",
                "{FRAME} || the {Ns}", "{FRAME} || every single {N}",
                "{FRAME} || the {C} {N}, the {C2} {N} and the {C3} {N}",
                "{FRAME} || either the {C} or the {C2} {N}", "{FRAME} || each {N} on the table",
                "first {VP}, then the {C2} one || the {C} {N}", "{VP} and then the {C2} one || the {C} {N}",
                "{VP} and the {C2} {N} too || the {C} {N}", "{VP}, followed by the {C2} {N} || the {C} {N}",
                "{VP} together with the {C2} one || the {C} {N}",
            ),
            "other_task": (  # commands without a cup; most other-task sentences use ``other_task_verbs``
                "wave", "wave hello", "dance", "dance for me", "open the gripper", "close the gripper",
                "go home", "return to the home position", "reset", "turn around", "move to the left",
                "go to sleep mode", "look around", "clap", "stop", "lift your arm", "go to the start position",
                "open your hand", "shut down", "point to the ceiling",
            ),
            "question": (
                "where is {O}? || @pick", "is there {O}? || a {C} {N}", "what colour is {O}? || @plain",
                "how many {Ns} are there?", "which {N} is {C}?", "can you see {O}? || @pick",
                "do you see {O}? || @pick", "is {O} on the table? || @pick", "what is next to {O}? || @pick",
                "what's in {O}? || @pick", "is {O} full? || @pick", "what color are the {Ns}?",
                "which {N} should I pick?", "are there any {C} {Ns}?", "did you pick up {O}? || @pick",
                "have you grabbed {O}? || @pick", "is {O} heavy? || @pick", "what are you holding?",
                "what can you see?", "how far away is {O}? || @pick", "where did you put {O}? || @pick",
                "do you know where {O} is? || @pick", "is {O} empty? || @pick", "how big is {O}? || @pick",
                "what is the color of {O}? || @plain", "is that {O}? || @pick",
                "can you tell me where {O} is? || @pick", "is {O} reachable? || @pick",
                "what does {O} look like? || @pick", "why is {O} there? || @pick",
            ),
            "relation": (  # relations the robot cannot do; {A} is a cup the target is placed against
                "{FRAME} || the {N} left of the {A} {N}", "{FRAME} || the {N} to the right of the {A} one",
                "{FRAME} || the {N} to the left of the {A} {N}", "{FRAME} || the {N} right of the {A} one",
                "{FRAME} || the {N} on the left of the {A} one", "{FRAME} || the {N} on the right of the {A} {N}",
                "{FRAME} || the {ORD} {N} from the left", "{FRAME} || the {ORD} {N} from the right",
                "{FRAME} || the {N} behind the {A} one", "{FRAME} || the {N} in front of the {A} {N}",
                "{FRAME} || the biggest {N}", "{FRAME} || the smallest {N}", "{FRAME} || the {N} in the middle",
                "{FRAME} || the one between the {A} and {A2} {Ns}", "{FRAME} || the middle {N}",
                "{FRAME} || the {C} {N} closest to the edge", "{FRAME} || the last {N}",
                "{FRAME} || the first {N} on the left", "{FRAME} || the {ORD} {N}",
                "{FRAME} || the {N} farthest from the {A} one", "{FRAME} || the {C} {N} behind the {C2} one",
                "{FRAME} || the taller {N}", "{FRAME} || the {N} between the {A} {N} and the {A2} {N}",
                "{FRAME} || the {ORD} {N} from you", "{FRAME} || the {ORD} closest {N}",
                "{FRAME} || the {N} across from the {A} one", "{FRAME} || the {ORD} {N} to the left of the {A} one",
            ),
        },
        chat=("sing a song", "what's the weather", "hello robot", "tell me a joke", "how are you",
              "good morning", "thank you", "what time is it", "i'm hungry", "play some music", "who are you",
              "what is your name", "lorem ipsum dolor sit amet", "testing testing", "hello world",
              "bla bla bla", "never mind", "i like turtles", "let me think", "that was fun"),
        single_words=("red", "blue", "green", "cup", "mug", "hello", "yes", "no", "what", "up", "the", "please",
                      "robot", "table", "cups", "ok"),
        salad_words=("blorp", "zib", "frum", "cup", "the", "table", "wibble", "gronk", "of", "banjo", "quix",
                     "mug", "yes", "robot", "plonk", "sideways", "spoon", "and"),
        languages=(_FRENCH, _GERMAN, _SPANISH),
    ),
    "held_out": EnglishPool(
        pick_verbs=(
            "snatch {O}", "seize {O}", "clutch {O}", "nab {O}",
            "scoop up {O}", "scoop {O} up", "pluck {O}", "clasp {O}", "retrieve {O}", "collect {O}",
            "lay hold of {O}", "heft {O}", "elevate {O}", "catch hold of {O}", "secure {O} in your claw",
        ),
        pick_frames=(
            "will you {VP}?", "can you please {VP}?", "would you be so kind as to {VP}?", "do you mind {VPing}?",
            "would it be possible to {VP}?", "is it possible for you to {VP}?", "mind {VPing}?",
            "I'd appreciate it if you could {VP}", "please go and {VP}", "make sure you {VP}",
            "be a dear and {VP}", "could I ask you to {VP}?", "I'm asking you to {VP}", "your next move: {VP}",
            "what I need is for you to {VP}", "please would you {VP}?", "how about {VPing}?",
            "the task: {VP}", "{VP}, if you would", "{VP} when you're ready", "{VP}, cheers",
            "{VP} straight away", "at once, {VP}",
            "{O} — could you {VPit}?", "{O}; {VPit}", "{O}... {VPit}", "{O} is the one, {VPit}",
            "{O}, if you would",
        ),
        object_templates=(
            "this {C} {N}", "the {C}-coloured {N}", "the {C} coloured {N}", "the {N} which is {C}",
            "the {N} in {C}", "the one in {C}", "my {C} {N}", "the {N} colored {C}", "the {C}-hued {N}",
            "this {C} one",
        ),
        plain_objects=(
            "some {N}", "whichever {N}", "any one of the {Ns}", "an arbitrary {N}", "that thing", "this one",
            "whatever you like", "a single {N}", "the object", "whichever one you want", "either {N}",
        ),
        cup_nouns=("beaker", "teacup", "vessel", "goblet", "chalice", "cup-shaped container", "container"),
        thing_nouns=("stapler", "wallet", "glove", "sock", "balloon", "candle", "marble", "jug", "pitcher",
                     "dish", "fork", "knife", "ladle", "tile", "cushion", "rubber duck", "shuttlecock",
                     "notebook", "coaster", "frisbee", "umbrella", "pillow", "calculator", "padlock"),
        prefixes=("hi robot, ", "excuse me, ", "um, ", "hey there, ", "robot arm, ", "listen, ", "so, ", "well, ",
                  "dear robot, ", "alrighty, "),
        suffixes=(" off the table", " from the tabletop", " at once", " slowly", " if possible", ", cheers",
                  ", much appreciated", " without delay", " if you can", " steadily"),
        neutral_suffixes=(", cheers", " at once", ", much appreciated"),
        modifiers=("lighter", "medium", "soft", "strong", "rich", "neon", "electric", "pastel", "dusty", "faded"),
        other_colours=("pink", "gray", "beige", "turquoise", "cyan", "magenta", "ivory", "charcoal", "salmon",
                       "coral", "mauve", "hot pink", "light gray"),
        shade_extras=("school bus yellow", "racing green", "sunshine yellow", "signal red", "traffic yellow"),
        numbers=("four", "five", "six", "4", "5"),
        ordinals=("fifth", "4th", "5th", "sixth"),
        other_task_verbs=(
            "nudge {O}", "jostle {O}", "topple {O}", "overturn {O}", "flick {O}", "hurl {O}", "juggle {O}",
            "stir {O}", "refill {O}", "empty {O}", "tilt {O} toward me", "wobble {O}", "shift {O} to the side",
            "relocate {O}", "scoot {O} over", "bump {O}", "pat {O}", "sniff {O}", "photograph {O}",
            "inspect {O}", "scan {O}", "lower {O}", "rinse {O}", "wipe {O}", "dry {O}", "polish {O}",
            "decorate {O}", "nestle {O} inside {O2}", "nest {O} inside {O2}", "drag {O} toward me",
            "hang {O} on the hook", "balance {O} on top of {O2}", "dunk {O} into {O2}", "insert {O} into {O2}",
            "transfer {O} onto the {X}", "roll {O} across the table", "bang {O} against {O2}", "fling {O}",
            "smack {O}", "crumple {O}", "drain {O}",
            "snatch {O} and fling it away|snatching {O} and flinging it away",
            "hoist {O} and lower it onto {O2}|hoisting {O} and lowering it onto {O2}",
        ),
        refusals={
            "negation": (
                "do not ever {VP} || @pick", "under no circumstances should you {VP} || @pick",
                "refrain from {VPing} || @pick", "you may not {VP} || @pick", "please never {VP} || @pick",
                "I forbid you to {VP} || @pick", "don't you dare {VP} || @pick",
                "{FRAME} || the {N} which isn't {C}", "{FRAME} || some {N} besides the {C} one",
                "{FRAME} || a {N} apart from the {C} one", "{FRAME} || whichever {N} is not {C}",
                "{FRAME} || any {N} save the {C} one", "{FRAME} || all but the {C} {N}",
                "{FRAME} || a {N} that is anything but {C}", "{FRAME} || a {N} whose colour is not {C}",
                "{FRAME} || one that isn't {C}",
                "steer clear of {O} || @pick", "keep away from {O} || @pick", "hands off {O} || @pick",
                "{O} must stay put || @pick", "{O} is off limits || @pick", "definitely not {O} || @pick",
                "no, not {O} || @pick", "{VP}, excluding the {C} one || a {N}",
                "{VP} - anything except the {C} one || a {N}", "do not lay a finger on {O} || @pick",
            ),
            "multiple": (
                "{FRAME} || the {C} {N} plus the {C2} {N}", "{FRAME} || the {C} {N} along with the {C2} one",
                "{FRAME} || the {C} {N} in addition to the {C2} one", "{FRAME} || each of the {Ns}",
                "{FRAME} || all {NUM} {Ns}", "{FRAME} || the pair of {Ns}", "{FRAME} || a couple of {Ns}",
                "{FRAME} || several {Ns}", "{FRAME} || the {C} {N} and also the {C2} {N}",
                "{FRAME} || the {C} {N} alongside the {C2} {N}",
                "{FRAME} || the {C} {N} and the {C2} one and the {C3} one", "{FRAME} || the {C} or else the {C2} {N}",
                "{FRAME} || the whole set of {Ns}", "{FRAME} || the {C} and {C2} ones",
                "{VP}, after that the {C2} one || the {C} {N}", "{VP}, and next the {C2} {N} || the {C} {N}",
                "begin with the {C2} {N}, then {VP} || the {C} one",
                "{VP} and likewise the {C2} one || the {C} {N}",
            ),
            "other_task": (
                "wiggle your fingers", "salute", "go to sleep", "power off", "park the arm", "spin around",
                "do a little dance", "shake hands with me", "return to your charging dock", "bow",
                "open your claw", "retract the arm", "stretch your arm out", "calibrate yourself",
            ),
            "question": (
                "where exactly is {O}? || @pick", "is {O} visible? || @pick",
                "could you tell me what colour {O} is? || @plain", "how many {Ns} do you see?",
                "which one of the {Ns} is {C}?", "is there {O} anywhere? || a {C} {N}",
                "are you able to see {O}? || @pick", "have you spotted {O}? || @pick",
                "what's inside {O}? || @pick", "how tall is {O}? || @pick",
                "what material is {O} made of? || @pick", "is {O} within reach? || @pick",
                "what colour are you holding?", "what is on the table?", "whose {N} is the {C} one?",
                "where should {O} go? || @pick", "is {O} closer than the {C2} one? || @pick",
                "would you say {O} is clean? || @pick", "are you holding {O}? || @pick",
                "how much does {O} weigh? || @pick", "does {O} have a handle? || @pick",
            ),
            "relation": (
                "{FRAME} || the {N} just left of the {A} one", "{FRAME} || the {N} one place right of the {A} {N}",
                "{FRAME} || the {N} immediately right of the {A} {N}", "{FRAME} || the {C} {N} at the far end",
                "{FRAME} || the {N} furthest from the {A} one", "{FRAME} || the {N} that is {ORD} from the left",
                "{FRAME} || the {N} at the center", "{FRAME} || the {N} behind the {A} {N}",
                "{FRAME} || the largest {N}", "{FRAME} || the tiniest {N}",
                "{FRAME} || the {N} in between the {A} one and the {A2} one", "{FRAME} || the {N} opposite the {A} one",
                "{FRAME} || the {N} diagonal to the {A} one", "{FRAME} || the {C} {N} near the edge",
                "{FRAME} || the {N} under the {A} one", "{FRAME} || the {N} on top of the {A} one",
                "{FRAME} || the penultimate {N}", "{FRAME} || the {N} at the end of the row",
                "{FRAME} || the {N} in front of the {A} one", "{FRAME} || the {N} in the centre",
                "{FRAME} || the {N} two places left of the {A} one", "{FRAME} || the {N} that is {ORD} from the right",
                "{FRAME} || the {N} sitting between the {A} and {A2} {Ns}", "{FRAME} || the {ORD} {N} in the row",
            ),
        },
        chat=("recite a poem", "how is the weather today", "hi there robot", "say something funny",
              "good evening", "what day is it", "i'm tired", "where are you from", "do you like pizza",
              "what's up", "nice to meet you", "how old are you", "once upon a time", "see you later",
              "can we be friends", "i forgot my keys", "what a lovely day"),
        single_words=("orange", "purple", "yellow", "beaker", "hey", "huh", "goodbye", "thanks", "why",
                      "maybe", "hmm"),
        salad_words=("flimb", "quorz", "teacup", "vessel", "umbrella", "sprocket", "wobble", "nib", "zanth",
                     "over", "kerplunk", "beneath", "goblet", "purr"),
        languages=(_ITALIAN, _PORTUGUESE, _DUTCH, _SWEDISH, _POLISH, _TURKISH, _INDONESIAN),
    ),
}

# ============================================================================ Korean pools


@dataclass(frozen=True)
class KoreanPool:
    """All Korean material of one pool. Slots: {O} {O2} {O3} object (colour + noun), {C} {C2} {C3}
    colour phrases, {CN} a colour in noun form (takes particles), {N} cup noun (거/것 included),
    {CUPN} a real cup noun, {X} non-cup noun, {V} pick verb; particle slots {을} {은} {이} {과}
    {이나} {이랑} {이야} agree with the syllable before them."""

    verbs: tuple[str, ...]
    frames: tuple[str, ...]
    object_templates: tuple[str, ...]
    nouns: tuple[str, ...]
    thing_nouns: tuple[str, ...]
    colours: dict[str, str]          # colour form -> cup colour, beyond SHARED_KO_COLOURS
    other_colours: tuple[str, ...]
    modifiers: tuple[str, ...]
    prefixes: tuple[str, ...]
    refusals: dict[str, tuple[str, ...]]  # every refusal intent but other_language
    chat: tuple[str, ...]            # words for word salad
    jamo: str                        # letters for nonsense runs ("ㅋㅋㅋ")


KO_ADJECTIVE_FORMS = frozenset({"빨간", "붉은", "노란", "파란", "검은", "흰", "하얀"})  # cannot take particles

KOREAN_POOLS: dict[str, KoreanPool] = {
    "train": KoreanPool(
        verbs=("집어", "집어라", "집어 줘", "집어 주세요", "잡아", "잡아 줘", "잡아라", "들어 올려", "들어 올려 줘",
               "집어 올려", "집어 들어", "집으세요", "집어 줄래?", "잡아 주세요", "들어 줘", "집어 봐"),
        frames=(CANONICAL_KO_FRAME, "{O} {V}", "{O} 좀 {V}", "{O}{을} 좀 {V}", "{V}, {O}{을}",
                "테이블에 있는 {O}{을} {V}", "{CUPN} 중에 {C} 거 {V}", "저기 {O}{을} {V}", "{O}{을} 빨리 {V}",
                "{O}{을} 조심해서 {V}", "이제 {O}{을} {V}", "{O}{을} {V}, 부탁해", "{C} 거 {V}",
                "{O} 하나{을} {V}"),
        object_templates=("저 {C} {N}", "이 {C} {N}"),
        nouns=("잔", "머그컵", "종이컵", "것", "거"),
        thing_nouns=("공", "블록", "병", "접시", "펜", "상자", "책", "숟가락", "장난감", "모자", "연필", "그릇",
                     "주전자", "휴대폰", "수건"),
        colours={"빨강": "red", "주황색": "orange", "초록색": "green", "녹색": "green", "파랑": "blue",
                 "보라색": "purple", "자주색": "purple"},
        other_colours=("분홍", "분홍색", "검은", "흰", "회색"),
        modifiers=("진한", "밝은"),
        prefixes=("로봇아, ", "저기, ", "자, "),
        refusals={
            "negation": (
                "{O}{은} 말고 다른 컵{을} {V}", "{O} 말고 {V}", "{O}{이} 아닌 컵{을} {V}", "{O}{은} 집지 마",
                "{O}{은} 집지 마세요", "{O}{은} 잡지 마", "{O} 빼고 아무거나 {V}", "{O}{은} 건드리지 마",
                "{C} 거 말고 다른 거 {V}", "{O}{을} 제외한 컵{을} {V}", "{O}{은} 그냥 둬", "{O}{은} 들지 마",
                "{O}{은} 안 돼", "{O}만 빼고 {V}", "{CN}{이} 아닌 컵{을} {V}",
            ),
            "multiple": (
                "{O}{과} {O2}{을} {V}", "{O}{이랑} {O2} {V}", "{C} {N}{과} {C2} {N}{을} 둘 다 {V}",
                "컵 두 개를 {V}", "모든 컵을 {V}", "컵을 전부 {V}", "{C} 컵하고 {C2} 컵{을} {V}",
                "{O}{이나} {O2}{을} {V}", "먼저 {O}{을} 집고 그다음 {O2}{을} {V}", "{O}{과} {O2} 모두 {V}",
                "컵 세 개 다 {V}", "컵들을 다 {V}", "{O}, {O2}, {O3} 다 {V}",
            ),
            "other_task": (
                "{O}{을} 밀어", "{O}{을} 밀어 줘", "{O}{을} 쌓아", "{O}{을} {O2} 위에 쌓아", "{O}{을} {O2}에 부어",
                "{O}{을} 부어", "{O}{을} 넘어뜨려", "{O}{을} 왼쪽으로 옮겨", "{O}{을} 오른쪽으로 밀어",
                "{O}{을} 던져", "{O}{을} 흔들어", "{O}{을} 돌려", "{O}{을} 뒤집어", "{O}{을} 떨어뜨려",
                "{O}{을} 씻어", "{O}{을} 만져", "{O}{을} {O2} 위에 올려 놓아", "{O}{을} {O2} 안에 넣어",
                "{O}{을} 집어서 {O2} 옆에 놓아", "{O}에 물을 채워", "춤 춰", "그리퍼를 열어", "원래 자리로 돌아가",
                "팔을 흔들어", "손 흔들어 줘", "{O}{을} 내려놔",
            ),
            "question": (
                "{O} 어디 있어?", "{O} 있어?", "컵이 몇 개야?", "{O}{은} 어디에 있어?", "어떤 컵이 {CN}{이야}?",
                "{O}{이} 보여?", "이 컵은 무슨 색이야?", "{O} 보여요?", "{O}{이} 있나요?",
                "테이블 위에 컵이 몇 개 있어?", "{O}{은} 어느 쪽에 있어?", "{O}{을} 집었어?",
                "{O}{은} 비어 있어?", "{O}{은} 무거워?",
            ),
            "relation": (  # relations the robot cannot do ({A}: the cup the target is placed against)
                "{A} 컵 왼쪽에 있는 컵을 {V}", "두 번째 컵을 {V}", "{A} 컵 오른쪽에 있는 컵을 {V}",
                "{A} 컵과 {A2} 컵 사이에 있는 컵을 {V}", "제일 큰 컵을 {V}", "가운데 컵을 {V}",
                "오른쪽에서 세 번째 컵을 {V}", "{A} 컵 뒤에 있는 컵을 {V}", "{A} 컵 앞에 있는 컵을 {V}",
                "{A} 컵에서 가장 먼 컵을 {V}", "세 번째 컵을 {V}", "가운데에 있는 컵을 {V}", "{A} 컵 왼쪽 컵을 {V}",
                "왼쪽에서 두 번째 컵을 {V}", "제일 작은 컵을 {V}", "마지막 컵을 {V}",
            ),
            "no_target": (
                "컵을 {V}", "아무 컵이나 {V}", "컵 하나 {V}", "그거 {V}", "이거 {V}", "하나 {V}", "뭐든 {V}",
                "잔을 {V}", "테이블 위의 컵을 {V}", "컵 좀 {V}", "그 컵을 {V}",
            ),
            "not_a_cup": (
                "{C} {X}{을} {V}", "{C} {X} 좀 {V}", "테이블 위의 {C} {X}{을} {V}", "{X}{을} {V}",
                "저 {C} {X}{을} {V}", "{C} {X} {V}",
            ),
            "nonsense": ("ㅋㅋㅋ", "ㅎㅎㅎ", "안녕", "안녕하세요", "노래 불러줘", "오늘 날씨 어때?", "배고파", "농담해 줘",
                         "빨간", "노란", "초록", "컵", "ㅁㄴㅇㄹ", "아아아", "뭐 해?", "고마워", "잘 자"),
        },
        chat=("컵", "뭐", "그래", "하늘", "바나나", "왜", "테이블", "로봇", "음", "그냥", "내일", "빨간"),
        jamo="ㅋㅎㅁㄴㅇㄹ",
    ),
    "held_out": KoreanPool(
        verbs=("집어 올려라", "들어줄래?", "가져와", "집어 들어 줘", "들어 올려 주세요", "집어 주시겠어요?",
               "잡아 주실래요?", "집어 올려 줄래?", "들어 올리세요", "집어 주십시오", "들어 올려라", "잡으세요",
               "집어 들어라", "좀 잡아 볼래?", "집어줘요"),
        frames=("탁자 위에 있는 {O}{을} {V}", "{CUPN}들 중에서 {C} 거 {V}", "{O}{을} 한번 {V}", "{O}{을} 얼른 {V}",
                "책상 위 {O}{을} {V}", "테이블에서 {O}{을} {V}", "{O}{을} 지금 {V}", "{O}{을} 살살 {V}",
                "{O} 하나만 {V}", "거기 {O}{을} {V}", "{C} 걸 {V}", "{O} 한 개{을} {V}"),
        object_templates=("그 {C} {N}", "요 {C} {N}"),
        nouns=("머그", "물컵", "찻잔", "유리잔"),
        thing_nouns=("인형", "가방", "열쇠", "포크", "칼", "리모컨", "양말", "풍선", "신발", "쿠션", "주사위", "지우개"),
        colours={"붉은": "red", "주황빛": "orange", "오렌지색": "orange", "노랑": "yellow", "청색": "blue",
                 "보랏빛": "purple"},
        other_colours=("핑크", "검정", "하얀", "갈색"),
        modifiers=("연한", "짙은"),
        prefixes=("저기요, ", "로봇님, ", "음, "),
        refusals={
            "negation": (
                "{O}{은} 빼고 {V}", "{O}{은} 절대 집지 마", "{O}{은} 손대지 마", "{O} 말고 딴 거 {V}",
                "{O}{은} 놔두고 다른 컵{을} {V}", "{O}{이} 아닌 걸로 {V}", "{O}{은} 잡으면 안 돼",
                "{O} 외에 다른 컵{을} {V}", "{O}{은} 들지 말아 줘",
            ),
            "multiple": (
                "{O}하고 {O2}{을} 같이 {V}", "{O}{과} {O2} 둘 다 {V}", "컵 두 개 다 {V}", "{O}도 {O2}도 {V}",
                "테이블 위의 컵 전부를 {V}", "컵을 하나도 빠짐없이 {V}", "{O} 다음에 {O2}{을} {V}",
                "{O}{을} 집은 다음 {O2}도 {V}", "컵 여러 개를 {V}", "{O}{이랑} {O2}{이랑} 다 {V}",
            ),
            "other_task": (
                "{O}{을} 치워", "{O}{을} 굴려", "{O}{을} 기울여", "{O}{을} 비워", "{O}{을} 숨겨", "{O}{을} 툭 쳐",
                "{O}{을} 눕혀", "{O}{을} 엎어", "{O}{을} 찌그러뜨려", "{O}{을} 건드려", "{O}{을} 가리켜",
                "{O}{을} 헹궈", "{O}{을} 닦아 줘", "{O}{을} {O2} 옆으로 옮겨 놔", "{O}{을} {O2} 속에 집어넣어",
                "{O}{을} 들어서 흔들어 봐", "낮잠 자", "그리퍼를 닫아", "충전기로 돌아가", "인사해", "제자리에서 돌아",
            ),
            "question": (
                "{O}{은} 어디에 있나요?", "{O}{이} 어디 있는지 알아?", "컵은 모두 몇 개인가요?", "{O}{이} 보이니?",
                "무슨 색 컵이 있어?", "{O} 안에 뭐가 들어 있어?", "{O}{은} 얼마나 멀어?", "{O}{을} 찾을 수 있어?",
                "{O}{은} 누구 거야?", "{O}{이} 테이블 위에 있니?", "지금 뭘 들고 있어?",
            ),
            "relation": (
                "{A} 컵 오른쪽 컵을 {V}", "왼쪽에서 세 번째 컵을 {V}", "가장 작은 컵을 {V}", "한가운데 있는 컵을 {V}",
                "{A} 컵과 {A2} 컵 사이의 컵을 {V}", "맨 끝에 있는 컵을 {V}", "{A} 컵 건너편 컵을 {V}",
                "{A} 컵 바로 뒤에 있는 컵을 {V}", "오른쪽에서 두 번째 컵을 {V}", "{A} 컵 바로 왼쪽에 있는 컵을 {V}",
            ),
            "no_target": (
                "아무거나 하나 {V}", "저거 {V}", "머그를 {V}", "아무 잔이나 {V}", "탁자 위에 있는 컵을 {V}",
                "컵 한 개만 {V}", "뭐라도 {V}", "물컵을 {V}",
            ),
            "not_a_cup": (
                "탁자 위에 있는 {C} {X}{을} {V}", "{C} {X} 하나만 {V}", "{C} {X}{을} 한번 {V}", "그 {C} {X}{을} {V}",
                "{X}{을} 얼른 {V}", "{C} {X}{을} 지금 {V}",
            ),
            "nonsense": ("ㅠㅠ", "반가워", "심심해", "시 한 편 읊어 줘", "지금 몇 시야?", "졸려", "재미있는 얘기 해 줘",
                         "파란", "잔", "ㅂㅈㄷㄱ", "음...", "잘 가", "밥 먹었어?"),
        },
        chat=("잔", "어디", "그럼", "바다", "사과", "어제", "창문", "구름", "아마", "파란", "글쎄"),
        jamo="ㅠㅜㅂㅈㄷㄱ",
    ),
}
# -- rebalancing ---------------------------------------------------------------------------
# The lists above were written as two equal halves. A model that never saw "hoist" or "seize" in a
# pick sentence cannot tell them from "nudge" or "decorate" (measured: 54 % of held-out English picks
# understood with half the verbs held out), so about two thirds of each held-out list of verbs,
# frames and refusal templates joins training. What stays held out is still never trained on; the
# colour words, cup nouns, modifiers and colours no cup has stay held out in full.
_REBALANCED_EN = ("pick_verbs", "pick_frames", "object_templates", "plain_objects", "thing_nouns",
                  "other_task_verbs", "chat", "single_words", "salad_words")
_REBALANCED_KO = ("verbs", "frames", "thing_nouns", "prefixes", "chat")


_BY_HEAD_WORD = ("pick_verbs", "other_task_verbs")  # "hoist {O}" and "hoist up {O}" move together


def _moves(item: str, by_head: bool) -> bool:
    key = item.split()[0] if by_head and item.split() else item
    return zlib.crc32(key.encode()) % 3 != 0


def _split(train: tuple[str, ...], held: tuple[str, ...], by_head: bool = False
           ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    moved = tuple(x for x in held if _moves(x, by_head))
    kept = tuple(x for x in held if not _moves(x, by_head)) or held[:1]
    return train + tuple(x for x in moved if x not in kept), kept


def _rebalance(pools: dict, fields: tuple[str, ...]) -> dict:
    train, held = pools["train"], pools["held_out"]
    new_train, new_held = {}, {}
    for name in fields:
        new_train[name], new_held[name] = _split(getattr(train, name), getattr(held, name), name in _BY_HEAD_WORD)
    refusals_train, refusals_held = dict(train.refusals), {}
    for intent, templates in held.refusals.items():
        if intent == "nonsense":  # the held-out nonsense lines are quoted in PARITY and the unsupported set
            refusals_held[intent] = templates
            continue
        refusals_train[intent], refusals_held[intent] = _split(train.refusals.get(intent, ()), templates)
    return {"train": replace(train, refusals=refusals_train, **new_train),
            "held_out": replace(held, refusals=refusals_held, **new_held)}


ENGLISH_POOLS = _rebalance(ENGLISH_POOLS, _REBALANCED_EN)
KOREAN_POOLS = _rebalance(KOREAN_POOLS, _REBALANCED_KO)


def _closed_classes() -> None:
    """Nouns for a cup and Korean colour forms are closed classes the robot is taught in full (an
    unknown noun or colour form is refused as unknown, not guessed); one noun stays held out so the
    held-out pool still has one to measure that refusal."""
    en_train, en_held = ENGLISH_POOLS["train"], ENGLISH_POOLS["held_out"]
    keep = ("chalice",)
    ENGLISH_POOLS["train"] = replace(en_train, cup_nouns=en_train.cup_nouns + tuple(
        n for n in en_held.cup_nouns if n not in keep))
    ENGLISH_POOLS["held_out"] = replace(en_held, cup_nouns=keep)
    ko_train, ko_held = KOREAN_POOLS["train"], KOREAN_POOLS["held_out"]
    KOREAN_POOLS["train"] = replace(ko_train, colours={**ko_train.colours, **ko_held.colours},
                                    nouns=ko_train.nouns + ko_held.nouns[1:])
    KOREAN_POOLS["held_out"] = replace(ko_held, colours={}, nouns=ko_held.nouns[:1])


_closed_classes()


KOREAN_PARTICLES: dict[str, tuple[str, str]] = {  # slot -> (after a final consonant, after a vowel)
    "을": ("을", "를"), "은": ("은", "는"), "이": ("이", "가"), "과": ("과", "와"), "이나": ("이나", "나"),
    "이랑": ("이랑", "랑"), "이야": ("이야", "야"),
}

# ============================================================================ referring expressions
# Object phrases that pick a cup by side, distance or neighbour (``vla_sim.referring``). Slots: {C} the
# target's colour (left / right only), {A} the anchor's colour (next-to), {N} / {Ns} a cup noun. The
# right-hand forms are the left-hand ones mirrored. Each pool has its own phrasings, disjoint (a test
# checks); the held-out ones are asked in trained frames with trained verbs by :func:`referring_held_out`,
# so what it measures is whether a new way of saying the relation is understood.


def _mirror(phrases: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p.replace("left", "right") for p in phrases)


_REFER_EN_TRAIN_LEFT = (
    "the {C} {N} on the left", "the {C} {N} on the left-hand side", "the {C} one on the left", "the left {C} {N}",
    "the left-hand {C} {N}", "the {C} {N} to the left", "the {C} {N} that is on the left", "the {C} {N} on the left side",
    "the left one of the {C} {Ns}", "the left {C} one", "the {C} {N} on your left",
)
_REFER_EN_TRAIN_LEFTMOST = (
    "the leftmost {N}", "the leftmost one", "the {N} furthest to the left", "the {N} farthest to the left",
    "the {N} furthest left", "the {N} on the far left", "the far left {N}", "the {N} all the way to the left",
    "the {N} that is furthest to the left", "the one on the far left", "the {N} at the far left",
)
_REFER_EN_HELD_LEFT = (
    "the {C} {N} over on the left", "the {C} {N} at the left", "the {C} {N} which is on the left",
    "the {C} {N} that's to the left", "the {C} {N} that's on the left-hand side", "the {C} one on the left side",
    "the {C} {N} sitting on the left",
)
_REFER_EN_HELD_LEFTMOST = (
    "the {N} farthest left", "the leftmost of the {Ns}", "the {N} that's leftmost", "the {N} way over on the left",
    "the {N} that is the furthest left", "the one furthest to the left", "the {N} that is all the way left",
)

REFERRING_EN: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {
        "left": _REFER_EN_TRAIN_LEFT,
        "right": _mirror(_REFER_EN_TRAIN_LEFT),
        "leftmost": _REFER_EN_TRAIN_LEFTMOST,
        "rightmost": _mirror(_REFER_EN_TRAIN_LEFTMOST),
        "nearest": (
            "the {N} closest to you", "the {N} nearest to you", "the {N} nearest you", "the {N} closest to the robot",
            "the {N} nearest to the robot", "the closest {N}", "the nearest {N}", "the {N} that is closest to you",
            "the nearest one", "the {N} closest to your arm", "the one closest to the robot",
        ),
        "farthest": (
            "the {N} farthest from you", "the {N} furthest from you", "the {N} farthest away from you",
            "the {N} furthest away from you", "the {N} furthest away", "the farthest {N}", "the furthest {N}",
            "the {N} farthest from the robot", "the farthest one", "the {N} that is farthest from you",
            "the one furthest from the robot",
        ),
        "next-to": (
            "the {N} next to the {A} {N}", "the {N} next to the {A} one", "the {N} beside the {A} {N}",
            "the {N} beside the {A} one", "the {N} by the {A} {N}", "the {N} near the {A} {N}",
            "the {N} near the {A} one", "the {N} closest to the {A} {N}", "the {N} nearest to the {A} one",
            "the one next to the {A} {N}", "the {N} that is next to the {A} {N}", "the {N} right next to the {A} one",
            "the {N} sitting next to the {A} {N}", "the {N} right beside the {A} {N}", "the {N} right alongside the {A} one",
            "the {N} close beside the {A} one", "the {N} close by the {A} {N}", "the one nearest to the {A} {N}",
            "the {N} closest to the {A} one",
        ),
        # next to a cup named by no colour: refused (it needs the anchor's colour)
        "next-to-plain": ("the {N} next to it", "the {N} beside it", "the one next to it", "the {N} next to that one",
                          "the {N} beside this one", "the one beside it"),
    },
    "held_out": {
        "left": _REFER_EN_HELD_LEFT,
        "right": _mirror(_REFER_EN_HELD_LEFT),
        "leftmost": _REFER_EN_HELD_LEFTMOST,
        "rightmost": _mirror(_REFER_EN_HELD_LEFTMOST),
        "nearest": (
            "the {N} that's nearest to you", "the one closest to you", "the {N} nearest the robot",
            "the {N} that is nearest you", "the closest {N} to you", "the {N} closest to where you are",
            "the {N} you are closest to",
        ),
        "farthest": (
            "the {N} that's furthest from you", "the one farthest away", "the {N} furthest from the robot",
            "the furthest {N} from you", "the {N} farthest away from the robot", "the {N} that is furthest away",
            "the {N} furthest from where you are",
        ),
        "next-to": (
            "the {N} that's beside the {A} one", "the {N} just next to the {A} {N}", "the {N} close to the {A} {N}",
            "the one beside the {A} {N}", "the {N} right by the {A} one", "the {N} nearest the {A} {N}",
            "the {N} sitting beside the {A} {N}",
        ),
    },
}


def _without_colour(phrase: str) -> str | None:
    """"the red cup on the left" -> "the cup on the left" (a side with no colour)."""
    out = phrase.replace("{C} ", "").replace(" {C}", "")
    return None if "{C}" in out or "{Ns}" in out else out


def _with_colour(phrase: str) -> str | None:
    """"the leftmost cup" -> "the leftmost red cup": a colour named with a kind that takes none."""
    if phrase.startswith("the one "):
        return phrase.replace("the one ", "the {C} one ", 1)
    if "{N}" in phrase:
        return phrase.replace("{N}", "{C} {N}", 1)
    return phrase[:-len(" one")] + " {C} one" if phrase.endswith(" one") else None


@functools.lru_cache(maxsize=None)
def referring_objects(pool: str) -> dict[str, tuple[str, ...]]:
    """Object phrases by what they teach: the seven kinds; "left-plain" / "right-plain", a side with no
    colour ("the cup on the left", understood as the leftmost / rightmost cup); "<kind>+colour", the
    target's colour named with a kind that takes none ("the leftmost red cup", "the red cup next to the
    blue one": refused)."""
    _check_pool(pool)
    spec = REFERRING_EN[pool]
    out = dict(spec)
    for side in ("left", "right"):
        out[f"{side}-plain"] = tuple(dict.fromkeys(p for p in map(_without_colour, spec[side]) if p))
    for kind in ("leftmost", "rightmost", "nearest", "farthest", "next-to"):
        out[f"{kind}+colour"] = tuple(dict.fromkeys(p for p in map(_with_colour, spec[kind]) if p))
    return out


# Korean: whole sentences (the frame is part of the phrasing); {O} the target (colour + noun), {A} the
# anchor's colour (before 컵 / 거), {V} a pick verb. Held-out ones are new combinations of trained words
# (the character n-gram model refuses a word it never saw).
_REFER_KO_TRAIN_LEFT = (
    "왼쪽에 있는 {O}{을} {V}", "왼쪽 {O}{을} {V}", "{O} 중에 왼쪽 거 {V}", "{C} 컵 두 개 중 왼쪽 컵을 {V}",
    "왼편에 있는 {O}{을} {V}", "왼쪽의 {O}{을} {V}", "{O} 중 왼쪽에 있는 것을 {V}", "왼쪽에 있는 {O} 좀 {V}",
    "왼편의 {O}{을} {V}", "{O} 중에 왼편 거 {V}", "지금 왼쪽에 있는 {O}{을} {V}",
)
_REFER_KO_TRAIN_LEFTMOST = (
    "가장 왼쪽에 있는 컵을 {V}", "맨 왼쪽 컵을 {V}", "제일 왼쪽에 있는 컵을 {V}", "가장 왼쪽 컵 {V}",
    "맨 왼쪽에 있는 것을 {V}", "제일 왼쪽 거 {V}", "가장 왼쪽에 있는 거 좀 {V}", "지금 맨 왼쪽 컵을 {V}",
)
_REFER_KO_HELD_LEFT = (
    "왼편에 있는 {O} 좀 {V}", "{O} 중에서 왼쪽에 있는 거 {V}", "{O} 두 개 중 왼쪽 거 {V}", "이제 왼쪽 {O}{을} {V}",
    "저기 왼쪽에 있는 {O}{을} {V}", "왼편 {O}{을} {V}",
)
_REFER_KO_HELD_LEFTMOST = (
    "제일 왼쪽 컵을 {V}", "맨 왼쪽에 있는 컵을 {V}", "가장 왼쪽에 있는 것을 {V}", "맨 왼쪽 거 {V}",
    "이제 가장 왼쪽 컵을 {V}", "제일 왼쪽에 있는 거 {V}",
)


def _mirror_ko(phrases: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(p.replace("왼", "오른") for p in phrases)


REFERRING_KO: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {
        "left": _REFER_KO_TRAIN_LEFT,
        "right": _mirror_ko(_REFER_KO_TRAIN_LEFT),
        "leftmost": _REFER_KO_TRAIN_LEFTMOST,
        "rightmost": _mirror_ko(_REFER_KO_TRAIN_LEFTMOST),
        "nearest": ("너에게 가장 가까운 컵을 {V}", "가장 가까운 컵을 {V}", "제일 가까운 컵 {V}", "로봇에게 가장 가까운 컵을 {V}",
                    "너한테 제일 가까이 있는 컵을 {V}", "가장 가까이 있는 컵을 {V}", "너랑 제일 가까운 컵을 {V}",
                    "지금 가장 가까운 컵을 {V}"),
        "farthest": ("가장 먼 컵을 {V}", "너에게서 가장 먼 컵을 {V}", "제일 멀리 있는 컵을 {V}", "로봇에게서 제일 먼 컵 {V}",
                     "가장 멀리 있는 컵을 {V}", "너한테서 가장 멀리 있는 컵을 {V}", "제일 먼 거 {V}", "지금 제일 먼 컵을 {V}"),
        "next-to": ("{A} 컵 옆에 있는 컵을 {V}", "{A} 컵 옆 컵을 {V}", "{A} 컵 바로 옆에 있는 컵을 {V}", "{A} 컵 옆의 컵을 {V}",
                    "{A} 거 옆에 있는 컵 {V}", "{A} 컵 근처에 있는 컵을 {V}", "{A} 컵이랑 붙어 있는 컵을 {V}",
                    "지금 {A} 컵 옆에 있는 컵을 {V}"),
        "left-plain": ("왼쪽에 있는 컵을 {V}", "왼쪽 컵을 {V}", "왼편에 있는 컵 {V}"),
        "right-plain": ("오른쪽에 있는 컵을 {V}", "오른쪽 컵을 {V}", "오른편에 있는 컵 {V}"),
        "next-to-plain": ("그 옆에 있는 컵을 {V}", "옆에 있는 컵을 {V}", "그 옆 컵을 {V}"),
        "leftmost+colour": ("가장 왼쪽에 있는 {O}{을} {V}", "맨 왼쪽 {O}{을} {V}"),
        "rightmost+colour": ("맨 오른쪽 {O}{을} {V}", "제일 오른쪽에 있는 {O}{을} {V}"),
        "nearest+colour": ("가장 가까운 {O}{을} {V}", "너에게 제일 가까운 {O}{을} {V}"),
        "farthest+colour": ("제일 먼 {O}{을} {V}", "너에게서 가장 먼 {O}{을} {V}"),
        "next-to+colour": ("{A} 컵 옆에 있는 {O}{을} {V}", "{A} 컵 바로 옆 {O}{을} {V}"),
    },
    "held_out": {
        "left": _REFER_KO_HELD_LEFT,
        "right": _mirror_ko(_REFER_KO_HELD_LEFT),
        "leftmost": _REFER_KO_HELD_LEFTMOST,
        "rightmost": _mirror_ko(_REFER_KO_HELD_LEFTMOST),
        "nearest": ("너한테 가장 가까운 컵을 {V}", "제일 가까운 컵을 {V}", "로봇에게 제일 가까운 컵을 {V}",
                    "너에게 가장 가까이 있는 컵을 {V}", "가장 가까운 거 {V}", "너랑 가장 가까운 컵을 {V}"),
        "farthest": ("제일 먼 컵을 {V}", "너한테서 가장 먼 컵을 {V}", "가장 멀리 있는 것을 {V}", "로봇에게서 가장 먼 컵을 {V}",
                     "너에게서 제일 멀리 있는 컵을 {V}", "가장 먼 거 {V}"),
        "next-to": ("{A} 컵 바로 옆 컵을 {V}", "{A} 컵 옆에 있는 거 {V}", "{A} 거 옆의 컵을 {V}", "{A} 컵 근처에 있는 거 {V}",
                    "{A} 컵 바로 옆의 컵을 {V}", "{A} 컵이랑 붙어 있는 거 {V}"),
    },
}

# ============================================================================ colour vocabulary


@dataclass(frozen=True)
class ColourVocabulary:
    """English colour phrases of one pool, each verified with ``resolve``: label -> phrases."""

    base: dict[str, tuple[str, ...]]
    modified: dict[str, tuple[str, ...]]
    shades: dict[str, tuple[str, ...]]   # bare shade words, shade + base, extras
    other: tuple[str, ...]
    shade_words: tuple[str, ...] = field(default=())  # the pool's shade words actually used


@functools.lru_cache(maxsize=None)
def _cup_of(phrase: str) -> str | None:
    return resolve(phrase).cup


def _compounds(word: str, cup: str) -> bool:
    """Whether "<word> <cup>" is a natural colour name ("navy blue"; not "bluish blue", "gold yellow")."""
    return cup[:3] not in word and word not in ("gold", "golden", "bordeaux", "claret", "wine")


@functools.lru_cache(maxsize=None)
def colour_vocabulary(pool: str) -> ColourVocabulary:
    """The pool's colour phrases; built once (``resolve`` checks each)."""
    _check_pool(pool)
    spec = ENGLISH_POOLS[pool]
    base = {c: (c,) for c in CUP_COLOURS}
    modified = {c: tuple(f"{m} {c}" for m in spec.modifiers if _cup_of(f"{m} {c}") == c) for c in CUP_COLOURS}
    shades: dict[str, list[str]] = {c: [] for c in CUP_COLOURS}
    used = []
    for word, cup in sorted(shade_words(pool).items()):
        if word in EXCLUDED_SHADES:
            continue
        used.append(word)
        if word in BARE_SHADES and _cup_of(word) == cup:
            shades[cup].append(word)
        if _compounds(word, cup) and _cup_of(f"{word} {cup}") == cup:
            shades[cup].append(f"{word} {cup}")
    for phrase in spec.shade_extras:
        cup = _cup_of(phrase)
        if cup is not None:
            shades[cup].append(phrase)
    other = tuple(w for w in spec.other_colours if _cup_of(w) is None)
    return ColourVocabulary(base, modified, {c: tuple(v) for c, v in shades.items()}, other, tuple(used))


def korean_colours(pool: str) -> dict[str, str]:
    """Korean colour form -> cup colour or "other", for one pool (shared main forms included)."""
    _check_pool(pool)
    spec = KOREAN_POOLS[pool]
    out = dict(SHARED_KO_COLOURS)
    out.update(spec.colours)
    out.update({w: "other" for w in spec.other_colours})
    return out


# ============================================================================ rendering engine

_SLOT = re.compile(r"\{([^{}]+)\}")


@functools.lru_cache(maxsize=None)
def _parse(template: str) -> tuple[tuple[bool, str], ...]:
    """A template as (is_slot, text) parts."""
    parts: list[tuple[bool, str]] = []
    pos = 0
    for m in _SLOT.finditer(template):
        if m.start() > pos:
            parts.append((False, template[pos:m.start()]))
        parts.append((True, m.group(1)))
        pos = m.end()
    if pos < len(template):
        parts.append((False, template[pos:]))
    return tuple(parts)


@functools.lru_cache(maxsize=None)
def _split_refusal(template: str) -> tuple[str, str | None]:
    sentence, sep, obj = template.partition(" || ")
    return sentence, (obj.strip() if sep else None)


_DOUBLED = frozenset({"grab", "get", "grip", "nab", "put", "drop", "spin", "tap", "hit", "set", "stop", "flip", "pat",
                      "swap", "tip", "drag", "let", "stir"})


def _gerund_word(word: str) -> str:
    if word in _DOUBLED:
        return word + word[-1] + "ing"
    if word.endswith("ie"):
        return word[:-2] + "ying"
    if word.endswith("e") and not word.endswith("ee"):
        return word[:-1] + "ing"
    return word + "ing"


@functools.lru_cache(maxsize=None)
def _verb_forms(entry: str) -> tuple[str, str, str]:
    """(base, gerund, with "it") of a verb phrase entry "base" or "base|gerund"."""
    base, _, gerund = entry.partition("|")
    if not gerund:
        head, _, rest = base.partition(" ")
        gerund = _gerund_word(head) + (" " + rest if rest else "")
    m = re.match(r"^(\w+) (up|over|down|away) \{O\}(.*)$", base)
    with_it = f"{m.group(1)} it {m.group(2)}{m.group(3)}" if m else base.replace("{O}", "it", 1)
    return base, gerund, with_it


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def _has_batchim(ch: str) -> bool:
    code = ord(ch) - 0xAC00
    return 0 <= code < 11172 and code % 28 != 0


class _Builder:
    """Text under construction, with the colour spans recorded so far."""

    __slots__ = ("parts", "length", "spans", "roles")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[tuple[int, int]] = []
        self.roles: list[str] = []

    def add(self, text: str) -> None:
        if text:
            if text[0] in "aeioAEIO" or (text[0] in "uU" and not text.lower().startswith(("uni", "use"))):
                self._an()
            self.parts.append(text)
            self.length += len(text)

    def _an(self) -> None:
        """English article before a vowel: "a orange cup" -> "an orange cup"."""
        if self.parts:
            prev = self.parts[-1]
            if prev.endswith("a ") and (len(prev) == 2 or prev[-3] in " ,.:;-"):
                self.parts[-1] = prev[:-1] + "n "
                self.length += 1

    def add_colour(self, text: str, role: str = "target") -> None:
        if text[:1] in ("a", "e", "i", "o", "u"):
            self._an()
        self.spans.append((self.length, self.length + len(text)))
        self.roles.append(role)
        self.parts.append(text)
        self.length += len(text)

    def last_char(self) -> str:
        for part in reversed(self.parts):
            if part:
                return part[-1]
        return ""

    def text(self) -> str:
        return "".join(self.parts)

    def colour_roles(self) -> tuple[str, ...]:
        """Per span roles, or () when every span is a target (the common case)."""
        return tuple(self.roles) if "anchor" in self.roles else ()


# ============================================================================ shared generation helpers


def _check_pool(pool: str) -> None:
    if pool not in POOLS:
        raise ValueError(f"pool must be 'train' or 'held_out', got {pool!r}")


def _intent_counts(n: int, shares: dict[str, float]) -> dict[str, int]:
    """Exact per-intent counts for ``n`` examples (largest remainder)."""
    total = sum(shares.values())
    raw = {k: n * v / total for k, v in shares.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (counts[k] - raw[k], k))[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def _intent_sequence(n: int, shares: dict[str, float], rng: random.Random) -> list[str]:
    seq = [intent for intent, k in _intent_counts(n, shares).items() for _ in range(k)]
    rng.shuffle(seq)
    return seq


_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEYBOARD_COLUMNS = ("qaz", "wsx", "edc", "rfv", "tgb", "yhn", "ujm", "ik", "ol")
_CONSONANTS = "bcdfghjklmnprstvwxz"
_VOWELS = "aeiou"


@functools.lru_cache(maxsize=1)
def _english_colour_keys() -> frozenset[str]:
    """Single words that are named colours (any meaning): never produced by chance in nonsense."""
    return frozenset(k for k in named_colours() if " " not in k) | frozenset(CUP_COLOURS)


# ============================================================================ English generator


def _refer_kind(rng: random.Random, available: dict) -> str:
    """A reference kind for a pick, by :data:`REFER_SHARES` among those the pool has phrases for."""
    kinds = [k for k in REFER_SHARES if k == "colour" or available.get(k)]
    return rng.choices(kinds, weights=[REFER_SHARES[k] for k in kinds])[0]



class _EnglishGenerator:
    def __init__(self, pool: str, rng: random.Random) -> None:
        self.pool = pool
        self.spec = ENGLISH_POOLS[pool]
        self.vocab = colour_vocabulary(pool)
        self.rng = rng
        s = self.spec
        self.vp_frames = tuple(f for f in s.pick_frames if "{VPit}" not in f and "{O}" not in f)
        self.object_first = tuple(f for f in s.pick_frames if f not in self.vp_frames)
        self.object_first_with_verb = tuple(f for f in self.object_first if "{VP" in f)
        self.cup_nouns = SHARED_EN_CUP_NOUNS + s.cup_nouns
        self.noun_objects = (SHARED_EN_OBJECT,) + tuple(t for t in s.object_templates if "{N}" in t)
        self.thing_objects = tuple(t.replace("{N}", "{X}") for t in self.noun_objects)
        self.plain_thing_objects = ("the {X}", "a {X}")
        self.plain_noun_objects = tuple(p for p in s.plain_objects if "{N}" in p)

    # ---------------------------------------------------------------- colours and objects
    def colour(self, mix: tuple[float, float, float, float], exclude: set[str]) -> tuple[str, str]:
        """(phrase, label) with its kind drawn from mix = (base, modifier + base, shade, other)."""
        rng = self.rng
        u = rng.random()
        if u >= mix[0] + mix[1] + mix[2] and self.vocab.other:
            return rng.choice(self.vocab.other), "other"
        cup = rng.choice([c for c in CUP_COLOURS if c not in exclude])
        if u < mix[0]:
            return cup, cup
        phrases = self.vocab.modified[cup] if u < mix[0] + mix[1] else self.vocab.shades[cup]
        return (rng.choice(phrases), cup) if phrases else (cup, cup)

    def cup_object(self) -> str:
        """An object phrase for a cup with a colour: "the {C} {N}" 35 %, the pool's phrasings 65 %."""
        return SHARED_EN_OBJECT if self.rng.random() < 0.35 else self.rng.choice(self.spec.object_templates)

    def _cup_noun(self) -> str:
        return "cup" if self.rng.random() < 0.5 else self.rng.choice(self.spec.cup_nouns)

    # ---------------------------------------------------------------- rendering
    def render(self, template: str, ctx: dict, out: _Builder) -> None:
        for is_slot, value in _parse(template):
            if is_slot:
                self.slot(value, ctx, out)
            else:
                out.add(value)

    def slot(self, name: str, ctx: dict, out: _Builder) -> None:
        rng = self.rng
        if name in ("C", "C2", "C3", "A", "A2"):
            if name not in ctx:
                used = {ctx[k][1] for k in ("C", "C2", "C3", "A", "A2") if k in ctx}
                ctx[name] = self.colour(ctx["mix"], used)
            out.add_colour(ctx[name][0], "anchor" if name[0] == "A" else "target")
        elif name == "N":
            out.add(ctx.setdefault("N", self._cup_noun()))
        elif name == "Ns":
            out.add(_plural(ctx.setdefault("N", self._cup_noun())))
        elif name == "X":
            out.add(ctx.setdefault("X", rng.choice(self.spec.thing_nouns)))
        elif name == "O":
            self.render(ctx["O"], ctx, out)
        elif name == "O2":
            second = SHARED_EN_OBJECT if rng.random() < 0.6 else rng.choice(self.noun_objects + ("the {C} one",))
            self.render(second.replace("{C}", "{C2}"), ctx, out)
        elif name in ("VP", "VPing", "VPit"):
            if "verb" not in ctx:
                ctx["verb"] = rng.choice(self.spec.pick_verbs)
            base, gerund, with_it = _verb_forms(ctx["verb"])
            self.render({"VP": base, "VPing": gerund, "VPit": with_it}[name], ctx, out)
        elif name == "FRAME":
            self.render(self.frame(ctx), ctx, out)
        elif name == "NUM":
            out.add(rng.choice(self.spec.numbers))
        elif name == "ORD":
            out.add(rng.choice(self.spec.ordinals))
        else:
            raise KeyError(f"unknown slot {{{name}}}")

    def frame(self, ctx: dict) -> str:
        """A pick frame: the bare verb phrase 30 %; object-first frames ("the red one, pick it up") only
        for a noun-phrase object, never for several objects, and with a verb for other tasks."""
        rng = self.rng
        u = rng.random()
        if u < 0.3:
            return SHARED_EN_FRAME
        if u < 0.42 and ctx.get("obj_first", True) and "{" in ctx.get("O", ""):
            return rng.choice(self.object_first_with_verb if ctx.get("other_task") else self.object_first)
        return rng.choice(self.vp_frames)

    # ---------------------------------------------------------------- sentences
    def finish(self, out: _Builder, question: bool, intent: str) -> tuple[str, tuple[tuple[int, int], ...]]:
        """Capitalise by chance and end with punctuation fitting the intent."""
        text = out.text()
        rng = self.rng
        if text and text[0].islower() and rng.random() < 0.35:
            text = text[0].upper() + text[1:]
        if question:
            if not text.endswith("?") and rng.random() < 0.8:
                text += "?"
        elif intent != "nonsense" and text and text[-1] not in ".!?":
            u = rng.random()
            text += "" if u < 0.55 else ("." if u < 0.85 else "!")
        return text, tuple(out.spans)

    def sentence(self, template: str, ctx: dict, intent: str
                 ) -> tuple[str, tuple[tuple[int, int], ...], tuple[str, ...]]:
        """Render a template with an optional prefix and suffix (a suffix goes before a final '?'):
        (text, colour spans, their roles)."""
        rng = self.rng
        out = _Builder()
        if rng.random() < (0.2 if intent == "pick" else 0.1):
            out.add(rng.choice(self.spec.prefixes))
        if template == "{FRAME}":
            template = self.frame(ctx)
        question = template.endswith("?")
        self.render(template[:-1] if question else template, ctx, out)
        if intent not in ("question", "nonsense") and rng.random() < (0.25 if intent == "pick" else 0.1):
            suffix = rng.choice(self.spec.suffixes if intent == "pick" else self.spec.neutral_suffixes)
            if suffix.strip(" ,") not in template:  # no "... please please", "... now now"
                out.add(suffix)
        if question:
            out.add("?")
        text, spans = self.finish(out, question, intent)
        return text, spans, out.colour_roles()

    def pick(self, forced: tuple[str, str] | None = None, noun: str | None = None) -> Example:
        """A request to pick one cup; ``forced`` = (colour phrase, label), ``noun`` a fixed cup noun (both:
        by colour only); otherwise by any reference kind (:data:`REFER_SHARES`)."""
        if forced is None and noun is None:
            kind = _refer_kind(self.rng, referring_objects(self.pool))
            if kind != "colour":
                return self.refer_pick(kind)
        if self.pool == "train" and forced is None and noun is None and self.rng.random() < 0.01:
            cup = self.rng.choice(CUP_COLOURS)  # the canonical sentence itself, as the policy was trained on it
            return Example(f"pick up the {cup} cup", "pick", "en", cup, ((12, 12 + len(cup)),))
        ctx: dict = {"mix": (0.45, 0.20, 0.25, 0.10)}
        if forced is not None:
            ctx["C"] = forced
        if noun is not None:
            ctx["N"] = noun
            ctx["O"] = self.rng.choice(self.noun_objects)
        else:
            ctx["O"] = self.cup_object()
        text, spans, _ = self.sentence("{FRAME}", ctx, "pick")
        return Example(text, "pick", "en", ctx["C"][1], spans)

    def refer_pick(self, kind: str, phrase: str | None = None, ctx: dict | None = None) -> Example:
        """A pick by a referring phrase of ``kind`` (a key of :func:`referring_objects`); ``phrase`` and
        ``ctx`` (colours, noun) may be fixed."""
        rng = self.rng
        refer = kind.split("+")[0].removesuffix("-plain")
        if phrase is None and self.pool == "train" and kind in RELATIONAL_KINDS and rng.random() < 0.03:
            colour, anchor = rng.choice(CUP_COLOURS), rng.choice(CUP_COLOURS)
            text = canonical_instruction(kind, colour, anchor)
            word = colour if kind in ("left", "right") else anchor if kind == "next-to" else None
            spans = ((text.index(f" {word} ") + 1, text.index(f" {word} ") + 1 + len(word)),) if word else ()
            return Example(text, "pick", "en", colour if kind in ("left", "right") else "none", spans, refer,
                           anchor if kind == "next-to" else "none", ("anchor",) if kind == "next-to" else ())
        ctx = {"mix": (0.5, 0.15, 0.25, 0.10), **(ctx or {})}
        ctx["O"] = phrase if phrase is not None else rng.choice(referring_objects(self.pool)[kind])
        text, spans, roles = self.sentence("{FRAME}", ctx, "pick")
        return Example(text, "pick", "en", ctx["C"][1] if "C" in ctx else "none", spans, refer,
                       ctx["A"][1] if "A" in ctx else "none", roles)

    def refusal(self, intent: str, colour: str | None = None) -> Example:
        """A refusal of ``intent`` (not nonsense / other_language); ``colour`` fixes its first colour."""
        rng = self.rng
        s = self.spec
        ctx: dict = {"mix": (0.7, 0.1, 0.15, 0.05)}
        if colour is not None:
            ctx["C"] = (colour, colour)
        template, obj = "{FRAME}", None
        if intent == "no_target":
            obj = rng.choice(s.plain_objects)
        elif intent == "not_a_cup":
            obj = rng.choice(self.thing_objects) if rng.random() < 0.85 else rng.choice(self.plain_thing_objects)
        elif intent == "other_task" and rng.random() < 0.7:
            ctx["verb"] = rng.choice(s.other_task_verbs)
            ctx["other_task"] = True
            obj = self.cup_object()
        else:
            template, obj = _split_refusal(rng.choice(s.refusals[intent]))
            if obj == "@pick" or (obj is None and ("{O}" in template or "FRAME" in template)):
                obj = self.cup_object()
            elif obj == "@plain":
                obj = rng.choice(self.plain_noun_objects)
        if obj is not None:
            ctx["O"] = obj
        whole = template + (obj or "")
        if colour is not None and "{A}" in whole and "{C}" not in whole:
            ctx["A"] = ctx.pop("C")  # "the cup behind the <colour> one"
        ctx["obj_first"] = intent != "multiple"
        text, spans, roles = self.sentence(template, ctx, intent)
        return Example(text, intent, "en", "none", spans, colour_roles=roles)

    # ---------------------------------------------------------------- nonsense and other languages
    def _pseudo_word(self) -> str:
        rng = self.rng
        keys = _english_colour_keys()
        while True:
            word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS)
                           + (rng.choice(_CONSONANTS) if rng.random() < 0.5 else "")
                           for _ in range(rng.randint(1, 3)))
            if word not in keys:
                return word

    def _mash(self) -> str:
        """Keyboard mash: runs along a row in train ("asdfgh"), down the columns in held_out ("qazwsx")."""
        rng = self.rng
        runs = []
        for _ in range(rng.randint(1, 3)):
            if self.pool == "train":
                row = rng.choice(_KEYBOARD_ROWS)
                start = rng.randrange(len(row) - 2)
                run = row[start:start + rng.randint(3, len(row) - start)]
            else:
                start = rng.randrange(len(_KEYBOARD_COLUMNS) - 1)
                run = "".join(_KEYBOARD_COLUMNS[start:start + rng.randint(2, 4)])
            runs.append(run if rng.random() < 0.7 else run[::-1])
        keys = _english_colour_keys()
        return " ".join(w for w in runs if w not in keys) or ("asdf" if self.pool == "train" else "qazwsx")

    def nonsense(self) -> Example:
        """Keyboard mash, random letters, word salad, unrelated chat, single words or numbers. The random
        kinds differ in form between pools (letter counts, number formats) so they never coincide."""
        rng = self.rng
        s = self.spec
        u = rng.random()
        out = _Builder()
        keys = _english_colour_keys()
        train = self.pool == "train"
        if u < 0.2:
            out.add(self._mash())
        elif u < 0.3:  # random letters: words of 2-8 letters in train, 9-14 in held_out
            letters = "abcdefghijklmnopqrstuvwxyz"
            lo, hi = (2, 8) if train else (9, 14)
            words = ["".join(rng.choice(letters) for _ in range(rng.randint(lo, hi)))
                     for _ in range(rng.randint(1, 4))]
            out.add(" ".join(w for w in words if w not in keys) or "xq")
        elif u < 0.5:  # word salad, half of them with a colour in it
            k = rng.randint(3, 6)
            salad: list[str | None] = [rng.choice(s.salad_words) if rng.random() < 0.6 else self._pseudo_word()
                                       for _ in range(k)]
            if rng.random() < 0.5:
                salad[rng.randrange(k)] = None
            for i, w in enumerate(salad):
                if i:
                    out.add(" ")
                if w is None:
                    out.add_colour(self.colour((0.7, 0.1, 0.15, 0.05), set())[0])
                else:
                    out.add(w)
        elif u < 0.8:
            out.add(rng.choice(s.chat))
        elif u < 0.9:
            word = rng.choice(s.single_words)
            (out.add_colour if word in CUP_COLOURS else out.add)(word)
        elif not train:  # numbers in groups of 3-4 digits ("555 0192 3381")
            out.add(" ".join(str(rng.randint(100, 9999)) for _ in range(rng.randint(2, 4))))
        else:
            v = rng.random()
            if v < 0.5:
                out.add(str(rng.randrange(10 ** rng.randint(1, 7))))
            elif v < 0.75:
                out.add(f"{rng.uniform(0, 1000):.{rng.randint(1, 3)}f}")
            else:
                out.add(" ".join(str(rng.randint(0, 99)) for _ in range(rng.randint(2, 5))))
        text, spans = self.finish(out, False, "nonsense")
        if rng.random() < 0.2:
            text += rng.choice(("?", "!", "...", "."))
        return Example(text, "nonsense", "en", "none", spans)

    def other_language(self, colour: str | None = None) -> Example:
        """A pick request (80 %) or another sentence in one of the pool's foreign languages."""
        rng = self.rng
        lang = rng.choice(self.spec.languages)
        noun, forms = rng.choice(lang.objects)
        form = forms[CUP_COLOURS.index(colour)] if colour is not None else rng.choice(forms)
        template = rng.choice(lang.pick) if rng.random() < 0.8 else rng.choice(lang.other)
        text = template.replace("{O}", noun.replace("{C}", form))
        if rng.random() < 0.4:
            text = text[0].upper() + text[1:]
        if not text.endswith("?") and rng.random() < 0.3:
            text += rng.choice((".", "!"))
        return Example(text, "other_language", "en", "none", ())

    def example(self, intent: str) -> Example:
        if intent == "pick":
            return self.pick()
        if intent == "nonsense":
            return self.nonsense()
        if intent == "other_language":
            return self.other_language()
        return self.refusal(intent)


# ============================================================================ Korean generator


class _KoreanGenerator:
    def __init__(self, pool: str, rng: random.Random, own_frames_only: bool = False) -> None:
        self.pool = pool
        self.own_frames_only = own_frames_only  # never the shared frame (evaluation paraphrases)
        self.spec = KOREAN_POOLS[pool]
        self.rng = rng
        colours = korean_colours(pool)
        self.by_cup: dict[str, tuple[str, ...]] = {
            c: tuple(w for w, v in colours.items() if v == c) for c in CUP_COLOURS + ("other",)}
        self.main = {c: tuple(w for w, v in SHARED_KO_COLOURS.items() if v == c) for c in CUP_COLOURS}
        self.nouns = SHARED_KO_CUP_NOUNS + self.spec.nouns
        self.cup_nouns = tuple(n for n in self.nouns if n not in ("것", "거"))
        self.plain_verbs = tuple(v for v in self.spec.verbs if not v.endswith("?"))

    def colour(self, mix: tuple[float, float, float, float], exclude: set[str], noun_form: bool = False
               ) -> tuple[str, str]:
        """(phrase, label): mix = (main form, other form, modifier + form, colour no cup has)."""
        rng = self.rng
        u = rng.random()
        if u >= mix[0] + mix[1] + mix[2]:
            forms = self.by_cup["other"]
            if noun_form:
                forms = tuple(f for f in forms if f not in KO_ADJECTIVE_FORMS)
            return rng.choice(forms), "other"
        cup = rng.choice([c for c in CUP_COLOURS if c not in exclude])
        forms = self.main[cup] if u < mix[0] else self.by_cup[cup]
        if noun_form:
            forms = tuple(f for f in forms if f not in KO_ADJECTIVE_FORMS) or \
                tuple(f for f in self.by_cup[cup] if f not in KO_ADJECTIVE_FORMS)
        phrase = rng.choice(forms)
        if mix[0] + mix[1] <= u < mix[0] + mix[1] + mix[2]:
            phrase = f"{rng.choice(self.spec.modifiers)} {phrase}"
        return phrase, cup

    def render(self, template: str, ctx: dict, out: _Builder) -> None:
        for is_slot, value in _parse(template):
            if is_slot:
                self.slot(value, ctx, out)
            else:
                out.add(value)

    def slot(self, name: str, ctx: dict, out: _Builder) -> None:
        rng = self.rng
        if name in KOREAN_PARTICLES:
            after_consonant, after_vowel = KOREAN_PARTICLES[name]
            out.add(after_consonant if _has_batchim(out.last_char()) else after_vowel)
        elif name in ("C", "C2", "C3", "CN", "A", "A2"):
            key = "C" if name == "CN" else name
            if key not in ctx:
                used = {ctx[k][1] for k in ("C", "C2", "C3", "A", "A2") if k in ctx}
                ctx[key] = self.colour(ctx["mix"], used, noun_form=(name == "CN"))
            out.add_colour(ctx[key][0], "anchor" if key[0] == "A" else "target")
        elif name in ("O", "O2", "O3"):
            template = ctx.get(name) or (
                SHARED_KO_OBJECT if rng.random() < 0.7 else rng.choice(self.spec.object_templates))
            if name != "O":
                template = template.replace("{C}", "{C" + name[1] + "}")
            ctx[name] = template
            self.render(template, ctx, out)
        elif name == "N":
            out.add("컵" if rng.random() < 0.5 else rng.choice(self.spec.nouns))
        elif name == "CUPN":
            out.add(rng.choice(self.cup_nouns))
        elif name == "X":
            out.add(ctx.setdefault("X", rng.choice(self.spec.thing_nouns)))
        elif name == "V":
            out.add(ctx["V"])
        else:
            raise KeyError(f"unknown slot {{{name}}}")

    def sentence(self, template: str, ctx: dict, intent: str
                 ) -> tuple[str, tuple[tuple[int, int], ...], tuple[str, ...]]:
        """(text, colour spans, their roles)."""
        rng = self.rng
        if "V" not in ctx:
            final_verb = template.endswith("{V}")
            ctx["V"] = rng.choice(self.spec.verbs if final_verb else self.plain_verbs)
        out = _Builder()
        if rng.random() < 0.15:
            out.add(rng.choice(self.spec.prefixes))
        self.render(template, ctx, out)
        text = out.text()
        if not text.endswith("?") and intent != "nonsense":
            u = rng.random()
            text += "" if u < 0.6 else ("." if u < 0.85 else ("!" if u < 0.95 else "~"))
        return text, tuple(out.spans), out.colour_roles()

    def pick(self, forced: tuple[str, str] | None = None) -> Example:
        """A request to pick one cup: by colour (always when ``forced`` = (colour form, label)), or by any
        reference kind (:data:`REFER_SHARES`)."""
        rng = self.rng
        if forced is None:
            kind = _refer_kind(rng, REFERRING_KO[self.pool])
            if kind != "colour":
                return self.refer_pick(kind)
        ctx: dict = {"mix": (0.5, 0.3, 0.1, 0.1) if forced is None else (0.6, 0.3, 0.1, 0.0)}
        if forced is not None:
            ctx["C"] = forced
        u = rng.random()
        if self.pool == "train" and forced is None and u < 0.01:  # the design's own sentence, any colour
            cup = rng.choice(CUP_COLOURS)
            ctx.update(C=(rng.choice(self.main[cup]), cup), O=SHARED_KO_OBJECT.replace("{N}", "컵"), V="집어라")
            template = CANONICAL_KO_FRAME
        else:
            shared = u < 0.3 and not self.own_frames_only
            template = SHARED_KO_FRAME if shared else rng.choice(self.spec.frames)
        text, spans, _ = self.sentence(template, ctx, "pick")
        return Example(text, "pick", "ko", ctx["C"][1], spans)

    def refer_pick(self, kind: str, template: str | None = None, ctx: dict | None = None) -> Example:
        """A pick by a referring sentence of ``kind`` (a key of :data:`REFERRING_KO`); ``template`` and
        ``ctx`` (colours, verb) may be fixed."""
        refer = kind.split("+")[0].removesuffix("-plain")
        ctx = {"mix": (0.5, 0.3, 0.1, 0.1), **(ctx or {})}
        template = template if template is not None else self.rng.choice(REFERRING_KO[self.pool][kind])
        text, spans, roles = self.sentence(template, ctx, "pick")
        return Example(text, "pick", "ko", ctx["C"][1] if "C" in ctx else "none", spans, refer,
                       ctx["A"][1] if "A" in ctx else "none", roles)

    def nonsense(self) -> Example:
        rng = self.rng
        u = rng.random()
        out = _Builder()
        colours = korean_colours(self.pool)
        if u < 0.45:
            word = rng.choice(self.spec.refusals["nonsense"])
            (out.add_colour if word in colours else out.add)(word)
        elif u < 0.7:  # random syllables (no colour word by chance)
            while True:
                words = ["".join(chr(0xAC00 + rng.randrange(11172)) for _ in range(rng.randint(1, 4)))
                         for _ in range(rng.randint(1, 3))]
                text = " ".join(words)
                if not any(c in text for c in colours):
                    break
            out.add(text)
        elif u < 0.85:  # word salad
            words = rng.sample(self.spec.chat, k=min(len(self.spec.chat), rng.randint(2, 5)))
            for i, w in enumerate(words):
                if i:
                    out.add(" ")
                (out.add_colour if w in colours else out.add)(w)
        else:  # jamo runs
            out.add(rng.choice(self.spec.jamo) * rng.randint(2, 6))
        return Example(out.text(), "nonsense", "ko", "none", tuple(out.spans))

    def example(self, intent: str) -> Example:
        if intent == "pick":
            return self.pick()
        if intent == "nonsense":
            return self.nonsense()
        ctx: dict = {"mix": (0.6, 0.25, 0.05, 0.1)}
        template = self.rng.choice(self.spec.refusals[intent])
        text, spans, roles = self.sentence(template, ctx, intent)
        return Example(text, intent, "ko", "none", spans, colour_roles=roles)


# ============================================================================ public generators


def english_examples(pool: str, n: int, seed: int) -> list[Example]:
    """``n`` labelled English instructions from ``pool`` ("train" or "held_out"), deterministic."""
    _check_pool(pool)
    rng = random.Random(f"en:{pool}:{seed}")
    gen = _EnglishGenerator(pool, rng)
    return [gen.example(intent) for intent in _intent_sequence(n, ENGLISH_SHARES, rng)]


def korean_examples(pool: str, n: int, seed: int) -> list[Example]:
    """``n`` labelled Korean instructions from ``pool`` ("train" or "held_out"), deterministic."""
    _check_pool(pool)
    rng = random.Random(f"ko:{pool}:{seed}")
    gen = _KoreanGenerator(pool, rng)
    return [gen.example(intent) for intent in _intent_sequence(n, KOREAN_SHARES, rng)]


# ============================================================================ perturbation

_NEIGHBOURS: dict[str, str] = {
    "q": "wa", "w": "qes", "e": "wrd", "r": "etf", "t": "ryg", "y": "tuh", "u": "yij", "i": "uok", "o": "ipl",
    "p": "ol", "a": "qsz", "s": "awdz", "d": "sefx", "f": "drgc", "g": "fthv", "h": "gyjb", "j": "hukn",
    "k": "jilm", "l": "kop", "z": "asx", "x": "zsdc", "c": "xdfv", "v": "cfgb", "b": "vghn", "n": "bhjm",
    "m": "njk",
}
# Words whose typo could change the intent (negations, quantities, relations, question words).
PROTECTED_WORDS = frozenset(
    "not no don't dont never but except other than and or both all every each any two three four five six "
    "left right first second third then next between behind where what which how is are there it one this "
    "that isn't aren't without besides apart save either plus along also too leftmost rightmost closest "
    "nearest farthest furthest middle biggest smallest largest front near beside last non can could would "
    "will you did have do does far most side hand away from near close closer by across opposite robot your "
    "edge end centre center top under".split())
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def _splice(text: str, spans: tuple[tuple[int, int], ...], start: int, end: int, new: str
            ) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Replace ``text[start:end]`` by ``new``, moving the spans (an edit inside a span resizes it)."""
    delta = len(new) - (end - start)
    out = []
    for s, e in spans:
        if end <= s:  # before the span (an insertion at its start goes before it)
            out.append((s + delta, e + delta))
        elif start >= e:
            out.append((s, e))
        elif start >= s and end <= e:
            out.append((s, e + delta))
        else:
            raise ValueError("edit overlaps a colour span boundary")
    return text[:start] + new + text[end:], tuple(out)


def _typo(word: str, rng: np.random.Generator) -> str:
    """One keyboard slip in ``word``: adjacent swap, deletion, duplication or neighbour key."""
    i = int(rng.integers(len(word)))
    kind = int(rng.integers(4))
    if kind == 0 and len(word) > 1:
        i = min(i, len(word) - 2)
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1 and len(word) > 3:
        return word[:i] + word[i + 1:]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    near = _NEIGHBOURS.get(word[i].lower())
    if not near:
        return word[:i] + word[i] + word[i:]
    ch = near[int(rng.integers(len(near)))]
    return word[:i] + (ch.upper() if word[i].isupper() else ch) + word[i + 1:]


def _english_typos(ex: Example, rng: np.random.Generator) -> Example:
    """One or two slips. A colour phrase is misspelt only when it is one word (the misspelt word must
    still resolve to the same cup, checked with ``resolve``, whose fuzzy match is slow: one try, cached)."""
    text, spans = ex.text, ex.colour_spans
    keys = _english_colour_keys()
    for _ in range(1 if rng.random() < 0.7 else 2):
        words = [m for m in _WORD.finditer(text) if len(m.group()) >= 3 and m.group().lower() not in PROTECTED_WORDS]
        if not words:
            break
        m = words[int(rng.integers(len(words)))]
        span = next(((s, e) for s, e in spans if s <= m.start() and m.end() <= e), None)
        if span is not None:
            if span != (m.start(), m.end()):
                continue  # a word of a multi-word colour phrase ("dark red"): left alone
            new = _typo(m.group(), rng)
            if new != m.group() and _cup_of(new.lower()) == _cup_of(m.group().lower()):
                text, spans = _splice(text, spans, m.start(), m.end(), new)
            continue
        for _attempt in range(3):
            new = _typo(m.group(), rng)
            if new != m.group() and new.lower() not in keys:  # a slip must not create a colour word
                text, spans = _splice(text, spans, m.start(), m.end(), new)
                break
    return replace(ex, text=text, colour_spans=spans)


_QUESTION_ENDINGS = ("?", "?", "??", "", " ?")
_STATEMENT_ENDINGS = ("", "", ".", "!", "!!", "...", " .")


def _punctuate(text: str, spans: tuple[tuple[int, int], ...], intent: str, rng: np.random.Generator
               ) -> tuple[str, tuple[tuple[int, int], ...]]:
    stripped = text.rstrip(" .!?~")
    was_question = text.rstrip().endswith("?")
    if intent == "question" or was_question:
        options = _QUESTION_ENDINGS
    elif intent == "nonsense":
        options = _QUESTION_ENDINGS + _STATEMENT_ENDINGS
    else:
        options = _STATEMENT_ENDINGS
    if any(e > len(stripped) for _, e in spans):
        return text, spans
    return stripped + options[int(rng.integers(len(options)))], spans


def _extra_spaces(text: str, spans: tuple[tuple[int, int], ...], rng: np.random.Generator, remove: bool
                  ) -> tuple[str, tuple[tuple[int, int], ...]]:
    positions = [i for i, ch in enumerate(text) if ch == " "]
    u = rng.random()
    if remove and positions and u < 0.6:  # Korean: words run together ("빨간컵을 집어")
        for _ in range(int(rng.integers(1, 3))):
            positions = [i for i, ch in enumerate(text) if ch == " "]
            if not positions:
                break
            i = positions[int(rng.integers(len(positions)))]
            text, spans = _splice(text, spans, i, i + 1, "")
        return text, spans
    if positions and u < 0.8:
        i = positions[int(rng.integers(len(positions)))]
        return _splice(text, spans, i, i, " " * int(rng.integers(1, 3)))
    if rng.random() < 0.5:
        return _splice(text, spans, 0, 0, " ")
    return text + " ", spans


def _recase(text: str, rng: np.random.Generator) -> str:
    kind = int(rng.integers(4))
    words = text.split(" ")
    new = (text.upper(), text.lower(), text[:1].upper() + text[1:],
           " ".join(w[:1].upper() + w[1:] for w in words))[kind]
    return new if len(new) == len(text) else text


def perturb(example: Example, rng: np.random.Generator) -> Example:
    """Realistic input noise for training, keeping ``colour_spans`` on the (possibly misspelt) colour.

    English: sometimes one or two typos (in a one-word colour phrase too, which must still resolve to
    the same cup, or to no cup for "other"; words that carry the intent such as "not", "and", "left" are
    never misspelt), random casing, trailing punctuation ("?" only where the sentence was already
    a question or a polite request), extra spaces. Korean: spacing and punctuation only."""
    text, spans = example.text, example.colour_spans
    if example.language == "en":
        if rng.random() < 0.35:
            example = _english_typos(example, rng)
            text, spans = example.text, example.colour_spans
        if rng.random() < 0.3:
            text = _recase(text, rng)
        if rng.random() < 0.4:
            text, spans = _punctuate(text, spans, example.intent, rng)
        if rng.random() < 0.15:
            text, spans = _extra_spaces(text, spans, rng, remove=False)
    else:
        if rng.random() < 0.4:
            text, spans = _extra_spaces(text, spans, rng, remove=True)
        if rng.random() < 0.4:
            text, spans = _punctuate(text, spans, example.intent, rng)
    return replace(example, text=text, colour_spans=spans)


# ============================================================================ fixed evaluation lists

_EVAL_MIN = 24


def _unique(examples: Callable[[], Example], count: int, limit: int = 5000) -> list[Example]:
    seen: dict[str, Example] = {}
    for _ in range(limit):
        ex = examples()
        seen.setdefault(ex.text, ex)
        if len(seen) >= count:
            break
    return list(seen.values())


def _check_colour(colour: str) -> None:
    if colour not in CUP_COLOURS:
        raise ValueError(f"colour must be one of {CUP_COLOURS}, got {colour!r}")


@functools.lru_cache(maxsize=None)
def _shade_examples(colour: str) -> tuple[Example, ...]:
    """Held-out English pick sentences naming ``colour`` by a held-out shade or modifier + name (80 %),
    or by the plain name with a held-out cup noun ("beaker", "goblet")."""
    _check_colour(colour)
    rng = random.Random(f"shade:{colour}")
    gen = _EnglishGenerator("train", rng)  # phrasing the robot knows, around words it never saw
    held = colour_vocabulary("held_out")
    phrases = held.shades[colour] + held.modified[colour]

    def one() -> Example:
        return gen.pick((rng.choice(phrases), colour))

    return tuple(_unique(one, _EVAL_MIN))


def shade_instructions(colour: str) -> list[str]:
    """>= 20 English requests to pick the ``colour`` cup in trained phrasing, naming it by a held-out
    shade word or a held-out modifier + name."""
    return [ex.text for ex in _shade_examples(colour)]


@functools.lru_cache(maxsize=None)
def _korean_pick_examples(colour: str) -> tuple[Example, ...]:
    _check_colour(colour)
    rng = random.Random(f"ko-eval:{colour}")
    # New combinations of the trained frames, verbs, nouns and colour forms, none of them a training
    # sentence (filtered below). The character n-gram model does not carry meaning to words it never
    # saw, so a sentence with one is refused as unknown; the held-out pool measures that (model card).
    gen = _KoreanGenerator("train", rng, own_frames_only=True)
    forms = gen.by_cup[colour]
    trained = _korean_training_texts()

    def one() -> Example:
        while True:
            ex = gen.pick((rng.choice(forms), colour))
            if _bare(ex.text) not in trained:
                return ex

    return tuple(_unique(one, _EVAL_MIN))


def _bare(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


@functools.lru_cache(maxsize=1)
def _korean_training_texts() -> frozenset[str]:
    """Korean sentences of the shipped model's training run (and of a larger sample), punctuation-free."""
    texts = korean_examples("train", 18000, 0) + korean_examples("train", 60000, 0)
    return frozenset(_bare(e.text) for e in texts)


def korean_instructions(colour: str) -> list[str]:
    """>= 20 Korean requests to pick the ``colour`` cup that are not training sentences."""
    return [ex.text for ex in _korean_pick_examples(colour)]


KOREAN_MAIN_COLOURS: dict[str, str] = {"red": "빨간", "orange": "주황", "yellow": "노란", "green": "초록", "blue": "파란",
                                       "purple": "보라"}


def _check_relational(kind: str) -> None:
    if kind not in RELATIONAL_KINDS:
        raise ValueError(f"kind must be one of {RELATIONAL_KINDS}, got {kind!r}")


def _placeholder(kind: str) -> str | None:
    return "colour" if kind in ("left", "right") else "anchor" if kind == "next-to" else None


def _held_out_phrasings(kind: str, gen: Any, templates: Iterable[str], context: Callable[[], dict[str, str]],
                        is_trained: Callable[[str], bool]) -> tuple[str, ...]:
    """Two sentences per held-out ``template`` of ``kind``: ``gen.refer_pick`` with a fresh ``context()``,
    the colour or anchor slot left as a placeholder, and none that ``is_trained``."""
    slot = {"colour": ("C", ("{colour}", "?")), "anchor": ("A", ("{anchor}", "?"))}.get(_placeholder(kind))
    out: dict[str, None] = {}
    for template in templates:
        found = 0
        for _ in range(200):
            if found == 2:
                break
            ctx = context()
            if slot:
                ctx[slot[0]] = slot[1]
            text = gen.refer_pick(kind, template, ctx).text
            if text not in out and not is_trained(text):
                out[text] = None
                found += 1
    return tuple(out)


@functools.lru_cache(maxsize=None)
def _referring_held_out(kind: str) -> tuple[str, ...]:
    """Each held-out phrasing of ``kind`` in two trained frames with trained verbs and nouns."""
    _check_relational(kind)
    rng = random.Random(f"refer-held:{kind}")
    gen = _EnglishGenerator("train", rng)
    trained = _english_training_texts()
    return _held_out_phrasings(
        kind, gen, REFERRING_EN["held_out"][kind],
        lambda: {"N": "cup" if rng.random() < 0.6 else rng.choice(gen.spec.cup_nouns)},
        lambda text: _bare(text.format(colour="red", anchor="red").lower()) in trained)


def referring_held_out(kind: str) -> list[str]:
    """English requests to pick a cup by a relational ``kind`` (not "colour"), each a phrasing of the
    relation that no training sentence uses ("the red cup over on the left", "the cup you are closest
    to") in trained frames with trained verbs: templates with a ``{colour}`` (left, right) or
    ``{anchor}`` (next-to) placeholder, none for the others; >= 12 per kind."""
    return list(_referring_held_out(kind))


@functools.lru_cache(maxsize=None)
def _referring_held_out_korean(kind: str) -> tuple[str, ...]:
    """Each held-out Korean sentence frame of ``kind`` with two trained verbs; not a training sentence."""
    _check_relational(kind)
    rng = random.Random(f"refer-held-ko:{kind}")
    gen = _KoreanGenerator("train", rng)
    trained = _korean_training_texts()
    return _held_out_phrasings(
        kind, gen, REFERRING_KO["held_out"][kind],
        lambda: {"V": rng.choice(gen.plain_verbs), "O": "{C} 컵"},
        lambda text: any(_bare(text.format(colour=f, anchor=f)) in trained for f in KOREAN_MAIN_COLOURS.values()))


def referring_held_out_korean(kind: str) -> list[str]:
    """Korean requests to pick a cup by a relational ``kind``: sentence frames no training sentence has,
    made of trained words (the character n-gram model refuses words it never saw), as templates with a
    ``{colour}`` / ``{anchor}`` placeholder for a Korean colour form (:data:`KOREAN_MAIN_COLOURS`)."""
    return list(_referring_held_out_korean(kind))


@functools.lru_cache(maxsize=1)
def _english_training_texts() -> frozenset[str]:
    """English sentences of the shipped model's training run (50,000), of v2's (30,000) and of a larger
    sample, lower case and punctuation-free (each size draws its own sentences)."""
    texts = [e for n in (30000, 50000, 60000) for e in english_examples("train", n, 0)]
    return frozenset(_bare(e.text.lower()) for e in texts)


_CJK = {"red": ("拿起红色的杯子", "赤いカップを取って"), "orange": ("拿起橙色的杯子", "オレンジのカップを取って"),
        "yellow": ("拿起黄色的杯子", "黄色いカップを取って"), "green": ("拿起绿色的杯子", "緑のカップを取って"),
        "blue": ("拿起蓝色的杯子", "青いカップを取って"), "purple": ("拿起紫色的杯子", "紫のカップを取って")}
_CYRILLIC = {"red": "красный", "orange": "оранжевый", "yellow": "жёлтый", "green": "зелёный", "blue": "синий",
             "purple": "фиолетовый"}
_ARABIC = {"red": "الأحمر", "orange": "البرتقالي", "yellow": "الأصفر", "green": "الأخضر", "blue": "الأزرق",
           "purple": "البنفسجي"}
_KO_MAIN = {"red": "빨간", "orange": "주황", "yellow": "노란", "green": "초록", "blue": "파란", "purple": "보라"}


def _bad_inputs(colour: str) -> list[str]:
    """Inputs no sentence model should act on: oversized, control characters, emoji, mixed or other
    scripts, a colour no cup has."""
    unit = f"snatch the {colour} cup "
    zh, ja = _CJK[colour]
    return [
        (unit * (10_000 // len(unit) + 1))[:10_000],
        f"snatch the {colour}\x00 cup",
        f"\x1b[31m{colour} cup",
        f"seize the {colour}\x07\x08 beaker",
        "🥤🥤",
        "🥤 ➡️ 🤖",
        f"seize the {_CYRILLIC[colour]} cup",
        f"{_KO_MAIN[colour]} cup 집어 올려라",
        zh,
        ja,
        f"возьми {_CYRILLIC[colour]} стакан",
        f"التقط الكوب {_ARABIC[colour]}",
        "snatch the pink cup",
        "hoist the gray beaker",
    ]


@functools.lru_cache(maxsize=None)
def _unsupported_examples(colour: str) -> tuple[tuple[str, str], ...]:
    """(sentence, intent or "bad_input"): three held-out English refusals of each kind, two Korean ones
    of each kind, mentioning ``colour`` where the template has a colour, and the bad inputs."""
    _check_colour(colour)
    rng = random.Random(f"unsupported:{colour}")
    en = _EnglishGenerator("held_out", rng)
    ko = _KoreanGenerator("held_out", rng)
    out: dict[str, str] = {}
    for intent in INTENTS[1:]:
        found = 0
        for _ in range(500):
            if found == 3:
                break
            if intent == "nonsense":
                ex = en.nonsense()
            elif intent == "other_language":
                ex = en.other_language(colour)
            else:
                ex = en.refusal(intent, colour)
                if not ex.colour_spans and intent not in ("no_target",) and rng.random() < 0.7:
                    continue  # prefer sentences that name the colour
            if ex.text not in out:
                out[ex.text] = intent
                found += 1
    for intent in INTENTS[1:-1]:
        found = 0
        for _ in range(500):
            if found == 2:
                break
            if intent == "nonsense":
                text = ko.nonsense().text
            else:
                template = rng.choice(ko.spec.refusals[intent])
                if not re.search(r"\{[COA]", template) and intent != "no_target" and rng.random() < 0.8:
                    continue
                forms = ko.by_cup[colour]
                if "{CN}" in template:
                    forms = tuple(f for f in forms if f not in KO_ADJECTIVE_FORMS)
                key = "A" if "{A}" in template and not re.search(r"\{[CO]", template) else "C"
                ctx: dict = {"mix": (0.7, 0.3, 0.0, 0.0), key: (rng.choice(forms), colour)}
                text = ko.sentence(template, ctx, intent)[0]
            if text not in out:
                out[text] = intent
                found += 1
    for text in _bad_inputs(colour):
        out.setdefault(text, "bad_input")
    return tuple(out.items())


def unsupported_instructions(colour: str) -> list[str]:
    """>= 40 held-out sentences that must be refused: every refusal intent in English and Korean
    (most mentioning ``colour``), plus bad input (10,000 characters, control characters, emoji only,
    mixed scripts, CJK, Cyrillic, Arabic, colours no cup has)."""
    return [text for text, _ in _unsupported_examples(colour)]


# (sentence, cup colour meant or None = must be refused). Clear-cut cases only; understood ones are
# held-out phrasings except the three anchors (:data:`PARITY_ANCHORS`).
PARITY: list[tuple[str, str | None]] = [
    ("pick up the red cup", "red"),
    (KOREAN_EXAMPLE, "red"),
    ("the red one, pick it up", "red"),
    ("snatch the blue cup", "blue"),
    ("Could you lift the green cup?", "green"),
    ("seize the yellow beaker", "yellow"),
    ("please scoop up the orange cup", "orange"),
    ("Pluck the purple teacup.", "purple"),
    ("snatch the bleu cup", "blue"),
    ("seize the purpel goblet", "purple"),
    ("retrieve the yelow cup", "yellow"),
    ("seize the scarlet cup", "red"),
    ("grab the sapphire cup", "blue"),
    ("nab the tangerine cup", "orange"),
    ("take the lavender cup", "purple"),
    ("pick up the mint green mug", "green"),
    ("snatch the neon green cup", "green"),
    ("retrieve the soft blue beaker", "blue"),
    ("will you raise the burgundy cup?", "red"),
    ("I need you to grab the lemon yellow cup", "yellow"),
    ("탁자 위에 있는 파란 컵을 집어 올려라", "blue"),
    ("초록 컵 하나만 들어줄래?", "green"),
    ("로봇아, 노란 머그컵을 잡아 줘", "yellow"),
    ("주황빛 잔을 집어 올려라", "orange"),
    ("보라색 물컵을 얼른 집어 주십시오", "purple"),
    ("snatch any cup except the red one", None),
    ("do not ever seize the blue cup", None),
    ("snatch the red cup and the blue cup", None),
    ("seize every cup", None),
    ("topple the green cup", None),
    ("tilt the yellow cup toward me", None),
    ("is the orange cup visible?", None),
    ("which one of the cups is purple?", None),
    ("snatch the cup just left of the red one", None),
    ("hoist the second cup from the right", None),
    ("snatch a single cup", None),
    ("clutch the red stapler", None),
    ("seize the blue glove", None),
    ("qwpoeiru zxmcnv", None),
    ("recite a poem", None),
    ("prendi la tazza rossa", None),
    ("pak de blauwe beker", None),
    ("snatch the pink cup", None),
    ("빨간 컵 말고 딴 거 집어 올려라", None),
    ("빨간 컵과 파란 컵 둘 다 들어 올려라", None),
    ("파란 컵을 굴려", None),
    ("초록 컵은 어디에 있나요?", None),
    ("왼쪽에서 두 번째 컵을 집어 올려라", None),
    ("노란 인형을 집어 올려라", None),
    ("ㅠㅠ", None),
    ("", None),
    ("🥤🥤", None),
    ("拿起红色的杯子", None),
    ("x" * 10_000, None),
]
PARITY_ANCHORS = frozenset({"pick up the red cup", KOREAN_EXAMPLE, "the red one, pick it up"})

# Referring expressions the ROS node and `vla eval` must decide alike (tests/test_parity_ros.py): each kind in a
# trained and a new wording, Korean, and relations no policy does (refused by the understanding model); a
# colour-only policy refuses the relational ones itself ("this policy was not trained to pick a cup that way").
PARITY_REFERRING: tuple[str, ...] = (
    "pick up the red cup on the left", "lift the orange mug on the right, please", "grab the mug furthest to the left",
    "could you grab the rightmost cup?", "pick up the cup closest to you", "take the cup farthest from the robot",
    "pick up the cup next to the blue one", "가장 왼쪽에 있는 컵을 집어", "파란 컵 옆에 있는 컵을 집어",
    "pick up the second cup from the left", "pick up the cup behind the green one", "pick up the cup next to it",
    "pick up the green cup",
)
