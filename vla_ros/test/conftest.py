"""Shared test set-up: an isolated ROS domain per test run and rclpy fixtures for tier 2."""

from __future__ import annotations

import os
import random

import pytest

# Each run gets its own DDS domain on localhost so that parallel runs (a developer's and
# CI's) never see each other's topics. Set before anything creates a participant.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(10, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

from vla_ros.dds import apply_transport_defaults

apply_transport_defaults()


@pytest.fixture
def rclpy_context():
    """An initialised rclpy Context, shut down after the test."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)


@pytest.fixture
def executor(rclpy_context):
    """A single-threaded executor on the test's context; nodes added to it are destroyed after."""
    from rclpy.executors import SingleThreadedExecutor

    exe = SingleThreadedExecutor(context=rclpy_context)
    try:
        yield exe
    finally:
        for node in list(exe.get_nodes()):
            exe.remove_node(node)
            node.destroy_node()
        exe.shutdown()


@pytest.fixture(scope="session")
def encoder():
    """The frozen sentence encoder the embedded VLA conditions on (loaded once per run)."""
    from vla_ros.core.policy.language import TextEncoder

    return TextEncoder()
