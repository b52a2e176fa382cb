"""The one ``main()`` shape of every node: Jazzy-compatible start-up and a clean, traceback-free exit."""

from __future__ import annotations

from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(factory: Callable[[], Node], args: list[str] | None = None,
             spin: Callable[[Node], None] = rclpy.spin) -> int:
    """Create the node, spin it until Ctrl-C / shutdown, then ``close()`` it (if it has one),
    destroy it and shut rclpy down. ``rclpy.init()`` is not a context manager in Jazzy."""
    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
