"""Shared fixtures: small, fast environments (2-core CI machine)."""

import pytest

from vla_sim import EnvConfig, PickCupEnv


@pytest.fixture
def make_env():
    """Factory of environments that are closed after the test."""
    envs: list[PickCupEnv] = []

    def factory(**overrides) -> PickCupEnv:
        env = PickCupEnv(EnvConfig(**overrides))
        envs.append(env)
        return env

    yield factory
    for env in envs:
        env.close()
