"""Round trips of the safety filter's message conversions, and the MoveIt backends' boundary."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_ros import conversions as conv
from vla_ros.core.safety import SafetyState, SafetyStatusData

pytestmark = pytest.mark.ros


@settings(max_examples=100, deadline=None)
@given(
    state=st.sampled_from(list(SafetyState)),
    scale=st.floats(0.0, 1.0),
    separation=st.one_of(st.just(math.inf), st.floats(0.0, 10.0)),
    reasons=st.lists(st.sampled_from(["joint_states_stale", "human_inside_sp", "x"]), max_size=3),
    counts=st.lists(st.integers(0, 2**40), min_size=5, max_size=5),
)
def test_safety_status_round_trip(state, scale, separation, reasons, counts):
    status = SafetyStatusData(
        state=state,
        speed_scale=scale,
        min_separation_m=separation,
        protective_separation_m=1.5,
        min_obstacle_distance_m=math.inf,
        reasons=tuple(reasons),
        estop_latched=state == SafetyState.ESTOP,
        commands_received=counts[0],
        commands_passed=counts[1],
        commands_modified=counts[2],
        commands_rejected=counts[3],
        estop_count=counts[4],
    )
    msg = conv.safety_status_to_msg(status, 12.5)
    assert conv.stamp_to_seconds(msg.header.stamp) == 12.5
    assert conv.safety_status_from_msg(msg) == status


def test_safety_status_rejects_unknown_state():
    msg = conv.safety_status_to_msg(SafetyStatusData(state=SafetyState.OK), 1.0)
    msg.state = 9
    with pytest.raises(ValueError, match="unknown safety state"):
        conv.safety_status_from_msg(msg)


@pytest.mark.parametrize("status", [0, 1, 2])
def test_heartbeat_round_trip(status):
    msg = conv.heartbeat_to_msg(3.25, "human_detector", 42, status, "detail")
    assert conv.heartbeat_from_msg(msg) == (3.25, "human_detector", 42, status, "detail")


def test_heartbeat_rejects_unknown_status():
    with pytest.raises(ValueError, match="status"):
        conv.heartbeat_to_msg(1.0, "x", 1, 7)
    msg = conv.heartbeat_to_msg(1.0, "x", 1)
    msg.status = 7
    with pytest.raises(ValueError, match="unknown status"):
        conv.heartbeat_from_msg(msg)


def test_diagnostic_round_trip():
    msg = conv.diagnostic_to_msg(2.0, "safety", 2, "STOPPED", {"state": "STOPPED", "n": "3"})
    assert conv.diagnostic_from_msg(msg) == [
        ("safety", 2, "STOPPED", {"state": "STOPPED", "n": "3"})
    ]
    with pytest.raises(ValueError, match="level"):
        conv.diagnostic_to_msg(2.0, "safety", 5, "", {})


@pytest.mark.parametrize("shape", ["box", "sphere"])
def test_shape_marker_round_trip(shape):
    msg = conv.shape_marker_to_msg(
        shape, (0.1, 0.2, 0.3), (1.0, 2.0, 3.0), 1.0, "base_link", "ns", 3, (1, 0, 0, 0.5)
    )
    kind, center, size = conv.shape_marker_from_msg(msg)
    assert kind == shape and msg.header.frame_id == "base_link" and msg.id == 3
    np.testing.assert_allclose(center, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(size, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        conv.shape_marker_to_msg(
            shape, (0, 0, math.nan), (1, 1, 1), 1.0, "b", "n", 0, (1, 1, 1, 1)
        )


def test_points_marker_round_trip():
    points = np.random.default_rng(0).normal(size=(7, 3))
    msg = conv.points_marker_to_msg(
        points, 0.04, 1.0, "base_link", "in_collision", 0, (1, 0, 0, 1)
    )
    np.testing.assert_allclose(conv.points_marker_from_msg(msg), points)
    assert msg.scale.x == pytest.approx(0.08)


# ----------------------------------------------------------------------------- MoveIt backends


def _moveit_missing(module: str) -> str | None:
    try:
        __import__(module)
    except ImportError as exc:
        return f"MoveIt is not installed here ({exc}); the moveit backends need a ROS 2 distro"
    return None


@pytest.mark.moveit
@pytest.mark.parametrize(
    ("backend", "module"), [("moveit_service", "moveit_msgs"), ("moveit_py", "moveit")]
)
def test_moveit_backends_fail_with_a_clear_error_or_work(executor, backend, module):
    """Exercise the backend selection up to the import boundary; skip beyond it without MoveIt."""
    from rclpy.node import Node

    from vla_ros.core.resources import resource_path
    from vla_ros.core.robot_config import load_robot
    from vla_ros.nodes.safety_backends import MoveItUnavailableError, make_checker

    _, robot = load_robot(resource_path("config", "robots", "vla_arm6.yaml"))
    node = Node("moveit_probe", context=executor.context)
    executor.add_node(node)
    with pytest.raises(ValueError, match="collision_backend must be one of"):
        make_checker("bullet", node, robot, "arm")
    assert make_checker("embedded", node, robot, "arm") is None
    missing = _moveit_missing(module)
    if missing is None:
        checker = make_checker(backend, node, robot, "arm")
        if backend == "moveit_service":
            request = checker.request_for(np.zeros(len(robot.joint_names)))
            assert list(request.robot_state.joint_state.name) == list(robot.joint_names)
        return
    with pytest.raises(
        MoveItUnavailableError, match=f"collision_backend '{backend}' needs MoveIt 2"
    ):
        make_checker(backend, node, robot, "arm")
    print(f"SKIP {backend}: {missing}")
    pytest.skip(missing)
