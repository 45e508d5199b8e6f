"""Tier 2: the gripper columns of a policy proposal reach the gripper controller through the
safety filter, clamped to the gripper's limits, and a stop holds the gripper too."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.node import Node
from ros_helpers import spin_until
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory
from vla_ros_msgs.msg import Heartbeat, SafetyStatus

from vla_ros import conversions as conv
from vla_ros.core.safety import SafetyState
from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS
from vla_ros.nodes.safety_filter_node import GRIPPER_TOPIC, SafetyFilterNode

pytestmark = pytest.mark.ros


def test_gripper_follows_a_passed_arm_command_and_holds_when_stopped(executor):
    safety = SafetyFilterNode(context=executor.context)
    executor.add_node(safety)
    robot = safety.robot
    assert robot.gripper_joint_names == ("finger_joint",)
    home = np.clip(
        robot.named_state("home"), safety.safety.limits.lower_rad, safety.safety.limits.upper_rad
    )
    cell = Node("gripper_route_cell", context=executor.context)
    executor.add_node(cell)
    gripper_out: list[JointTrajectory] = []
    arm_out: list[JointTrajectory] = []
    statuses: list[SafetyStatus] = []
    cell.create_subscription(JointTrajectory, GRIPPER_TOPIC, gripper_out.append, 10)
    cell.create_subscription(
        JointTrajectory, "/arm_controller/joint_trajectory", arm_out.append, 10
    )
    cell.create_subscription(SafetyStatus, "/safety/status", statuses.append, COMMAND_QOS)
    joints = cell.create_publisher(JointState, "/joint_states", COMMAND_QOS)
    beats = cell.create_publisher(Heartbeat, "/perception/heartbeat", COMMAND_QOS)
    proposals = cell.create_publisher(JointTrajectory, "/vla/proposed_trajectory", 10)
    estop = cell.create_publisher(Bool, "/safety/estop", LATCHED_QOS)
    names = (*robot.joint_names, "finger_joint")
    sequence = [0]

    def now() -> float:
        return cell.get_clock().now().nanoseconds * 1e-9

    def tick() -> None:
        sequence[0] += 1
        joints.publish(conv.joint_state_to_msg(names, [*home, 0.04], stamp_s=now()))
        beats.publish(conv.heartbeat_to_msg(now(), "test", sequence[0]))

    cell.create_timer(0.01, tick)

    def state() -> SafetyState | None:
        return SafetyState(statuses[-1].state) if statuses else None

    def propose(finger_m: float) -> None:
        fractions = np.linspace(0.2, 1.0, 5)
        arm = home + fractions[:, None] * 0.05
        rows = np.hstack([arm, np.full((5, 1), finger_m)])
        proposals.publish(conv.trajectory_to_msg(names, fractions * 0.5, rows, stamp_s=now()))

    assert spin_until(executor, lambda: state() == SafetyState.HOLD, 20.0), statuses[-1:]
    for _ in range(5):
        propose(0.5)  # far beyond the open limit: clamped
        spin_until(executor, lambda: bool(gripper_out) and bool(arm_out), 0.2)
    assert gripper_out and arm_out, statuses[-1:]
    _, positions, _ = conv.trajectory_from_msg(gripper_out[-1], ("finger_joint",))
    upper = robot.gripper_limits.upper_rad[0]
    assert positions.shape == (5, 1) and np.allclose(positions, upper)
    assert list(arm_out[-1].joint_names) == list(robot.joint_names)  # no gripper in the arm

    estop.publish(Bool(data=True))
    assert spin_until(executor, lambda: state() == SafetyState.ESTOP, 10.0)
    sent = len(gripper_out)
    for _ in range(5):
        propose(0.0)
        spin_until(executor, lambda: False, 0.1)
    assert len(gripper_out) == sent  # the e-stop holds the gripper as well
