"""The on-disk form shared by every model of the project: ``config.json`` + ``model.safetensors``
in one folder, written atomically and read back without unpickling anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be loaded, with the reason."""


def write_checkpoint(directory: str | Path, state: dict[str, torch.Tensor], config_json: str, model_type: str) -> Path:
    """Write the weights (atomically: a reader never sees half a file) and the config."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (WEIGHTS_NAME + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp),
              metadata={"format": "pt", "model_type": model_type})
    tmp.replace(directory / WEIGHTS_NAME)
    (directory / CONFIG_NAME).write_text(config_json + "\n")
    return directory


def read_checkpoint(directory: str | Path, parse_config: Callable[[dict[str, Any]], Any], what: str
                    ) -> tuple[Any, dict[str, torch.Tensor]]:
    """(config, CPU state dict) of a folder; :class:`CheckpointError` naming the file otherwise.
    ``what`` names the kind of folder in the message ("a checkpoint", "an understanding model")."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    config_file, weights_file = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for f in (config_file, weights_file):
        if not f.is_file():
            raise CheckpointError(f"{directory}: missing {f.name} ({what} is {CONFIG_NAME} + {WEIGHTS_NAME})")
    try:
        config = parse_config(json.loads(config_file.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_file}: invalid config ({exc})") from None
    try:
        state = load_file(str(weights_file), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights_file}: unreadable safetensors file, truncated or corrupt ({exc})") from None
    return config, state
