# Two commands: `make demo` (set up + closed-loop demo) and `make test` (set up + test suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.setup-stamp
# One ROS domain per test run, local discovery only (see README, "ROS 2 and DDS").
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test eval-expert bench clean help
help:
	@echo "make setup         create $(VENV) and install everything (idempotent)"
	@echo "make demo          setup + one closed-loop episode, MP4 in outputs/demo.mp4"
	@echo "make test          setup + the whole test suite"
	@echo "make eval-expert   setup + 500-episode expert evaluation (outputs/eval_expert.json)"
	@echo "make bench         setup + simulator throughput figures"

setup: $(STAMP)

# Re-runs only when the dependency list changes. torch goes first and pinned, so nothing
# later can pull a different (CUDA) build.
$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel "setuptools>=64,<80"
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[ros,dev]"
	$(PY) -c "import torch, pybullet, vla_sim; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $@

demo: setup
	$(VENV)/bin/vla demo --seed 0 --target red --out outputs/demo.mp4

test: setup
	$(PY) -m pytest

eval-expert: setup
	$(VENV)/bin/vla eval --policy expert --episodes 500 --seed 100000 --distractors 0-5 --target random \
		--workers 2 --json outputs/eval_expert.json

bench: setup
	$(PY) -m vla_sim.benchmark

clean:
	rm -rf outputs ros2_ws/build ros2_ws/install ros2_ws/log
