"""Uniform weight averaging of fine-tuned checkpoints of one lineage (a "model soup", Wortsman et al.
2022): the last stages of a fine-tune from one start lie in one basin, and their mean is a steadier policy
than any single stage, each of which ends wherever its last batches left it."""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint_files import CheckpointError, read_checkpoint, write_checkpoint
from .configuration_vla import VLAConfig


def average_checkpoints(directories: list[str | Path], out: str | Path) -> Path:
    """Write the element-wise mean of the checkpoints' weights to ``out`` with their common config.

    The checkpoints must share one config (architecture, vocabulary and proprioception statistics): weights
    normalised differently, or of another network, have no meaningful mean."""
    if len(directories) < 2:
        raise CheckpointError(f"averaging needs at least two checkpoints, got {len(directories)}")
    loaded = [read_checkpoint(d, VLAConfig.from_dict, "a checkpoint") for d in directories]
    config, first = loaded[0]
    for directory, (other_config, state) in zip(directories[1:], loaded[1:]):
        if other_config != config:
            raise CheckpointError(f"{directory}: config differs from {directories[0]}'s; only checkpoints of one "
                                  "network with one normalisation (one fine-tuning lineage) can be averaged")
        if set(state) != set(first) or any(state[k].shape != first[k].shape for k in first):
            raise CheckpointError(f"{directory}: weights do not match {directories[0]}'s (names or shapes)")
    mean = {}
    for key, tensor in first.items():
        stacked = torch.stack([state[key].double() for _, state in loaded])  # (N, *shape)
        mean[key] = stacked.mean(0).to(tensor.dtype) if tensor.is_floating_point() else tensor
    return write_checkpoint(out, mean, config.to_json(), "vla_xattn")  # as VLAPolicy.save_pretrained


class WeightEMA:
    """An exponential moving average of a model's weights during training (``train.ema_decay``).

    The average trails the live weights by about ``1 / (1 - decay)`` steps; early on the decay is lowered to
    ``(1 + step) / (10 + step)`` so that the first, random weights do not linger in it."""

    def __init__(self, model: torch.nn.Module, decay: float, state: dict[str, torch.Tensor] | None = None) -> None:
        self.decay = decay
        live = model.state_dict()
        source = state if state is not None else live
        self.state = {k: source[k].detach().clone().to(v.device) for k, v in live.items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """Fold in the weights after optimiser step ``step`` (1-based)."""
        decay = min(self.decay, (1 + step) / (10 + step))
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                self.state[key].lerp_(value.detach(), 1.0 - decay)
            else:
                self.state[key].copy_(value)
