"""The policy and the robot on two hosts, with the network between them failing (``make two-hosts``).

Here the two hosts are two Linux network namespaces on one machine joined by a veth pair: the robot's computer
(the simulator node and the video recorder) and the policy's workstation (the policy node), each with only its
end of the link and a loopback. Discovery is the ROS 2 way, no multicast: ``ROS_AUTOMATIC_DISCOVERY_RANGE=
LOCALHOST`` with the other host in ``ROS_STATIC_PEERS``, and Fast DDS restricted to UDP
(``config/fastdds_two_hosts.xml``) so nothing takes a shared-memory shortcut: every message crosses the
link, and cutting it cuts the robot off (the monitor shows it).

``sudo python -m vla_ros.two_hosts [--episodes N] [--seed S] [--cut SECONDS]`` runs ``sim_demo`` that way
and prints each episode's outcome and the policy's camera-to-command latency. With ``--cut``, a monitor on
the robot's host takes the link down that long in the middle of the first episode and measures how soon
after the last command the arm stood still. Needs root and iproute2 (``ip netns``, veth).

On two real computers: the same environment on each, the other's address in ``ROS_STATIC_PEERS``
(README, "Two hosts").
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .link_relay import check_link

STOP_SPEED = 0.002  # m/s: below this, the end effector stands still
ROBOT_SILENCE_S = 0.5  # no pose this long after a robot host restart: the poses after it are the new robot's
WAIT_LIMIT_S = 600.0


class TwoHostsError(RuntimeError):
    """The namespaces or the link could not be made (not root, no iproute2, no veth support)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def unavailable() -> str | None:
    """Why two namespace hosts cannot be made here (None: they can)."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"vla_probe_{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def fastdds_profile() -> Path:
    from .launcher import package_share

    return package_share() / "config" / "fastdds_two_hosts.xml"


class TwoHosts:
    """Two namespaces, ``robot`` and ``policy``, joined by a veth pair on 10.77.K.0/24 (K from ``tag``);
    removed again on exit (deleting a namespace deletes its end of the pair). With ``delay_ms`` or ``loss``,
    two TUN devices and :mod:`vla_ros.link_relay` between them take the veth pair's place."""

    def __init__(self, tag: int, domain_id: int, delay_ms: float = 0.0, loss: float = 0.0, seed: int = 0) -> None:
        self.tag, self.domain_id = tag, domain_id
        self.delay_ms, self.loss, self.link_seed = delay_ms, loss, seed
        self.ns = {"robot": f"vla_robot_{tag}", "policy": f"vla_policy_{tag}"}
        self.dev = {"robot": f"vr{tag % 10**8}", "policy": f"vp{tag % 10**8}"}  # interface names: 15 chars at most
        k = 10 + tag % 240
        self.ip = {"robot": f"10.77.{k}.1", "policy": f"10.77.{k}.2"}
        self.relay: subprocess.Popen | None = None
        self.relay_stats: dict[str, Any] | None = None
        self._stats_file = Path(tempfile.gettempdir()) / f"vla_link_relay_{tag}.json"

    @property
    def relayed(self) -> bool:
        return self.delay_ms > 0 or self.loss > 0

    def _start_relay(self) -> None:
        self.relay = subprocess.Popen(
            [sys.executable, "-m", "vla_ros.link_relay", "--devices", self.dev["robot"], self.dev["policy"],
             "--delay-ms", str(self.delay_ms), "--loss", str(self.loss), "--seed", str(self.link_seed),
             "--stats", str(self._stats_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.relay.stdout.readline().strip() if self.relay.stdout else ""
        if line != "ready":
            err = self.relay.communicate(timeout=10)[1] if self.relay.poll() is not None else ""
            raise TwoHostsError(f"the link relay did not start: {line} {err}".strip())

    def __enter__(self) -> TwoHosts:
        try:
            for host in ("robot", "policy"):
                _ip("netns", "add", self.ns[host])
            if self.relayed:  # the relay made the devices; an open TUN device keeps working in another namespace
                self._start_relay()
            else:
                _ip("link", "add", self.dev["robot"], "type", "veth", "peer", "name", self.dev["policy"])
            for host in ("robot", "policy"):
                ns, dev = self.ns[host], self.dev[host]
                _ip("link", "set", dev, "netns", ns)
                _ip("-n", ns, "addr", "add", f"{self.ip[host]}/24", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as exc:
            self.__exit__()
            raise TwoHostsError(f"{' '.join(exc.cmd)}: {exc.stderr.strip()}") from None
        except TwoHostsError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.relay is not None and self.relay.poll() is None:
            self.relay.terminate()
            try:
                self.relay.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.relay.kill()
                self.relay.wait()
        if self._stats_file.is_file():
            self.relay_stats = json.loads(self._stats_file.read_text())
            self._stats_file.unlink()
        for ns in self.ns.values():
            _ip("netns", "del", ns, check=False)

    def peer(self, host: str) -> str:
        return self.ip["policy" if host == "robot" else "robot"]

    def env(self, host: str) -> dict[str, str]:
        """What a ROS 2 process on ``host`` needs to find the other host, and only over the link."""
        return {"ROS_DOMAIN_ID": str(self.domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                "ROS_STATIC_PEERS": self.peer(host), "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
                "FASTDDS_DEFAULT_PROFILES_FILE": str(fastdds_profile())}

    def prefix(self, host: str) -> list[str]:
        """Command prefix that runs a process on ``host``."""
        return ["ip", "netns", "exec", self.ns[host], "env", *(f"{k}={v}" for k, v in self.env(host).items())]


class OneHost:
    """The same graph and monitor on one host, for comparison (no namespaces, no link to cut)."""

    def __init__(self, domain_id: int) -> None:
        self.domain_id = domain_id
        self.ip = {"robot": "127.0.0.1", "policy": "127.0.0.1"}
        self.dev = {"robot": "", "policy": ""}

    def __enter__(self) -> OneHost:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def prefix(self, host: str) -> list[str]:
        return ["env", f"ROS_DOMAIN_ID={self.domain_id}", "ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST"]


# -- the monitor: runs on the robot's host -------------------------------------------------------------
def monitor(out: Path, episodes: int, cut_s: float, cut_after: int, device: str, restart_ns: str = "",
            restart_robot: bool = False) -> int:
    """Watch the robot's side until ``episodes`` episodes ended (or SIGINT): outcomes, the policy's latency
    figures (its /diagnostics, received over the link), and, with ``cut_s``, a link cut of that long after
    the ``cut_after``-th command: when the last command before it arrived and when the arm stood still.
    With ``restart_ns`` instead, every process of that host is killed (SIGKILL: a power cut) at that point;
    the launcher starts the policy again and the monitor measures the stop and when commands came back.
    ``restart_robot``: ``restart_ns`` is the robot's own host (this monitor's, which is spared): the simulator
    dies and the launcher starts it again; the monitor measures when the robot was back, what the policy sent
    meanwhile and when its commands came back."""
    import numpy as np
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from geometry_msgs.msg import PoseStamped, TwistStamped

    from . import qos, topics

    faulthandler.register(signal.SIGUSR1)  # the driver asks a hung monitor where it hangs
    rclpy.init()
    node = rclpy.create_node("vla_link_monitor")
    twists: list[float] = []  # receive times (monotonic)
    transit: list[float] = []  # ms from a twist's stamp (the policy host's clock) to its arrival here
    moving_twists: list[float] = []  # receive times of the twists that move the arm (the rest hold it)

    def on_twist(m: TwistStamped) -> None:
        twists.append(time.monotonic())
        v = m.twist.linear
        if v.x or v.y or v.z:
            moving_twists.append(twists[-1])
        transit.append((time.time() - m.header.stamp.sec - m.header.stamp.nanosec * 1e-9) * 1e3)

    poses: list[tuple[float, np.ndarray]] = []
    results: list[dict[str, str]] = []
    policy: list[dict[str, str]] = []
    node.create_subscription(TwistStamped, topics.TWIST_CMD, on_twist, qos.COMMAND_QOS)
    node.create_subscription(PoseStamped, topics.EE_POSE, lambda m: poses.append(
        (time.monotonic(), np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z]))), qos.COMMAND_QOS)
    # A simulator latches its camera pose when its episode starts, before its first frame: the time a new
    # robot was back even where this monitor matches its pose publisher late (discovery on a busy machine).
    scenes: list[float] = []  # episode starts, from their stamps (this machine's wall clock), as monotonic
    node.create_subscription(PoseStamped, topics.CAMERA_POSE, lambda m: scenes.append(
        m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 - time.time() + time.monotonic()), qos.LATCHED_QOS)
    node.create_subscription(DiagnosticStatus, topics.EPISODE, lambda m: results.append(
        {kv.key: kv.value for kv in m.values}), qos.COMMAND_QOS)
    node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, lambda m: policy.extend(
        {kv.key: kv.value for kv in s.values} for s in m.status if s.name == "vla_policy"), qos.COMMAND_QOS)
    stopping = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    cut: dict[str, Any] = {}
    start = time.monotonic()
    try:
        while not stopping and len(results) < episodes and time.monotonic() - start < WAIT_LIMIT_S:
            rclpy.spin_once(node, timeout_sec=0.05)
            if restart_ns and not cut and len(twists) >= cut_after:
                cut["last_command"], cut["down_at"] = twists[-1], time.monotonic()
                killed = 0
                for pid in _ip("netns", "pids", restart_ns).stdout.split():  # the `ip` that listed them has ended
                    if int(pid) == os.getpid():
                        continue
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                        killed += 1
                    except ProcessLookupError:
                        pass
                cut["killed"] = killed
                cut["up_at"] = time.monotonic()
            if cut_s > 0 and not cut and len(twists) >= cut_after:
                cut["last_command"] = twists[-1]
                cut["down_at"] = time.monotonic()
                _ip("link", "set", device, "down")
                while time.monotonic() - cut["down_at"] < cut_s:
                    rclpy.spin_once(node, timeout_sec=0.02)  # the robot's own topics still flow here
                _ip("link", "set", device, "up")
                cut["up_at"] = time.monotonic()
                cut["commands_during"] = sum(cut["down_at"] < t < cut["up_at"] for t in twists)
    finally:
        if cut.get("down_at") and "up_at" not in cut:
            _ip("link", "set", device, "up", check=False)
    # The policy's counts as last heard, whatever its state ("policy_final": its frames up to at most a report
    # period before the episode's end); "policy" is its last report while acting, where there is one, which
    # holds the latency figures and may be seconds older.
    last = policy[-1] if policy else None
    summary: dict[str, Any] = {"episodes": results, "policy": last, "policy_final": last, "commands": len(twists)}
    if transit:  # one machine's clock on both sides here; on two computers it needs them synchronised
        summary["command_transit_ms"] = {"p50": round(float(np.percentile(transit, 50)), 2),
                                         "p99": round(float(np.percentile(transit, 99)), 2)}
    acting = [s for s in policy if s.get("state") == "acting"]
    if acting:
        summary["policy"] = acting[-1]
    if cut:
        if restart_robot:  # the robot is back at its new episode's start or first pose after a silence, if earlier
            times = [t for t, _ in poses]
            arrivals = [t1 for t0, t1 in zip(times, times[1:]) if t1 > cut["up_at"] and t1 - t0 > ROBOT_SILENCE_S]
            arrivals += [t for t in scenes if t > cut["up_at"]]
            robot_back = min(arrivals, default=float("inf"))
            cut["robot_back_after_s"] = robot_back - cut["down_at"] if arrivals else None
            # The policy holds (zero twists) once its camera is stale; moving twists before that were on
            # their way to a robot that was gone, and none may come until it has seen the new robot.
            down = [t for t in moving_twists if cut["up_at"] < t < robot_back]
            cut["moving_commands_while_robot_down"] = len(down)
            cut["last_moving_command_after_s"] = max(down) - cut["down_at"] if down else 0.0
            cut["moving_commands_after_kill_s"] = [round(t - cut["down_at"], 3) for t in down]
            back = [t for t in moving_twists if t > robot_back]
            cut["back_after_s"] = back[0] - cut["down_at"] if back else None
        else:  # the robot is the same process: it must stand still from the last command on
            back = [t for t in twists if t > cut["up_at"]]
            until = back[0] if restart_ns and back else cut["up_at"]  # a restart: still until commands come back
            if restart_ns:
                cut["back_after_s"] = back[0] - cut["down_at"] if back else None
            after = [(t, p) for t, p in poses if t >= cut["last_command"]]
            moved = [t1 for (t0, p0), (t1, p1) in zip(after, after[1:])
                     if t1 < until and np.linalg.norm(p1 - p0) / max(t1 - t0, 1e-6) > STOP_SPEED]
            cut["stopped_after_s"] = (max(moved, default=cut["last_command"]) - cut["last_command"])
        cut["seconds"] = cut_s
        cut["commands_after_link_back"] = sum(t > cut["up_at"] for t in twists)
        summary["cut"] = {k: v for k, v in cut.items() if k not in ("last_command", "down_at", "up_at")}
    out.write_text(json.dumps(summary, indent=1))
    # The DDS teardown comes after the report: where it hangs (seen once in CI after a link cut), the driver
    # kills this process and still has every measurement.
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


# -- the driver: root namespace -------------------------------------------------------------------------
def finish_monitor(mon: subprocess.Popen, grace_s: float = 20.0) -> tuple[str, bool]:
    """The monitor's output once it ended, and whether it had to be killed. It ends by itself when its
    episodes are over (before the launch does); else SIGINT ends its watch and it writes its report; one
    still there ``grace_s`` later is hung (in the DDS teardown, after its report): its stack, then SIGKILL."""
    try:
        return mon.communicate(timeout=grace_s)[0], False
    except subprocess.TimeoutExpired:
        mon.send_signal(signal.SIGINT)
    try:
        return mon.communicate(timeout=grace_s)[0], False
    except subprocess.TimeoutExpired:
        mon.send_signal(signal.SIGUSR1)
    try:
        out = mon.communicate(timeout=min(grace_s, 5.0))[0]
    except subprocess.TimeoutExpired:
        mon.kill()
        out = mon.communicate()[0]
    return out, True


def run(episodes: int = 1, seed: int = 0, cut_s: float = 0.0, cut_after: int = 20, checkpoint: str = "default",
        tag: int | None = None, domain_id: int = 42, timeout: float = WAIT_LIMIT_S,
        one_host: bool = False, restart_policy: bool = False, restart_robot: bool = False,
        delay_ms: float = 0.0, loss: float = 0.0, link_seed: int = 0, image_transport: str = "raw") -> dict[str, Any]:
    """Run ``sim_demo`` across two namespace hosts (``one_host``: on this one, for comparison); the monitor's
    summary plus the launch's exit status and the episode lines it printed. ``delay_ms``/``loss``: the hosts
    are joined through :mod:`vla_ros.link_relay` with that one-way delay and packet loss."""
    reason = None if one_host else unavailable()
    if reason:
        raise TwoHostsError(reason)
    faults = (cut_s > 0) + restart_policy + restart_robot
    if one_host and (faults or delay_ms > 0 or loss > 0):
        raise TwoHostsError("one host has no link to cut or degrade and no other host to restart")
    if faults > 1:
        raise TwoHostsError("a link cut, a policy host restart or a robot host restart: one per run")
    try:
        check_link(delay_ms, loss)
    except ValueError as exc:
        raise TwoHostsError(str(exc)) from None
    tag = os.getpid() if tag is None else tag
    vla = str(Path(sys.executable).parent / "vla")
    hosts_cm = OneHost(domain_id) if one_host else TwoHosts(tag, domain_id, delay_ms, loss, link_seed)
    with hosts_cm as hosts, tempfile.TemporaryDirectory(prefix="vla-two-hosts-") as tmp:
        report = Path(tmp) / "monitor.json"
        mon = subprocess.Popen([*hosts.prefix("robot"), sys.executable, "-m", "vla_ros.two_hosts", "monitor",
                                "--out", str(report), "--episodes", str(episodes), "--cut", str(cut_s),
                                "--cut-after", str(cut_after), "--device", hosts.dev["robot"] or "none",
                                *(["--restart-ns", hosts.ns["policy"]] if restart_policy else []),
                                *(["--restart-ns", hosts.ns["robot"], "--restart-robot"] if restart_robot else [])],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        launch = subprocess.run(
            [vla, "launch", "sim_demo", f"seed:={seed}", f"episodes:={episodes}", f"checkpoint:={checkpoint}",
             "sim_time:=false", "record_video:=false", f"policy_respawn:={str(restart_policy).lower()}",
             f"robot_respawn:={str(restart_robot).lower()}", f"image_transport:={image_transport}",
             f"robot_prefix:={shlex.join(hosts.prefix('robot'))}",
             f"policy_prefix:={shlex.join(hosts.prefix('policy'))}"],
            capture_output=True, text=True, timeout=timeout)
        mon_out, hung = finish_monitor(mon)
        if not report.is_file():
            raise TwoHostsError(f"the link monitor wrote no report: {mon_out[-2000:]}")
        summary = json.loads(report.read_text())
        if hung:
            summary["monitor_hung"] = mon_out[-2000:]
    summary.update(mode="one host" if one_host else "two hosts", image_transport=image_transport,
                   launch_status=launch.returncode,
                   launch_output=launch.stdout[-6000:], hosts={"robot": hosts.ip["robot"], "policy": hosts.ip["policy"]})
    if not one_host and hosts.relayed:
        summary["link"] = hosts.relay_stats or {"delay_ms": delay_ms, "loss": loss, "error": "the relay wrote no counts"}
    return summary


def describe(summary: dict[str, Any]) -> str:
    lines = []
    for ep in summary["episodes"]:
        lines.append(f"episode seed {ep.get('seed')}: {ep.get('outcome')} "
                     f"({'success' if ep.get('success') == 'True' else 'failure'})")
    pol = summary.get("policy") or {}
    if pol:
        lines.append(f"camera->command latency ({summary.get('mode', 'two hosts')}): p50 {pol.get('latency_ms_p50')} ms, "
                     f"p99 {pol.get('latency_ms_p99')} ms (policy node, its last 200 commands); control "
                     f"{pol.get('control_rate_hz')} Hz")
    if summary.get("command_transit_ms"):
        t = summary["command_transit_ms"]
        lines.append(f"command transit policy -> robot: p50 {t['p50']} ms, p99 {t['p99']} ms "
                     f"({summary['commands']} commands)")
    link = summary.get("link")
    if link and "a_to_b" in link:
        a, b = link["a_to_b"], link["b_to_a"]
        lines.append(f"link relay: {link['delay_ms']:g} ms one way, loss {link['loss']:g}: robot -> policy "
                     f"{a['read']} packets, {a['dropped']} dropped; policy -> robot {b['read']}, {b['dropped']} dropped")
    cut = summary.get("cut")
    if cut and "robot_back_after_s" in cut:
        robot, back = cut["robot_back_after_s"], cut.get("back_after_s")
        lines.append(f"robot host restarted ({cut['killed']} process{'es' if cut['killed'] != 1 else ''} killed): robot back after "
                     + (f"{robot:.1f} s" if robot is not None else "never")
                     + f"; while it was down the policy sent {cut['moving_commands_while_robot_down']} moving "
                     f"commands, the last {cut['last_moving_command_after_s'] * 1e3:.0f} ms after the kill, then "
                     "held; moving commands back after " + (f"{back:.1f} s" if back is not None else "never"))
    elif cut and "killed" in cut:
        back = cut.get("back_after_s")
        lines.append(f"policy host restarted ({cut['killed']} processes killed): arm still "
                     f"{cut['stopped_after_s'] * 1e3:.0f} ms after the last command; commands back after "
                     + (f"{back:.1f} s" if back is not None else "never"))
    elif cut:
        lines.append(f"link down {cut['seconds']:g} s: arm still {cut['stopped_after_s'] * 1e3:.0f} ms after the last "
                     f"command; {cut['commands_during']} commands arrived while it was down (must be 0), "
                     f"{cut['commands_after_link_back']} after it came back")
    if summary.get("monitor_hung"):
        lines.append("the link monitor hung after its report and was killed; its stack:\n" + summary["monitor_hung"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vla_ros.two_hosts", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    mon = sub.add_parser("monitor", help="(internal) the robot host's monitor")
    mon.add_argument("--out", type=Path, required=True)
    mon.add_argument("--episodes", type=int, default=1)
    mon.add_argument("--cut", type=float, default=0.0)
    mon.add_argument("--cut-after", type=int, default=20)
    mon.add_argument("--device", required=True)
    mon.add_argument("--restart-ns", default="")
    mon.add_argument("--restart-robot", action="store_true")
    parser.add_argument("--episodes", type=int, default=1, help="episodes to run (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="scene seed of the first episode (default 0)")
    parser.add_argument("--cut", type=float, default=0.0, metavar="SECONDS",
                        help="take the link down this long in the first episode, after --cut-after commands")
    parser.add_argument("--cut-after", type=int, default=20, help="commands received before the cut (default 20)")
    parser.add_argument("--checkpoint", default="default", help="policy checkpoint folder or default")
    parser.add_argument("--restart-policy", action="store_true",
                        help="kill every process of the policy host after --cut-after commands (a power cut); "
                             "the launcher starts the policy node again")
    parser.add_argument("--restart-robot", action="store_true",
                        help="kill every process of the robot host after --cut-after commands; the launcher starts "
                             "the simulator again (its episode starts over)")
    parser.add_argument("--delay-ms", type=float, default=0.0,
                        help="join the hosts through a relay adding this one-way delay, each direction (default 0: veth)")
    parser.add_argument("--loss", type=float, default=0.0,
                        help="the relay drops each packet with this probability, each direction (default 0)")
    parser.add_argument("--link-seed", type=int, default=0, help="seed of the relay's loss draws (default 0)")
    parser.add_argument("--image-transport", choices=("raw", "compressed"), default="raw",
                        help="camera frames across the link: raw (49 kB each) or compressed (JPEG, ~3 kB)")
    parser.add_argument("--one-host", action="store_true",
                        help="the same graph and measurements on one host, no namespaces (the comparison)")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args(argv)
    if args.command == "monitor":
        return monitor(args.out, args.episodes, args.cut, args.cut_after, args.device, args.restart_ns,
                       args.restart_robot)
    for name in ("episodes", "cut_after"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 <= args.cut <= 60:
        parser.error("--cut must be in [0, 60] s")
    try:
        summary = run(args.episodes, args.seed, args.cut, args.cut_after, args.checkpoint, one_host=args.one_host,
                      restart_policy=args.restart_policy, restart_robot=args.restart_robot,
                      delay_ms=args.delay_ms, loss=args.loss, link_seed=args.link_seed,
                      image_transport=args.image_transport)
    except TwoHostsError as exc:
        print(f"two-hosts: {exc}", file=sys.stderr)
        return 2
    print(describe(summary))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    return 0 if summary["launch_status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
