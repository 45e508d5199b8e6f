"""Shared plumbing for the nodes: process entry point, QoS profiles, throttled error counting."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

from vla_ros.dds import apply_transport_defaults

# Camera streams: keep only the newest frame, never block the publisher.
SENSOR_QOS = qos_profile_sensor_data
# Commands and safety topics: every message matters, a short queue bounds latency.
COMMAND_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
)
# Latched state (e-stop, task state): late joiners get the last value.
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


class ErrorCounter:
    """Counts bad inputs per kind and logs each kind at most once per `throttle_s`."""

    def __init__(self, node: Node, throttle_s: float = 2.0) -> None:
        self._node = node
        self._throttle_s = throttle_s
        self._last_log: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def report(self, kind: str, error: Exception | str) -> None:
        """Count one bad input of `kind` and log it unless logged within the throttle period."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._last_log.get(kind, -1e9) >= self._throttle_s:
            self._last_log[kind] = now
            self._node.get_logger().warning(
                f"{kind}: {error} (count {self.counts[kind]}; node keeps running)"
            )

    @property
    def total(self) -> int:
        """All bad inputs counted so far."""
        return sum(self.counts.values())


def make_executor(node: Node) -> Executor:
    """The executor for `node`: single-threaded unless the node asks for more threads.

    A node that must block inside a callback on another callback (a synchronous service call,
    the MoveIt collision backend) sets `executor_threads = 2`. Everything else runs
    single-threaded: rclpy's MultiThreadedExecutor polls in a busy loop while a callback of a
    mutually exclusive group (every node's default group) is running, which took a whole core
    of a 2-core machine and made the human detector drop most frames of a walk-in
    (bench/bench_executors.py measures it).
    """
    threads = int(getattr(node, "executor_threads", 1))
    if threads > 1:
        return MultiThreadedExecutor(num_threads=threads)
    return SingleThreadedExecutor()


def run_node(factory: Callable[[], Node], args: Sequence[str] | None = None) -> None:
    """Process entry point: DDS defaults, rclpy.init, spin until Ctrl-C, clean shutdown."""
    apply_transport_defaults()
    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        executor = make_executor(node)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:
        # A signal (SIGINT/SIGTERM) shut the context down while the executor was waiting.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
