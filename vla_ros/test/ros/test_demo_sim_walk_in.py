"""Tier 2: the sim node's scenario hooks the demo uses: /sim/person/walk_in starts the configured
walk in the current episode, and a scripted-expert policy server reads the live state."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import math

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_helpers import spin_until
from std_srvs.srv import Trigger

from vla_ros import conversions as conv
from vla_ros.nodes.sim_node import SimNode

pytestmark = pytest.mark.ros


def test_walk_in_service_sends_the_person_on_the_configured_walk(executor):
    sim = SimNode(
        context=executor.context,
        parameter_overrides=[
            Parameter("image_width_px", value=64),
            Parameter("image_height_px", value=48),
            Parameter("real_time_factor", value=0.0),
            Parameter("task", value="pick"),
            Parameter("walk_in_speed_m_s", value=3.5),  # 1 s from the entry to the closest
            Parameter("walk_in_closest_approach_m", value=1.2),
            Parameter("walk_in_bearing_rad", value=math.pi / 2),
            Parameter("walk_in_pause_s", value=0.5),
        ],
    )
    executor.add_node(sim)
    probe = Node("walk_in_probe", context=executor.context)
    executor.add_node(probe)
    poses: list[PoseStamped] = []
    probe.create_subscription(PoseStamped, "/sim/person/pose", poses.append, 10)
    client = probe.create_client(Trigger, "/sim/person/walk_in")
    assert spin_until(executor, lambda: sim.env.time_s > 0.5, 60.0)
    assert not poses  # nobody walks in before asked
    assert client.wait_for_service(timeout_sec=20.0)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done, 20.0)
    answer = future.result()
    assert answer.success and "closest 1.20 m" in answer.message
    assert spin_until(executor, lambda: len(poses) > 30, 60.0)
    xy = np.array([conv.pose_stamped_from_msg(p)[0][:2] for p in poses])
    distances = np.linalg.norm(xy, axis=1)
    assert distances.min() == pytest.approx(1.2, abs=0.05)  # the closest approach
    nearest = xy[int(np.argmin(distances))]
    assert math.atan2(nearest[1], nearest[0]) == pytest.approx(math.pi / 2, abs=0.1)
    # the scripted expert's state accessor sees the same episode the node simulates
    state = sim.state_view()
    assert set(state.cube_positions_m) == set(sim.env.episode.colours)


def test_invalid_walk_parameters_refuse_to_start(executor):
    with pytest.raises(ValueError, match="speed_m_s"):
        SimNode(
            context=executor.context,
            parameter_overrides=[
                Parameter("image_width_px", value=64),
                Parameter("image_height_px", value=48),
                Parameter("walk_in_speed_m_s", value=-1.0),
            ],
        )


def test_sim_process_serves_the_scripted_expert_to_a_remote_client(executor):
    """`vla-ros sim --serve-scripted-policy-port`: the remote backend gets expert chunks that
    follow the live episode (here: towards the cube of the instruction)."""
    import argparse

    from vla_ros.core.policy.backends import make_policy
    from vla_ros.core.policy.interface import Observation
    from vla_ros.tools import sim as sim_tool

    sim = SimNode(
        context=executor.context,
        parameter_overrides=[
            Parameter("image_width_px", value=64),
            Parameter("image_height_px", value=48),
            Parameter("real_time_factor", value=0.0),
            Parameter("task", value="pick up the red cube"),
        ],
    )
    executor.add_node(sim)
    parser = argparse.ArgumentParser()
    sim_tool.add_arguments(parser)
    args = parser.parse_args(["--serve-scripted-policy-port", "0", "--policy-chunk-length", "5"])
    server = sim_tool.serve_scripted_policy(sim, args)
    try:
        client = make_policy("remote", {"host": "127.0.0.1", "port": server.bound_port})
        assert client.spec.chunk_length == 5 and client.spec.has_gripper
        joints = sim.env.joint_state()
        chunk = client.infer(
            Observation(
                images={"front": np.zeros((48, 64, 3), np.uint8)},
                joint_names=joints.names,
                joint_positions=joints.positions,
                instruction="pick up the red cube",
                stamp_s=1.0,
            )
        )
        assert chunk.actions.shape == (5, 7)
        assert not np.allclose(chunk.actions[-1, :6], joints.positions[:6])  # it moves
        client.close()
    finally:
        server.stop()
