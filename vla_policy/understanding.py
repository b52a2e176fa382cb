"""Instruction understanding: text -> the task the robot can do (which cup), or a refusal.

A learned policy given "take the cup that is not red" still outputs *some* motion, and it
lifts the red cup. So before the policy sees an instruction, this module decides what it asks
for, and refuses when it asks for something else or when it is unsure:

1. Input checks (no model): type, length, control characters, symbols or emoji only, the
   script (English and Korean are understood; other scripts, and sentences that mix them,
   are refused).
2. English: the frozen MiniLM token features (the same encoder the policy uses) feed a small
   trained head (:class:`InstructionModel`) with three outputs: the sentence's intent (pick, or
   one of the refusal kinds: negation, several cups, another task, a question, a relation the
   robot cannot do, no colour named, not a cup, nonsense, another language); how a pick refers
   to its cup (:data:`REFER_KINDS`: by colour, the red cup on the left / right, the leftmost /
   rightmost cup, the cup closest to / farthest from the robot, the cup next to the blue cup);
   and, per token, whether it is part of the phrase naming the target's colour or the anchor's
   (the cup it is next to). Each phrase is resolved to a cup colour by
   :mod:`vla_policy.colour_names` (matplotlib's 1,100 named colours, typo-tolerant), which is
   how "sapphire" means the blue cup though no training sentence said so.
3. Korean: the bundled MiniLM tokenizer turns Hangul into jamo and maps words such as "빨간"
   to ``[UNK]``, so Korean goes through a small learned character n-gram model beside MiniLM
   (:class:`KoreanModel`) that predicts the same intents and reference kinds, the target's
   colour and the anchor's. The kind and the colours must fit together (:func:`reference_verdict`):
   "the cup on the left" means the leftmost cup; "the leftmost red cup" is refused.
4. Both heads are trained on generated sentences (:mod:`vla_policy.language_corpus`, ``vla
   train-language``) and calibrated (temperature scaling) on held-out sentence frames and words
   never used in training. The robot acts only when the calibrated probability of "pick this
   cup" reaches ``accept_threshold``; below it, it says it is unsure.

The policy is then given the resolved task in its training phrasing ("pick up the red cup", "pick up
the cup next to the blue cup"), so the cup the robot goes for is the cup it said it understood.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import colour_names
from .checkpoint_files import WEIGHTS_NAME, CheckpointError, read_checkpoint, write_checkpoint

INTENTS = ("pick", "negation", "multiple", "other_task", "question", "relation", "no_target",
           "not_a_cup", "nonsense", "other_language")
KO_COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "none", "other")
REFER_KINDS = ("colour", "left", "right", "leftmost", "rightmost", "nearest", "farthest", "next-to")  # vla_sim.referring.KINDS
TAG_ROLES = ("other", "target", "anchor")  # per English token: no colour, the target's colour, the anchor's colour
CUP_COLOURS = KO_COLOURS[:6]
MAX_CHARS = 500
SUPPORTED_REFERENCES = ("the red cup, the red cup on the left or right, the leftmost or rightmost cup, the cup "
                        "closest to or farthest from you, or the cup next to the blue cup")
REASONS = {
    "negation": "it says which cup not to take (a negation): name the cup to pick up",
    "multiple": "it names more than one cup: this robot picks up one cup at a time",
    "other_task": "it asks for another task: this robot only picks up cups",
    "question": "it is a question, not an instruction",
    "relation": "it picks a cup by a relation this robot cannot do (an order, behind, in front, between, the "
                f"middle, or left/right of another cup): it can take {SUPPORTED_REFERENCES}",
    "no_target": "it names no colour: say which cup, e.g. 'the red cup'",
    "not_a_cup": "it asks for an object that is not a cup: this robot only picks up cups",
    "nonsense": "it is not an instruction this robot understands",
    "other_language": "that language is not supported: this robot understands English and Korean",
    # consistency of a pick's reference (not intents)
    "no_anchor": "it says next to which cup without its colour: name it, e.g. 'the cup next to the blue cup'",
}
_KIND_WORDS = {"leftmost": "the leftmost cup", "rightmost": "the rightmost cup", "nearest": "the cup closest to you",
               "farthest": "the cup farthest from you"}


def combination_reason(refer: str, target: str, anchor: str | None = None) -> str:
    """Why a target colour named with a kind that takes none is refused ("the leftmost red cup")."""
    if refer == "next-to":
        return (f"it names the cup's own colour ({target}) and the cup it is next to: say 'the cup next to the "
                f"{anchor or 'blue'} cup' or 'the {target} cup'")
    side = f", or 'the {target} cup on the {refer[:-4]}'" if refer in ("leftmost", "rightmost") else ""
    return (f"it names a colour ({target}) together with '{_KIND_WORDS[refer].removeprefix('the ')}', which this robot "
            f"cannot combine: say '{_KIND_WORDS[refer]}' or 'the {target} cup'{side}")


@dataclass(frozen=True)
class Verdict:
    """What an instruction means to the robot: which cup (a reference: a kind and the colours it
    names), or a one-line refusal."""

    text: str
    target: str | None = None  # the target's colour, for the kinds that name one (colour, left, right)
    refusal: str | None = None
    kind: str = "pick"  # the intent, or "bad_input" / "unknown_colour" / "unknown_words" / "unsure" / "combination" / "no_anchor"
    confidence: float = 1.0
    language: str = "en"
    colour_phrase: str | None = None  # the words that named the colour ("sky blue", "rde")
    refer: str = "colour"  # how it picks the cup (vla_sim.referring.KINDS)
    anchor: str | None = None  # the anchor cup's colour (refer == "next-to")

    @property
    def understood(self) -> bool:
        return self.refusal is None

    @property
    def reference(self):
        """The understood :class:`vla_sim.referring.Reference`."""
        from vla_sim.referring import Reference

        if self.refusal is not None:
            raise ValueError(f"refused instruction has no task: {self.refusal}")
        return Reference(self.refer, self.target, self.anchor)

    @property
    def task_instruction(self) -> str:
        """The resolved task in the policy's training phrasing ("pick up the red cup on the left")."""
        return self.reference.instruction

    @property
    def label(self) -> str | None:
        """Compact name of the understood target: its colour for a colour reference ("red"), else the
        referent ("leftmost cup", "cup next to the blue cup"); None when refused."""
        if self.refusal is not None:
            return None
        return self.target if self.refer == "colour" else self.reference.describe()

    def summary(self) -> str:
        if self.refusal is None:
            via = f" (from '{self.colour_phrase}')" if self.colour_phrase not in (None, self.target, self.anchor) else ""
            return f"{self.reference.describe()}{via}"
        return f"refused: {self.refusal}"


@dataclass
class UnderstandingConfig:
    """Settings of the instruction-understanding heads (saved as ``config.json``)."""

    text_dim: int = 384
    """Hidden size of the frozen text encoder's token features (MiniLM: 384)."""
    dim: int = 128
    """Width of the English head."""
    heads: int = 4
    """Attention heads of the English head's transformer layer."""
    max_tokens: int = 48
    """Longest English instruction in tokens; longer ones are refused."""
    vocab_en: list[str] = field(default_factory=list)
    """English words seen in training sentences. A sentence with another word (other than its colour
    phrase, and beyond a one-letter typo) is refused as unknown: the head's guess about a verb or a
    noun it never saw ("polish the red cup") is not good enough to move an arm. Set by training."""
    ko_vocab: list[str] = field(default_factory=list)
    """Character n-grams the Korean model knows (those seen in training; others are ignored, so a
    new word adds nothing rather than noise). Set by training."""
    ko_dim: int = 96
    """Embedding width of the Korean model."""
    ko_ngrams: tuple[int, ...] = (1, 2, 3)
    """Character n-gram lengths the Korean model reads (spaces count, as word boundaries)."""
    temperature_en: float = 1.0
    """Calibrated softmax temperature of the English intent head (set by training)."""
    temperature_ko: float = 1.0
    """Calibrated softmax temperature of the Korean intent head (set by training)."""
    temperature_refer_en: float = 1.0
    """Calibrated softmax temperature of the English reference-kind head (set by training, on picks)."""
    temperature_aux_ko: float = 1.0
    """Calibrated softmax temperature of the Korean colour, reference-kind and anchor heads (set by training)."""
    accept_threshold: float = 0.9
    """Act only when the calibrated P(pick) times P(reference kind) (Korean: times P(colour), P(anchor)) reaches
    this; else refuse as unsure."""
    tag_threshold: float = 0.5
    """A token belongs to the colour phrase when its calibrated probability reaches this."""
    text_encoder: str = "minilm"
    """Text encoder whose features the English head was trained on (must match the policy's)."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """Held-out figures measured at training time (for the model card)."""

    def __post_init__(self) -> None:
        self.ko_ngrams = tuple(self.ko_ngrams)
        if not 0.0 < self.accept_threshold < 1.0 or not 0.0 < self.tag_threshold < 1.0:
            raise ValueError("accept_threshold and tag_threshold must be in (0, 1)")
        if min(self.temperature_en, self.temperature_ko, self.temperature_refer_en, self.temperature_aux_ko) <= 0:
            raise ValueError("temperatures must be > 0")

    def to_json(self) -> str:
        return json.dumps({"model_type": "vla_understanding", **dataclasses.asdict(self)}, indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "UnderstandingConfig":
        data = dict(data)
        if data.pop("model_type", "vla_understanding") != "vla_understanding":
            raise ValueError("config is not for model_type 'vla_understanding'")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}")
        return cls(**data)


class InstructionModel(nn.Module):
    """English head over frozen token features: intent logits, per-token colour-role logits (the
    target's colour phrase, the anchor's) and the reference kind (colour, left, ..., next-to).
    Small and regularised (feature dropout and noise while training): it must carry what MiniLM
    knows about words it never saw in a training sentence, not memorise the training words."""

    def __init__(self, c: UnderstandingConfig) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Dropout(0.2), nn.Linear(c.text_dim, c.dim), nn.GELU())
        self.layer = nn.TransformerEncoderLayer(c.dim, c.heads, 2 * c.dim, dropout=0.2, batch_first=True,
                                                norm_first=True)
        self.tag_head = nn.Linear(c.dim, len(TAG_ROLES))
        self.intent_head = nn.Sequential(nn.Linear(2 * c.dim, c.dim), nn.GELU(), nn.Linear(c.dim, len(INTENTS)))
        self.refer_head = nn.Sequential(nn.Linear(2 * c.dim, c.dim), nn.GELU(), nn.Linear(c.dim, len(REFER_KINDS)))

    def forward(self, feats: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """feats (B, L, Dt), pad (B, L) True = padding -> intent logits (B, I), per-token role logits
        (B, L, 3: other / target colour / anchor colour), reference-kind logits (B, K)."""
        if self.training:
            feats = feats + 0.1 * feats.std() * torch.randn_like(feats)
        h = self.layer(self.proj(feats), src_key_padding_mask=pad)  # (B, L, D)
        keep = (~pad).unsqueeze(-1).float()  # (B, L, 1)
        mean = (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)  # (B, D)
        peak = h.masked_fill(pad.unsqueeze(-1), -1e4).amax(1)  # (B, D)
        pooled = torch.cat([mean, peak], -1)
        return self.intent_head(pooled), self.tag_head(h), self.refer_head(pooled)


def korean_ngrams(text: str, ngrams: tuple[int, ...]) -> list[str]:
    """Character n-grams of a sentence (spaces as '_' so word edges count)."""
    s = "_" + "_".join(text.split()) + "_"
    return [s[i:i + n] for n in ngrams for i in range(len(s) - n + 1)]


class KoreanModel(nn.Module):
    """Character n-gram bag -> intent, target colour, reference kind and anchor colour logits. Index 0
    stands for every n-gram outside the vocabulary and is fixed at zero."""

    def __init__(self, c: UnderstandingConfig) -> None:
        super().__init__()
        self.index = {g: i + 1 for i, g in enumerate(c.ko_vocab)}
        self.embed = nn.EmbeddingBag(len(c.ko_vocab) + 1, c.ko_dim, mode="mean", padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(c.ko_dim, 2 * c.ko_dim), nn.GELU(), nn.Dropout(0.1))
        self.intent_head = nn.Linear(2 * c.ko_dim, len(INTENTS))
        self.colour_head = nn.Linear(2 * c.ko_dim, len(KO_COLOURS))
        self.refer_head = nn.Linear(2 * c.ko_dim, len(REFER_KINDS))
        self.anchor_head = nn.Linear(2 * c.ko_dim, len(KO_COLOURS))

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat n-gram ids (N,) with per-sentence offsets (B,) -> intent (B, I), target colour (B, C),
        reference kind (B, K), anchor colour (B, C)."""
        h = self.mlp(self.embed(ids, offsets))  # (B, 2 * ko_dim)
        return self.intent_head(h), self.colour_head(h), self.refer_head(h), self.anchor_head(h)


def batch_ngrams(texts: list[str], model: KoreanModel, c: UnderstandingConfig,
                 drop: float = 0.0, rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat vocabulary ids and offsets of a batch; ``drop`` of the n-grams are dropped (training)."""
    ids_per_text = []
    for t in texts:
        ids = [model.index.get(g, 0) for g in korean_ngrams(t, c.ko_ngrams)]
        if drop > 0 and rng is not None:
            keep = rng.random(len(ids)) >= drop
            ids = [i for i, k in zip(ids, keep) if k] or ids
        ids_per_text.append(ids or [0])
    offsets = torch.tensor([0] + [len(g) for g in ids_per_text[:-1]]).cumsum(0)
    return torch.tensor([i for g in ids_per_text for i in g]), offsets


# -- input checks ------------------------------------------------------------------
def _script(ch: str) -> str:
    """'latin', 'hangul' or the Unicode script-ish name of a letter."""
    if "a" <= ch.casefold() <= "z" or "LATIN" in unicodedata.name(ch, ""):
        return "latin"
    name = unicodedata.name(ch, "")
    if "HANGUL" in name:
        return "hangul"
    return name.split(" ")[0].lower() or "unknown"


def check_input(text: Any) -> tuple[str, str | None, str]:
    """(normalised text, refusal or None, language 'en'/'ko') for any input."""
    if not isinstance(text, str):
        return "", f"instruction must be text, got {type(text).__name__}", "en"
    if len(text) > MAX_CHARS:
        return text[:80], f"too long ({len(text)} characters; at most {MAX_CHARS})", "en"
    text = unicodedata.normalize("NFKC", text)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") and ch not in "\t\n\r" for ch in text):
        shown = "".join("?" if unicodedata.category(ch).startswith("C") else ch for ch in text)
        return " ".join(shown.split()), "it contains control characters", "en"
    clean = " ".join(text.split())
    letters = [ch for ch in clean if ch.isalpha()]
    if not clean:
        return clean, "empty instruction", "en"
    if not letters:
        return clean, "it has no words (only symbols, digits or emoji)", "en"
    scripts = sorted({_script(ch) for ch in letters})
    if len(scripts) > 1:
        return clean, f"it mixes scripts ({', '.join(scripts)}): use one language", "en"
    if scripts[0] not in ("latin", "hangul"):
        return clean, f"that language is not supported ({scripts[0]} script): this robot understands English and Korean", "en"
    # Emoji and other symbols carry no instruction: drop them ("pick up the red cup 🙂").
    clean = " ".join("".join(ch for ch in clean if not unicodedata.category(ch).startswith("S")).split())
    return clean, None, "ko" if scripts[0] == "hangul" else "en"


class Understanding:
    """Loads the trained heads beside a (shared) text encoder; :meth:`understand` gives a
    :class:`Verdict` per instruction, cached, within ~20 ms on a CPU."""

    def __init__(self, config: UnderstandingConfig, english: InstructionModel, korean: KoreanModel,
                 text_encoder: Any | None = None) -> None:
        self.config = config
        self.english, self.korean = english.eval(), korean.eval()
        self.words = WordList(config.vocab_en)
        self.ko_grams = set(config.ko_vocab)
        self._encoder = text_encoder
        self._cache: dict[str, Verdict] = {}
        self.last_ms = 0.0

    @property
    def encoder(self):
        if self._encoder is None:
            from .language import TextEncoder

            self._encoder = TextEncoder(self.config.text_encoder)
        return self._encoder

    def warm_up(self) -> None:
        """Load everything and run each path once (the first call pays for lazy initialisation)."""
        self.understand("pick up the red cup")
        self.understand("빨간 컵을 집어")
        self._cache.clear()

    def understand(self, text: Any) -> Verdict:
        key = text if isinstance(text, str) and len(text) <= MAX_CHARS else None
        if key is not None and key in self._cache:
            return self._cache[key]
        t0 = time.perf_counter()
        verdict = self._understand(text)
        self.last_ms = (time.perf_counter() - t0) * 1e3
        if key is not None:
            if len(self._cache) > 1000:
                self._cache.clear()
            self._cache[key] = verdict
        return verdict

    def _understand(self, text: Any) -> Verdict:
        clean, refusal, language = check_input(text)
        if refusal is not None:
            return Verdict(clean, refusal=refusal, kind="bad_input", language=language)
        return self._korean(clean) if language == "ko" else self._english(clean)

    @torch.no_grad()
    def _english(self, text: str) -> Verdict:
        c = self.config
        tok = self.encoder.tokenizer(text, truncation=False, return_offsets_mapping=True)
        if len(tok["input_ids"]) > c.max_tokens:
            return Verdict(text, refusal=f"too long for the language model ({len(tok['input_ids'])} tokens; "
                           f"at most {c.max_tokens})", kind="bad_input")
        ids = torch.tensor([tok["input_ids"]])
        model = self.encoder.model
        hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.float()  # (1, L, Dt)
        pad = torch.zeros(ids.shape, dtype=torch.bool)
        intent_logits, tag_logits, refer_logits = self.english(hidden, pad)
        probs = torch.softmax(intent_logits[0] / c.temperature_en, -1)
        intent = INTENTS[int(probs.argmax())]
        if intent != "pick":
            return Verdict(text, refusal=REASONS[intent], kind=intent, confidence=float(probs.max()))
        roles = torch.softmax(tag_logits[0], -1).numpy()  # (L, 3)
        targets = colour_spans(text, tok["offset_mapping"], roles[:, 1], c.tag_threshold)
        anchors = colour_spans(text, tok["offset_mapping"], roles[:, 2], c.tag_threshold)
        p_pick = float(probs[0])
        unknown = self.words.unknown(text, targets + anchors)
        if unknown:
            return Verdict(text, refusal=f"it uses words this robot was not taught ({', '.join(unknown[:3])}): "
                           "say it with other words", kind="unknown_words", confidence=p_pick)
        refer_probs = torch.softmax(refer_logits[0] / c.temperature_refer_en, -1)
        refer = REFER_KINDS[int(refer_probs.argmax())]
        confidence = p_pick * float(refer_probs.max())
        if confidence < c.accept_threshold:
            return Verdict(text, refusal=f"unsure what it asks (confidence {confidence:.2f} < "
                           f"{c.accept_threshold:.2f})", kind="unsure", confidence=confidence)
        if refer == "next-to" and len(targets + anchors) > 1 and not (targets and anchors):
            # "the red cup next to the blue cup" with both colours tagged alike: the last one is the anchor
            # (refused as a combination either way; this only gives the right reason)
            both = targets + anchors
            targets, anchors = both[:-1], both[-1:]
        target = _resolve_phrases(targets)
        anchor = _resolve_phrases(anchors)
        for cup, phrase, refusal, kind in (target, anchor):
            if refusal is not None:
                return Verdict(text, refusal=refusal, kind=kind, confidence=confidence, colour_phrase=phrase)
        phrase = " / ".join(p for p in (target[1], anchor[1]) if p) or None
        return reference_verdict(text, refer, target[0], anchor[0], confidence, "en", phrase)

    @torch.no_grad()
    def _korean(self, text: str) -> Verdict:
        c = self.config
        ids, offsets = batch_ngrams([text], self.korean, c)
        intent_logits, *aux_logits = self.korean(ids, offsets)
        intent_probs = torch.softmax(intent_logits[0] / c.temperature_ko, -1)
        colour_probs, refer_probs, anchor_probs = (torch.softmax(x[0] / c.temperature_aux_ko, -1) for x in aux_logits)
        intent = INTENTS[int(intent_probs.argmax())]
        if intent != "pick":
            return Verdict(text, refusal=REASONS[intent], kind=intent, confidence=float(intent_probs.max()),
                           language="ko")
        unknown = [w for w in korean_words(text) if not all(g in self.ko_grams for g in korean_ngrams(w, (2,)))]
        if unknown:
            return Verdict(text, refusal=f"it uses words this robot was not taught ({', '.join(unknown[:3])}): "
                           "say it with other words", kind="unknown_words", confidence=float(intent_probs[0]),
                           language="ko")
        colour = KO_COLOURS[int(colour_probs.argmax())]
        anchor = KO_COLOURS[int(anchor_probs.argmax())]
        refer = REFER_KINDS[int(refer_probs.argmax())]
        confidence = float(intent_probs[0] * colour_probs.max() * refer_probs.max() * anchor_probs.max())
        if "other" in (colour, anchor):
            return Verdict(text, refusal="it names a colour no cup has", kind="unknown_colour",
                           confidence=confidence, language="ko")
        if confidence < c.accept_threshold:
            return Verdict(text, refusal=f"unsure what it asks (confidence {confidence:.2f} < "
                           f"{c.accept_threshold:.2f})", kind="unsure", confidence=confidence, language="ko")
        return reference_verdict(text, refer, None if colour == "none" else colour,
                                 None if anchor == "none" else anchor, confidence, "ko")

    # -- persistence ---------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        state = {f"english.{k}": v for k, v in self.english.state_dict().items()}
        state.update({f"korean.{k}": v for k, v in self.korean.state_dict().items()})
        return write_checkpoint(directory, state, self.config.to_json(), "vla_understanding")

    @classmethod
    def from_pretrained(cls, directory: str | Path, text_encoder: Any | None = None) -> "Understanding":
        """Load ``config.json`` + ``model.safetensors`` (nothing is unpickled)."""
        directory = Path(directory)
        config, state = read_checkpoint(directory, UnderstandingConfig.from_dict, "an understanding model")
        weights_file = directory / WEIGHTS_NAME
        english, korean = InstructionModel(config), KoreanModel(config)
        for prefix, module in (("english.", english), ("korean.", korean)):
            part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            expected = module.state_dict()
            if set(part) != set(expected) or any(part[k].shape != expected[k].shape for k in expected):
                raise CheckpointError(f"{weights_file}: weights do not match config.json ({prefix[:-1]} head)")
            module.load_state_dict(part)
        if text_encoder is not None and getattr(text_encoder, "dim", config.text_dim) != config.text_dim:
            raise CheckpointError(f"{directory}: trained on {config.text_dim}-d text features, "
                                  f"the encoder gives {text_encoder.dim}")
        return cls(config, english, korean, text_encoder)


def _resolve_phrases(spans: list[str]) -> tuple[str | None, str | None, str | None, str | None]:
    """(cup colour, phrase, refusal, refusal kind) of the colour phrases of one role; all None without any."""
    if not spans:
        return None, None, None, None
    phrase = " / ".join(dict.fromkeys(spans))
    meanings = [colour_names.resolve(s) for s in spans]
    for m in meanings:
        if m.cup is None:
            return None, m.phrase, m.refusal, "unknown_colour"
    cups = sorted({m.cup for m in meanings if m.cup})
    if len(cups) > 1:
        return None, phrase, (f"it names {len(cups)} colours ({', '.join(cups)}): this robot picks up one cup at "
                              "a time"), "multiple"
    return cups[0], phrase, None, None


def reference_verdict(text: str, refer: str, target: str | None, anchor: str | None, confidence: float,
                      language: str = "en", phrase: str | None = None) -> Verdict:
    """The verdict for a pick whose reference kind, target colour and anchor colour were read: acted on
    when they fit together, else refused with the reason.

    - ``left`` / ``right`` with no colour ("the cup on the left") means the leftmost / rightmost cup;
    - a target colour with a kind that takes none ("the leftmost red cup", "the red cup next to the blue
      one") is refused: the robot cannot combine them;
    - an anchor colour with a kind other than next-to is a relation to another cup ("the cup left of the
      blue one"): refused as a relation; next-to with no anchor colour is refused as well."""
    refused = functools.partial(Verdict, text, confidence=confidence, language=language, colour_phrase=phrase)
    if anchor is not None and refer != "next-to":
        return refused(refusal=REASONS["relation"], kind="relation")
    if refer == "colour":
        if target is None:
            return refused(refusal=REASONS["no_target"], kind="no_target")
    elif refer in ("left", "right"):
        if target is None:
            refer = f"{refer}most"
    elif target is not None:
        return refused(refusal=combination_reason(refer, target, anchor), kind="combination")
    elif refer == "next-to" and anchor is None:
        return refused(refusal=REASONS["no_anchor"], kind="no_anchor")
    return Verdict(text, target=target, confidence=confidence, language=language, colour_phrase=phrase,
                   refer=refer, anchor=anchor)


def english_words(text: str) -> list[tuple[int, int, str]]:
    """(start, end, lower-case word) of the letter runs of a sentence."""
    return [(m.start(), m.end(), m.group().casefold()) for m in re.finditer(r"[A-Za-z]+", text)]


def korean_words(text: str) -> list[str]:
    """Whitespace-separated words without punctuation."""
    return [w for w in (re.sub(r"[^\w]", "", t) for t in text.split()) if w]


class WordList:
    """Known words, with one-edit typos of words of 3+ letters matched through their deletions."""

    def __init__(self, words: list[str]) -> None:
        self.words = set(words)
        self.deletions: set[str] = set()
        for w in self.words:
            if len(w) >= 3:
                self.deletions.update(w[:i] + w[i + 1:] for i in range(len(w)))

    def known(self, word: str) -> bool:
        if word in self.words or not self.words:
            return True
        if len(word) < 3:
            return False
        variants = {word[:i] + word[i + 1:] for i in range(len(word))}
        # a deleted letter (variant of ours is a known word), an extra one (ours is a deletion of a known
        # word), or a swapped / replaced one (both share a deletion)
        return bool(variants & self.words) or word in self.deletions or bool(variants & self.deletions)

    def unknown(self, text: str, colour_phrases: list[str]) -> list[str]:
        """Words of ``text`` that are not known, other than the words of a colour phrase up to its last
        colour word ("school bus yellow", "sapphrie"). A word after it is a noun the tagger took in
        ("the green umbrella"): it must be known like any other."""
        inside: set[str] = set()
        for phrase in colour_phrases:
            words = [w for _, _, w in english_words(phrase)]
            last = max((i for i, w in enumerate(words) if _is_colour_word(w)), default=len(words) - 1)
            inside.update(words[:last + 1])
        return list(dict.fromkeys(w for _, _, w in english_words(text) if w not in inside and not self.known(w)))


@functools.lru_cache(maxsize=4096)
def _is_colour_word(word: str) -> bool:
    """A word of a named colour or a modifier, or one that means a cup colour alone (a typo: "rde")."""
    return word in colour_names.colour_words() or colour_names.resolve(word).cup is not None


def colour_spans(text: str, offsets: list[tuple[int, int]], tags: np.ndarray, threshold: float) -> list[str]:
    """Phrases of consecutive tagged tokens, widened to whole words ("sky blue", "rde"), and to the
    colour words just before them ("raspberry red", "school bus yellow": the tagger may mark only
    the hue word of a long colour name)."""
    spans: list[list[int]] = []
    for (start, end), p in zip(offsets, tags):
        if end <= start or p < threshold:
            continue
        if spans and start - spans[-1][1] <= 1 and re.fullmatch(r"[\s\-]?", text[spans[-1][1]:start]):
            spans[-1][1] = end
        else:
            spans.append([start, end])
    colour_words = colour_names.colour_words()
    out = []
    for start, end in spans:
        while start > 0 and text[start - 1].isalnum():
            start -= 1
        while end < len(text) and text[end].isalnum():
            end += 1
        while True:
            before = re.search(r"([A-Za-z]+)[\s\-]+$", text[:start])
            if before is None or before.group(1).casefold() not in colour_words:
                break
            start = before.start(1)
        out.append(text[start:end])
    return list(dict.fromkeys(out))


DEFAULT_UNDERSTANDING = Path(__file__).resolve().parent / "checkpoints" / "understanding"


def load_understanding(path: str | Path | None = None, text_encoder: Any | None = None) -> Understanding:
    """The shipped model (``None`` or ``"default"``) or a trained folder."""
    if path in (None, "default"):
        path = DEFAULT_UNDERSTANDING
    return Understanding.from_pretrained(path, text_encoder)
