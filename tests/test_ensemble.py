"""Temporal ensembling in time (ROS node) and in steps (simulator) agree; the abstain vote."""

import numpy as np

from vla_policy.ensemble import AbstainVote, ChunkEnsembler, binarise_gripper


def chunk(value: float, k: int = 4) -> np.ndarray:
    return np.stack([np.full(4, value + i) for i in range(k)])  # action i of the chunk = value + i


def test_single_chunk_is_played_in_time():
    ens = ChunkEnsembler(decay=0.1, step_seconds=0.1)
    ens.add(10.0, chunk(0.0))
    assert ens.action(10.0)[0] == 0.0
    assert ens.action(10.05)[0] == 0.0  # still the first step
    assert ens.action(10.25)[0] == 2.0
    assert ens.action(10.4) is None  # past the horizon: the caller must stop the arm


def test_older_prediction_weighs_more():
    ens = ChunkEnsembler(decay=0.5, step_seconds=1.0)
    ens.add(0.0, chunk(0.0))  # predicts 1.0 for t = 1
    ens.add(1.0, chunk(10.0))  # predicts 10.0 for t = 1
    w_old, w_new = 1.0, np.exp(-0.5)
    expected = (1.0 * w_old + 10.0 * w_new) / (w_old + w_new)
    assert np.isclose(ens.action(1.0)[0], expected)


def test_negative_decay_plays_newest_chunk_only():
    ens = ChunkEnsembler(decay=-1.0, step_seconds=1.0)
    ens.add(0.0, chunk(0.0))
    ens.add(1.0, chunk(10.0))
    assert ens.action(2.0)[0] == 11.0


def test_abstain_vote_decides_once_on_the_mean():
    vote = AbstainVote(threshold=0.5, window=3)
    assert not vote.add(0.1) and not vote.add(0.2)  # undecided: keep acting
    assert vote.add(0.3) and vote.decided
    assert vote.add(0.99)  # later evidence does not flip a decision
    vote.reset()
    for p in (0.9, 0.1, 0.8):
        vote.add(p)
    assert not vote.abstained


def test_gripper_is_binarised():
    assert binarise_gripper(np.array([0.1, 0.0, 0.0, 0.51]))[3] == 1.0
    assert binarise_gripper(np.array([0.1, 0.0, 0.0, 0.49]))[3] == 0.0
