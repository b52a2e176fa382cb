"""The one ``main()`` shape of every node: Jazzy-compatible start-up and a clean, traceback-free exit."""

from __future__ import annotations

from typing import Callable

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def spin_forever(node: Node, executor: Executor) -> None:
    executor.spin()


def run_node(factory: Callable[[], Node], args: list[str] | None = None,
             spin: Callable[[Node, Executor], None] = spin_forever) -> int:
    """Create the node, spin it on its own executor until Ctrl-C / shutdown, then shut the executor
    down, ``close()`` the node (if it has a ``close``), destroy it and shut rclpy down.
    ``rclpy.init()`` is not a context manager in Jazzy. The executor is shut down before rclpy: left
    to the garbage collector after a Ctrl-C, its SIGINT guard condition prints a traceback at exit."""
    rclpy.init(args=args)
    executor = SingleThreadedExecutor()
    node = None
    try:
        node = factory()
        executor.add_node(node)
        spin(node, executor)
    except (KeyboardInterrupt, ExternalShutdownException):
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
