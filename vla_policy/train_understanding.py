"""Training and calibration of the instruction-understanding heads (``vla train-language``).

Data: generated sentences (:mod:`vla_policy.language_corpus`). The ``train`` pool trains both
heads (with typos, casing and punctuation noise); the ``held_out`` pool, whose sentence frames,
verbs, nouns and colour words never occur in training, is split in two: one half calibrates
(softmax temperature, acceptance threshold), the other measures (figures in ``config.json``).
About 10-15 minutes on 2 CPU cores, most of it running MiniLM over the sentences once.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .understanding import (INTENTS, KO_COLOURS, REFER_KINDS, InstructionModel, KoreanModel, Understanding,
                            UnderstandingConfig, WordList, batch_ngrams, english_words, korean_ngrams, korean_words)


MAX_FALSE_ACCEPTS = 0.002  # of the calibration sentences that must be refused


def _token_tags(offsets: list[tuple[int, int]], example) -> list[int]:
    """Per token: 0 no colour, 1 in a target colour phrase, 2 in an anchor colour phrase (TAG_ROLES)."""
    spans = [(s, e, 2 if example.role(i) == "anchor" else 1) for i, (s, e) in enumerate(example.colour_spans)]
    return [next((r for s2, e2, r in spans if s < e2 and s2 < e), 0) if e > s else 0 for s, e in offsets]


def _refer_label(example) -> int:
    """The reference kind of a pick; -100 (ignored) for every other intent."""
    return REFER_KINDS.index(example.refer) if example.intent == "pick" else -100


@torch.no_grad()
def encode_english(examples: list, encoder, max_tokens: int, progress: bool) -> list[dict[str, Any]]:
    """MiniLM token features (float16, unpadded), per-token colour roles and the labels of each sentence."""
    tok, model = encoder.tokenizer, encoder.model
    rows: list[dict[str, Any]] = []
    batch_size = 64
    bar = tqdm(total=len(examples), desc="encoding", unit="sent", disable=not progress, dynamic_ncols=True)
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        enc = tok([e.text for e in chunk], padding=True, truncation=True, max_length=max_tokens,
                  return_offsets_mapping=True, return_tensors="pt")
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        for i, ex in enumerate(chunk):
            n = int(enc["attention_mask"][i].sum())
            offsets = [tuple(o) for o in enc["offset_mapping"][i][:n].tolist()]
            rows.append({"feats": hidden[i, :n].to(torch.float16).clone(), "intent": INTENTS.index(ex.intent),
                         "tags": torch.tensor(_token_tags(offsets, ex)), "refer": _refer_label(ex)})
        bar.update(len(chunk))
    bar.close()
    return rows


def _collate(rows: list[dict[str, Any]]) -> tuple[torch.Tensor, ...]:
    """(feats, pad, tags (-100 on padding), intents, refer kinds)."""
    length = max(r["feats"].shape[0] for r in rows)
    feats = torch.zeros(len(rows), length, rows[0]["feats"].shape[1])
    pad = torch.ones(len(rows), length, dtype=torch.bool)
    tags = torch.full((len(rows), length), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        n = r["feats"].shape[0]
        feats[i, :n], pad[i, :n], tags[i, :n] = r["feats"].float(), False, r["tags"]
    return (feats, pad, tags, torch.tensor([r["intent"] for r in rows]),
            torch.tensor([r["refer"] for r in rows]))


def _fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Softmax temperature minimising the negative log-likelihood (grid search, robust); 1 with no data."""
    if len(labels) == 0:
        return 1.0
    grid = np.exp(np.linspace(math.log(0.5), math.log(2.0), 40))  # bounded: held-out sentences differ in kind
    nll = [float(F.cross_entropy(logits / t, labels)) for t in grid]
    return float(grid[int(np.argmin(nll))])


def _english_logits(model: InstructionModel, rows: list[dict[str, Any]]
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Intent logits and labels, reference-kind logits and labels (-100 but for picks)."""
    model.eval()
    out, labels, refer_out, refer_labels = [], [], [], []
    with torch.no_grad():
        for start in range(0, len(rows), 256):
            feats, pad, _, intents, refers = _collate(rows[start:start + 256])
            intent_logits, _, refer_logits = model(feats, pad)
            out.append(intent_logits)
            labels.append(intents)
            refer_out.append(refer_logits)
            refer_labels.append(refers)
    return torch.cat(out), torch.cat(labels), torch.cat(refer_out), torch.cat(refer_labels)


def train_english(config: UnderstandingConfig, train_rows: list, epochs: int, seed: int, progress: bool) -> InstructionModel:
    torch.manual_seed(seed)
    model = InstructionModel(config)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    batch = 128
    steps = epochs * math.ceil(len(train_rows) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    bar = tqdm(total=steps, desc="english head", unit="step", disable=not progress, dynamic_ncols=True)
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(train_rows))
        for start in range(0, len(order), batch):
            feats, pad, tags, intents, refers = _collate([train_rows[i] for i in order[start:start + batch]])
            intent_logits, tag_logits, refer_logits = model(feats, pad)
            tag_loss = F.cross_entropy(tag_logits.flatten(0, 1), tags.flatten(), ignore_index=-100)
            loss = F.cross_entropy(intent_logits, intents) + tag_loss
            if (refers >= 0).any():
                loss = loss + F.cross_entropy(refer_logits, refers, ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()


def _korean_labels(examples: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Intent, target colour, reference kind and anchor colour (the last two -100 = ignored but for picks)."""
    picks = [e.intent == "pick" for e in examples]
    return (torch.tensor([INTENTS.index(e.intent) for e in examples]),
            torch.tensor([KO_COLOURS.index(e.colour) for e in examples]),
            torch.tensor([REFER_KINDS.index(e.refer) if p else -100 for e, p in zip(examples, picks)]),
            torch.tensor([KO_COLOURS.index(e.anchor) if p else -100 for e, p in zip(examples, picks)]))


def train_korean(config: UnderstandingConfig, examples: list, epochs: int, seed: int, progress: bool) -> KoreanModel:
    torch.manual_seed(seed)
    # n-grams of each sentence as written and without punctuation (the unknown-word check reads words bare)
    counts = Counter(g for e in examples for text in (e.text, " ".join(korean_words(e.text)))
                     for g in korean_ngrams(text, config.ko_ngrams))
    config.ko_vocab = sorted(g for g, n in counts.items() if n >= 2)
    model = KoreanModel(config)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    intents, colours, refers, anchors = _korean_labels(examples)
    texts = [e.text for e in examples]
    rng = np.random.default_rng(seed)
    batch = 128
    steps = epochs * math.ceil(len(texts) / batch)
    bar = tqdm(total=steps, desc="korean head", unit="step", disable=not progress, dynamic_ncols=True)
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(texts))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            ids, offsets = batch_ngrams([texts[i] for i in idx], model, config, drop=0.2, rng=rng)
            intent_logits, colour_logits, refer_logits, anchor_logits = model(ids, offsets)
            loss = F.cross_entropy(intent_logits, intents[idx]) + F.cross_entropy(colour_logits, colours[idx])
            if (refers[idx] >= 0).any():
                loss = loss + F.cross_entropy(refer_logits, refers[idx], ignore_index=-100) \
                    + F.cross_entropy(anchor_logits, anchors[idx], ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update(1)
    bar.close()
    return model.eval()


def _korean_logits(model: KoreanModel, config: UnderstandingConfig, examples: list) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        ids, offsets = batch_ngrams([e.text for e in examples], model, config)
        return model(ids, offsets)


def raw_verdicts(understanding: Understanding, examples: list) -> list:
    """Verdicts with no acceptance threshold (every confident-enough pick kept, with its confidence),
    so thresholds can be tried afterwards without running the models again."""
    threshold = understanding.config.accept_threshold
    understanding.config.accept_threshold = 1e-6
    understanding._cache.clear()
    try:
        return [understanding.understand(ex.text) for ex in examples]
    finally:
        understanding.config.accept_threshold = threshold
        understanding._cache.clear()


def _acted(verdict, threshold: float) -> tuple[str, str | None, str | None] | None:
    """What the robot would act on at ``threshold``: (kind, target colour, anchor colour), or None."""
    if verdict.refusal is not None or verdict.confidence < threshold:
        return None
    return verdict.refer, verdict.target, verdict.anchor


def verdict_figures(examples: list, verdicts: list, threshold: float) -> dict[str, Any]:
    """How many picks were understood with the right cup (the right reference), how many refusals were
    refused, and how many were taken as another cup, when only verdicts with confidence >= ``threshold``
    act. What a sentence should give is :func:`language_corpus.expected_reference`."""
    from .language_corpus import expected_reference

    counts: Counter[str] = Counter()
    by_kind: dict[str, list[int]] = {}
    wrong: list[str] = []
    for ex, v in zip(examples, verdicts):
        got, want = _acted(v, threshold), expected_reference(ex)
        if want is not None:
            counts["picks"] += 1
            counts["picks_understood"] += got == want
            tally = by_kind.setdefault(want[0], [0, 0])
            tally[0] += got == want
            tally[1] += 1
            if got is not None and got != want:
                counts["wrong_target"] += 1
                wrong.append(f"{ex.text!r} -> {got} (meant {want})")
        else:
            counts["refusals"] += 1
            counts["refusals_refused"] += got is None
            if got is not None:
                counts["false_accepts"] += 1
                wrong.append(f"{ex.text!r} -> {got} (should be refused: {ex.intent}/{ex.refer}/{ex.colour}/{ex.anchor})")
    figures: dict[str, Any] = {k: counts[k] for k in ("picks", "picks_understood", "wrong_target", "refusals",
                                                      "refusals_refused", "false_accepts")}
    figures["pick_accuracy"] = counts["picks_understood"] / max(1, counts["picks"])
    figures["refusal_rate"] = counts["refusals_refused"] / max(1, counts["refusals"])
    figures["picks_by_kind"] = {k: by_kind[k] for k in REFER_KINDS if k in by_kind}
    figures["errors"] = wrong[:20]
    return figures


def referring_figures(understanding: Understanding) -> dict[str, Any]:
    """The held-out referring paraphrases (:func:`language_corpus.referring_held_out`, and the Korean
    ones) with every colour: how many are resolved to the right reference, per kind and language."""
    from .language_corpus import KOREAN_MAIN_COLOURS, RELATIONAL_KINDS, referring_held_out, \
        referring_held_out_korean

    threshold = understanding.config.accept_threshold
    out: dict[str, Any] = {}
    for language, templates_of, forms in (("english", referring_held_out, {c: c for c in KO_COLOURS[:6]}),
                                          ("korean", referring_held_out_korean, KOREAN_MAIN_COLOURS)):
        per_kind, errors = {}, []
        for kind in RELATIONAL_KINDS:
            right = total = wrong = 0
            for template in templates_of(kind):
                colours = KO_COLOURS[:6] if "{colour}" in template or "{anchor}" in template else (None,)
                for colour in colours:
                    text = template.format(colour=forms.get(colour, ""), anchor=forms.get(colour, ""))
                    want = (kind, colour if kind in ("left", "right") else None, colour if kind == "next-to" else None)
                    got = _acted(understanding.understand(text), threshold)
                    total += 1
                    right += got == want
                    if got is not None and got != want:
                        wrong += 1
                    if got != want and len(errors) < 20:
                        errors.append(f"{text!r} -> {got or understanding.understand(text).refusal} (meant {want})")
            per_kind[kind] = {"right": right, "total": total, "wrong_cup": wrong}
        right, total = sum(v["right"] for v in per_kind.values()), sum(v["total"] for v in per_kind.values())
        out[language] = {"accuracy": right / max(1, total), "right": right, "total": total,
                         "wrong_cup": sum(v["wrong_cup"] for v in per_kind.values()), "by_kind": per_kind,
                         "errors": errors}
    return out


def unsupported_figures(understanding: Understanding) -> dict[str, Any]:
    """The fixed unsupported set (:func:`language_corpus.unsupported_instructions`, all six colours):
    how many would be acted on."""
    from .language_corpus import unsupported_instructions

    texts = [t for c in KO_COLOURS[:6] for t in unsupported_instructions(c)]
    acted = [t[:80] for t in texts if understanding.understand(t).understood]
    return {"sentences": len(texts), "acted_on": len(acted), "examples": acted[:10]}


def train_understanding(out: str | Path, n_english: int = 50000, n_korean: int = 18000, epochs: int = 6,
                        seed: int = 0, progress: bool = True, text_encoder: Any | None = None) -> dict[str, Any]:
    from . import language_corpus as corpus
    from .language import TextEncoder

    t0 = time.time()
    config = UnderstandingConfig()
    # One random stream per data set, so that changing one set's size leaves the others' noise as it was.
    en_rng, held_rng, ko_rng = (np.random.default_rng([seed, k]) for k in range(3))
    encoder = text_encoder or TextEncoder(config.text_encoder)

    en_clean = corpus.english_examples("train", n_english, seed)
    config.vocab_en = sorted({w for e in en_clean if e.intent != "other_language" for _, _, w in english_words(e.text)})
    en_train = [corpus.perturb(e, en_rng) if en_rng.random() < 0.5 else e for e in en_clean]
    en_held = corpus.english_examples("held_out", 6000, seed + 1)
    en_held = [corpus.perturb(e, held_rng) if i % 4 == 0 else e for i, e in enumerate(en_held)]
    en_cal, en_test = en_held[0::2], en_held[1::2]
    ko_train = [corpus.perturb(e, ko_rng) if ko_rng.random() < 0.3 else e for e in corpus.korean_examples("train", n_korean, seed)]
    ko_held = corpus.korean_examples("held_out", 3000, seed + 1)
    ko_cal, ko_test = ko_held[0::2], ko_held[1::2]

    rows = encode_english(en_train, encoder, config.max_tokens, progress)
    english = train_english(config, rows, epochs, seed, progress)
    cal_rows = encode_english(en_cal, encoder, config.max_tokens, progress)
    logits, labels, refer_logits, refer_labels = _english_logits(english, cal_rows)
    config.temperature_en = _fit_temperature(logits, labels)
    # The reference-kind head is calibrated on the picks the robot could act on: those with only known
    # words (the others are refused before their kind matters).
    words = WordList(config.vocab_en)
    picks = torch.tensor([r >= 0 and not words.unknown(e.text, [e.text[a:b] for a, b in e.colour_spans])
                          for e, r in zip(en_cal, refer_labels.tolist())])
    config.temperature_refer_en = _fit_temperature(refer_logits[picks], refer_labels[picks])

    korean = train_korean(config, ko_train, epochs, seed, progress)
    intent_logits, colour_logits, refer_logits, anchor_logits = _korean_logits(korean, config, ko_cal)
    intents, colours, refers, anchors = _korean_labels(ko_cal)
    config.temperature_ko = _fit_temperature(intent_logits, intents)
    # one temperature for the colour, kind and anchor heads, fitted on the picks with only known words
    grams = set(config.ko_vocab)
    picks = refers >= 0
    picks &= torch.tensor([all(g in grams for w in korean_words(e.text) for g in korean_ngrams(w, (2,)))
                           for e in ko_cal])
    config.temperature_aux_ko = _fit_temperature(torch.cat([colour_logits[picks], refer_logits[picks], anchor_logits[picks]]),
                                                 torch.cat([colours[picks], refers[picks], anchors[picks]]))

    understanding = Understanding(config, english, korean, encoder)
    # Acceptance threshold: the lowest candidate at which no calibration sentence that must be
    # refused is acted on (and no cup is mistaken for another).
    cal_examples = en_cal + ko_cal
    cal_verdicts = raw_verdicts(understanding, cal_examples)
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98):
        cal = verdict_figures(cal_examples, cal_verdicts, threshold)
        if cal["false_accepts"] <= MAX_FALSE_ACCEPTS * cal["refusals"] and cal["wrong_target"] == 0:
            break
    config.accept_threshold = threshold
    config.metrics = {
        "accept_threshold": threshold,
        "calibration": {k: v for k, v in cal.items() if k != "errors"},
        "held_out_english": verdict_figures(en_test, raw_verdicts(understanding, en_test), threshold),
        "held_out_korean": verdict_figures(ko_test, raw_verdicts(understanding, ko_test), threshold),
        "referring_held_out": referring_figures(understanding),
        "unsupported": unsupported_figures(understanding),
        "train_sentences": {"english": len(en_train), "korean": len(ko_train)},
        "minutes": round((time.time() - t0) / 60, 1),
    }
    understanding._cache.clear()
    understanding.save_pretrained(out)
    return config.metrics
