"""Tier 3: the policy node as its own process (params file + overrides) over real DDS."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from policy_testing import JOINTS, random_checkpoint

pytestmark = pytest.mark.graph


def test_policy_node_process_proposes_trajectories(executor, tmp_path):
    from rclpy.node import Node
    from ros_helpers import spin_until
    from sensor_msgs.msg import Image, JointState
    from trajectory_msgs.msg import JointTrajectory
    from vla_ros_msgs.msg import Instruction, PolicyStatus

    from vla_ros import conversions as conv
    from vla_ros.core.resources import resource_path
    from vla_ros.nodes.common import COMMAND_QOS, SENSOR_QOS

    random_checkpoint(tmp_path)
    options = json.dumps({"checkpoint_dir": str(tmp_path), "runtime": "onnx"})
    command = [
        sys.executable,
        "-m",
        "vla_ros.nodes.policy_node",
        "--ros-args",
        "--params-file",
        str(resource_path("config", "policy.yaml")),
        "-p",
        f"backend_options:={json.dumps(options)}",
    ]
    node = Node("policy_graph_io", context=executor.context)
    executor.add_node(node)
    trajectories, statuses = [], []
    node.create_subscription(
        JointTrajectory, "/vla/proposed_trajectory", trajectories.append, COMMAND_QOS
    )
    node.create_subscription(PolicyStatus, "/policy/status", statuses.append, COMMAND_QOS)
    image_pub = node.create_publisher(Image, "/camera/color/image_raw", SENSOR_QOS)
    joint_pub = node.create_publisher(JointState, "/joint_states", SENSOR_QOS)
    instruction_pub = node.create_publisher(Instruction, "/instruction", COMMAND_QOS)
    rng = np.random.default_rng(0)

    def publish():
        stamp = node.get_clock().now().nanoseconds * 1e-9
        image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        image_pub.publish(conv.image_to_msg(image, "rgb8", stamp_s=stamp))
        joint_pub.publish(conv.joint_state_to_msg(JOINTS, np.zeros(3), stamp_s=stamp))
        if statuses:  # the node is up: tell it what to do (repeats are no-ops)
            instruction_pub.publish(conv.instruction_to_msg("pick up the red cube", "g1"))

    node.create_timer(0.05, publish)
    proc = subprocess.Popen(
        command, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

    def chunk_reported() -> bool:
        # /policy/status comes at 2 Hz: the trajectories can outrun the first report of a chunk
        return any(m.instruction_id == "g1" and m.chunks_received >= 1 for m in statuses[-3:])

    try:
        ok = spin_until(
            executor, lambda: len(trajectories) > 20 and chunk_reported(), timeout_s=120
        )
        if not ok:
            proc.terminate()
            pytest.fail(f"no trajectories; node output:\n{proc.communicate(timeout=10)[0]}")
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    names = list(trajectories[-1].joint_names)
    assert names == [*JOINTS, "finger_joint"]  # gripper_joint from config/policy.yaml
    assert chunk_reported(), [conv.policy_status_from_msg(m) for m in statuses[-3:]]
