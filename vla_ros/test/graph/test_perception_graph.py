"""Tier 3: sim_node and human_detector_node in their own processes, over real DDS.

The detector runs from config/perception.yaml against the simulated cell. After learning
the empty cell, the arm moves through pixels that were background: the self-filter at the
streamed joint states must explain it (no detection), while heartbeat and /humans flow.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.graph, pytest.mark.slow]


def _real_tracebacks(out: str) -> list[str]:
    """Tracebacks in a node's output, except rclpy's shutdown race: a SIGTERM that lands while
    the executor builds its wait set makes spin() raise RCLError ("the given context is not
    valid"); run_node could catch it, it is not what this test is about."""
    blocks = out.split("Traceback (most recent call last):")[1:]
    return [b for b in blocks if "the given context is not valid" not in b]


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def test_detector_process_on_the_sim_cell_sees_no_ghosts_while_the_arm_moves(executor):
    from rclpy.node import Node
    from ros_helpers import spin_until
    from trajectory_msgs.msg import JointTrajectory
    from vla_ros_msgs.msg import Heartbeat, HumanDetectionArray

    from vla_ros import conversions as conv
    from vla_ros.core.resources import resource_path
    from vla_ros.core.sim.env import HOME_Q
    from vla_ros.core.sim.scene import ARM_JOINTS
    from vla_ros.nodes.common import COMMAND_QOS

    node = Node("perception_graph_client", context=executor.context)
    executor.add_node(node)
    humans: list[HumanDetectionArray] = []
    beats: list[Heartbeat] = []
    node.create_subscription(HumanDetectionArray, "/humans", humans.append, COMMAND_QOS)
    node.create_subscription(Heartbeat, "/perception/heartbeat", beats.append, COMMAND_QOS)
    arm = node.create_publisher(JointTrajectory, "/arm_controller/joint_trajectory", COMMAND_QOS)

    env = dict(os.environ)
    env.setdefault("MUJOCO_GL", "egl")
    sim = subprocess.Popen(
        [sys.executable, "-m", "vla_ros.nodes.sim_node", "--ros-args", "-p", "seed:=7"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    detector = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vla_ros.nodes.human_detector_node",
            "--ros-args",
            "--params-file",
            str(resource_path("config", "perception.yaml")),
            "-p",
            "use_sim_time:=true",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out_sim = out_detector = ""
    try:
        ok = spin_until(
            executor, lambda: humans and beats and beats[-1].status == Heartbeat.STATUS_OK, 90.0
        )
        assert ok, (sim.poll(), detector.poll(), len(humans), [b.message for b in beats[-3:]])
        assert humans[-1].header.frame_id == "base_link"
        learned = len(humans)
        # sweep the arm well away from where it was while the background was learned
        goal = HOME_Q + np.array([0.9, 0.3, -0.5, 0.6, 0.4, -0.8])
        arm.publish(conv.trajectory_to_msg(ARM_JOINTS, [2.0], goal[None, :]))
        assert spin_until(executor, lambda: len(humans) >= learned + 45, 60.0), len(humans)
        ghosts = [m for m in humans[learned:] if m.detections]
        assert not ghosts, [
            (d.source, round(d.distance_to_robot_m, 3), d.position) for d in ghosts[0].detections
        ]
        assert beats[-1].status == Heartbeat.STATUS_OK
    finally:
        out_detector = _stop(detector)
        out_sim = _stop(sim)
    for out in (out_detector, out_sim):
        assert not _real_tracebacks(out), out
