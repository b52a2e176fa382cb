"""``train.ema_decay``: the checkpoint is a moving average of the weights; training itself is unchanged and resumes."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from tiny_training import TINY_POLICY
from vla_policy.configuration_vla import VLAConfig
from vla_policy.modeling_vla import VLAPolicy
from vla_policy.training import LIVE_WEIGHTS, STATE_DIR, TrainConfig, train
from vla_policy.weight_average import WeightEMA


def test_the_average_trails_the_weights_with_the_early_decay_lowered():
    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = WeightEMA(net, decay=0.9)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update(net, step=1)  # decay min(0.9, 2/11): mostly the new weights
    assert torch.allclose(ema.state["weight"], torch.full((1, 2), 1 - 2 / 11))
    for step in range(2, 200):
        ema.update(net, step)
    assert torch.allclose(ema.state["weight"], torch.ones(1, 2), atol=1e-6)


def _run(tiny_demos, out, steps, ema_decay, resume=False):
    cfg = TrainConfig(steps=steps, batch_size=8, val_every=100, eval_every=0, checkpoint_every=2, warmup_steps=1,
                      paraphrase=False, ema_decay=ema_decay)
    train([str(tiny_demos)], str(out), VLAConfig(**TINY_POLICY), cfg, resume=resume, progress=False)
    return VLAPolicy.from_pretrained(out).state_dict()


def test_the_checkpoint_is_the_average_training_is_unchanged_and_resume_matches(tiny_demos, tmp_path):
    plain = _run(tiny_demos, tmp_path / "plain", 4, 0.0)
    averaged = _run(tiny_demos, tmp_path / "ema", 4, 0.8)
    live = load_file(str(tmp_path / "ema" / STATE_DIR / LIVE_WEIGHTS))
    float_keys = [k for k, v in plain.items() if v.is_floating_point()]
    # the moving average only watches: the weights trained are a plain run's
    assert all(torch.equal(plain[k], live[k]) for k in plain)
    assert any(not torch.allclose(averaged[k], live[k]) for k in float_keys)
    _run(tiny_demos, tmp_path / "resumed", 2, 0.8)
    resumed = _run(tiny_demos, tmp_path / "resumed", 4, 0.8, resume=True)
    resumed_live = load_file(str(tmp_path / "resumed" / STATE_DIR / LIVE_WEIGHTS))
    for key in plain:
        assert torch.equal(averaged[key], resumed[key]), key
        assert torch.equal(live[key], resumed_live[key]), key


def test_resuming_with_another_ema_setting_is_refused(tiny_demos, tmp_path):
    _run(tiny_demos, tmp_path / "plain", 2, 0.0)
    with pytest.raises(ValueError, match="trained without train.ema_decay"):
        _run(tiny_demos, tmp_path / "plain", 4, 0.8, resume=True)


@pytest.mark.parametrize("bad", [1.0, -0.1, True, "0.9"])
def test_bad_ema_decay_is_refused(bad):
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=bad)
