"""Tier 2: shared node plumbing (QoS profiles, ErrorCounter) over a real in-process DDS graph."""

from __future__ import annotations

import numpy as np
import pytest
from ros_helpers import spin_until

from vla_ros import conversions as conv

pytestmark = pytest.mark.ros


def test_image_round_trip_over_dds_with_sensor_qos(executor):
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from vla_ros.nodes.common import SENSOR_QOS

    node = Node("plumbing_image", context=executor.context)
    executor.add_node(node)
    received: list[Image] = []
    node.create_subscription(Image, "/plumbing/image", received.append, SENSOR_QOS)
    pub = node.create_publisher(Image, "/plumbing/image", SENSOR_QOS)
    rgb = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    depth = np.random.default_rng(2).uniform(0.3, 3.0, (480, 640)).astype(np.float32)

    def publish_and_wait(msg: Image) -> Image:
        received.clear()

        def got() -> bool:
            if not received:
                pub.publish(msg)  # best effort: resend until discovery has matched
            return bool(received)

        assert spin_until(executor, got, timeout_s=10.0)
        return received[-1]

    out = publish_and_wait(conv.image_to_msg(rgb, "rgb8", stamp_s=5.0, frame_id="cam"))
    np.testing.assert_array_equal(conv.rgb_from_msg(out), rgb)
    assert out.header.frame_id == "cam"
    out = publish_and_wait(conv.depth_to_msg(depth, "16UC1"))
    np.testing.assert_allclose(conv.depth_from_msg(out), depth, atol=0.0006)


def test_error_counter_counts_every_error_and_throttles_logs(rclpy_context):
    from rclpy.node import Node

    from vla_ros.nodes.common import ErrorCounter

    node = Node("plumbing_errors", context=rclpy_context)
    logged: list[str] = []
    counter = ErrorCounter(node, throttle_s=60.0)
    node.get_logger().warning = logged.append  # capture what would be logged
    for _ in range(5):
        counter.report("bad_image", ValueError("image data too short"))
    counter.report("unknown_joint", ValueError("missing joints ['elbow']"))
    assert counter.counts == {"bad_image": 5, "unknown_joint": 1}
    assert counter.total == 6
    assert len(logged) == 2 and "image data too short" in logged[0]
    node.destroy_node()
