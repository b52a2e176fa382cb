"""The instruction corpus: valid labels, exact colour spans, noise that keeps them, disjoint pools."""

from __future__ import annotations

import re
import string
import time
from collections import Counter

import numpy as np
import pytest

from vla_policy import language_corpus as lc
from vla_policy.colour_names import named_colours, resolve

N_SAMPLE = 6000
TRAIN_SAMPLE = 60_000


@pytest.fixture(scope="module")
def samples() -> dict[tuple[str, str], list[lc.Example]]:
    return {(lang, pool): fn(pool, N_SAMPLE, seed=7)
            for lang, fn in (("en", lc.english_examples), ("ko", lc.korean_examples)) for pool in lc.POOLS}


@pytest.fixture(scope="module")
def train_texts() -> set[str]:
    """Normalised sentences of a large train-pool sample, both languages."""
    texts = [e.text for e in lc.english_examples("train", TRAIN_SAMPLE, seed=0)]
    texts += [e.text for e in lc.korean_examples("train", TRAIN_SAMPLE, seed=0)]
    return {_norm(t) for t in texts}


def _norm(text: str) -> str:
    """Lower case, ASCII punctuation removed, whitespace collapsed."""
    return " ".join(text.lower().translate(str.maketrans("", "", string.punctuation)).split())


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _korean_colour_ok(span_text: str, pool: str) -> str | None:
    """The label of a Korean colour span ("진한 빨간" -> red), None when it is no colour phrase."""
    words = span_text.split()
    modifiers = lc.KOREAN_POOLS[pool].modifiers
    if len(words) == 2 and words[0] not in modifiers:
        return None
    return lc.korean_colours(pool).get(words[-1]) if len(words) <= 2 else None


# ---------------------------------------------------------------- labels and spans

def test_intents_languages_and_colours_are_valid(samples):
    for (lang, _pool), examples in samples.items():
        assert len(examples) == N_SAMPLE
        for ex in examples:
            assert ex.intent in lc.INTENTS and ex.language == lang and ex.text.strip()
            assert ex.refer in lc.REFER_KINDS and ex.anchor in lc.CUP_COLOURS + ("other", "none")
            assert not ex.colour_roles or len(ex.colour_roles) == len(ex.colour_spans)
            assert set(ex.colour_roles) <= {"target", "anchor"}
            if ex.intent == "pick" and ex.refer == "colour":
                assert ex.colour in lc.CUP_COLOURS + ("other",)
                assert ex.colour_spans, ex
            elif ex.intent == "pick":
                assert ex.colour in lc.CUP_COLOURS + ("other", "none")
                assert (ex.colour == "none") == (not ex.spans_of("target")), ex
                assert (ex.anchor == "none") == (not ex.spans_of("anchor")), ex
                assert ex.anchor == "none" or ex.refer == "next-to", ex
            else:
                assert ex.colour == "none" and ex.refer == "colour" and ex.anchor == "none", ex
            if ex.intent == "other_language":
                assert ex.colour_spans == () and lang == "en"
            for s, e in ex.colour_spans:
                assert 0 <= s < e <= len(ex.text)
            assert list(ex.colour_spans) == sorted(ex.colour_spans)
        if lang == "ko":
            assert not any(ex.intent == "other_language" for ex in examples)


def test_english_spans_resolve_to_the_label(samples):
    for pool in lc.POOLS:
        for ex in samples[("en", pool)]:
            for s, e in ex.colour_spans:
                phrase = ex.text[s:e]
                assert phrase == phrase.strip() and phrase
                meaning = resolve(phrase)
                assert meaning.cup is not None or "not a colour" not in (meaning.refusal or ""), (phrase, ex)
            if ex.intent == "pick":
                for role, label in (("target", ex.colour), ("anchor", ex.anchor)):
                    spans = ex.spans_of(role)
                    assert len(spans) == (label != "none"), ex
                    for s, e in spans:
                        assert resolve(ex.text[s:e]).cup == (None if label == "other" else label), ex


def test_english_spans_cover_every_colour_word(samples):
    """No named colour appears outside the spans (templates and fillers hold no colour word)."""
    keys = {k for k in named_colours() if " " not in k} | set(lc.CUP_COLOURS)
    for pool in lc.POOLS:
        for ex in samples[("en", pool)]:
            if ex.intent == "other_language":
                continue
            text = list(ex.text.lower())
            for s, e in ex.colour_spans:
                text[s:e] = " " * (e - s)
            stray = set(_words("".join(text))) & keys
            assert not stray, (stray, ex)


def test_korean_spans_name_the_label(samples):
    for pool in lc.POOLS:
        for ex in samples[("ko", pool)]:
            for s, e in ex.colour_spans:
                assert _korean_colour_ok(ex.text[s:e], pool) is not None, (ex.text[s:e], ex)
            if ex.intent == "pick":
                for role, label in (("target", ex.colour), ("anchor", ex.anchor)):
                    spans = ex.spans_of(role)
                    assert len(spans) == (label != "none"), ex
                    for s, e in spans:
                        assert _korean_colour_ok(ex.text[s:e], pool) == label, ex


def test_korean_particles_agree_with_the_noun():
    examples = lc.korean_examples("train", 3000, seed=3) + lc.korean_examples("held_out", 3000, seed=3)
    bad = re.compile(r"(컵|잔|것)를|(머그|거)을|(컵|잔|것)는|(머그|거)은")
    for ex in examples:
        assert not bad.search(ex.text), ex
    assert any("컵을" in ex.text for ex in examples) and any("머그를" in ex.text for ex in examples)


def test_the_canonical_sentences_are_training_data(samples):
    train = {_norm(e.text) for e in lc.english_examples("train", TRAIN_SAMPLE, seed=0)}
    assert "pick up the red cup" in train
    ko = {e.text.rstrip(".!~") for e in lc.korean_examples("train", TRAIN_SAMPLE, seed=0)}
    assert lc.KOREAN_EXAMPLE in ko


# ---------------------------------------------------------------- perturbation

def test_perturb_keeps_spans_on_the_colour(samples):
    rng = np.random.default_rng(0)
    changed_letters = 0
    for ex in samples[("en", "train")][:4000]:
        noisy = lc.perturb(ex, rng)
        assert (noisy.intent, noisy.colour, noisy.language) == (ex.intent, ex.colour, ex.language)
        assert len(noisy.colour_spans) == len(ex.colour_spans)
        for (s, e), (s0, e0) in zip(noisy.colour_spans, ex.colour_spans):
            assert 0 <= s < e <= len(noisy.text)
            assert resolve(noisy.text[s:e]).cup == resolve(ex.text[s0:e0]).cup, (ex, noisy)
            # a slip changes at most a couple of letters of the phrase
            assert abs((e - s) - (e0 - s0)) <= 2
        if noisy.text.lower().split() != ex.text.lower().split():
            changed_letters += re.sub(r"[^a-z]", "", noisy.text.lower()) != re.sub(r"[^a-z]", "", ex.text.lower())
        if noisy.text.rstrip().endswith("?") and not ex.text.endswith("?"):
            assert ex.intent in ("question", "nonsense"), (ex, noisy)
    assert changed_letters > 400  # typos do happen


def test_perturb_misspells_colour_words_sometimes():
    rng = np.random.default_rng(1)
    ex = lc.Example("pick up the purple cup", "pick", "en", "purple", ((12, 18),))
    misspelt = set()
    for _ in range(3000):
        noisy = lc.perturb(ex, rng)
        (s, e), = noisy.colour_spans
        if noisy.text[s:e].lower() != "purple":
            misspelt.add(noisy.text[s:e])
            assert resolve(noisy.text[s:e]).cup == "purple", noisy
    assert len(misspelt) >= 5, misspelt


def test_perturb_on_korean_changes_only_spacing_and_punctuation(samples):
    rng = np.random.default_rng(2)
    squash = re.compile(r"[\s.!?~]")
    spaced = 0
    for ex in samples[("ko", "train")][:3000]:
        noisy = lc.perturb(ex, rng)
        assert squash.sub("", noisy.text) == squash.sub("", ex.text)
        spaced += noisy.text.count(" ") != ex.text.count(" ")
        for (s, e), (s0, e0) in zip(noisy.colour_spans, ex.colour_spans):
            assert noisy.text[s:e].replace(" ", "") == ex.text[s0:e0].replace(" ", "")
    assert spaced > 300


def test_perturb_is_deterministic_for_a_seed(samples):
    examples = samples[("en", "held_out")][:500]
    a = [lc.perturb(ex, np.random.default_rng(5)) for ex in examples]
    b = [lc.perturb(ex, np.random.default_rng(5)) for ex in examples]
    assert a == b


# ---------------------------------------------------------------- determinism, speed, balance

def test_generation_is_deterministic():
    for fn in (lc.english_examples, lc.korean_examples):
        for pool in lc.POOLS:
            assert fn(pool, 500, seed=11) == fn(pool, 500, seed=11)
            assert fn(pool, 500, seed=11) != fn(pool, 500, seed=12)
    with pytest.raises(ValueError):
        lc.english_examples("test", 10, seed=0)


def test_sixty_thousand_examples_are_fast():
    lc.english_examples("train", 100, seed=0)  # one-off vocabulary build
    lc.korean_examples("train", 100, seed=0)
    for fn in (lc.english_examples, lc.korean_examples):
        start = time.perf_counter()
        fn("train", 60_000, seed=1)
        assert time.perf_counter() - start < 5.0


def test_class_balance(samples):
    for (lang, _pool), examples in samples.items():
        share = {k: v / len(examples) for k, v in Counter(e.intent for e in examples).items()}
        assert 0.44 <= share["pick"] <= 0.46
        refusals = [i for i in lc.INTENTS[1:] if not (lang == "ko" and i == "other_language")]
        assert set(share) == {"pick", *refusals}
        for intent in refusals:
            assert 0.035 <= share[intent] <= 0.10, (lang, intent, share[intent])
        for intent in ("negation", "multiple", "question", "relation", "nonsense"):
            assert share["no_target"] > share[intent] and share["not_a_cup"] > share[intent]
        all_picks = [e for e in examples if e.intent == "pick"]
        kinds = Counter(e.refer for e in all_picks)
        assert set(kinds) == set(lc.REFER_KINDS)
        assert 0.42 <= kinds["colour"] / len(all_picks) <= 0.54
        for kind in lc.RELATIONAL_KINDS:
            assert kinds[kind] / len(all_picks) >= 0.04, (lang, kind, kinds)
        picks = [e for e in all_picks if e.refer == "colour"]
        colours = Counter(e.colour for e in picks)
        assert set(colours) == set(lc.CUP_COLOURS) | {"other"}
        assert 0.05 <= colours["other"] / len(picks) <= 0.15
        if lang == "en":  # colour-word kinds: base names ~45 %, modifiers, shades
            base = sum(e.text[e.colour_spans[0][0]:e.colour_spans[0][1]] in lc.CUP_COLOURS for e in picks)
            assert 0.38 <= base / len(picks) <= 0.52
    for pool in lc.POOLS:
        texts = [e.text for e in samples[("en", pool)] if e.intent == "pick"]
        assert len(set(texts)) > 0.8 * len(texts)  # varied, not a handful of sentences repeated
        for kind in lc.RELATIONAL_KINDS:
            texts = [e.text for e in samples[("en", pool)] if e.intent == "pick" and e.refer == kind]
            assert len(set(texts)) > 0.8 * len(texts), kind


# ---------------------------------------------------------------- disjoint pools

def _head(verb: str) -> str:
    return verb.split("|")[0].split()[0]


def test_pool_lists_are_disjoint():
    tr, ho = lc.ENGLISH_POOLS["train"], lc.ENGLISH_POOLS["held_out"]
    for name in ("pick_verbs", "pick_frames", "object_templates", "plain_objects", "cup_nouns", "thing_nouns",
                 "prefixes", "suffixes", "modifiers", "other_colours", "shade_extras", "numbers", "ordinals",
                 "other_task_verbs", "chat", "single_words", "salad_words"):
        assert not set(getattr(tr, name)) & set(getattr(ho, name)), name
        assert getattr(ho, name), name
    assert set(tr.neutral_suffixes) <= set(tr.suffixes) and set(ho.neutral_suffixes) <= set(ho.suffixes)
    # pick verbs differ in their head word, not only as strings ("snatch" is never a training verb)
    assert not {_head(v) for v in tr.pick_verbs} & {_head(v) for v in ho.pick_verbs}
    assert not {_head(v) for v in tr.other_task_verbs} & {_head(v) for v in ho.other_task_verbs}
    assert not {_head(v) for v in ho.pick_verbs} & {_head(v) for v in tr.other_task_verbs}
    # nouns: no held-out noun contains a training noun as a word
    train_nouns = {w for n in tr.cup_nouns + tr.thing_nouns for w in n.split()}
    assert not train_nouns & {w for n in ho.cup_nouns + ho.thing_nouns for w in n.split()} - {"cup"}
    for intent in tr.refusals:
        assert not set(tr.refusals[intent]) & set(ho.refusals[intent]), intent
    assert not {lang.name for lang in tr.languages} & {lang.name for lang in ho.languages}
    assert lc.SHARED_EN_FRAME not in tr.pick_frames + ho.pick_frames
    # shade words: the partitions of colour_names, each pool using only its own
    vt, vh = lc.colour_vocabulary("train"), lc.colour_vocabulary("held_out")
    assert not set(vt.shade_words) & set(vh.shade_words)
    train_colour_words = {w for c in lc.CUP_COLOURS for p in vt.shades[c] + vt.modified[c] for w in p.split()}
    held_colour_words = {w for c in lc.CUP_COLOURS for p in vh.shades[c] + vh.modified[c] for w in p.split()}
    assert not (train_colour_words & held_colour_words) - set(lc.CUP_COLOURS)
    assert not set(vt.other) & set(vh.other)

    kt, kh = lc.KOREAN_POOLS["train"], lc.KOREAN_POOLS["held_out"]
    for name in ("verbs", "frames", "object_templates", "nouns", "thing_nouns", "other_colours", "modifiers",
                 "prefixes", "chat"):
        assert not set(getattr(kt, name)) & set(getattr(kh, name)), name
    assert not set(kt.colours) & set(kh.colours)
    for intent in kt.refusals:
        assert not set(kt.refusals[intent]) & set(kh.refusals[intent]), intent
    assert "테이블 위의 {O}{을} {V}" in kt.frames
    for form in ("빨간", "주황", "노란", "초록", "파란", "보라"):
        assert lc.korean_colours("train")[form] == lc.korean_colours("held_out")[form]


def test_colour_vocabulary_resolves_and_is_broad():
    for pool in lc.POOLS:
        vocab = lc.colour_vocabulary(pool)
        for cup in lc.CUP_COLOURS:
            assert len(vocab.shades[cup]) >= 4 and len(vocab.modified[cup]) >= 4, (pool, cup)
            for phrase in vocab.shades[cup] + vocab.modified[cup]:
                assert resolve(phrase).cup == cup, phrase
        assert len(vocab.other) >= 8
        assert all(resolve(w).cup is None for w in vocab.other)
        assert not set(vocab.shade_words) & lc.EXCLUDED_SHADES


def test_held_out_pool_sentences_never_occur_in_training(train_texts):
    held = lc.english_examples("held_out", 20_000, seed=3) + lc.korean_examples("held_out", 20_000, seed=3)
    leaks = {e.text for e in held if _norm(e.text) in train_texts}
    assert not leaks, sorted(leaks)[:10]


# ---------------------------------------------------------------- fixed evaluation lists

def test_shade_instructions(train_texts):
    held_nouns = set(lc.ENGLISH_POOLS["held_out"].cup_nouns)
    for colour in lc.CUP_COLOURS:
        texts = lc.shade_instructions(colour)
        assert len(texts) >= 20 and len(set(texts)) == len(texts)
        assert texts == lc.shade_instructions(colour)
        for ex in lc._shade_examples(colour):
            (s, e), = ex.colour_spans
            phrase = ex.text[s:e]
            assert resolve(phrase).cup == colour and ex.intent == "pick" and ex.colour == colour
            assert phrase != colour or any(n in ex.text for n in held_nouns), ex
            assert _norm(ex.text) not in train_texts, ex.text


def test_korean_instructions(train_texts):
    for colour in lc.CUP_COLOURS:
        texts = lc.korean_instructions(colour)
        assert len(texts) >= 20 and len(set(texts)) == len(texts)
        for ex in lc._korean_pick_examples(colour):
            (s, e), = ex.colour_spans
            assert _korean_colour_ok(ex.text[s:e], "train") == colour
            assert _norm(ex.text) not in train_texts, ex.text
            # a new combination of trained words: never one of the training run's sentences
            assert lc._bare(ex.text) not in lc._korean_training_texts(), ex.text


def test_unsupported_instructions(train_texts):
    for colour in lc.CUP_COLOURS:
        pairs = lc._unsupported_examples(colour)
        texts = lc.unsupported_instructions(colour)
        assert len(texts) >= 40 and len(set(texts)) == len(texts)
        intents = Counter(i for _, i in pairs)
        assert set(intents) == set(lc.INTENTS[1:]) | {"bad_input"}
        korean = [t for t, i in pairs if re.search("[가-힣\u3131-\u318e]", t) and i != "bad_input"]
        assert {i for t, i in pairs if t in korean} == set(lc.INTENTS[1:-1])
        assert sum(colour in t.lower() or any(f in t for f in lc.korean_colours("held_out")) for t in texts) \
            > len(texts) / 2
        assert any(len(t) == 10_000 for t in texts)
        assert any("\x00" in t for t in texts) and any("\x1b" in t for t in texts)
        assert "🥤🥤" in texts
        assert any(re.search("[а-я]", t) for t in texts) and any(re.search("[\u0600-\u06ff]", t) for t in texts)
        assert any(re.search("[\u4e00-\u9fff]", t) for t in texts)
        assert any("pink" in t for t in texts)
        for text in texts:
            assert _norm(text) not in train_texts, text


def test_parity_list(train_texts):
    assert len(lc.PARITY) >= 48
    assert len({t for t, _ in lc.PARITY}) == len(lc.PARITY)
    understood = [(t, c) for t, c in lc.PARITY if c is not None]
    assert 0.4 <= len(understood) / len(lc.PARITY) <= 0.6
    assert all(c in lc.CUP_COLOURS for _, c in understood)
    assert (lc.KOREAN_EXAMPLE, "red") in lc.PARITY
    assert any(re.search("[가-힣]", t) for t, c in lc.PARITY if c is None)
    # PARITY checks that ROS and `vla eval` agree, not generalisation: its sentences may be trained ones.
    assert lc.PARITY_ANCHORS <= {t for t, _ in understood}
    # English understood sentences name their colour by a phrase that resolves to it
    for text, colour in understood:
        if not re.search("[가-힣]", text):
            assert any(resolve(w).cup == colour for w in _words(text)) or \
                any(resolve(" ".join(p)).cup == colour for p in zip(_words(text), _words(text)[1:])), text


# ---------------------------------------------------------------- referring expressions

# Words that make a sentence one of the supported reference kinds (a relation refusal has none of them)
SUPPORTED_MARKERS = ("leftmost", "rightmost", "closest to you", "nearest you", "nearest to you", "farthest from you",
                     "furthest from you", "next to", "beside", "on the far left", "on the far right",
                     "closest to the robot", "nearest to the robot", "farthest from the robot")
ANCHOR_MARKERS = ("closest to the {A}", "nearest to the {A}", "nearest the {A}", "near the {A}", "by the {A}",
                  "close to the {A}")
SUPPORTED_MARKERS_KO = ("가장 왼쪽", "맨 왼쪽", "제일 왼쪽", "가장 오른쪽", "맨 오른쪽", "제일 오른쪽", "가까운", "가까이",
                        "멀리", "옆", "근처", "붙어")
SIDE_KO = re.compile(r"^(왼|오른)(쪽|편)(에 있는|의)? (컵|\{O\})")  # "왼쪽에 있는 컵을": the leftmost cup


def test_reference_kinds_and_phrasing_match_the_simulator():
    from vla_sim import referring

    assert lc.REFER_KINDS == referring.KINDS
    from vla_policy.understanding import REFER_KINDS
    assert REFER_KINDS == referring.KINDS
    for kind in referring.KINDS:
        for colour in lc.CUP_COLOURS:
            ref = referring.Reference(kind, colour if kind in referring.NAMES_COLOUR else None,
                                      colour if kind == "next-to" else None)
            assert lc.canonical_instruction(kind, ref.colour, ref.anchor) == ref.instruction


def test_expected_reference():
    ex = lc.Example
    assert lc.expected_reference(ex("x", "pick", "en", "red", ((0, 1),))) == ("colour", "red", None)
    assert lc.expected_reference(ex("x", "pick", "en", "other", ((0, 1),))) is None
    assert lc.expected_reference(ex("x", "pick", "en", "red", (), "left")) == ("left", "red", None)
    assert lc.expected_reference(ex("x", "pick", "en", "none", (), "left")) == ("leftmost", None, None)
    assert lc.expected_reference(ex("x", "pick", "en", "none", (), "farthest")) == ("farthest", None, None)
    assert lc.expected_reference(ex("x", "pick", "en", "red", (), "leftmost")) is None  # "the leftmost red cup"
    assert lc.expected_reference(ex("x", "pick", "en", "none", (), "next-to", "blue")) == ("next-to", None, "blue")
    assert lc.expected_reference(ex("x", "pick", "en", "red", (), "next-to", "blue")) is None
    assert lc.expected_reference(ex("x", "pick", "en", "none", (), "next-to", "none")) is None
    assert lc.expected_reference(ex("x", "relation", "en", "none")) is None


def test_referring_phrases_are_disjoint_between_pools():
    for material in (lc.REFERRING_EN, lc.REFERRING_KO):
        train, held = material["train"], material["held_out"]
        everything_trained = {p for phrases in train.values() for p in phrases}
        for kind in lc.RELATIONAL_KINDS:
            assert len(held[kind]) >= 6 and len(train[kind]) >= 6, kind
            assert not set(held[kind]) & everything_trained, kind
    for kind in lc.RELATIONAL_KINDS:
        for phrase in lc.referring_objects("train")[kind] + lc.referring_objects("held_out")[kind]:
            assert ("{C}" in phrase) == (kind in ("left", "right")), phrase
            assert ("{A}" in phrase) == (kind == "next-to"), phrase
    for pool in lc.POOLS:
        objects = lc.referring_objects(pool)
        assert objects["left-plain"] and objects["leftmost+colour"] and objects["next-to+colour"]
        assert all("{C}" not in p for p in objects["left-plain"])
        assert all("{C}" in p for k in objects if k.endswith("+colour") for p in objects[k])


def test_relation_refusals_are_only_relations_the_robot_cannot_do():
    for pool in lc.POOLS:
        for template in lc.ENGLISH_POOLS[pool].refusals["relation"]:
            assert not any(m in template for m in SUPPORTED_MARKERS + ANCHOR_MARKERS), template
            assert not re.search(r"\{C\} (\{N\}|one) on the (left|right)", template), template
        for template in lc.KOREAN_POOLS[pool].refusals["relation"]:
            assert not any(m in template for m in SUPPORTED_MARKERS_KO) and not SIDE_KO.match(template), template
    for colour in lc.CUP_COLOURS:
        for text, intent in lc._unsupported_examples(colour):
            if intent == "relation":
                assert not any(m in text.lower() for m in SUPPORTED_MARKERS + SUPPORTED_MARKERS_KO), text


def _held_out_filled(kind: str, korean: bool = False) -> list[str]:
    templates = lc.referring_held_out_korean(kind) if korean else lc.referring_held_out(kind)
    forms = lc.KOREAN_MAIN_COLOURS if korean else {c: c for c in lc.CUP_COLOURS}
    return [t.format(colour=forms[c], anchor=forms[c]) for t in templates for c in lc.CUP_COLOURS]


@pytest.mark.parametrize("kind", lc.RELATIONAL_KINDS)
def test_referring_held_out_templates(kind, train_texts):
    placeholder = {"left": "{colour}", "right": "{colour}", "next-to": "{anchor}"}.get(kind)
    for korean in (False, True):
        templates = lc.referring_held_out_korean(kind) if korean else lc.referring_held_out(kind)
        assert len(templates) >= 6 and len(set(templates)) == len(templates)
        assert templates == (lc.referring_held_out_korean(kind) if korean else lc.referring_held_out(kind))
        for t in templates:
            if placeholder:
                assert t.count(placeholder) == 1, t
            assert "{" not in t.replace(placeholder or "{}", ""), t
        for text in _held_out_filled(kind, korean):
            assert _norm(text) not in train_texts, text
            if korean:
                assert lc._bare(text) not in lc._korean_training_texts(), text
            else:
                assert lc._bare(text.lower()) not in lc._english_training_texts(), text
    with pytest.raises(ValueError):
        lc.referring_held_out("colour")


def test_held_out_referring_phrases_never_occur_in_training():
    """The held-out ways of saying each relation ("over on the left", "the cup you are closest to")
    appear in no training sentence, in any frame, with any colour or noun."""
    phrases = set()
    nouns = lc.SHARED_EN_CUP_NOUNS + lc.ENGLISH_POOLS["train"].cup_nouns
    for kind in lc.RELATIONAL_KINDS:
        for phrase in lc.REFERRING_EN["held_out"][kind]:
            for colour in lc.CUP_COLOURS:
                for noun in nouns:
                    phrases.add(phrase.replace("{C}", colour).replace("{A}", colour)
                                .replace("{Ns}", lc._plural(noun)).replace("{N}", noun).lower())
    pattern = re.compile("|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)))
    train = lc.english_examples("train", TRAIN_SAMPLE, seed=0)
    leaks = [e.text for e in train if pattern.search(e.text.lower())]
    assert not leaks, leaks[:10]
    korean = {t.replace("{V}", "").strip() for kind in lc.RELATIONAL_KINDS for t in lc.REFERRING_KO["held_out"][kind]}
    trained = {t for kind, phrases in lc.REFERRING_KO["train"].items() for t in phrases}
    assert not korean & {t.replace("{V}", "").strip() for t in trained}
