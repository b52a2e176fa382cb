"""A network link with delay and packet loss, in user space: two TUN devices and a relay between them.

This kernel has no ``netem`` qdisc and there is no iptables, so ``make two-hosts DELAY_MS=20 LOSS=0.05``
joins the two namespace hosts this way instead of a veth pair: each host gets one TUN device (an IP
interface whose packets a process reads and writes), and this relay copies every IP packet from one to the
other after ``delay_ms`` and drops each with probability ``loss``, in each direction. Packets are the
link's own (MTU 1,500: a 49 kB camera frame travels as ~34 IP fragments, and losing one loses the frame's
UDP datagram, as on a real link). Loss is drawn from a seeded generator: the same seed drops the same
packet numbers.

``python -m vla_ros.link_relay --devices A B [--delay-ms 20] [--loss 0.05] [--seed 0] [--stats FILE]``
makes devices ``A`` and ``B`` in this namespace, prints ``ready``, and relays until SIGTERM/SIGINT; the
caller moves each device into its host's namespace (an open TUN device keeps working there) and gives it
an address. Needs root (``/dev/net/tun``).
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import json
import os
import random
import select
import signal
import struct
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
MAX_PACKET = 65_535


def open_tun(name: str) -> int:
    """A new TUN device ``name`` (IP packets, no extra header); the returned descriptor is non-blocking."""
    if not 0 < len(name) <= 15:
        raise ValueError(f"interface names are 1-15 characters, got {name!r}")
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def check_link(delay_ms: float, loss: float) -> None:
    """ValueError unless 0 <= ``delay_ms`` <= 5,000 and 0 <= ``loss`` < 1 (a link that drops everything is a cut)."""
    if not (0.0 <= delay_ms <= 5000.0 and 0.0 <= loss < 1.0):
        raise ValueError(f"delay must be in [0, 5000] ms and loss in [0, 1), got {delay_ms} ms and {loss}")


@dataclass
class Direction:
    """One direction's counts: packets read, dropped by the loss draw, written, lost to a down device."""

    read: int = 0
    dropped: int = 0
    written: int = 0
    write_failed: int = 0
    queue: collections.deque = field(default_factory=collections.deque, repr=False)  # (due, packet)


class Relay:
    """Copies IP packets between two TUN descriptors after ``delay_s``, dropping each with ``loss``."""

    def __init__(self, fd_a: int, fd_b: int, delay_s: float = 0.0, loss: float = 0.0, seed: int = 0) -> None:
        check_link(delay_s * 1e3, loss)
        self.fds = (fd_a, fd_b)
        self.delay_s, self.loss = delay_s, loss
        self.rng = random.Random(seed)
        self.dirs = {fd_a: Direction(), fd_b: Direction()}  # keyed by the descriptor packets are read from
        self.stopping = False

    def _read(self, fd: int, now: float) -> None:
        d = self.dirs[fd]
        while True:
            try:
                packet = os.read(fd, MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the device is down or gone: nothing to read now
                return
            d.read += 1
            if self.loss and self.rng.random() < self.loss:
                d.dropped += 1
                continue
            d.queue.append((now + self.delay_s, packet))

    def _flush(self, now: float) -> float:
        """Write every due packet; seconds until the next one is due (1 when none waits)."""
        wait = 1.0
        for src, d in self.dirs.items():
            dst = self.fds[1] if src == self.fds[0] else self.fds[0]
            while d.queue and d.queue[0][0] <= now:  # one delay for all: due times are in order
                _, packet = d.queue.popleft()
                try:
                    os.write(dst, packet)
                    d.written += 1
                except OSError:  # the far end is down (a link cut): the packet is lost, as on a wire
                    d.write_failed += 1
            if d.queue:
                wait = min(wait, d.queue[0][0] - now)
        return max(wait, 0.0)

    def run(self) -> None:
        wait = 1.0
        while not self.stopping:
            try:
                ready, _, _ = select.select(self.fds, [], [], wait)
            except InterruptedError:
                ready = []
            now = time.monotonic()
            for fd in ready:
                self._read(fd, now)
            wait = self._flush(time.monotonic())

    def stats(self) -> dict[str, dict[str, int]]:
        a, b = self.fds
        strip = lambda d: {k: v for k, v in asdict(d).items() if k != "queue"}  # noqa: E731
        return {"a_to_b": strip(self.dirs[a]), "b_to_a": strip(self.dirs[b])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vla_ros.link_relay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", nargs=2, required=True, metavar=("A", "B"), help="TUN device names to make")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay, each direction (default 0)")
    parser.add_argument("--loss", type=float, default=0.0, help="probability of dropping a packet, each direction")
    parser.add_argument("--seed", type=int, default=0, help="seed of the loss draws (default 0)")
    parser.add_argument("--stats", type=Path, default=None, help="write the packet counts here on exit (JSON)")
    args = parser.parse_args(argv)
    try:
        check_link(args.delay_ms, args.loss)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        fds = [open_tun(name) for name in args.devices]
    except (OSError, ValueError) as exc:
        print(f"link_relay: cannot make TUN devices {args.devices}: {exc}", file=sys.stderr)
        return 2
    relay = Relay(*fds, delay_s=args.delay_ms / 1e3, loss=args.loss, seed=args.seed)

    def stop(*_: object) -> None:
        relay.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)
    relay.run()
    if args.stats:
        args.stats.write_text(json.dumps({"delay_ms": args.delay_ms, "loss": args.loss, "seed": args.seed,
                                          "devices": args.devices, **relay.stats()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
