"""Tier 2: the demo observer turns real messages over rclpy into recorder samples."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from rclpy.node import Node
from ros_helpers import spin_until
from std_msgs.msg import String

from vla_ros import conversions as conv
from vla_ros.core.demo.recorder import DemoRecorder, VideoWriter
from vla_ros.core.demo.timeline import DemoTimeline, MotionSample
from vla_ros.core.perception.camera import CameraIntrinsics
from vla_ros.core.perception.detectors import PersonBox
from vla_ros.core.perception.pipeline import HumanEstimate
from vla_ros.core.resources import resource_path
from vla_ros.core.robot_config import load_robot
from vla_ros.core.safety.types import SafetyState, SafetyStatusData
from vla_ros.core.sim.tasks import EpisodeStatus
from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS
from vla_ros.nodes.demo_observer_node import DemoObserverNode

pytestmark = pytest.mark.ros


def test_observer_records_every_stream(executor, tmp_path):
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from trajectory_msgs.msg import JointTrajectory
    from visualization_msgs.msg import Marker
    from vla_ros_msgs.msg import HumanDetectionArray, Instruction, SafetyStatus, TaskState

    config, robot = load_robot(resource_path("config", "robots", "vla_arm6.yaml"))
    timeline = DemoTimeline()
    recorder = DemoRecorder(timeline, VideoWriter(tmp_path / "v.mp4", fps=10.0))
    observer = DemoObserverNode(recorder, robot, config.camera_frame, context=executor.context)
    executor.add_node(observer)
    source = Node("demo_source", context=executor.context)
    executor.add_node(source)
    pubs = {
        "joints": source.create_publisher(JointState, "/joint_states", COMMAND_QOS),
        "task": source.create_publisher(TaskState, "/sim/task_state", LATCHED_QOS),
        "person": source.create_publisher(PoseStamped, "/sim/person/pose", 10),
        "safety": source.create_publisher(SafetyStatus, "/safety/status", COMMAND_QOS),
        "humans": source.create_publisher(HumanDetectionArray, "/humans", COMMAND_QOS),
        "instruction": source.create_publisher(Instruction, "/instruction", COMMAND_QOS),
        "command": source.create_publisher(
            JointTrajectory, "/arm_controller/joint_trajectory", COMMAND_QOS
        ),
        "marker": source.create_publisher(Marker, "/policy/markers", COMMAND_QOS),
        "feedback": source.create_publisher(String, "/speech/feedback", COMMAND_QOS),
        "image": source.create_publisher(Image, "/camera/color/image_raw", SENSOR_QOS),
        "info": source.create_publisher(CameraInfo, "/camera/color/camera_info", SENSOR_QOS),
    }
    assert spin_until(
        executor, lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), 20.0
    )
    names = (*robot.joint_names, *robot.gripper_joint_names)
    q = robot.named_state("home")
    intrinsics = CameraIntrinsics.from_fov(160, 120, math.radians(58.0))
    stamp = 5.0
    human = HumanEstimate(
        3,
        np.array([-0.7, 0.7, 0.2]),
        np.zeros(3),
        0.1,
        0.62,
        PersonBox(10.0, 20.0, 50.0, 110.0, 0.9),
        0.9,
        2,
    )

    def publish_all() -> None:
        velocities = [0.3] + [0.0] * (len(names) - 1)
        pubs["joints"].publish(conv.joint_state_to_msg(names, [*q, 0.02], velocities, None, stamp))
        pubs["task"].publish(
            conv.task_state_to_msg(
                EpisodeStatus(2, 0, "pick", "pick up the red cube", True, True, 4.0, 20.0), stamp
            )
        )
        pubs["person"].publish(
            conv.pose_stamped_to_msg([-0.7, 0.7, -0.75], [0, 0, 0, 1], stamp, "base_link")
        )
        status = SafetyStatusData(
            SafetyState.STOPPED, 0.0, 0.62, 1.4, reasons=("human_inside_sp",)
        )
        pubs["safety"].publish(conv.safety_status_to_msg(status, stamp))
        pubs["humans"].publish(conv.human_detections_to_msg([human], stamp, "base_link"))
        pubs["instruction"].publish(
            conv.instruction_to_msg("pick up the red cube", "id1", time.time())
        )
        pubs["command"].publish(
            conv.trajectory_to_msg(robot.joint_names, [0.5], np.asarray(q)[None, :])
        )
        pubs["marker"].publish(
            conv.path_marker_to_msg(
                np.array([[0.4, 0.0, 0.2], [0.4, 0.1, 0.1]]), stamp, "base_link"
            )
        )
        pubs["feedback"].publish(String(data="stopped: person too close"))
        pubs["info"].publish(conv.camera_info_to_msg(intrinsics, stamp, "camera_optical_frame"))
        pubs["image"].publish(
            conv.image_to_msg(np.full((120, 160, 3), 90, np.uint8), "rgb8", stamp, "cam")
        )

    def complete() -> bool:
        tl = timeline.snapshot()
        return (
            all(
                (
                    tl.motion,
                    tl.task,
                    tl.person,
                    tl.safety,
                    tl.humans,
                    tl.instructions,
                    tl.commands_s,
                )
            )
            and bool(tl.feedback)
            and recorder.frames_seen > 0
            and recorder.overlay_state(stamp).tool_path_px is not None  # camera info + marker
        )

    deadline = time.monotonic() + 30.0
    while not complete() and time.monotonic() < deadline:
        publish_all()
        spin_until(executor, complete, 0.3)
    assert complete(), timeline.snapshot()
    tl = timeline.snapshot()
    assert tl.motion[-1].max_joint_speed_rad_s == pytest.approx(0.3)
    assert tl.task[-1].success and tl.task[-1].episode_id == 2
    assert tl.safety[-1].state == 3 and tl.safety[-1].reasons == ("human_inside_sp",)
    assert tl.humans[-1].count == 1 and tl.humans[-1].min_distance_m == pytest.approx(0.62)
    assert tl.instructions[-1].text == "pick up the red cube"
    assert (
        tl.instructions[-1].source == "text"
        and 0.0 <= tl.instructions[-1].recognition_latency_s < 5.0
    )
    # ground truth: a person 1 m from the base, robot at home, is clear of it
    assert 0.0 < tl.person[-1].separation_m < 1.0
    state = recorder.overlay_state(stamp)
    assert state.safety_state == "STOPPED" and state.instruction == "pick up the red cube"
    assert state.people[0].label.startswith("#3 0.62 m")
    assert state.feedback == "stopped: person too close" and state.commands
    assert state.tool_path_px is not None and len(state.tool_path_px) == 2  # seen by the camera
    assert observer.errors.total == 0


def test_standalone_observer_writes_its_files_on_shutdown(executor, tmp_path):
    from rclpy.parameter import Parameter

    observer = DemoObserverNode(
        context=executor.context,
        parameter_overrides=[Parameter("output_dir", value=str(tmp_path / "watch"))],
    )
    assert observer.robot.joint_names[0] == "joint_1" and observer.camera_frame
    observer.timeline.add(MotionSample(1.0, 0.0))
    observer.destroy_node()
    assert (tmp_path / "watch" / "timeline.png").stat().st_size > 1000
