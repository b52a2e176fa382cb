"""The vision-language-action policy library (configuration, model, data, training); never imports rclpy."""

from pathlib import Path

from .configuration_vla import VLAConfig

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "default"
"""The shipped checkpoint that ``--policy default`` resolves to."""

__all__ = ["VLAConfig", "DEFAULT_CHECKPOINT"]
