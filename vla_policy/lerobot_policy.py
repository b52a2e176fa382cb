"""A LeRobot policy (e.g. ACT trained by ``lerobot-train``) behind the project's decision core.

LeRobot needs its own Python (``make lerobot-env``), so the policy runs there as ``lerobot_side.py serve``
and this client talks to it over a pipe, one JSON object per line (the schema is in ``lerobot_side.py``):
the observation goes out as base64 RGB bytes and numbers, a chunk of actions comes back as numbers.
Nothing is unpickled. :class:`LeRobotPolicy` offers the calls the decision core makes of a
:class:`~vla_policy.modeling_vla.VLAPolicy` (``predict_action_chunk``, ``config``), so ``vla eval --policy
lerobot:DIR`` runs the same core, ensembling, watchdogs and seeds as the project's own policy.

What a LeRobot policy does not have, it does not get: no present head (it never abstains: P(present) is
1), no target locator (the colour cross-check is off), and it reads no instruction (ACT has no language
input; the task text is sent, and it is the policy's business to use it or not).
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .lerobot_interop import SIDE_SCRIPT, lerobot_python

LEROBOT_PREFIX = "lerobot:"
READY_TIMEOUT_S = 180.0  # loading LeRobot and the weights takes ~10-30 s here
REPLY_TIMEOUT_S = 60.0


class LeRobotPolicyError(RuntimeError):
    """The LeRobot side could not start, or answered outside the schema."""


@dataclass
class LeRobotPolicyConfig:
    """What the decision core reads from a policy config (``decision_config_for``)."""

    image_size: int
    chunk_size: int
    parameters: int
    policy_type: str
    colours: tuple[str, ...] = field(default_factory=tuple)
    refer_kinds: tuple[str, ...] = field(default_factory=tuple)
    abstain_threshold: float = 0.5  # never reached: P(present) is always 1
    ensemble_decay: float = 0.1  # the project's temporal ensembling over the returned chunks
    anchor_marker: bool = False
    side_marker: bool = False


class LeRobotPolicy:
    """A client of one ``lerobot_side.py serve`` process (started here, closed with :meth:`close`)."""

    last_target_uv = None  # no target heatmap: after a missed grasp the decision core rises straight up
    last_ee_uv = None

    def __init__(self, checkpoint: str | os.PathLike, threads: int = 1) -> None:
        from vla_sim.config import COLOURS
        from vla_sim.referring import KINDS

        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads),
               "TOKENIZERS_PARALLELISM": "false"}
        self._stderr = tempfile.TemporaryFile("w+")
        self._proc = subprocess.Popen([lerobot_python(), str(SIDE_SCRIPT), "serve", str(checkpoint)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                      text=True, encoding="utf-8", env=env)
        ready = self._read(READY_TIMEOUT_S, f"start the LeRobot policy {checkpoint}")
        expected = {"image_shape": list, "chunk_size": int, "parameters": int, "state_dim": int, "action_dim": int}
        if not ready.get("ready") or any(not isinstance(ready.get(k), t) for k, t in expected.items()):
            self.close()
            raise LeRobotPolicyError(f"LeRobot side: unexpected first line {ready}")
        h, w, _ = ready["image_shape"]
        if h != w or ready["state_dim"] != 8 or ready["action_dim"] != 4:
            self.close()
            raise LeRobotPolicyError(f"{checkpoint}: image {ready['image_shape']}, state {ready['state_dim']}, "
                                     f"action {ready['action_dim']}; the simulator gives square RGB, 8 state "
                                     "values and takes 4 actions (vla data export's features)")
        self.info = ready
        self.config = LeRobotPolicyConfig(image_size=h, chunk_size=ready["chunk_size"],
                                          parameters=ready["parameters"], policy_type=str(ready.get("policy")),
                                          colours=tuple(COLOURS), refer_kinds=tuple(KINDS))
        self.last_ms = float("nan")  # model time of the last prediction, as the LeRobot side measured it

    def _read(self, timeout: float, doing: str) -> dict[str, Any]:
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        line = self._proc.stdout.readline() if ready else ""
        if not line:
            try:  # end of output: the side has exited (or is exiting); without output before the timeout: hung
                code = self._proc.wait(timeout=10) if ready else self._proc.poll()
            except subprocess.TimeoutExpired:
                code = None
            self._stderr.seek(0)
            tail = [x for x in self._stderr.read().splitlines() if x.strip()]
            reason = next((x[len("error: "):] for x in reversed(tail) if x.startswith("error: ")),
                          tail[-1] if tail else "no output")
            self.close()
            raise LeRobotPolicyError(f"could not {doing}: " + (f"timed out after {timeout:.0f} s" if code is None
                                                               else f"exit {code}: {reason}"))
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            raise LeRobotPolicyError(f"LeRobot side: not a JSON line: {line[:200]!r}") from None
        if not isinstance(reply, dict):
            raise LeRobotPolicyError(f"LeRobot side: expected a JSON object, got {line[:200]!r}")
        return reply

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise LeRobotPolicyError("the LeRobot side has exited") from None
        reply = self._read(REPLY_TIMEOUT_S, f"get an answer to {request.get('op')}")
        if "error" in reply:
            raise LeRobotPolicyError(f"LeRobot side refused the request: {reply['error']}")
        return reply

    def reset(self) -> None:
        self._ask({"op": "reset"})

    def predict_action_chunk(self, obs: dict[str, Any]) -> tuple[np.ndarray, float]:
        """One observation -> (K, 4) actions (m/s, gripper 1 open / 0 closed) and P(present) = 1."""
        image = np.ascontiguousarray(obs["image"], dtype=np.uint8)  # (H, W, 3)
        state = np.concatenate([np.asarray(obs["ee_pose"], dtype=np.float64).reshape(7),
                                np.asarray(obs["gripper_width"], dtype=np.float64).reshape(-1)[:1]])  # (8,)
        reply = self._ask({"op": "predict", "image": base64.b64encode(image.tobytes()).decode("ascii"),
                           "shape": list(image.shape), "state": state.tolist(),
                           "task": str(obs.get("instruction", ""))})
        chunk = np.asarray(reply.get("chunk"), dtype=np.float32)
        if chunk.ndim != 2 or chunk.shape[1] != 4 or not np.isfinite(chunk).all():
            raise LeRobotPolicyError(f"LeRobot side: chunk of shape {chunk.shape}, expected (K, 4) finite")
        self.last_ms = float(reply.get("ms", float("nan")))
        chunk[:, 3] = np.clip(chunk[:, 3], 0.0, 1.0)
        return chunk, 1.0

    def locate(self, obs: dict[str, Any], **_: Any) -> Any:
        raise LeRobotPolicyError("a LeRobot policy has no target locator (markers and the colour check are off)")

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is None or proc.poll() is not None:
            return
        try:
            if proc.stdin:
                proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                proc.stdin.close()
            proc.wait(timeout=10)
        except (BrokenPipeError, ValueError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def __del__(self) -> None:
        self.close()


def lerobot_checkpoint(spec: str) -> Path:
    """``lerobot:DIR`` -> DIR, checked to hold a LeRobot policy (or a lerobot-train output folder)."""
    root = Path(spec[len(LEROBOT_PREFIX):])
    for candidate in (root, root / "checkpoints" / "last" / "pretrained_model", root / "pretrained_model"):
        if (candidate / "config.json").is_file() and (candidate / "model.safetensors").is_file():
            return candidate
    raise LeRobotPolicyError(f"{root}: no LeRobot policy (config.json + model.safetensors, or a lerobot-train "
                             "output folder with checkpoints/last/pretrained_model)")


def make_lerobot_agent(env: Any = None, checkpoint: str = "", understanding: str = "default", threads: int = 1,
                       decision: dict[str, Any] | None = None) -> Any:
    """The decision core with a LeRobot policy behind it (the colour cross-check off: no locator); one
    torch thread per served policy by default, as ``vla eval`` runs one per worker process. ``decision``:
    core settings to change (as :func:`~vla_policy.agent.make_policy_agent`)."""
    from .agent import PolicyAgent
    from .decision import decision_config_for
    from .understanding import load_understanding

    policy = LeRobotPolicy(checkpoint, threads=threads)
    return PolicyAgent(policy, load_understanding(understanding),
                       decision_config_for(policy.config, **{"colour_check": False, **(decision or {})}))
