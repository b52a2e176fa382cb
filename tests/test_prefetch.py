"""``train.prefetch``: the next batch drawn on a thread gives the batches, weights and resume of a plain loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_training import TINY_POLICY
from vla_policy.configuration_vla import VLAConfig
from vla_policy.dataset import list_episodes
from vla_policy.modeling_vla import VLAPolicy
from vla_policy.prefetch import BatchPrefetcher
from vla_policy.training import DemoSampler, TrainConfig, train


def _sampler(tiny_demos, seed: int) -> tuple[DemoSampler, np.random.Generator]:
    episodes = list_episodes(tiny_demos)
    ids = {e.meta["instruction"]: i for i, e in enumerate(episodes)}
    rng = np.random.default_rng(seed)
    return DemoSampler(episodes, VLAConfig(**TINY_POLICY), TrainConfig(paraphrase=False), ids, rng), rng


def test_prefetched_batches_and_generator_states_are_the_plain_loops(tiny_demos):
    plain, plain_rng = _sampler(tiny_demos, 0)
    ahead, ahead_rng = _sampler(tiny_demos, 0)
    prefetcher = BatchPrefetcher(lambda: ahead.sample(8), ahead_rng, depth=2)
    try:
        for _ in range(5):
            want, got = plain.sample(8), prefetcher.next()
            assert want.keys() == got.keys()
            for key in want:
                assert torch.equal(want[key], got[key]), key
            # what a checkpoint saves: the state after the batch handed out, not after those drawn ahead
            assert prefetcher.rng_state == plain_rng.bit_generator.state
    finally:
        prefetcher.close()


def test_a_sampling_error_reaches_the_training_loop():
    def broken():
        raise OSError("episode file vanished")

    prefetcher = BatchPrefetcher(broken, np.random.default_rng(0))
    try:
        with pytest.raises(OSError, match="vanished"):
            prefetcher.next()
    finally:
        prefetcher.close()


def test_prefetch_trains_the_same_weights_and_resumes_the_same(tiny_demos, tmp_path):
    def run(out, steps, prefetch, resume=False):
        cfg = TrainConfig(steps=steps, batch_size=8, val_every=100, eval_every=0, checkpoint_every=2,
                          warmup_steps=1, paraphrase=False, prefetch=prefetch)
        train([str(tiny_demos)], str(tmp_path / out), VLAConfig(**TINY_POLICY), cfg, resume=resume,
              progress=False)
        return VLAPolicy.from_pretrained(tmp_path / out).state_dict()

    plain = run("plain", 4, prefetch=False)
    ahead = run("ahead", 4, prefetch=True)
    run("resumed", 2, prefetch=True)
    resumed = run("resumed", 4, prefetch=True, resume=True)
    for name, value in plain.items():
        assert torch.equal(value, ahead[name]), name
        assert torch.equal(value, resumed[name]), name
