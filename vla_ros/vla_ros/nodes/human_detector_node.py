"""Human detector node: people in RGB lifted to 3D plus unexplained depth intrusions.

Subscribes (sensor QoS): /camera/color/image_raw (sensor_msgs/Image, rgb8/bgr8/mono8),
/camera/depth/image_raw (sensor_msgs/Image, 32FC1 m or 16UC1 mm, registered to colour),
/camera/color/camera_info (sensor_msgs/CameraInfo); the three are paired by stamp within
max_skew_s. Subscribes /joint_states (sensor_msgs/JointState, sensor QoS, stamped: the arm is
interpolated to each image's stamp) for the self-filter and a robot-mounted camera's pose.
Publishes /humans (vla_ros_msgs/HumanDetectionArray, base frame, one per synchronised frame,
also when empty; nothing when the frame cannot be trusted), /perception/heartbeat
(vla_ros_msgs/Heartbeat, every heartbeat_period_s while the camera and joint inputs are
fresh and processing succeeds; DEGRADED while the depth background is being learned or
without an RGB detector; absent otherwise, so consumers fail closed), /perception/markers
(visualization_msgs/MarkerArray), /perception/debug_image (sensor_msgs/Image, rgb8).
Service /perception/reset_background (std_srvs/Trigger): relearn the static depth background
(call it when the camera moved or the cell changed, with nobody in view).

Parameters (read-only; defaults and units in config/perception.yaml; declared from
vla_ros.core.perception.params NODE_PARAMETERS and PERCEPTION_PARAMETERS): robot_config,
camera_pose_source (robot_model | parameters), camera_frame, camera_position_m [m],
camera_orientation_xyzw, max_skew_s [s], input_timeout_s [s], joint_state_timeout_s [s],
heartbeat_period_s [s], publish_debug_image; the pipeline's detector.*, lift.*, depth.*,
monitored_volume.*, tracker.* and fusion.* groups.
"""

from __future__ import annotations

import math
import threading
import time
from functools import partial

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray
from vla_ros_msgs.msg import Heartbeat, HumanDetectionArray

from vla_ros import conversions as conv
from vla_ros.core.perception.camera import extrinsics_from_xyz_quaternion
from vla_ros.core.perception.detectors import make_detector
from vla_ros.core.perception.geometry import RobotShapes
from vla_ros.core.perception.params import (
    NODE_PARAMETERS,
    PERCEPTION_PARAMETERS,
    config_from_params,
)
from vla_ros.core.perception.pipeline import HumanPerception, PerceptionFrame, draw_debug_image
from vla_ros.core.perception.sync import ApproximateTimeSync, StampedVectorBuffer
from vla_ros.core.resources import resource_path
from vla_ros.core.robot_config import load_robot
from vla_ros.nodes.common import COMMAND_QOS, SENSOR_QOS, ErrorCounter, run_node


class HumanDetectorNode(Node):
    """Thin ROS wrapper around vla_ros.core.perception.pipeline.HumanPerception."""

    def __init__(self, **kwargs) -> None:
        super().__init__("human_detector", **kwargs)
        for spec in (*NODE_PARAMETERS, *PERCEPTION_PARAMETERS):
            descriptor = ParameterDescriptor(description=spec.description, read_only=True)
            if isinstance(spec.default, list) and not spec.default:
                descriptor.type = ParameterType.PARAMETER_DOUBLE_ARRAY
            self.declare_parameter(spec.name, spec.default, descriptor)
        p = {s.name: self.get_parameter(s.name).value for s in NODE_PARAMETERS}
        config, detector_spec = config_from_params(
            {s.name: self.get_parameter(s.name).value for s in PERCEPTION_PARAMETERS}
        )
        robot_path = str(p["robot_config"])
        self.robot_config, self.robot = load_robot(
            robot_path if robot_path.startswith("/") else resource_path(robot_path)
        )
        self.camera_frame = str(p["camera_frame"]) or self.robot_config.camera_frame
        self.held_object_radius_m = float(p["held_object_radius_m"])
        self.fixed_camera_pose = None
        if p["camera_pose_source"] == "parameters":
            self.fixed_camera_pose = extrinsics_from_xyz_quaternion(
                p["camera_position_m"], p["camera_orientation_xyzw"]
            )
        elif p["camera_pose_source"] != "robot_model" or not self.camera_frame:
            raise ValueError("camera_pose_source: robot_model (with a camera_frame) | parameters")
        self.detector = make_detector(detector_spec)
        self.perception = HumanPerception(self.detector, config)
        self.input_timeout_s = float(p["input_timeout_s"])
        self.joint_timeout_s = float(p["joint_state_timeout_s"])
        self.publish_debug = bool(p["publish_debug_image"])
        self.sync = ApproximateTimeSync(3, float(p["max_skew_s"]))
        self.errors = ErrorCounter(self)
        self.joints = StampedVectorBuffer(max_age_s=2.0)  # arm then gripper positions
        self.joints_lock = threading.Lock()  # joint and camera callbacks run in parallel
        self.last_joints_rx = -math.inf  # monotonic receipt time of the newest joint state
        self.last_good_frame: tuple[float, float] | None = None  # (receipt time, stamp)
        self.degraded_reason = ""
        self.sequence = 0

        images = MutuallyExclusiveCallbackGroup()  # the pipeline is not thread-safe
        topics = (
            "/camera/color/image_raw",
            "/camera/depth/image_raw",
            "/camera/color/camera_info",
        )
        for index, (msg_type, topic) in enumerate(
            zip((Image, Image, CameraInfo), topics, strict=True)
        ):
            self.create_subscription(
                msg_type, topic, partial(self.on_camera, index), SENSOR_QOS, callback_group=images
            )
        # best effort: matches reliable and best-effort joint state publishers alike
        self.create_subscription(JointState, "/joint_states", self.on_joints, SENSOR_QOS)
        self.create_service(
            Trigger, "/perception/reset_background", self.on_reset, callback_group=images
        )
        self.humans_pub = self.create_publisher(HumanDetectionArray, "/humans", COMMAND_QOS)
        self.heartbeat_pub = self.create_publisher(Heartbeat, "/perception/heartbeat", COMMAND_QOS)
        self.markers_pub = self.create_publisher(MarkerArray, "/perception/markers", COMMAND_QOS)
        self.debug_pub = self.create_publisher(Image, "/perception/debug_image", SENSOR_QOS)
        self.create_timer(float(p["heartbeat_period_s"]), self.on_heartbeat)
        backend = self.detector.name if self.detector is not None else "none"
        self.get_logger().info(f"human detector: rgb {backend}, camera {self.camera_frame}")

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Relearn the static background (after the camera or the cell changed) and tracks."""
        self.perception.depth_monitor.background.reset()
        self.perception.tracker.reset()
        response.success, response.message = True, "relearning the depth background"
        return response

    def on_joints(self, msg: JointState) -> None:
        try:
            q = conv.joint_positions_from_msg(msg, self.robot.joint_names)
            grip = np.full(len(self.robot.gripper_joint_names), np.nan)  # NaN: not reported
            if set(msg.name).issuperset(self.robot.gripper_joint_names):
                grip = conv.joint_positions_from_msg(msg, self.robot.gripper_joint_names)
        except ValueError as exc:
            self.errors.report("joint_states", exc)
            return
        with self.joints_lock:
            self.joints.add(conv.stamp_to_seconds(msg.header.stamp), np.concatenate([q, grip]))
            self.last_joints_rx = time.monotonic()

    def on_camera(self, index: int, msg: Image | CameraInfo) -> None:
        matched = self.sync.add(index, conv.stamp_to_seconds(msg.header.stamp), msg)
        if matched is None:
            return
        stamp_s, (color, depth, info) = matched
        try:
            with self.joints_lock:
                if time.monotonic() - self.last_joints_rx > self.joint_timeout_s:
                    raise ValueError("stale or missing: frame dropped, no heartbeat")
                # the arm where it was when the image was taken, not where it is now
                positions = self.joints.at(stamp_s, max_extrapolation_s=self.joint_timeout_s)
        except ValueError as exc:
            self.errors.report("joint_states", exc)
            return
        try:
            n = len(self.robot.joint_names)
            q, grip = positions[:n], positions[n:]
            grip = None if np.isnan(grip).any() else grip
            rgb = conv.rgb_from_msg(color)
            camera_pose = self.fixed_camera_pose
            if camera_pose is None:
                camera_pose = self.robot.fk(q, frame=self.camera_frame)
            robot = RobotShapes.from_link_points(
                self.robot.link_points(q, gripper=grip), self.robot.link_point_radii_m
            ).with_spheres(self.robot.fk(q)[None, :3, 3], self.held_object_radius_m)
            frame = PerceptionFrame(
                stamp_s,
                rgb,
                conv.depth_from_msg(depth),
                conv.camera_info_from_msg(info),
                camera_pose,
                robot,
            )
            result = self.perception.process(frame)
            humans_msg = conv.human_detections_to_msg(
                result.humans, stamp_s, self.robot_config.base_frame
            )
        except ValueError as exc:
            self.errors.report("camera_frame", exc)
            return
        self.humans_pub.publish(humans_msg)
        self.markers_pub.publish(markers_from_humans(humans_msg))
        if self.publish_debug and self.debug_pub.get_subscription_count() > 0:
            self.debug_pub.publish(
                conv.image_to_msg(
                    draw_debug_image(rgb, result), "rgb8", stamp_s, info.header.frame_id
                )
            )
        reasons = []
        if not result.background_ready:
            reasons.append("learning the depth background")
        if self.detector is None:
            reasons.append("no RGB detector: depth channel only")
        if result.rgb_without_depth:
            reasons.append(f"{result.rgb_without_depth} person box(es) without valid depth")
        self.degraded_reason = "; ".join(reasons)
        self.last_good_frame = (time.monotonic(), stamp_s)

    def on_heartbeat(self) -> None:
        good = self.last_good_frame
        if good is None or time.monotonic() - good[0] > self.input_timeout_s:
            return  # stale: silence is the signal, consumers fail closed
        self.sequence += 1
        self.heartbeat_pub.publish(
            Heartbeat(
                header=conv.make_header(good[1], self.robot_config.base_frame),
                source="human_detector",
                sequence=self.sequence,
                status=Heartbeat.STATUS_DEGRADED if self.degraded_reason else Heartbeat.STATUS_OK,
                message=self.degraded_reason,
            )
        )


def markers_from_humans(msg: HumanDetectionArray) -> MarkerArray:
    """A sphere, a velocity arrow and a label per detection; DELETEALL clears the last frame."""
    out = MarkerArray(markers=[Marker(header=msg.header, action=Marker.DELETEALL)])
    colours = {0: (0.1, 0.9, 0.1), 1: (0.9, 0.1, 0.1), 2: (0.9, 0.6, 0.1)}  # by source
    for i, det in enumerate(msg.detections):
        r, g, b = colours.get(det.source, (1.0, 1.0, 1.0))
        sphere = Marker(header=msg.header, ns="humans", id=3 * i, type=Marker.SPHERE)
        sphere.pose.position = det.position
        sphere.pose.orientation.w = 1.0
        size = max(0.1, 2.0 * float(det.position_uncertainty_m))
        sphere.scale.x = sphere.scale.y = sphere.scale.z = size
        sphere.color.r, sphere.color.g, sphere.color.b, sphere.color.a = r, g, b, 0.8
        arrow = Marker(header=msg.header, ns="humans", id=3 * i + 1, type=Marker.ARROW)
        end = det.position.__class__(
            x=det.position.x + det.velocity.x,
            y=det.position.y + det.velocity.y,
            z=det.position.z + det.velocity.z,
        )
        arrow.points = [det.position, end]
        arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.03, 0.06, 0.08
        arrow.color = sphere.color
        label = Marker(header=msg.header, ns="humans", id=3 * i + 2, type=Marker.TEXT_VIEW_FACING)
        label.pose.position.x, label.pose.position.y = det.position.x, det.position.y
        label.pose.position.z = det.position.z + 0.25
        label.scale.z = 0.1
        label.color.r = label.color.g = label.color.b = label.color.a = 1.0
        dist = det.distance_to_robot_m
        label.text = f"#{det.track_id} {dist:.2f} m" if math.isfinite(dist) else f"#{det.track_id}"
        out.markers += [sphere, arrow, label]
    return out


def main(args=None):
    run_node(HumanDetectorNode, args)


if __name__ == "__main__":
    main()
