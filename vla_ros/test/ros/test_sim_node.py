"""Tier 2: the sim node over real rclpy: sensors, controller topics, services, bad input."""

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
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory
from vla_ros_msgs.msg import TaskState
from vla_ros_msgs.srv import ResetEpisode

from vla_ros import conversions as conv
from vla_ros.core.perception.camera import CameraIntrinsics
from vla_ros.core.sim.env import HOME_Q
from vla_ros.core.sim.scene import ARM_JOINTS
from vla_ros.core.sim.tasks import EpisodeStatus
from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS
from vla_ros.nodes.sim_node import SimNode

pytestmark = pytest.mark.ros


class Probe:
    """Subscribes to everything the sim publishes and keeps the latest of each."""

    def __init__(self, executor):
        self.node = Node("sim_probe", context=executor.context)
        executor.add_node(self.node)
        self.latest: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        subs = {
            "/clock": (Clock, 10),
            "/joint_states": (JointState, COMMAND_QOS),
            "/camera/color/image_raw": (Image, SENSOR_QOS),
            "/camera/color/camera_info": (CameraInfo, SENSOR_QOS),
            "/camera/depth/image_raw": (Image, SENSOR_QOS),
            "/camera/depth/camera_info": (CameraInfo, SENSOR_QOS),
            "/wrist_camera/color/image_raw": (Image, SENSOR_QOS),
            "/wrist_camera/color/camera_info": (CameraInfo, SENSOR_QOS),
            "/room_camera/color/image_raw": (Image, SENSOR_QOS),
            "/room_camera/color/camera_info": (CameraInfo, SENSOR_QOS),
            "/room_camera/depth/image_raw": (Image, SENSOR_QOS),
            "/room_camera/depth/camera_info": (CameraInfo, SENSOR_QOS),
            "/sim/task_state": (TaskState, LATCHED_QOS),
            "/sim/person/pose": (PoseStamped, 10),
        }
        for topic, (msg_type, qos) in subs.items():
            self.node.create_subscription(msg_type, topic, self._keeper(topic), qos)
        self.arm = self.node.create_publisher(
            JointTrajectory, "/arm_controller/joint_trajectory", COMMAND_QOS
        )
        self.forward = self.node.create_publisher(
            type(conv.float_array_to_msg([0.0])),
            "/forward_position_controller/commands",
            COMMAND_QOS,
        )
        self.reset = self.node.create_client(ResetEpisode, "/sim/reset_episode")
        self.pause = self.node.create_client(SetBool, "/sim/pause")

    def _keeper(self, topic):
        def keep(msg):
            self.latest[topic] = msg
            self.counts[topic] = self.counts.get(topic, 0) + 1

        return keep

    def sim_time(self) -> float:
        clock = self.latest.get("/clock")
        return -1.0 if clock is None else conv.clock_from_msg(clock)

    def joints(self) -> np.ndarray:
        return conv.joint_positions_from_msg(self.latest["/joint_states"], ARM_JOINTS)


def call(executor, client, request, timeout_s=20.0):
    assert client.wait_for_service(timeout_sec=timeout_s)
    future = client.call_async(request)
    assert spin_until(executor, future.done, timeout_s)
    return future.result()


@pytest.fixture
def sim(executor):
    node = SimNode(
        context=executor.context,
        parameter_overrides=[
            Parameter("image_width_px", value=96),
            Parameter("image_height_px", value=72),
            Parameter("camera_rate_hz", value=20.0),
            Parameter("real_time_factor", value=0.0),
            Parameter("depth_encoding", value="16UC1"),
            Parameter("seed", value=3),
            Parameter("task", value="pick"),
        ],
    )
    executor.add_node(node)
    return node


def test_publishes_sensors_clock_and_task_state(executor, sim):
    probe = Probe(executor)
    topics = [
        "/clock",
        "/joint_states",
        "/camera/color/image_raw",
        "/camera/depth/image_raw",
        "/camera/color/camera_info",
        "/camera/depth/camera_info",
        "/wrist_camera/color/image_raw",
        "/wrist_camera/color/camera_info",
        "/sim/task_state",
    ]
    assert spin_until(executor, lambda: all(t in probe.latest for t in topics), 60.0), sorted(
        probe.latest
    )
    rgb = conv.rgb_from_msg(probe.latest["/camera/color/image_raw"])
    assert rgb.shape == (72, 96, 3) and rgb.std() > 10
    depth_msg = probe.latest["/camera/depth/image_raw"]
    assert depth_msg.encoding == "16UC1"
    depth = conv.depth_from_msg(depth_msg)
    assert np.isfinite(depth).mean() > 0.5 and 0.3 < np.nanmin(depth) < 5.0
    intrinsics = conv.camera_info_from_msg(probe.latest["/camera/color/camera_info"])
    assert intrinsics.width_px == 96
    expected_fy = 36 / math.tan(math.radians(58.0) / 2)
    assert intrinsics.fy_px == pytest.approx(expected_fy)
    assert probe.latest["/camera/color/image_raw"].header.frame_id == "camera_optical_frame"
    wrist_msg = probe.latest["/wrist_camera/color/image_raw"]
    assert wrist_msg.header.frame_id == "wrist_camera_optical_frame"
    wrist = conv.rgb_from_msg(wrist_msg)
    assert wrist.shape == (72, 96, 3) and wrist.std() > 10 and not np.array_equal(wrist, rgb)
    wrist_info = probe.latest["/wrist_camera/color/camera_info"]
    assert wrist_info.header.frame_id == "wrist_camera_optical_frame"
    joint_msg = probe.latest["/joint_states"]
    assert list(joint_msg.name) == [*ARM_JOINTS, "finger_joint"]
    np.testing.assert_allclose(probe.joints(), HOME_Q, atol=0.02)
    status = conv.task_state_from_msg(probe.latest["/sim/task_state"])
    assert status.task_family == "pick" and status.seed == 3
    assert status.instruction.startswith("pick up the ")
    # images are stamped with simulated time, which advances
    t0 = probe.sim_time()
    assert spin_until(executor, lambda: probe.sim_time() > t0 + 0.2, 20.0)
    # a node with use_sim_time follows /clock
    follower = Node(
        "sim_time_follower",
        context=executor.context,
        parameter_overrides=[Parameter("use_sim_time", value=True)],
    )
    executor.add_node(follower)
    assert spin_until(
        executor, lambda: follower.get_clock().now().nanoseconds * 1e-9 > t0 + 0.3, 20.0
    )
    assert abs(follower.get_clock().now().nanoseconds * 1e-9 - probe.sim_time()) < 0.5


def test_room_camera_is_published_like_the_scene_camera(executor, sim):
    from vla_ros.core.perception.camera import extrinsics_from_xyz_quaternion

    probe = Probe(executor)
    topics = [
        "/room_camera/color/image_raw",
        "/room_camera/depth/image_raw",
        "/room_camera/color/camera_info",
        "/room_camera/depth/camera_info",
    ]
    assert spin_until(executor, lambda: all(t in probe.latest for t in topics), 60.0), sorted(
        probe.latest
    )

    # frames of one instant: wait until both cameras' colour images carry the same stamp
    def same_instant():
        scene = probe.latest["/camera/color/image_raw"].header.stamp
        return all(probe.latest[t].header.stamp == scene for t in topics)

    assert spin_until(executor, same_instant, 20.0)
    color = probe.latest["/room_camera/color/image_raw"]
    depth_msg = probe.latest["/room_camera/depth/image_raw"]
    assert color.encoding == "rgb8" and color.header.frame_id == "room_camera_optical_frame"
    assert depth_msg.encoding == "16UC1"  # the sim's depth_encoding, as for the scene camera
    rgb, depth = conv.rgb_from_msg(color), conv.depth_from_msg(depth_msg)
    assert rgb.shape == (72, 96, 3) and depth.shape == (72, 96) and rgb.std() > 10
    intrinsics = conv.camera_info_from_msg(probe.latest["/room_camera/color/camera_info"])
    room_fovy = sim.get_parameter("room_camera_fovy_deg").value
    assert intrinsics.fy_px == pytest.approx(36 / math.tan(math.radians(room_fovy) / 2))
    # the depth is the floor and the table seen from the configured pose: back-projected,
    # the valid pixels lie on or above the floor (z = -0.75) and inside the lit cell
    pose = extrinsics_from_xyz_quaternion(
        sim.get_parameter("room_camera_position_m").value,
        sim.get_parameter("room_camera_orientation_xyzw").value,
    )
    v, u = np.nonzero(np.isfinite(depth))
    assert v.size > 0.5 * depth.size
    points = intrinsics.backproject(u, v, depth[v, u]) @ pose[:3, :3].T + pose[:3, 3]
    assert points[:, 2].min() > -0.75 - 0.02
    assert np.mean(np.abs(points[:, 2] + 0.75) < 0.02) > 0.5  # mostly floor


def test_room_and_wrist_cameras_off_publish_nothing_for_them(executor):
    node = SimNode(
        context=executor.context,
        parameter_overrides=[
            Parameter("image_width_px", value=64),
            Parameter("image_height_px", value=48),
            Parameter("real_time_factor", value=0.0),
            Parameter("room_camera", value=False),
            Parameter("wrist_camera", value=False),
        ],
    )
    executor.add_node(node)
    assert node.env.cameras == ("scene_camera", "wrist_camera")  # no room camera in the model
    assert not [p.topic_name for p in node.publishers if p.topic_name.startswith("/room_")]
    assert not [p.topic_name for p in node.publishers if p.topic_name.startswith("/wrist_")]
    probe = Probe(executor)
    assert spin_until(executor, lambda: "/camera/color/image_raw" in probe.latest, 60.0)
    spin_until(executor, lambda: False, 0.5)
    assert not [t for t in probe.latest if t.startswith(("/room_camera/", "/wrist_camera/"))]


def test_trajectory_and_forward_commands_move_the_arm(executor, sim):
    probe = Probe(executor)
    assert spin_until(executor, lambda: "/joint_states" in probe.latest, 30.0)
    goal = HOME_Q + np.array([0.3, -0.2, 0.2, 0.4, -0.3, 0.5])
    probe.arm.publish(conv.trajectory_to_msg(ARM_JOINTS, [1.0], goal[None, :]))
    start = probe.sim_time()
    assert spin_until(executor, lambda: np.allclose(probe.joints(), goal, atol=0.01), 60.0)
    assert probe.sim_time() - start >= 0.9  # it took the trajectory's duration, in sim time
    # joints in another order are fine (matched by name)
    order = list(reversed(ARM_JOINTS))
    back = HOME_Q[::-1]
    probe.arm.publish(conv.trajectory_to_msg(order, [0.5], back[None, :]))
    assert spin_until(executor, lambda: np.allclose(probe.joints(), HOME_Q, atol=0.01), 60.0)
    probe.forward.publish(conv.float_array_to_msg(goal))
    assert spin_until(executor, lambda: np.allclose(probe.joints(), goal, atol=0.01), 60.0)


def test_bad_commands_are_counted_and_ignored(executor, sim):
    probe = Probe(executor)
    assert spin_until(executor, lambda: "/joint_states" in probe.latest, 30.0)
    wrong_joints = conv.trajectory_to_msg(["elbow", "wrist"], [1.0], np.ones((1, 2)))
    probe.arm.publish(wrong_joints)
    probe.forward.publish(conv.float_array_to_msg([0.1, 0.2]))  # wrong size
    nan = conv.float_array_to_msg(HOME_Q)
    nan.data[0] = float("nan")
    probe.forward.publish(nan)
    assert spin_until(executor, lambda: sim.errors.total >= 3, 20.0), sim.errors.counts
    t0 = probe.sim_time()
    assert spin_until(executor, lambda: probe.sim_time() > t0 + 0.5, 30.0)
    np.testing.assert_allclose(probe.joints(), HOME_Q, atol=0.02)  # nothing moved


def test_reset_pause_and_person(executor, sim):
    probe = Probe(executor)
    request = conv.reset_episode_request_to_msg(
        9, "put the red cube in the bowl", with_person=True
    )
    response = call(executor, probe.reset, request)
    assert response.success and response.instruction == "put the red cube in the bowl"
    assert spin_until(
        executor,
        lambda: (
            "/sim/task_state" in probe.latest
            and probe.latest["/sim/task_state"].episode_id == response.episode_id
        ),
        20.0,
    )
    status = conv.task_state_from_msg(probe.latest["/sim/task_state"])
    assert status.task_family == "place" and not status.success
    bad = call(executor, probe.reset, conv.reset_episode_request_to_msg(1, "fly away"))
    assert not bad.success and "template" in bad.message
    # the scheduled person walks in within the episode; ground truth is published
    assert spin_until(executor, lambda: "/sim/person/pose" in probe.latest, 120.0)
    position, _, _, frame = conv.pose_stamped_from_msg(probe.latest["/sim/person/pose"])
    assert frame == "base_link" and position[2] == pytest.approx(-0.75)
    # paused: simulated time stands still
    assert call(executor, probe.pause, SetBool.Request(data=True)).success
    spin_until(executor, lambda: False, 1.0)  # drain clock messages already in flight
    frozen = probe.sim_time()
    spin_until(executor, lambda: False, 0.5)
    assert probe.sim_time() == frozen
    assert call(executor, probe.pause, SetBool.Request(data=False)).success
    assert spin_until(executor, lambda: probe.sim_time() > frozen + 0.1, 20.0)


def test_sim_conversions_round_trip():
    assert conv.clock_from_msg(conv.clock_to_msg(12.25)) == pytest.approx(12.25)
    status = EpisodeStatus(
        4, 7, "stack", "stack the red cube on the blue cube", False, True, 12.5, 30.0
    )
    assert conv.task_state_from_msg(conv.task_state_to_msg(status, 3.0)) == status
    quat = np.array([0.0, 0.0, math.sin(0.4), math.cos(0.4)])
    msg = conv.pose_stamped_to_msg([1.0, -2.0, 0.5], quat, 4.5, "base_link")
    pos, q, stamp, frame = conv.pose_stamped_from_msg(msg)
    np.testing.assert_allclose(pos, [1.0, -2.0, 0.5])
    np.testing.assert_allclose(q, quat)
    assert stamp == pytest.approx(4.5) and frame == "base_link"
    with pytest.raises(ValueError):
        conv.pose_stamped_to_msg([0, 0, 0], [0, 0, 0, 2.0], 0.0, "")
    intrinsics = CameraIntrinsics(640, 480, 600.0, 601.0, 319.5, 239.5)
    info = conv.camera_info_to_msg(intrinsics, 1.0, "camera_optical_frame")
    assert conv.camera_info_from_msg(info) == intrinsics
    assert info.p[0] == 600.0 and info.header.frame_id == "camera_optical_frame"
    info.k = [float("nan")] * 9
    with pytest.raises(ValueError):
        conv.camera_info_from_msg(info)
    request = conv.reset_episode_request_to_msg(5, "push", with_person=True)
    assert conv.reset_episode_request_from_msg(request) == (5, "push", True)
    with pytest.raises(ValueError):
        conv.reset_episode_request_to_msg(-1)
