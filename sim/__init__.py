"""PyBullet pick-the-cup simulator (installed as ``vla_sim``; never imports rclpy)."""

import gymnasium

from .config import COLOURS, MAX_CUPS, CameraConfig, EnvConfig
from .env import PickCupEnv
from .expert import CorrectiveExpert, ScriptedExpert

ENV_ID = "VlaPickCup-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="vla_sim.env:PickCupEnv")

__all__ = ["COLOURS", "MAX_CUPS", "CameraConfig", "EnvConfig", "PickCupEnv", "ScriptedExpert", "CorrectiveExpert", "ENV_ID"]
