"""The user-space link (vla_ros/link_relay.py) that stands in for netem: its delay and its seeded loss,
first on datagram socket pairs (any machine), then as the link between two namespace hosts (root)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from vla_ros.link_relay import Relay
from vla_ros.two_hosts import TwoHosts, unavailable


def _relayed(delay_s: float, loss: float, seed: int, count: int, gap_s: float = 0.0):
    """Send ``count`` numbered datagrams through a relay between two socket pairs; (received numbers,
    one-way times in s, relay counts)."""
    a_host, a_relay = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b_relay, b_host = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for s in (a_relay, b_relay):
        s.setblocking(False)
    relay = Relay(a_relay.fileno(), b_relay.fileno(), delay_s=delay_s, loss=loss, seed=seed)
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    sent: dict[int, float] = {}
    got, times = [], []
    b_host.settimeout(delay_s + 0.5)

    def receive() -> None:  # drains as it goes: a full socket queue would lose packets the relay did not drop
        while True:
            try:
                data = b_host.recv(4096)
            except socket.timeout:
                return
            n = int.from_bytes(data[:4], "big")
            got.append(n)
            times.append(time.monotonic() - sent[n])

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    try:
        for i in range(count):
            sent[i] = time.monotonic()
            a_host.send(i.to_bytes(4, "big") + b"x" * 200)
            if gap_s:
                time.sleep(gap_s)
        receiver.join(timeout=30)
    finally:
        relay.stopping = True
        thread.join(timeout=5)
        for s in (a_host, a_relay, b_relay, b_host):
            s.close()
    return got, times, relay.stats()


def test_packets_arrive_in_order_after_the_delay():
    got, times, stats = _relayed(delay_s=0.03, loss=0.0, seed=0, count=20, gap_s=0.005)
    assert got == list(range(20))
    assert min(times) >= 0.03 and max(times) < 0.03 + 0.2, times
    assert stats["a_to_b"] == {"read": 20, "dropped": 0, "written": 20, "write_failed": 0}


def test_loss_drops_about_its_share_and_the_same_seed_drops_the_same_packets():
    first, _, stats = _relayed(delay_s=0.0, loss=0.25, seed=7, count=400, gap_s=0.0005)
    again, _, _ = _relayed(delay_s=0.0, loss=0.25, seed=7, count=400, gap_s=0.0005)
    other, _, _ = _relayed(delay_s=0.0, loss=0.25, seed=8, count=400, gap_s=0.0005)
    assert first == again and first != other
    lost = 400 - len(first)
    assert stats["a_to_b"]["dropped"] == lost and stats["a_to_b"]["write_failed"] == 0
    assert 60 <= lost <= 140, lost  # 100 expected; 60-140 is beyond 4.5 standard deviations


def test_out_of_range_settings_are_refused():
    with pytest.raises(ValueError, match="loss"):
        Relay(0, 1, loss=1.0)
    with pytest.raises(ValueError, match="delay"):
        Relay(0, 1, delay_s=-0.01)


REASON = unavailable()


@pytest.mark.skipif(REASON is not None, reason=f"two namespace hosts cannot be made here: {REASON}")
def test_two_namespace_hosts_joined_by_the_relay_see_its_delay_and_loss():
    # A UDP echo across the link: round trip = twice the one-way delay; a 20 kB datagram is ~14 IP
    # fragments, each dropped with the link's probability, so whole datagrams are lost far more often.
    echo = ("import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind((sys.argv[1],47000));"
            "s.settimeout(8)\nwhile True:\n d,a=s.recvfrom(65535);s.sendto(d,a)")
    probe = ("import socket,sys,time;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(0.3);"
             "r=[];n=int(sys.argv[3])\nfor i in range(n):\n t=time.monotonic();s.sendto(b'x'*int(sys.argv[2]),"
             "(sys.argv[1],47000))\n try:\n  s.recvfrom(65535);r.append(time.monotonic()-t)\n except socket.timeout:"
             "\n  pass\nprint(len(r),min(r) if r else -1)")
    with TwoHosts(tag=900 + (time.time_ns() // 1000) % 1000, domain_id=0, delay_ms=25, loss=0.1, seed=3) as hosts:
        server = subprocess.Popen(["ip", "netns", "exec", hosts.ns["robot"], sys.executable, "-c", echo,
                                   hosts.ip["robot"]])
        try:
            time.sleep(0.5)  # the server's bind (not a DDS wait: a plain socket)
            small = subprocess.run(["ip", "netns", "exec", hosts.ns["policy"], sys.executable, "-c", probe,
                                    hosts.ip["robot"], "100", "40"], capture_output=True, text=True, timeout=60)
            big = subprocess.run(["ip", "netns", "exec", hosts.ns["policy"], sys.executable, "-c", probe,
                                  hosts.ip["robot"], "20000", "40"], capture_output=True, text=True, timeout=60)
        finally:
            server.kill()
            server.wait()
    n_small, rtt_small = small.stdout.split()
    n_big, _ = big.stdout.split()
    assert 0.05 <= float(rtt_small) < 0.05 + 0.1, small.stdout  # 2 x 25 ms
    assert 20 <= int(n_small) <= 39, small.stdout  # ~81 % of 40 round trips (two packets, 10 % each)
    assert int(n_big) < int(n_small), (small.stdout, big.stdout)
    stats = hosts.relay_stats
    assert stats is not None and stats["delay_ms"] == 25 and stats["b_to_a"]["dropped"] > 0, stats
