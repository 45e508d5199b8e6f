"""Tier 3: the project's own interfaces cross a process boundary over real DDS."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.graph

HELPER = Path(__file__).parent / "helpers" / "publish_interfaces.py"


def test_vla_ros_msgs_between_two_processes(executor):
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from ros_helpers import spin_until
    from vla_ros_msgs.msg import HumanDetectionArray, Instruction, SafetyStatus

    prefix = f"/t{uuid.uuid4().hex[:8]}"
    node = Node("interface_listener", context=executor.context)
    executor.add_node(node)
    got: dict[str, list] = {"instruction": [], "status": [], "humans": []}
    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Instruction, f"{prefix}/instruction", got["instruction"].append, qos)
    node.create_subscription(SafetyStatus, f"{prefix}/safety_status", got["status"].append, qos)
    node.create_subscription(HumanDetectionArray, f"{prefix}/humans", got["humans"].append, qos)

    proc = subprocess.Popen(
        [sys.executable, str(HELPER), prefix, "200"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ok = spin_until(executor, lambda: all(len(v) >= 5 for v in got.values()), timeout_s=30)
        assert ok, {k: len(v) for k, v in got.items()}
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    instruction = got["instruction"][-1]
    assert instruction.text.startswith("pick up the red cube")
    assert instruction.source == Instruction.SOURCE_VOICE
    assert instruction.confidence == pytest.approx(0.9)
    status = got["status"][-1]
    assert status.state == SafetyStatus.STATE_SLOWED and status.reasons == ["human_near"]
    humans = got["humans"][-1]
    assert humans.detections[0].track_id == 7
    assert humans.detections[0].position.x == pytest.approx(1.25)
    assert humans.min_distance_to_robot_m == pytest.approx(0.9)
