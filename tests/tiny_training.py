"""A tiny policy and three demonstrations: enough for the training tests that compare runs with each other."""

from __future__ import annotations

from pathlib import Path

# A network small enough for a few CPU training steps in a test.
TINY_POLICY = dict(image_size=128, vision_channels=(8, 16), dim=32, heads=2, blocks=1, chunk_size=4)


def write_demos(root: Path) -> Path:
    """Three scripted demonstrations (seeds no other test or evaluation uses) in ``root``."""
    from vla_policy.demonstrations import generate

    generate(root, episodes=3, seed=3_400_000, workers=1, progress=False)
    return root
