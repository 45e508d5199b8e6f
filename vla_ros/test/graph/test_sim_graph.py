"""Tier 3: the sim node in its own process serves a client like a ros2_control arm would."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.graph


def test_sim_node_process_serves_sensors_and_follows_trajectories(executor):
    from rclpy.node import Node
    from ros_helpers import spin_until
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState
    from trajectory_msgs.msg import JointTrajectory

    from vla_ros import conversions as conv
    from vla_ros.core.sim.env import HOME_Q
    from vla_ros.core.sim.scene import ARM_JOINTS
    from vla_ros.nodes.common import COMMAND_QOS, SENSOR_QOS

    node = Node("sim_client", context=executor.context)
    executor.add_node(node)
    got: dict[str, list] = {"clock": [], "rgb": [], "joints": []}
    node.create_subscription(Clock, "/clock", got["clock"].append, 10)
    node.create_subscription(Image, "/camera/color/image_raw", got["rgb"].append, SENSOR_QOS)
    node.create_subscription(JointState, "/joint_states", got["joints"].append, COMMAND_QOS)
    arm = node.create_publisher(JointTrajectory, "/arm_controller/joint_trajectory", COMMAND_QOS)

    env = dict(os.environ)
    env.setdefault("MUJOCO_GL", "egl")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vla_ros.nodes.sim_node",
            "--ros-args",
            "-p",
            "image_width_px:=128",
            "-p",
            "image_height_px:=96",
            "-p",
            "seed:=5",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert spin_until(executor, lambda: got["rgb"] and got["joints"], 60.0), (
            proc.poll(),
            {k: len(v) for k, v in got.items()},
        )
        rgb = conv.rgb_from_msg(got["rgb"][-1])
        assert rgb.shape == (96, 128, 3) and rgb.std() > 10
        goal = HOME_Q + np.array([-0.3, 0.1, -0.2, 0.3, 0.2, -0.4])
        arm.publish(conv.trajectory_to_msg(ARM_JOINTS, [1.0], goal[None, :]))

        def reached() -> bool:
            q = conv.joint_positions_from_msg(got["joints"][-1], ARM_JOINTS)
            return bool(np.allclose(q, goal, atol=0.01))

        assert spin_until(executor, reached, 30.0)
        t_sim = [conv.clock_from_msg(c) for c in got["clock"]]
        assert t_sim == sorted(t_sim) and len(set(t_sim)) == len(t_sim)  # a monotonic /clock
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "Traceback" not in out, out
