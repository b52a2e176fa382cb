"""Missing modalities at test time (``vla eval --fault``): each fault changes what it says, and the shipped
policy behind the decision core holds instead of lifting when the camera or the pose freezes."""

from __future__ import annotations

import numpy as np
import pytest

from vla_sim.modality_faults import MODALITY_FAULTS, ModalityFault


def _obs(step: int) -> dict:
    return {"image": np.full((4, 4, 3), step, np.uint8), "ee_pose": np.array([0.4 + step, 0.0, 0.3]),
            "gripper_width": np.array(0.08 - step / 100), "joint_positions": np.full(7, float(step))}


@pytest.mark.parametrize("kind", MODALITY_FAULTS)
def test_each_fault_changes_only_its_own_input(kind):
    fault = ModalityFault(kind)
    assert fault.instruction("pick up the red cup") == ("" if kind == "blank-instruction" else "pick up the red cup")
    live = [_obs(step) for step in range(3)]
    seen = [fault.observe(raw) for raw in live]
    for step, obs in enumerate(seen):
        image_from = {"blank-camera": None, "frozen-camera": 0}.get(kind, step)
        if image_from is None:
            assert not obs["image"].any()
        else:
            np.testing.assert_array_equal(obs["image"], _obs(image_from)["image"])
        pose_from = 0 if kind == "frozen-proprio" else step
        for key in ("ee_pose", "gripper_width", "joint_positions"):
            np.testing.assert_array_equal(obs[key], _obs(pose_from)[key])
        for key, value in _obs(step).items():  # the simulator's own observation is not touched
            np.testing.assert_array_equal(live[step][key], value)


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="unknown fault 'deaf'"):
        ModalityFault("deaf")


@pytest.mark.parametrize("kind, state", [("frozen-camera", "camera frozen"), ("frozen-proprio", "pose frozen")])
def test_the_shipped_policy_holds_on_a_frozen_input(kind, state):
    """Closed loop: the frozen input is seen by the decision core, the arm stops, no cup is lifted."""
    from vla_policy.agent import make_policy_agent
    from vla_sim import EnvConfig
    from vla_sim.evaluation import EpisodeSpec, evaluate

    # 5 s episodes: the arm sets off within the first second, the frozen input shows within 3 cm of motion
    summary = evaluate(EnvConfig(num_cups=(3, 4), episode_seconds=5.0), make_policy_agent,
                       [EpisodeSpec(seed=900 + i, target="red", expect="hold", fault=kind) for i in range(2)], workers=1,
                       progress=False)
    assert summary["successes"] == 2 and summary["lifted"] == 0, summary["outcomes"]
    assert all(state in r["state"] for r in summary["per_episode"])
