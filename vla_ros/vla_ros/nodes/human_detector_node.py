"""Human detector node: people in RGB lifted to 3D plus unexplained depth intrusions.

Watches one or more RGB-D cameras (parameter `cameras`; each NAME has a NAME.* group). Per
camera it subscribes (sensor QoS) NAME.color_topic (sensor_msgs/Image, rgb8/bgr8/mono8),
NAME.depth_topic (sensor_msgs/Image, 32FC1 m or 16UC1 mm, registered to colour) and
NAME.camera_info_topic (sensor_msgs/CameraInfo), paired by stamp within max_skew_s; defaults
/NAME/color/image_raw, /NAME/depth/image_raw, /NAME/color/camera_info (the default single
camera `camera` is /camera/...). Subscribes /joint_states (sensor_msgs/JointState, sensor QoS,
stamped: the arm is interpolated to each image's stamp) for the self-filter and for a
robot-mounted camera's pose. A camera's pose is a URDF frame (NAME.pose_source robot_model,
FK at the joint state) or fixed extrinsics in the base frame (parameters: NAME.position_m,
NAME.orientation_xyzw), e.g. a calibrated room camera that is not part of the robot.

Each camera's frame goes through both channels as it arrives (its own depth background); one
frame per camera within camera_sync_skew_s forms a set, whose detections are merged across
cameras (the same body seen twice is one person, at the point nearest to the robot) and
tracked by one tracker. Publishes /humans (vla_ros_msgs/HumanDetectionArray, base frame, one
per set, stamped with the set's oldest frame, also when empty; nothing when a frame cannot be
trusted), /perception/heartbeat (vla_ros_msgs/Heartbeat, every heartbeat_period_s while sets
of EVERY camera keep coming within input_timeout_s and processing succeeds; DEGRADED while a
depth background is being learned or without an RGB detector; absent otherwise, so consumers
fail closed: a camera that stops leaves its part of the cell unwatched, so no heartbeat),
/perception/markers (visualization_msgs/MarkerArray), /perception/debug_image
(sensor_msgs/Image, rgb8: the cameras' annotated images side by side). Service
/perception/reset_background (std_srvs/Trigger): relearn every camera's static depth
background (call it when a camera moved or the cell changed, with nobody in view).

Why one node for all cameras rather than one node per camera aggregated downstream: one
tracker sees every camera, so a person walking out of one camera's view into another's keeps
one id and a velocity estimate (SSM needs the velocity); one /humans message describes the
whole cell at one instant, so a consumer never has to decide whether "nobody" from one
camera means nobody; and one heartbeat that is healthy only while every camera is, so the
safety filter consumes the same two topics with any number of cameras and needs no change.
The cost is CPU in one process: per set, each camera's channels run in turn (HOG ~10-15 ms
per 320x240 frame, the depth channel a few ms), hence NAME.rgb_detector to keep HOG off a
camera where people are too small for it (the sim's room camera).

Parameters (read-only; defaults and units in config/perception.yaml; declared from
vla_ros.core.perception.params NODE_PARAMETERS, camera_parameters(NAME) and
PERCEPTION_PARAMETERS): robot_config, cameras, NAME.{color_topic, depth_topic,
camera_info_topic, pose_source (robot_model | parameters), frame, position_m [m],
orientation_xyzw, rgb_detector}, max_skew_s [s], camera_sync_skew_s [s], input_timeout_s [s],
joint_state_timeout_s [s], heartbeat_period_s [s], publish_debug_image, held_object_radius_m
[m]; the pipeline's detector.*, lift.*, depth.*, monitored_volume.*, tracker.* and fusion.*
groups.
"""

from __future__ import annotations

import math
import time
from functools import partial

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray
from vla_ros_msgs.msg import Heartbeat, HumanDetectionArray

from vla_ros import conversions as conv
from vla_ros.core.perception.detectors import make_detector
from vla_ros.core.perception.geometry import RobotShapes
from vla_ros.core.perception.params import (
    NODE_PARAMETERS,
    PERCEPTION_PARAMETERS,
    CameraInput,
    ParamSpec,
    camera_inputs_from_params,
    camera_parameters,
    config_from_params,
)
from vla_ros.core.perception.pipeline import (
    SOURCE_NAMES,
    CameraObservation,
    HumanPerception,
    PerceptionFrame,
    PerceptionResult,
    draw_debug_image,
)
from vla_ros.core.perception.sync import ApproximateTimeSync, StampedVectorBuffer
from vla_ros.core.resources import resource_path
from vla_ros.core.robot_config import load_robot
from vla_ros.nodes.common import COMMAND_QOS, SENSOR_QOS, ErrorCounter, run_node


class HumanDetectorNode(Node):
    """Thin ROS wrapper around vla_ros.core.perception.pipeline.HumanPerception."""

    def __init__(self, **kwargs) -> None:
        super().__init__("human_detector", **kwargs)
        for spec in (*NODE_PARAMETERS, *PERCEPTION_PARAMETERS):
            self._declare(spec)
        p = {s.name: self.get_parameter(s.name).value for s in NODE_PARAMETERS}
        camera_specs = [spec for name in p["cameras"] for spec in camera_parameters(str(name))]
        for spec in camera_specs:
            self._declare(spec)
        config, detector_spec = config_from_params(
            {s.name: self.get_parameter(s.name).value for s in PERCEPTION_PARAMETERS}
        )
        robot_path = str(p["robot_config"])
        self.robot_config, self.robot = load_robot(
            robot_path if robot_path.startswith("/") else resource_path(robot_path)
        )
        self.cameras: tuple[CameraInput, ...] = camera_inputs_from_params(
            p["cameras"],
            {s.name: self.get_parameter(s.name).value for s in camera_specs},
            self.robot_config.camera_frame,
        )
        self.held_object_radius_m = float(p["held_object_radius_m"])
        self.detector = make_detector(detector_spec)
        self.perception = HumanPerception(
            self.detector,
            config,
            cameras=[c.name for c in self.cameras],
            rgb_cameras=[c.name for c in self.cameras if c.rgb_detector],
        )
        self.input_timeout_s = float(p["input_timeout_s"])
        self.joint_timeout_s = float(p["joint_state_timeout_s"])
        self.publish_debug = bool(p["publish_debug_image"])
        # per camera: colour, depth and camera info of one frame; across cameras: one set
        self.syncs = [ApproximateTimeSync(3, float(p["max_skew_s"])) for _ in self.cameras]
        self.set_sync = ApproximateTimeSync(len(self.cameras), float(p["camera_sync_skew_s"]))
        self.errors = ErrorCounter(self)
        self.joints = StampedVectorBuffer(max_age_s=2.0)  # arm then gripper positions
        self.last_joints_rx = -math.inf  # monotonic receipt time of the newest joint state
        self.last_camera_rx = [-math.inf] * len(self.cameras)  # newest processed frame each
        self.last_good_frame: tuple[float, float] | None = None  # (receipt time, stamp)
        self.degraded_reason = ""
        self.sequence = 0
        self.newest_track_logged = 0  # tracker ids only grow: each new track is logged once
        self.rgb_on_robot = 0  # detector boxes dropped as the arm itself, total
        self.rgb_on_scene = 0  # ... as the static scene (learned background and arm), total

        # Callbacks never overlap (single-threaded executor, nodes.common.make_executor): the
        # pipeline and the joint buffer need no lock.
        for cam, camera in enumerate(self.cameras):
            for stream, (msg_type, topic) in enumerate(
                zip((Image, Image, CameraInfo), camera.topics, strict=True)
            ):
                self.create_subscription(
                    msg_type,
                    topic,
                    partial(self.on_camera, cam, stream),
                    SENSOR_QOS,
                )
        # best effort: matches reliable and best-effort joint state publishers alike
        self.create_subscription(JointState, "/joint_states", self.on_joints, SENSOR_QOS)
        self.create_service(Trigger, "/perception/reset_background", self.on_reset)
        self.humans_pub = self.create_publisher(HumanDetectionArray, "/humans", COMMAND_QOS)
        self.heartbeat_pub = self.create_publisher(Heartbeat, "/perception/heartbeat", COMMAND_QOS)
        self.markers_pub = self.create_publisher(MarkerArray, "/perception/markers", COMMAND_QOS)
        self.debug_pub = self.create_publisher(Image, "/perception/debug_image", SENSOR_QOS)
        self.create_timer(float(p["heartbeat_period_s"]), self.on_heartbeat)
        backend = self.detector.name if self.detector is not None else "none"
        described = ", ".join(
            f"{c.name} ({c.color_topic}, {c.frame or 'fixed pose'}"
            + (", depth only)" if not c.rgb_detector else ")")
            for c in self.cameras
        )
        self.get_logger().info(f"human detector: rgb {backend}; cameras {described}")

    def _declare(self, spec: ParamSpec) -> None:
        descriptor = ParameterDescriptor(description=spec.description, read_only=True)
        if isinstance(spec.default, list) and not spec.default:
            # an empty default has no element type (rclpy would make it a byte array and
            # refuse a list of doubles): accept any, the core checks the values
            descriptor.dynamic_typing = True
        self.declare_parameter(spec.name, spec.default, descriptor)

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Relearn every camera's static background (a camera or the cell changed) and tracks."""
        self.perception.reset_background()
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
        self.joints.add(conv.stamp_to_seconds(msg.header.stamp), np.concatenate([q, grip]))
        self.last_joints_rx = time.monotonic()

    def on_camera(self, cam: int, stream: int, msg: Image | CameraInfo) -> None:
        matched = self.syncs[cam].add(stream, conv.stamp_to_seconds(msg.header.stamp), msg)
        if matched is None:
            return
        stamp_s, (color, depth, info) = matched
        try:
            if time.monotonic() - self.last_joints_rx > self.joint_timeout_s:
                raise ValueError("stale or missing: frame dropped, no heartbeat")
            # the arm where it was when the image was taken, not where it is now
            positions = self.joints.at(stamp_s, max_extrapolation_s=self.joint_timeout_s)
        except ValueError as exc:
            self.errors.report("joint_states", exc)
            return
        camera = self.cameras[cam]
        try:
            n = len(self.robot.joint_names)
            q, grip = positions[:n], positions[n:]
            grip = None if np.isnan(grip).any() else grip
            rgb = conv.rgb_from_msg(color)
            camera_pose = camera.base_from_camera
            if camera_pose is None:
                camera_pose = self.robot.fk(q, frame=camera.frame)
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
            observation = self.perception.observe(camera.name, frame)
        except ValueError as exc:
            self.errors.report("camera_frame", exc)
            return
        self.last_camera_rx[cam] = time.monotonic()
        complete = self.set_sync.add(cam, stamp_s, (observation, rgb, info.header.frame_id))
        if complete is not None:
            self._publish_set(list(complete[1]))

    def _publish_set(self, members: list[tuple[CameraObservation, np.ndarray, str]]) -> None:
        """One frame of every camera: merge, track, publish."""
        try:
            result = self.perception.fuse_and_track([obs for obs, _, _ in members])
            humans_msg = conv.human_detections_to_msg(
                result.humans, result.stamp_s, self.robot_config.base_frame
            )
        except ValueError as exc:
            self.errors.report("camera_frame", exc)
            return
        self.humans_pub.publish(humans_msg)
        self.markers_pub.publish(markers_from_humans(humans_msg))
        self._log_new_tracks(result)
        if self.publish_debug and self.debug_pub.get_subscription_count() > 0:
            tiles = [draw_debug_image(rgb, obs) for obs, rgb, _ in members]
            self.debug_pub.publish(
                conv.image_to_msg(tile_images(tiles), "rgb8", result.stamp_s, members[0][2])
            )
        reasons = []
        several = len(members) > 1
        for obs in result.cameras:
            prefix = f"{obs.camera}: " if several else ""
            if not obs.background_ready:
                reasons.append(f"{prefix}learning the depth background")
            if obs.rgb_without_depth:
                reasons.append(f"{prefix}{obs.rgb_without_depth} person box(es) without depth")
        if self.detector is None:
            reasons.append("no RGB detector: depth channel only")
        self.degraded_reason = "; ".join(reasons)
        self.last_good_frame = (time.monotonic(), result.stamp_s)

    def _log_new_tracks(self, result: PerceptionResult) -> None:
        """One line per new track: which channel and camera saw it, where; so a stop for a
        person nobody saw can be traced to its source."""
        if result.rgb_on_robot:
            self.rgb_on_robot += result.rgb_on_robot
            self.get_logger().info(
                f"detector box(es) on the arm itself dropped ({self.rgb_on_robot} in total)",
                throttle_duration_sec=10.0,
            )
        if result.rgb_on_scene:
            self.rgb_on_scene += result.rgb_on_scene
            self.get_logger().info(
                "detector box(es) on the static scene (all depth learned background or arm) "
                f"dropped ({self.rgb_on_scene} in total)",
                throttle_duration_sec=10.0,
            )
        for human in result.humans:
            if human.track_id <= self.newest_track_logged:
                continue
            self.newest_track_logged = human.track_id
            x, y, z = (float(v) for v in human.position_m)
            self.get_logger().info(
                f"new track {human.track_id}: {SOURCE_NAMES.get(human.source, '?')} channel, "
                f"camera(s) {', '.join(human.cameras) or '?'}, nearest point "
                f"({x:.2f}, {y:.2f}, {z:.2f}) m, {human.distance_to_robot_m:.2f} m from the "
                f"robot, confidence {human.confidence:.2f}"
            )

    def on_heartbeat(self) -> None:
        now = time.monotonic()
        good = self.last_good_frame
        if good is None or now - good[0] > self.input_timeout_s:
            fresh = [now - t <= self.input_timeout_s for t in self.last_camera_rx]
            if any(fresh):  # say which camera holds the set back (the others are arriving)
                silent = [c.name for c, ok in zip(self.cameras, fresh, strict=True) if not ok]
                self.get_logger().warning(
                    f"no frame set: nothing from camera(s) {silent} (or no matching stamps); "
                    "no heartbeat",
                    throttle_duration_sec=5.0,
                )
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


def tile_images(images: list[np.ndarray]) -> np.ndarray:
    """RGB images side by side (shorter ones padded with black at the bottom)."""
    if len(images) == 1:
        return images[0]
    height = max(image.shape[0] for image in images)
    padded = [np.pad(image, ((0, height - image.shape[0]), (0, 0), (0, 0))) for image in images]
    return np.ascontiguousarray(np.concatenate(padded, axis=1))


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
