"""PyBullet pick-the-cup simulator (installed as ``vla_sim``; never imports rclpy)."""

import ctypes
import os
import sys

import gymnasium


def _import_pybullet_quietly() -> None:
    """PyBullet's C core prints a build banner on stdout at import; keep CLI output clean."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        import pybullet  # noqa: F401
    finally:
        ctypes.CDLL(None).fflush(None)
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


_import_pybullet_quietly()

from .config import COLOURS, MAX_CUPS, CameraConfig, EnvConfig
from .env import PickCupEnv
from .expert import ScriptedExpert

ENV_ID = "VlaPickCup-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="vla_sim.env:PickCupEnv")

__all__ = ["COLOURS", "MAX_CUPS", "CameraConfig", "EnvConfig", "PickCupEnv", "ScriptedExpert", "ENV_ID"]
