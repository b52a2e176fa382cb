"""Agents for the simulator's step clock (``vla eval``, ``vla demo``, training's closed-loop
check): the :class:`~vla_policy.decision.DecisionCore` with a policy behind it, driven the way
the ROS policy node drives it, one control step (0.1 s) at a time."""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from .decision import ABSTAINED, ACT, REFUSED, Command, DecisionConfig, DecisionCore, decision_config_for
from .training_view import TrainingViewWarp
from .understanding import Verdict


class PolicyAgent:
    """A learned :class:`~vla_policy.modeling_vla.VLAPolicy` behind the decision core."""

    def __init__(self, policy: Any, understanding: Any, config: DecisionConfig | None = None,
                 calibration: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        self.policy = policy
        self.core = DecisionCore(understanding, config or decision_config_for(policy.config))
        # The camera's calibration, (K, T_base_cam) of this episode's camera: with it every frame is
        # reprojected into the training camera's view (vla_policy.training_view) before anything sees it.
        self.calibration = calibration
        self.warp: TrainingViewWarp | None = None

    def start(self, instruction: str) -> Verdict:
        self.warp = None  # the camera may have moved between episodes: re-read the calibration
        return self.core.set_instruction(instruction)

    def step(self, obs: dict[str, Any], t: float) -> Command:
        """Command for the observation at time ``t`` (s); the policy sees only the understood task."""
        if self.calibration is not None:
            obs = {**obs, "image": self._training_view(obs["image"])}
        core = self.core
        core.note_frame(t, obs["image"])
        core.note_state(t, obs["ee_pose"])
        if "gripper_width" in obs:
            core.note_gripper(obs["gripper_width"][0])
        text = core.policy_instruction()
        # Chunk queue mode (ensemble_decay < 0) predicts only when the queue is used up.
        if text is not None and (core.config.ensemble_decay >= 0 or core.ensembler.action(t) is None):
            self._predict(obs, t, text)
            # While the abstain vote is open the arm holds still, so the camera keeps showing this view:
            # the ROS node gets the vote's frames from a 30 Hz camera within its first control period.
            # On the simulator's 10 Hz step clock that is this same frame, predicted until the vote is in
            # (holding 0.2 s for two more steps instead cost 7 of 9 failed episodes in split B, measured).
            while not core.vote.decided and core.policy_instruction() is not None:
                self._predict(obs, t, text)
        return core.command(t)

    def _training_view(self, image: np.ndarray) -> np.ndarray:
        if self.warp is None:
            K, T_base_cam = self.calibration()
            h, w = image.shape[:2]
            self.warp = TrainingViewWarp(K, T_base_cam, w, h, self.policy.config.image_size)
        return self.warp(image)

    def _predict(self, obs: dict[str, Any], t: float, text: str) -> None:
        core = self.core
        locate = core.locate_instruction()
        if locate is not None:  # next-to / left-right with a marker policy: find the cups first, on this frame
            core.set_marker(*self.policy.locate({**obs, "instruction": locate}, peaks=core.locate_peaks()))
        checks = core.check_queries()
        if checks:  # the colour cross-check, on the vote's first frame
            core.check_colour([self.policy.locate({**obs, "instruction": q}) for q in checks])
        chunk, present = self.policy.predict_action_chunk({**obs, "instruction": text, "marker_uv": core.marker_uv})
        keypoints = core.wants_keypoints()
        core.add_prediction(t, chunk, present, target_uv=self.policy.last_target_uv if keypoints else None,
                            ee_uv=self.policy.last_ee_uv if keypoints else None)


class ExpertAgent:
    """The scripted (privileged) expert behind the same understanding: it knows where the target
    is, but acts only on an instruction the robot understood, and refuses the others alike."""

    def __init__(self, expert: Any, understanding: Any | None) -> None:
        self.expert, self.understanding = expert, understanding
        self.verdict: Verdict | None = None

    def start(self, instruction: str) -> Verdict:
        self.expert.reset()
        if self.understanding is None:  # no language: the task is the scene's own reference
            ref = self.expert.env.scene.reference
            self.verdict = Verdict(instruction, target=ref.colour, refer=ref.kind, anchor=ref.anchor)
        else:
            self.verdict = self.understanding.understand(instruction)
        return self.verdict

    def step(self, obs: dict[str, Any], t: float) -> Command:
        assert self.verdict is not None, "start() first"
        if not self.verdict.understood:
            return Command(REFUSED, f"refused: {self.verdict.refusal}", 1.0)
        action = np.asarray(self.expert.select_action(obs), dtype=np.float64)
        if self.expert.abstained:
            return Command(ABSTAINED, "abstained: the named cup is not in view", 1.0)
        return Command(ACT, "acting", float(action[3]), action)


# -- factories (module-level, so evaluation workers can receive them pickled) ------------
def make_expert_agent(env: Any = None, understanding: str | None = "default") -> ExpertAgent:
    """The scripted expert; ``understanding=None`` skips language (data generation, benchmarks)."""
    from vla_sim.expert import ScriptedExpert

    from .understanding import load_understanding

    return ExpertAgent(ScriptedExpert(env), load_understanding(understanding) if understanding else None)


def make_policy_agent(env: Any = None, checkpoint: str = "default", understanding: str = "default",
                      device: str | None = None, calibrated: bool = False,
                      decision: dict[str, Any] | None = None) -> PolicyAgent:
    """A checkpoint (``default`` = the shipped one) with the understanding model, sharing one text encoder.
    ``calibrated``: the agent knows ``env``'s camera (intrinsics and pose, as a hand-eye calibration
    would give them) and sees every frame reprojected into the training camera's view. ``decision``:
    :class:`~vla_policy.decision.DecisionConfig` fields to change from the policy's."""
    import torch

    from . import DEFAULT_CHECKPOINT
    from .modeling_vla import VLAPolicy
    from .understanding import load_understanding

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    policy = VLAPolicy.from_pretrained(DEFAULT_CHECKPOINT if checkpoint == "default" else checkpoint, device=device)
    calibration = None
    if calibrated:
        if env is None:
            raise ValueError("a calibrated agent needs the environment whose camera it is given")
        calibration = functools.partial(_camera_calibration, env)
    return PolicyAgent(policy, load_understanding(understanding, policy.text_encoder),
                       decision_config_for(policy.config, **(decision or {})), calibration=calibration)


def _camera_calibration(env: Any) -> tuple[np.ndarray, np.ndarray]:
    """(K, T_base_cam) of ``env``'s camera this episode (perturbed or not): what a calibration measures."""
    return env.camera.K, env.camera.T_base_cam
