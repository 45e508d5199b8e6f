"""Tier 3: sim_node and human_detector_node in their own processes, over real DDS.

The detector runs from config/perception.yaml against the simulated cell: the scene camera
and the room camera (the sim publishes both by default). After learning the empty cell:
(1) the arm moves through pixels that were background, and the self-filter at the streamed
joint states must explain it in both cameras (no detection); (2) the simulated person walks
past the robot and must be reported on every frame they stand visible inside the volume;
(3) a person walking in from behind the scene camera, where only the room camera sees them,
must be reported on every frame inside the volume before they reach the scene camera's view.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from contextlib import contextmanager

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


@contextmanager
def sim_and_detector(executor, node, *sim_args: str):
    """Start the detector (from config/perception.yaml), then, once it listens, the sim."""
    from ros_helpers import spin_until

    from vla_ros.core.resources import resource_path

    env = dict(os.environ)
    env.setdefault("MUJOCO_GL", "egl")
    common = {"env": env, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    params = str(resource_path("config", "perception.yaml"))
    detector = subprocess.Popen(
        [
            *(sys.executable, "-m", "vla_ros.nodes.human_detector_node", "--ros-args"),
            *("--params-file", params, "-p", "use_sim_time:=true"),
        ],
        **common,
    )
    sim = None
    try:
        # the sim's clock starts with it: a detector still loading would miss the empty cell
        listening = spin_until(
            executor, lambda: node.count_subscribers("/camera/color/image_raw") > 0, 60.0
        )
        assert listening, detector.poll()
        sim = subprocess.Popen(
            [sys.executable, "-m", "vla_ros.nodes.sim_node", "--ros-args", *sim_args], **common
        )
        yield sim, detector
    finally:
        outputs = [_stop(detector)] + ([_stop(sim)] if sim is not None else [])
    for out in outputs:
        assert not _real_tracebacks(out), out


def _listener(executor):
    from rclpy.node import Node
    from vla_ros_msgs.msg import Heartbeat, HumanDetectionArray

    from vla_ros.nodes.common import COMMAND_QOS

    node = Node("perception_graph_client", context=executor.context)
    executor.add_node(node)
    humans: list[HumanDetectionArray] = []
    beats: list[Heartbeat] = []
    node.create_subscription(HumanDetectionArray, "/humans", humans.append, COMMAND_QOS)
    node.create_subscription(Heartbeat, "/perception/heartbeat", beats.append, COMMAND_QOS)
    return node, humans, beats


def _wait_until_learned(executor, humans, beats, procs) -> None:
    from ros_helpers import spin_until
    from vla_ros_msgs.msg import Heartbeat

    ok = spin_until(
        executor, lambda: humans and beats and beats[-1].status == Heartbeat.STATUS_OK, 90.0
    )
    assert ok, ([p.poll() for p in procs], len(humans), [b.message for b in beats[-3:]])
    assert humans[-1].header.frame_id == "base_link"


def test_detector_process_on_the_sim_cell_sees_no_ghosts_while_the_arm_moves(executor):
    from ros_helpers import spin_until
    from trajectory_msgs.msg import JointTrajectory
    from vla_ros_msgs.msg import Heartbeat

    from vla_ros import conversions as conv
    from vla_ros.core.sim.env import HOME_Q
    from vla_ros.core.sim.scene import ARM_JOINTS
    from vla_ros.nodes.common import COMMAND_QOS

    node, humans, beats = _listener(executor)
    arm = node.create_publisher(JointTrajectory, "/arm_controller/joint_trajectory", COMMAND_QOS)
    with sim_and_detector(executor, node, "-p", "seed:=7") as procs:
        _wait_until_learned(executor, humans, beats, procs)
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


def test_detector_process_reports_the_simulated_person_walking_in(executor):
    from geometry_msgs.msg import PoseStamped
    from ros_helpers import spin_until

    from vla_ros import conversions as conv

    node, humans, _ = _listener(executor)
    truth: dict[float, np.ndarray] = {}  # person feet by sim stamp (same stamp as the images)

    def on_pose(msg: PoseStamped) -> None:
        position, _, stamp, _ = conv.pose_stamped_from_msg(msg)
        truth[round(stamp, 6)] = position

    node.create_subscription(PoseStamped, "/sim/person/pose", on_pose, 50)
    # seed 16: the person appears at 3.8 s, walks along y at x ~ -0.93 behind the arm. The sim
    # runs at half real time so that a detector on a loaded 2-core machine keeps up with every
    # frame of the walk (sensor QoS drops frames it cannot keep up with).
    sim_args = ("-p", "seed:=16", "-p", "with_person:=true", "-p", "real_time_factor:=0.5")
    with sim_and_detector(executor, node, *sim_args) as procs:
        assert spin_until(executor, lambda: len(truth) > 0, 60.0), [p.poll() for p in procs]
        # until the person has walked past and out of the volume (y < -1.3)
        assert spin_until(executor, lambda: min(p[1] for p in truth.values()) < -1.3, 60.0)
    inside = seen = 0
    worst = 0.0
    first_truth = min(truth)
    for msg in humans:
        stamp = round(conv.stamp_to_seconds(msg.header.stamp), 6)
        if stamp < first_truth:
            assert not msg.detections, ("detection before the person appeared", stamp)
        feet = truth.get(stamp)
        if feet is None:
            continue
        # inside the volume with the whole body (1.5 m - 0.3 m) and not hidden behind the arm
        if math.hypot(feet[0], feet[1]) < 1.2 and abs(feet[1]) > 0.3:
            inside += 1
            if msg.detections:
                seen += 1
                p = msg.detections[0].position
                worst = max(worst, math.hypot(p.x - feet[0], p.y - feet[1]))
    print(f"\nsim walk-in over DDS: {seen}/{inside} frames detected, nearest within {worst:.2f} m")
    # 13 frames at 15 Hz; every one must be processed (a busy multi-threaded executor once
    # starved the detector so that it saw 1-12 of them)
    assert inside >= 10
    assert seen == inside
    assert worst < 0.4


def test_detector_process_reports_a_walk_in_only_the_room_camera_sees(executor):
    from geometry_msgs.msg import PoseStamped
    from ros_helpers import spin_until
    from std_srvs.srv import Trigger

    from vla_ros import conversions as conv

    node, humans, beats = _listener(executor)
    truth: dict[float, np.ndarray] = {}

    def on_pose(msg: PoseStamped) -> None:
        position, _, stamp, _ = conv.pose_stamped_from_msg(msg)
        truth[round(stamp, 6)] = position

    node.create_subscription(PoseStamped, "/sim/person/pose", on_pose, 50)
    walk_in = node.create_client(Trigger, "/sim/person/walk_in")
    # Along y = 1.3 m (left of the robot) from x = +3.5, behind the scene camera (x = 1.05,
    # looking back at the robot): the scene camera cannot see the person before x ~ 0.3.
    sim_args = (
        *("-p", "seed:=3", "-p", "real_time_factor:=0.5"),
        *("-p", "walk_in_bearing_rad:=1.5707963", "-p", "walk_in_walk_sign:=1.0"),
        *("-p", "walk_in_closest_approach_m:=1.3", "-p", "walk_in_speed_m_s:=1.2"),
        *("-p", "walk_in_pause_s:=0.0"),
    )
    with sim_and_detector(executor, node, *sim_args) as procs:
        _wait_until_learned(executor, humans, beats, procs)
        assert walk_in.wait_for_service(timeout_sec=10.0)
        future = walk_in.call_async(Trigger.Request())
        assert spin_until(executor, future.done, 10.0) and future.result().success
        # until the person has walked past the robot (x < -0.5)
        assert spin_until(
            executor, lambda: truth and min(p[0] for p in truth.values()) < -0.5, 60.0
        ), [p.poll() for p in procs]
    inside = seen = 0
    missed_well_inside = []  # frames missed with the person 0.5 m or more inside the volume
    worst = 0.0
    for msg in humans:
        feet = truth.get(round(conv.stamp_to_seconds(msg.header.stamp), 6))
        # inside the volume (2.5 m) with the whole body (0.3 m margin), out of the scene
        # camera's view (x > 0.6)
        if feet is None or not (feet[0] > 0.6 and math.hypot(feet[0], feet[1]) < 2.2):
            continue
        inside += 1
        near = [
            d
            for d in msg.detections
            if math.hypot(d.position.x - feet[0], d.position.y - feet[1]) < 0.4
        ]
        seen += bool(near)
        if near:
            worst = max(
                worst,
                min(math.hypot(d.position.x - feet[0], d.position.y - feet[1]) for d in near),
            )
        elif math.hypot(feet[0], feet[1]) < 2.0:
            missed_well_inside.append(feet)
    print(f"\nroom-camera walk-in over DDS: {seen}/{inside} frames, nearest within {worst:.2f} m")
    # x from 1.73 (entering the volume) to 0.6 at 1.2 m/s: ~0.95 s, 14 frames at 15 Hz.
    # One frame may be lost at the volume's edge (the body only partly inside the monitored
    # cylinder, so its cluster can fall under the minimum size); none further in.
    assert inside >= 10
    assert seen >= inside - 1
    assert not missed_well_inside, missed_well_inside
