"""How the two-hosts driver ends its link monitor (any machine): SIGINT ends the watch; a monitor hung past
that is asked for its stack and killed, and its output comes back."""

from __future__ import annotations

import subprocess
import sys
import time

from vla_ros.two_hosts import finish_monitor

# A stand-in monitor: prints, then either ends on SIGINT or ignores it (a teardown hung in C code).
_MONITOR = """
import faulthandler, signal, sys, time
faulthandler.register(signal.SIGUSR1)
signal.signal(signal.SIGINT, {on_int})
print("watching", flush=True)
while True:
    time.sleep(0.05)
"""


def _start(on_int: str) -> subprocess.Popen:
    mon = subprocess.Popen([sys.executable, "-c", _MONITOR.format(on_int=on_int)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    assert mon.stdout is not None and mon.stdout.readline() == "watching\n"  # its handlers are in place
    return mon


def test_a_monitor_that_ends_on_sigint_is_not_counted_as_hung():
    mon = _start("lambda *_: sys.exit(0)")
    out, hung = finish_monitor(mon, grace_s=0.5)
    assert not hung and mon.returncode == 0


def test_a_hung_monitor_is_killed_and_its_stack_comes_back():
    mon = _start("signal.SIG_IGN")
    start = time.monotonic()
    out, hung = finish_monitor(mon, grace_s=0.5)
    assert hung and mon.returncode == -9
    assert "time.sleep" in out or "<string>" in out, out  # faulthandler's dump of where it was
    assert time.monotonic() - start < 5
