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


_domains = iter(range(100))


def _ros_env_for(patch) -> dict:
    import os

    domain = 1 + (os.getpid() * 7 + next(_domains)) % 100  # distinct per test and (likely) per concurrent run
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1",
               PYTHONFAULTHANDLER="1")  # a hung node killed by SIGABRT prints every thread's stack
    patch.setenv("ROS_DOMAIN_ID", str(domain))
    patch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return env


@pytest.fixture
def ros_env(monkeypatch):
    """Environment for ROS 2 processes of one test: its own domain id, local discovery only."""
    return _ros_env_for(monkeypatch)


@pytest.fixture(scope="module")
def ros_env_module():
    """As ``ros_env``, for nodes shared by the tests of one module (one domain for all of them)."""
    with pytest.MonkeyPatch.context() as patch:
        yield _ros_env_for(patch)


@pytest.fixture(scope="session")
def tiny_demos(tmp_path_factory):
    """Three demonstrations on disk, shared by the training tests (tests/tiny_training.py)."""
    from tiny_training import write_demos

    return write_demos(tmp_path_factory.mktemp("tiny_demos"))
