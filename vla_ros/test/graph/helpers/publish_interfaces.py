"""Graph-test helper process: publishes vla_ros_msgs messages until killed.

Usage: python publish_interfaces.py <topic_prefix> <count>
"""

from __future__ import annotations

import contextlib
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from vla_ros_msgs.msg import HumanDetection, HumanDetectionArray, Instruction, SafetyStatus

from vla_ros.dds import apply_transport_defaults


def main() -> None:
    prefix, count = sys.argv[1], int(sys.argv[2])
    apply_transport_defaults()
    rclpy.init()
    node = Node("interface_publisher")
    instruction_pub = node.create_publisher(Instruction, f"{prefix}/instruction", 10)
    status_pub = node.create_publisher(SafetyStatus, f"{prefix}/safety_status", 10)
    humans_pub = node.create_publisher(HumanDetectionArray, f"{prefix}/humans", 10)
    sent = {"n": 0}

    def tick() -> None:
        if sent["n"] >= count:
            return
        i = sent["n"]
        instruction_pub.publish(
            Instruction(
                text=f"pick up the red cube {i}",
                source=Instruction.SOURCE_VOICE,
                confidence=0.9,
                id=f"id-{i}",
            )
        )
        status_pub.publish(
            SafetyStatus(
                state=SafetyStatus.STATE_SLOWED,
                speed_scale=0.5,
                reasons=["human_near"],
                commands_received=i,
            )
        )
        person = HumanDetection(track_id=7, confidence=0.8, source=HumanDetection.SOURCE_DEPTH)
        person.position.x = 1.25
        humans_pub.publish(HumanDetectionArray(detections=[person], min_distance_to_robot_m=0.9))
        sent["n"] += 1

    node.create_timer(0.05, tick)
    with contextlib.suppress(KeyboardInterrupt, ExternalShutdownException):
        rclpy.spin(node)


if __name__ == "__main__":
    main()
