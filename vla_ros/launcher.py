"""``vla launch NAME [arg:=value ...]``: run a ROS 2 YAML launch file without ``ros2 launch``.

``launch``/``launch_ros`` have no wheels, so a pip install cannot run ``ros2 launch``. This
module interprets the subset of the YAML launch format that ``launch/*.launch.yaml`` use
(``arg``; ``node`` with ``pkg``, ``exec``, ``name``, ``namespace``, ``param`` (``from`` files and
``name``/``value`` pairs), ``remap``, ``on_exit: shutdown``, ``respawn``, ``launch-prefix``, ``if``/``unless``; the
``$(var X)``, ``$(equals A B)`` and ``$(find-pkg-share PKG)`` substitutions) and starts every node as its own process. The
launch files stay the single description of each graph: ``ros2 launch`` reads the same files.
Anything outside the subset is an error, never silently ignored. One difference: a node with both
``on_exit: shutdown`` and ``respawn`` is started again when it dies (non-zero exit, a kill) and ends the
graph when it finishes; ``ros2 launch`` ends the graph either way.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

PACKAGE = "vla_ros"
SUBSTITUTION = re.compile(r"\$\(([\w-]+)\s+([^()$]*)\)")  # innermost first: $(equals $(var a) b)
NODE_KEYS = {"pkg", "exec", "name", "namespace", "output", "param", "remap", "on_exit", "respawn", "respawn_delay",
             "launch-prefix", "if", "unless"}


class LaunchError(ValueError):
    """A launch file or argument the launcher cannot use; the message says why."""


@dataclass
class NodeSpec:
    pkg: str
    exec: str
    name: str
    namespace: str = ""
    params_files: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    remaps: list[tuple[str, str]] = field(default_factory=list)
    shutdown_on_exit: bool = False
    respawn: bool = False
    respawn_delay: float = 1.0
    prefix: list[str] = field(default_factory=list)
    """``launch-prefix``: a command the node runs under (``ip netns exec HOST env ...``, ``taskset -c 1``)."""


@dataclass
class LaunchDescription:
    args: dict[str, dict[str, str]]  # name -> {"default", "description"}
    nodes: list[NodeSpec]


def package_share() -> Path:
    """``share/vla_ros`` of an installed package, or the source tree in a pip editable install."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError, OSError):  # not in an ament prefix: a pip install
        pass
    installed = Path(sys.prefix) / "share" / PACKAGE
    if (installed / "launch").is_dir():
        return installed
    source = Path(__file__).resolve().parent.parent
    if (source / "package.xml").is_file():
        return source
    raise LaunchError(f"cannot find the {PACKAGE} share directory (launch/ and config/)")


def find_launch_file(name: str) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    folder = package_share() / "launch"
    candidate = folder / f"{name}.launch.yaml"
    if candidate.is_file():
        return candidate
    known = sorted(p.name.removesuffix(".launch.yaml") for p in folder.glob("*.launch.yaml"))
    raise LaunchError(f"no launch file {name!r}; available: {', '.join(known) or 'none'}")


def parse_cli_args(items: list[str]) -> dict[str, str]:
    """``name:=value`` pairs, as ``ros2 launch`` takes them."""
    out = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise LaunchError(f"launch arguments are name:=value, got {item!r}")
        out[name] = value
    return out


def _substitute(text: Any, values: dict[str, str], where: str) -> Any:
    if not isinstance(text, str):
        return text

    def replace(match: re.Match) -> str:
        kind, arg = match.group(1), match.group(2).strip()
        if kind == "var":
            if arg not in values:
                raise LaunchError(f"{where}: $(var {arg}) is not a declared launch argument")
            return values[arg]
        if kind == "equals":
            parts = arg.split()
            if len(parts) != 2:
                raise LaunchError(f"{where}: $(equals ...) compares two values, got {arg!r}")
            return "true" if parts[0] == parts[1] else "false"
        if kind == "find-pkg-share":
            if arg != PACKAGE:
                raise LaunchError(f"{where}: $(find-pkg-share {arg}): only {PACKAGE} is known in pip mode")
            return str(package_share())
        raise LaunchError(f"{where}: substitution $({kind} ...) is not supported by `vla launch`")

    while True:  # nested substitutions resolve from the inside out
        new = SUBSTITUTION.sub(replace, text)
        if new == text:
            return new
        text = new


def _condition(body: dict, values: dict[str, str], where: str) -> bool:
    """Whether a node's ``if``/``unless`` lets it start (as ros2 launch: true/false, 1/0, any case)."""
    for key, want in (("if", True), ("unless", False)):
        if key in body:
            value = str(_substitute(str(body[key]), values, where)).strip().lower()
            if value not in ("true", "false", "1", "0"):
                raise LaunchError(f"{where}: {key}: expected true or false, got {value!r}")
            if (value in ("true", "1")) != want:
                return False
    return True


def _typed(value: str) -> Any:
    """Parameter values are YAML, as in ``ros2 launch`` and ``-p name:=value``."""
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return value if parsed is None or isinstance(parsed, dict) else parsed


def load_launch_file(path: Path, overrides: dict[str, str]) -> LaunchDescription:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LaunchError(f"{path}: unreadable launch file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("launch"), list):
        raise LaunchError(f"{path}: expected a top-level 'launch:' list")
    args: dict[str, dict[str, str]] = {}
    nodes: list[NodeSpec] = []
    values: dict[str, str] = {}
    for entry in doc["launch"]:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise LaunchError(f"{path}: each launch entry must be one action, got {entry!r}")
        (kind, body), = entry.items()
        if kind == "arg":
            name = body["name"]
            args[name] = {"default": str(body.get("default", "")), "description": body.get("description", "")}
            values[name] = overrides.get(name, args[name]["default"])
            choices = [str(c["value"]) for c in body.get("choice", [])]  # ros2 launch's `choice: [{value: a}]`
            if choices and values[name] not in choices:
                raise LaunchError(f"launch argument {name}:={values[name]} is not one of {', '.join(choices)}")
        elif kind == "node":
            unknown = set(body) - NODE_KEYS
            if unknown:
                raise LaunchError(f"{path}: node attributes {sorted(unknown)} are not supported by `vla launch`")
            where = f"{path.name}: node {body.get('name', body.get('exec'))}"
            if not _condition(body, values, where):
                continue
            node = NodeSpec(pkg=body["pkg"], exec=body["exec"], name=body.get("name", body["exec"]),
                            namespace=_substitute(body.get("namespace", ""), values, where),
                            shutdown_on_exit=body.get("on_exit") == "shutdown",
                            respawn=str(_substitute(body.get("respawn", "false"), values, where)).lower() == "true",
                            respawn_delay=float(body.get("respawn_delay", 1.0)),
                            prefix=shlex.split(_substitute(str(body.get("launch-prefix", "")), values, where)))
            for param in body.get("param", []):
                if "from" in param:
                    node.params_files.append(_substitute(param["from"], values, where))
                else:
                    node.params[param["name"]] = _typed(_substitute(str(param["value"]), values, where))
            for remap in body.get("remap", []):
                node.remaps.append((_substitute(remap["from"], values, where), _substitute(remap["to"], values, where)))
            nodes.append(node)
        else:
            raise LaunchError(f"{path}: action {kind!r} is not supported by `vla launch` (arg and node are)")
    unknown_args = sorted(set(overrides) - set(args))
    if unknown_args:
        raise LaunchError(f"unknown launch arguments {unknown_args}; {path.name} declares: {', '.join(args)}")
    return LaunchDescription(args, nodes)


def executable(node: NodeSpec) -> list[str]:
    """The node's console script: next to this Python (pip), or in an ament prefix (colcon)."""
    candidates = [Path(sys.executable).parent / node.exec]
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidates.append(Path(prefix) / "lib" / node.pkg / node.exec)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return [str(c)]
    found = shutil.which(node.exec)
    if found:
        return [found]
    raise LaunchError(f"executable {node.exec!r} of package {node.pkg!r} not found (is the package installed?)")


def node_command(node: NodeSpec, params_dir: Path) -> list[str]:
    cmd = node.prefix + executable(node) + ["--ros-args", "-r", f"__node:={node.name}"]
    if node.namespace:
        cmd += ["-r", f"__ns:={node.namespace}"]
    for f in node.params_files:
        if not Path(f).is_file():
            raise LaunchError(f"node {node.name}: parameters file {f} not found")
        cmd += ["--params-file", f]
    if node.params:
        overrides = params_dir / f"{node.name}.yaml"
        overrides.write_text(yaml.safe_dump({"/**": {"ros__parameters": node.params}}))
        cmd += ["--params-file", str(overrides)]  # later files win, as in ros2 launch
    for src, dst in node.remaps:
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


class Supervisor:
    """Starts the nodes, prefixes their output, and stops them all together."""

    def __init__(self, description: LaunchDescription, params_dir: Path, stop_timeout: float = 5.0) -> None:
        self.description, self.stop_timeout = description, stop_timeout
        self.procs: dict[str, subprocess.Popen] = {}
        self.commands = {n.name: node_command(n, params_dir) for n in description.nodes}
        self.stopping = False

    def _start(self, node: NodeSpec) -> None:
        proc = subprocess.Popen(self.commands[node.name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1, start_new_session=True)  # Ctrl-C reaches children via us
        self.procs[node.name] = proc
        threading.Thread(target=self._pump, args=(node.name, proc), daemon=True).start()
        print(f"[launch] started {node.name} (pid {proc.pid})", flush=True)

    @staticmethod
    def _pump(name: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            sys.stdout.write(f"[{name}] {line}")
            sys.stdout.flush()

    def run(self) -> int:
        for node in self.description.nodes:
            self._start(node)
        status = 0
        try:
            while not self.stopping:
                for node in self.description.nodes:
                    proc = self.procs[node.name]
                    code = proc.poll()
                    if code is None:
                        continue
                    # A node that ends the graph when it finishes is started again only when it died.
                    if node.respawn and not (node.shutdown_on_exit and code == 0):
                        print(f"[launch] {node.name} exited with {code}; respawning in {node.respawn_delay} s",
                              flush=True)
                        time.sleep(node.respawn_delay)
                        self._start(node)
                        continue
                    if code != 0:
                        print(f"[launch] {node.name} died with exit code {code}; shutting down the others",
                              flush=True)
                        status = 1
                    elif node.shutdown_on_exit:
                        print(f"[launch] {node.name} finished; shutting down", flush=True)
                    else:
                        print(f"[launch] {node.name} exited; shutting down", flush=True)
                    self.stopping = True
                    break
                time.sleep(0.05)
        except KeyboardInterrupt:
            print("[launch] Ctrl-C: stopping every node", flush=True)
            status = 130
        finally:
            self.stop_all()
        return status

    def run_observed(self, observers: Iterable[Callable[[Supervisor], None]], stop: threading.Event) -> int:
        """run() with observer threads (spinning a node, sampling the processes), each called with this
        supervisor and returning once `stop` is set; however run() ends, `stop` is set and they are joined."""
        threads = [threading.Thread(target=observe, args=(self,)) for observe in observers]
        for thread in threads:
            thread.start()
        try:
            return self.run()
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    def stop_all(self) -> None:
        """SIGINT (clean rclpy shutdown), then SIGTERM, then SIGKILL: never leave orphans."""
        alive = [p for p in self.procs.values() if p.poll() is None]
        for sig, wait in ((signal.SIGINT, self.stop_timeout), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            for p in alive:
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while alive and time.monotonic() < deadline:
                alive = [p for p in alive if p.poll() is None]
                time.sleep(0.05)
            if not alive:
                break
            print(f"[launch] {len(alive)} node(s) ignored {sig.name}", flush=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def launch(name: str, arg_items: list[str]) -> int:
    description = load_launch_file(find_launch_file(name), parse_cli_args(arg_items))
    with tempfile.TemporaryDirectory(prefix="vla-launch-") as tmp:
        supervisor = Supervisor(description, Path(tmp))
        # `kill` stops the graph like Ctrl-C. SIGINT is set too: a process started in the background by
        # a non-interactive shell (`vla launch ... &`, CI runners) inherits SIGINT ignored.
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return supervisor.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def describe(name: str) -> str:
    description = load_launch_file(find_launch_file(name), {})
    lines = [f"{name}: arguments (name:=value)"]
    for arg, info in description.args.items():
        lines.append(f"  {arg:<14} default {info['default']!r:<28} {info['description']}")
    lines.append("nodes: " + ", ".join(f"{n.name} ({n.exec})" for n in description.nodes))
    return "\n".join(lines)
