"""Training and calibration of the instruction-understanding heads (``vla train-language``).

Data: generated sentences (:mod:`vla_policy.language_corpus`). The ``train`` pool trains both
heads (with typos, casing and punctuation noise); the ``held_out`` pool, whose sentence frames,
verbs, nouns and colour words never occur in training, is split in two: one half calibrates
(softmax temperature, acceptance threshold), the other measures (figures in ``config.json``).
About 4 minutes on 2 CPU cores, most of it running MiniLM over the sentences once.
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

from .understanding import (INTENTS, KO_COLOURS, InstructionModel, KoreanModel, Understanding,
                            UnderstandingConfig, batch_ngrams, english_words, korean_ngrams, korean_words)


MAX_FALSE_ACCEPTS = 0.002  # of the calibration sentences that must be refused


def _token_tags(offsets: list[tuple[int, int]], spans: tuple[tuple[int, int], ...]) -> list[float]:
    return [float(any(s < e2 and s2 < e for s2, e2 in spans) if e > s else 0.0) for s, e in offsets]


@torch.no_grad()
def encode_english(examples: list, encoder, max_tokens: int, progress: bool) -> list[dict[str, Any]]:
    """MiniLM token features (float16, unpadded) and per-token colour tags of each sentence."""
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
                         "tags": torch.tensor(_token_tags(offsets, ex.colour_spans))})
        bar.update(len(chunk))
    bar.close()
    return rows


def _collate(rows: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    length = max(r["feats"].shape[0] for r in rows)
    feats = torch.zeros(len(rows), length, rows[0]["feats"].shape[1])
    pad = torch.ones(len(rows), length, dtype=torch.bool)
    tags = torch.zeros(len(rows), length)
    for i, r in enumerate(rows):
        n = r["feats"].shape[0]
        feats[i, :n], pad[i, :n], tags[i, :n] = r["feats"].float(), False, r["tags"]
    return feats, pad, tags, torch.tensor([r["intent"] for r in rows])


def _fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Softmax temperature minimising the negative log-likelihood (grid search, robust)."""
    grid = np.exp(np.linspace(math.log(0.5), math.log(2.0), 40))  # bounded: held-out sentences differ in kind
    nll = [float(F.cross_entropy(logits / t, labels)) for t in grid]
    return float(grid[int(np.argmin(nll))])


def _english_logits(model: InstructionModel, rows: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    out, labels = [], []
    with torch.no_grad():
        for start in range(0, len(rows), 256):
            feats, pad, _, intents = _collate(rows[start:start + 256])
            out.append(model(feats, pad)[0])
            labels.append(intents)
    return torch.cat(out), torch.cat(labels)


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
            feats, pad, tags, intents = _collate([train_rows[i] for i in order[start:start + batch]])
            intent_logits, tag_logits = model(feats, pad)
            keep = (~pad).float()
            tag_loss = (F.binary_cross_entropy_with_logits(tag_logits, tags, reduction="none") * keep).sum() / keep.sum()
            loss = F.cross_entropy(intent_logits, intents) + tag_loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval()


def _korean_labels(examples: list) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor([INTENTS.index(e.intent) for e in examples]),
            torch.tensor([KO_COLOURS.index(e.colour) for e in examples]))


def train_korean(config: UnderstandingConfig, examples: list, epochs: int, seed: int, progress: bool) -> KoreanModel:
    torch.manual_seed(seed)
    # n-grams of each sentence as written and without punctuation (the unknown-word check reads words bare)
    counts = Counter(g for e in examples for text in (e.text, " ".join(korean_words(e.text)))
                     for g in korean_ngrams(text, config.ko_ngrams))
    config.ko_vocab = sorted(g for g, n in counts.items() if n >= 2)
    model = KoreanModel(config)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    intents, colours = _korean_labels(examples)
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
            intent_logits, colour_logits = model(ids, offsets)
            loss = F.cross_entropy(intent_logits, intents[idx]) + F.cross_entropy(colour_logits, colours[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.update(1)
    bar.close()
    return model.eval()


def _korean_logits(model: KoreanModel, config: UnderstandingConfig, examples: list) -> tuple[torch.Tensor, torch.Tensor]:
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


def verdict_figures(examples: list, verdicts: list, threshold: float) -> dict[str, Any]:
    """How many picks were understood with the right cup, how many refusals were refused, and how
    many were taken as a wrong cup, when only verdicts with confidence >= ``threshold`` act."""
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    for ex, v in zip(examples, verdicts):
        target = v.target if v.target is not None and v.confidence >= threshold else None
        if ex.intent == "pick" and ex.colour in KO_COLOURS[:6]:
            counts["picks"] += 1
            counts["picks_understood"] += target == ex.colour
            if target is not None and target != ex.colour:
                counts["wrong_target"] += 1
                wrong.append(f"{ex.text!r} -> {target} (meant {ex.colour})")
        else:
            counts["refusals"] += 1
            counts["refusals_refused"] += target is None
            if target is not None:
                counts["false_accepts"] += 1
                wrong.append(f"{ex.text!r} -> {target} (should be refused: {ex.intent}/{ex.colour})")
    figures: dict[str, Any] = {k: counts[k] for k in ("picks", "picks_understood", "wrong_target", "refusals",
                                                      "refusals_refused", "false_accepts")}
    figures["pick_accuracy"] = counts["picks_understood"] / max(1, counts["picks"])
    figures["refusal_rate"] = counts["refusals_refused"] / max(1, counts["refusals"])
    figures["errors"] = wrong[:20]
    return figures


def train_understanding(out: str | Path, n_english: int = 24000, n_korean: int = 15000, epochs: int = 6,
                        seed: int = 0, progress: bool = True, text_encoder: Any | None = None) -> dict[str, Any]:
    from . import language_corpus as corpus
    from .language import TextEncoder

    t0 = time.time()
    config = UnderstandingConfig()
    rng = np.random.default_rng(seed)
    encoder = text_encoder or TextEncoder(config.text_encoder)

    en_clean = corpus.english_examples("train", n_english, seed)
    config.vocab_en = sorted({w for e in en_clean if e.intent != "other_language" for _, _, w in english_words(e.text)})
    en_train = [corpus.perturb(e, rng) if rng.random() < 0.5 else e for e in en_clean]
    en_held = corpus.english_examples("held_out", 6000, seed + 1)
    en_held = [corpus.perturb(e, rng) if i % 4 == 0 else e for i, e in enumerate(en_held)]
    en_cal, en_test = en_held[0::2], en_held[1::2]
    ko_train = [corpus.perturb(e, rng) if rng.random() < 0.3 else e for e in corpus.korean_examples("train", n_korean, seed)]
    ko_held = corpus.korean_examples("held_out", 3000, seed + 1)
    ko_cal, ko_test = ko_held[0::2], ko_held[1::2]

    rows = encode_english(en_train, encoder, config.max_tokens, progress)
    english = train_english(config, rows, epochs, seed, progress)
    cal_rows = encode_english(en_cal, encoder, config.max_tokens, progress)
    logits, labels = _english_logits(english, cal_rows)
    config.temperature_en = _fit_temperature(logits, labels)

    korean = train_korean(config, ko_train, epochs, seed, progress)
    intent_logits, _ = _korean_logits(korean, config, ko_cal)
    config.temperature_ko = _fit_temperature(intent_logits, _korean_labels(ko_cal)[0])

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
        "train_sentences": {"english": len(en_train), "korean": len(ko_train)},
        "minutes": round((time.time() - t0) / 60, 1),
    }
    understanding._cache.clear()
    understanding.save_pretrained(out)
    return config.metrics
