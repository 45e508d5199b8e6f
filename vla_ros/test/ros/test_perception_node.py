"""human_detector_node in-process: synthetic RGB-D frames in, /humans and heartbeat out."""

from __future__ import annotations

import math
import time

import numpy as np
import perception_scene as ps
import pytest
from rclpy.parameter import Parameter
from ros_helpers import spin_until
from sensor_msgs.msg import CameraInfo, Image, JointState
from visualization_msgs.msg import Marker, MarkerArray
from vla_ros_msgs.msg import Heartbeat, HumanDetection, HumanDetectionArray

from vla_ros import conversions as conv
from vla_ros.core.perception.camera import CameraIntrinsics
from vla_ros.core.perception.detectors import PersonBox
from vla_ros.core.perception.geometry import Box3, RobotShapes
from vla_ros.core.perception.pipeline import SOURCE_DEPTH, SOURCE_FUSED, HumanEstimate
from vla_ros.nodes.common import COMMAND_QOS, SENSOR_QOS
from vla_ros.nodes.human_detector_node import HumanDetectorNode

pytestmark = pytest.mark.ros

FLOOR = Box3(center_m=(0.0, 0.0, -0.8), size_m=(20.0, 20.0, 0.1))
PERSON = Box3(center_m=(0.4, -0.45, 0.125), size_m=(0.3, 0.3, 1.75))


class Harness:
    """Test-side publishers and subscribers, plus the scene as the node's cameras see it.

    The node's own camera `camera` is the robot's (URDF frame); `fixed` adds cameras with
    fixed extrinsics (name -> base_from_camera), given to the node as NAME.* parameters.
    """

    def __init__(self, executor, rclpy_context, fixed=None, **overrides):
        from scipy.spatial.transform import Rotation

        fixed = dict(fixed or {})
        params = {"depth.background_frames": 2, "input_timeout_s": 0.5, **overrides}
        if fixed:
            params["cameras"] = ["camera", *fixed]
            for name, pose in fixed.items():
                params[f"{name}.pose_source"] = "parameters"
                params[f"{name}.position_m"] = [float(v) for v in pose[:3, 3]]
                quat = Rotation.from_matrix(pose[:3, :3]).as_quat()  # x y z w
                params[f"{name}.orientation_xyzw"] = [float(v) for v in quat]
        self.node = HumanDetectorNode(
            context=rclpy_context,
            parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
        )
        executor.add_node(self.node)
        self.executor = executor
        from rclpy.node import Node

        self.io = Node("perception_test_io", context=rclpy_context)
        executor.add_node(self.io)
        self.publishers = {}  # camera name -> (colour, depth, info) publishers
        for name in ["camera", *fixed]:
            self.publishers[name] = (
                self.io.create_publisher(Image, f"/{name}/color/image_raw", SENSOR_QOS),
                self.io.create_publisher(Image, f"/{name}/depth/image_raw", SENSOR_QOS),
                self.io.create_publisher(CameraInfo, f"/{name}/color/camera_info", SENSOR_QOS),
            )
        self.color, self.depth, self.info = self.publishers["camera"]
        self.joints = self.io.create_publisher(JointState, "/joint_states", COMMAND_QOS)
        self.humans: list[HumanDetectionArray] = []
        self.heartbeats: list[tuple[float, Heartbeat]] = []
        self.markers: list[MarkerArray] = []
        self.debug_images: list[Image] = []
        self.io.create_subscription(
            MarkerArray, "/perception/markers", self.markers.append, COMMAND_QOS
        )
        self.io.create_subscription(
            Image, "/perception/debug_image", self.debug_images.append, SENSOR_QOS
        )
        self.io.create_subscription(
            HumanDetectionArray, "/humans", self.humans.append, COMMAND_QOS
        )
        self.io.create_subscription(
            Heartbeat,
            "/perception/heartbeat",
            lambda m: self.heartbeats.append((time.monotonic(), m)),
            COMMAND_QOS,
        )
        robot = self.node.robot
        self.q = robot.named_state("home")
        self.shapes = RobotShapes.from_link_points(
            robot.link_points(self.q), robot.link_point_radii_m
        )
        self.pose = robot.fk(self.q, frame=self.node.cameras[0].frame)
        self.poses = {"camera": self.pose, **fixed}
        self.intrinsics = CameraIntrinsics.from_fov(320, 240, math.radians(70.0))
        self.stamp = 100.0
        publishers = (*(p for group in self.publishers.values() for p in group), self.joints)
        assert spin_until(
            executor, lambda: all(p.get_subscription_count() for p in publishers), 10.0
        )
        self.publish_joints()
        assert spin_until(executor, lambda: len(self.node.joints) > 0, 5.0)

    def publish_joints(self):
        names = self.node.robot.joint_names
        self.joints.publish(conv.joint_state_to_msg(names, self.q, stamp_s=self.stamp + 0.1))

    def frame(self, boxes, *, joints=True, wait=True, depth_encoding="32FC1", cameras=None):
        """Publish one synchronised frame per camera (all, or those named); wait for its
        /humans message unless told not to."""
        names = list(cameras or self.publishers)
        depths = {  # before the joint states: rendering is slow on a loaded machine
            name: ps.Scene(boxes=boxes, robot=self.shapes).render(
                self.intrinsics, self.poses[name]
            )
            for name in names
        }
        if joints:
            before = self.node.last_joints_rx
            self.publish_joints()
            assert spin_until(self.executor, lambda: self.node.last_joints_rx > before, 5.0)
        self.stamp += 0.1
        rgb = np.full((240, 320, 3), 90, np.uint8)
        for name in names:
            color_pub, depth_pub, info_pub = self.publishers[name]
            depth = depths[name]
            frame_id = f"{name}_optical_frame"
            color_pub.publish(conv.image_to_msg(rgb, "rgb8", self.stamp, frame_id))
            depth_pub.publish(conv.depth_to_msg(depth, depth_encoding, self.stamp + 0.003))
            info_pub.publish(conv.camera_info_to_msg(self.intrinsics, self.stamp, frame_id))
        if not wait:
            return None
        stamp = self.stamp
        assert spin_until(
            self.executor,
            lambda: any(
                abs(conv.stamp_to_seconds(h.header.stamp) - (stamp + 0.003)) < 1e-6
                for h in self.humans
            ),
            15.0,
        ), f"no /humans for the frame at {stamp}"
        return self.humans[-1]


def test_node_publishes_humans_every_frame_and_heartbeat_only_while_fed(executor, rclpy_context):
    h = Harness(executor, rclpy_context)
    empty = [FLOOR]
    learning = h.frame(empty)
    assert learning.detections == [] and math.isinf(learning.min_distance_to_robot_m)
    assert learning.header.frame_id == "base_link"
    assert spin_until(executor, lambda: len(h.heartbeats) > 0, 5.0)
    assert h.heartbeats[-1][1].status == Heartbeat.STATUS_DEGRADED  # background not learned yet
    for _ in range(3):
        assert h.frame(empty).detections == []  # robot self-filtered, floor is background
    assert spin_until(executor, lambda: h.heartbeats[-1][1].status == Heartbeat.STATUS_OK, 5.0)

    with_person = [FLOOR, PERSON]
    expected = ps.box_distance_to_robot(PERSON, h.shapes)
    for _ in range(3):
        msg = h.frame(with_person)
        assert len(msg.detections) == 1
        person = msg.detections[0]
        assert person.source == HumanDetection.SOURCE_DEPTH  # HOG sees no human in a grey image
        assert person.distance_to_robot_m == pytest.approx(expected, abs=0.06)
        assert msg.min_distance_to_robot_m == person.distance_to_robot_m
    assert len({d.track_id for m in h.humans[-3:] for d in m.detections}) == 1
    assert spin_until(executor, lambda: h.markers and len(h.markers[-1].markers) == 4, 5.0)
    sphere = h.markers[-1].markers[1]
    assert sphere.type == Marker.SPHERE and sphere.header.frame_id == "base_link"
    assert sphere.pose.position.x == pytest.approx(person.position.x)
    assert spin_until(executor, lambda: len(h.debug_images) > 0, 5.0)
    debug = conv.rgb_from_msg(h.debug_images[-1])
    assert debug.shape == (240, 320, 3) and (debug != 90).any()  # the cluster box is drawn
    sequences = [hb.sequence for _, hb in h.heartbeats]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)

    # inputs stop: the heartbeat must stop within input_timeout_s, not merely slow down
    stopped = time.monotonic()
    spin_until(executor, lambda: False, 2.5)
    last_beat = h.heartbeats[-1][0]
    assert last_beat < stopped + 0.5 + 0.5  # timeout + slack for a loaded machine
    assert time.monotonic() - last_beat > 1.0  # silence, not a slower beat (period 0.1 s)

    # fed again: heartbeat comes back
    h.frame(with_person)
    assert spin_until(executor, lambda: h.heartbeats[-1][0] > time.monotonic() - 0.3, 5.0)


# beside the scene camera, out of its view: only the second (fixed) camera sees it
SIDE_PERSON = Box3(center_m=(1.0, 0.9, 0.125), size_m=(0.3, 0.3, 1.75))


def _seen_by(h, name, box):
    with_box = ps.Scene(boxes=[FLOOR, box], robot=h.shapes).render(h.intrinsics, h.poses[name])
    without = ps.Scene(boxes=[FLOOR], robot=h.shapes).render(h.intrinsics, h.poses[name])
    changed = np.abs(np.nan_to_num(with_box, nan=99) - np.nan_to_num(without, nan=99)) > 0.01
    return int(changed.sum())


def test_two_cameras_fuse_into_one_output_and_fail_closed_when_one_stops(executor, rclpy_context):
    from vla_ros.core.perception.camera import look_at_extrinsics

    corner = look_at_extrinsics((0.0, 2.5, 1.8), (0.6, -0.2, -0.3))  # left of the arm
    h = Harness(executor, rclpy_context, fixed={"cell": corner})
    assert [c.name for c in h.node.cameras] == ["camera", "cell"]
    assert h.node.cameras[1].base_from_camera is not None
    assert _seen_by(h, "camera", SIDE_PERSON) == 0 and _seen_by(h, "cell", SIDE_PERSON) > 200
    assert _seen_by(h, "camera", PERSON) > 200 and _seen_by(h, "cell", PERSON) > 200
    for _ in range(3):
        assert h.frame([FLOOR]).detections == []  # both backgrounds learned, robot filtered
    assert spin_until(
        executor, lambda: h.heartbeats and h.heartbeats[-1][1].status == Heartbeat.STATUS_OK, 5.0
    )

    # seen by the corner camera only: reported, where it is
    for _ in range(2):
        msg = h.frame([FLOOR, SIDE_PERSON])
        assert len(msg.detections) == 1, [
            (d.track_id, d.source, d.distance_to_robot_m, d.position) for d in msg.detections
        ]
        person = msg.detections[0]
        assert person.source == HumanDetection.SOURCE_DEPTH
        expected = ps.box_distance_to_robot(SIDE_PERSON, h.shapes)
        assert person.distance_to_robot_m == pytest.approx(expected, abs=0.06)
        point = np.array([[person.position.x, person.position.y, person.position.z]])
        assert SIDE_PERSON.contains(point, padding_m=0.05)[0]
    # seen by both cameras: one person, one track, at the nearest point either camera saw
    ids = set()
    for _ in range(3):
        msg = h.frame([FLOOR, PERSON])
        assert len(msg.detections) == 1, [(d.source, d.position) for d in msg.detections]
        ids.add(msg.detections[0].track_id)
        expected = ps.box_distance_to_robot(PERSON, h.shapes)
        assert msg.detections[0].distance_to_robot_m == pytest.approx(expected, abs=0.06)
    assert len(ids) == 1
    assert spin_until(executor, lambda: len(h.debug_images) > 0, 5.0)
    assert conv.rgb_from_msg(h.debug_images[-1]).shape == (240, 640, 3)  # side by side

    # the corner camera stops: no /humans (the scene camera alone would claim the side is
    # clear) and the heartbeat stops within input_timeout_s
    count = len(h.humans)
    stopped = time.monotonic()
    deadline = stopped + 1.5
    while time.monotonic() < deadline:
        h.frame([FLOOR, SIDE_PERSON], wait=False, cameras=["camera"])
        spin_until(executor, lambda: False, 0.1)
    assert len(h.humans) == count
    assert h.heartbeats[-1][0] < stopped + 0.5 + 0.5  # timeout + slack for a loaded machine
    # both again: back
    assert len(h.frame([FLOOR, SIDE_PERSON]).detections) == 1
    assert spin_until(executor, lambda: h.heartbeats[-1][0] > time.monotonic() - 0.3, 5.0)


def test_list_parameters_with_empty_defaults_take_lists_of_doubles(executor, rclpy_context):
    """An empty default has no element type: the node must still accept doubles for it."""
    node = HumanDetectorNode(
        context=rclpy_context,
        parameter_overrides=[
            Parameter("depth.static_boxes_m", value=[0.2, 0.0, -0.4, 1.0, 1.2, 0.8]),
            Parameter("cameras", value=["cell"]),
            Parameter("cell.pose_source", value="parameters"),
            Parameter("cell.position_m", value=[1.0, 0.5, 2.0]),
        ],
    )
    executor.add_node(node)
    assert len(node.perception.config.depth.static_boxes) == 1
    (cell,) = node.cameras
    assert cell.base_from_camera[:3, 3].tolist() == [1.0, 0.5, 2.0]
    assert cell.topics[0] == "/cell/color/image_raw"


def test_stale_joint_states_drop_frames_and_heartbeat(executor, rclpy_context):
    h = Harness(executor, rclpy_context, joint_state_timeout_s=0.3)
    h.frame([FLOOR])
    count = len(h.humans)
    spin_until(executor, lambda: False, 0.6)  # joint states now stale
    for _ in range(3):
        h.frame([FLOOR, PERSON], joints=False, wait=False)
        spin_until(executor, lambda: False, 0.2)
    assert len(h.humans) == count  # an empty /humans would claim nobody is there
    assert h.node.errors.counts.get("joint_states", 0) >= 1
    beats = len(h.heartbeats)
    spin_until(executor, lambda: False, 0.8)
    assert len(h.heartbeats) == beats


def test_bad_frames_are_counted_and_the_node_keeps_running(executor, rclpy_context):
    h = Harness(executor, rclpy_context)
    h.frame([FLOOR])
    h.publish_joints()
    h.stamp += 0.1
    bad_depth = conv.image_to_msg(np.zeros((240, 320, 3), np.uint8), "rgb8", h.stamp)  # not depth
    h.color.publish(conv.image_to_msg(np.zeros((240, 320, 3), np.uint8), "rgb8", h.stamp))
    h.depth.publish(bad_depth)
    h.info.publish(conv.camera_info_to_msg(h.intrinsics, h.stamp))
    assert spin_until(executor, lambda: h.node.errors.counts.get("camera_frame", 0) >= 1, 10.0)
    assert h.frame([FLOOR], depth_encoding="16UC1").detections == []  # still working


def test_reset_background_service_relearns(executor, rclpy_context):
    from std_srvs.srv import Trigger

    h = Harness(executor, rclpy_context)
    for _ in range(3):
        h.frame([FLOOR])
    # the heartbeat timer may not have fired yet after three quick frames
    assert spin_until(
        executor, lambda: h.heartbeats and h.heartbeats[-1][1].status == Heartbeat.STATUS_OK, 5.0
    )
    client = h.io.create_client(Trigger, "/perception/reset_background")
    assert client.wait_for_service(timeout_sec=5.0)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done, 5.0) and future.result().success
    # the person now present while relearning becomes background: nothing reported, degraded
    assert h.frame([FLOOR, PERSON]).detections == []
    assert spin_until(
        executor, lambda: h.heartbeats[-1][1].status == Heartbeat.STATUS_DEGRADED, 5.0
    )
    assert "learning" in h.heartbeats[-1][1].message


# ----------------------------------------------------------------------------- conversions


def test_human_detections_round_trip():
    humans = (
        HumanEstimate(
            track_id=4,
            position_m=np.array([0.5, -0.25, 1.0]),
            velocity_m_s=np.array([0.1, 0, 0]),
            position_uncertainty_m=0.05,
            distance_to_robot_m=0.31,
            box=PersonBox(10.0, 20.0, 50.0, 120.0, 0.75),
            confidence=0.75,
            source=SOURCE_FUSED,
        ),
        HumanEstimate(
            track_id=9,
            position_m=np.array([1.0, 1.0, 0.0]),
            velocity_m_s=np.zeros(3),
            position_uncertainty_m=0.05,
            distance_to_robot_m=math.inf,
            box=None,
            confidence=0.5,
            source=SOURCE_DEPTH,
        ),
    )
    msg = conv.human_detections_to_msg(humans, 12.5, "base_link")
    assert msg.min_distance_to_robot_m == pytest.approx(0.31)
    back = conv.human_detections_from_msg(msg)
    assert len(back) == 2
    for a, b in zip(humans, back, strict=True):
        assert a.track_id == b.track_id and a.source == b.source and a.box == b.box
        np.testing.assert_allclose(a.position_m, b.position_m)
        np.testing.assert_allclose(a.velocity_m_s, b.velocity_m_s)
        assert b.distance_to_robot_m == pytest.approx(a.distance_to_robot_m)
        assert b.confidence == pytest.approx(a.confidence)
    empty = conv.human_detections_to_msg((), 1.0, "base_link")
    assert empty.detections == [] and math.isinf(empty.min_distance_to_robot_m)
    assert conv.human_detections_from_msg(empty) == ()


def test_human_detections_reject_nan_and_unknown_source():
    bad = HumanEstimate(
        track_id=1,
        position_m=np.array([math.nan, 0, 0]),
        velocity_m_s=np.zeros(3),
        position_uncertainty_m=0.1,
        distance_to_robot_m=1.0,
        box=None,
        confidence=1.0,
        source=1,
    )
    with pytest.raises(ValueError, match="NaN"):
        conv.human_detections_to_msg((bad,), 0.0, "base_link")
    msg = HumanDetectionArray(detections=[HumanDetection(source=7)])
    with pytest.raises(ValueError, match="source"):
        conv.human_detections_from_msg(msg)
    msg = HumanDetectionArray(detections=[HumanDetection()])
    msg.detections[0].position.x = math.nan
    with pytest.raises(ValueError, match="NaN"):
        conv.human_detections_from_msg(msg)
