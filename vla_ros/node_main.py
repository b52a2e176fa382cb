"""The one ``main()`` shape of every node: Jazzy-compatible start-up and a clean, traceback-free exit."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Callable

import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

POLL = 0.1  # s: longest an idle spin waits before it looks at the stop flag


def spin_forever(node: Node, executor: Executor, stop: threading.Event) -> None:
    while not stop.is_set() and rclpy.ok():
        executor.spin_once(timeout_sec=POLL)


def run_node(factory: Callable[[], Node], args: list[str] | None = None,
             spin: Callable[[Node, Executor, threading.Event], None] = spin_forever) -> int:
    """Create the node, spin it on its own executor until SIGINT/SIGTERM (or shutdown), then shut the
    executor down, ``close()`` the node (if it has a ``close``), destroy it and shut rclpy down.

    ``rclpy.init()`` is not a context manager in Jazzy. SIGINT and SIGTERM only set ``stop``,
    which the spin loop polls: a KeyboardInterrupt raised wherever the main thread happens to be
    (inside rclpy taking a message, say) surfaces as a stray RuntimeError and a traceback at exit."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    executor = SingleThreadedExecutor()
    node = None
    try:
        try:
            node = factory()
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            # A -p value of the wrong type (control_rate_hz:=0 is an integer): one line, no traceback.
            raise SystemExit(f"{Path(sys.argv[0]).name}: invalid parameter: {exc}") from None
        executor.add_node(node)
        if not stop.is_set():
            spin(node, executor, stop)
    except ExternalShutdownException:
        pass
    finally:
        executor.shutdown()
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
