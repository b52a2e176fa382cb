"""Parity: the shared sentence list gets the same verdict through the ROS graph (the policy
node over DDS) as through `vla eval`'s decision core in this process."""

import pytest

pytest.importorskip("rclpy")

from ros_probe import Probe, start_node, stop  # noqa: E402


def statuses_over_dds(ros_env: dict, normalised: dict[str, str], *params: str) -> dict[str, dict]:
    """Publish each sentence on /instruction to a policy node started with ``params``; the node's
    /vla/status values for it, found by the normalised instruction text ``normalised[sentence]``."""
    from diagnostic_msgs.msg import DiagnosticStatus
    from std_msgs.msg import String

    from vla_ros import qos, topics

    policy = start_node("vla_policy_node", ros_env, "torch_threads:=1", "publish_attention:=false", *params)
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    found: dict[str, dict] = {}
    try:
        statuses: list[dict] = []
        probe.node.create_subscription(DiagnosticStatus, topics.STATUS, lambda m: statuses.append(
            {kv.key: kv.value for kv in m.values}), qos.COMMAND_QOS)
        pub = probe.node.create_publisher(String, topics.INSTRUCTION, qos.INSTRUCTION_QOS)
        probe.spin_until(lambda: pub.get_subscription_count() > 0 and statuses, 120,
                         "the policy node (model loading)", alive=(policy,))
        for text, norm in normalised.items():
            seen = len(statuses)
            pub.publish(String(data=text))
            probe.spin_until(lambda: any(s["instruction"] == norm for s in statuses[seen:]), 10,
                             f"the node's status for {text[:40]!r}", alive=(policy,))
            found[text] = next(s for s in statuses[seen:] if s["instruction"] == norm)
    finally:
        probe.close()
        out = stop(policy)
    assert "Traceback" not in out, out[-3000:]
    return found


def test_every_parity_sentence_gets_the_same_verdict_over_dds(ros_env):
    from vla_policy.language_corpus import PARITY
    from vla_policy.understanding import load_understanding

    assert len(PARITY) >= 40
    local = load_understanding()  # what vla eval decides
    verdicts = {text: local.understand(text) for text, _ in PARITY}
    statuses = statuses_over_dds(ros_env, {text: v.text for text, v in verdicts.items()})
    mismatches = []
    for text, expected in PARITY:
        ros, verdict = statuses[text], verdicts[text]
        ros_target = ros["understood"].removesuffix(" cup") or None
        if ros_target != verdict.target or ros["refusal"] != (verdict.refusal or "") or ros_target != expected:
            mismatches.append((text[:60], expected, verdict.target, ros_target, ros["refusal"]))
        if expected is None:
            assert ros["state"].startswith("refused: "), ros
    assert not mismatches, mismatches


@pytest.mark.parametrize("checkpoint", ["default", "colour_v2"])
def test_referring_sentences_get_the_same_verdict_over_dds(ros_env, checkpoint):
    """Relational instructions: the node with a checkpoint decides each one as `vla eval`'s decision core
    does with that checkpoint's config (the shipped default understands the relations; the colour-only
    v2 refuses them itself; relations no policy does are refused by both)."""
    import json
    from pathlib import Path

    from vla_policy.configuration_vla import VLAConfig
    from vla_policy.decision import DecisionCore, decision_config_for
    from vla_policy.language_corpus import PARITY_REFERRING
    from vla_policy.understanding import load_understanding

    folder = Path(__file__).resolve().parents[1] / "vla_policy" / "checkpoints" / checkpoint
    config = VLAConfig.from_dict(json.loads((folder / "config.json").read_text()))
    core = DecisionCore(load_understanding(), decision_config_for(config))  # what vla eval decides
    expected = {}
    for text in PARITY_REFERRING:
        verdict = core.set_instruction(text)
        expected[text] = (verdict.text, verdict.reference.describe() if verdict.understood else "",
                          verdict.refusal or "")
    understood = sum(bool(e[1]) for e in expected.values())
    # The sentences mean what they say: the shipped default understands all but the three unsupported
    # relations, the colour-only v2 only the colour one.
    assert understood == (len(PARITY_REFERRING) - 3 if checkpoint == "default" else 1), expected

    statuses = statuses_over_dds(ros_env, {text: e[0] for text, e in expected.items()}, f"checkpoint:={folder}")
    mismatches = [(text, described, refusal, statuses[text]["understood"], statuses[text]["refusal"])
                  for text, (_, described, refusal) in expected.items()
                  if (statuses[text]["understood"], statuses[text]["refusal"]) != (described, refusal)]
    assert not mismatches, mismatches
