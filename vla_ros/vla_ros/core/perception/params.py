"""Flat ROS-style parameters of the perception pipeline -> its validated configs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_ros.core.perception.depth_monitor import DepthMonitorConfig
from vla_ros.core.perception.detectors import DetectorSpec
from vla_ros.core.perception.geometry import Box3, MonitoredVolume
from vla_ros.core.perception.lifting import LiftConfig
from vla_ros.core.perception.pipeline import PerceptionConfig
from vla_ros.core.perception.tracker import TrackerConfig


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: dotted name, default (its type is the parameter's type), description."""

    name: str  # dotted parameter name, e.g. "depth.pixel_stride"
    default: Any  # default value; an empty list means a list of doubles
    description: str  # with the unit in brackets


# the node's own parameters (ROS plumbing and the robot), declared alongside the pipeline's
NODE_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("robot_config", "config/robots/vla_arm6.yaml", "robot YAML, share-dir relative"),
    ParamSpec(
        "cameras",
        ["camera"],
        "RGB-D cameras; each NAME has a NAME.* group (topics, pose, rgb_detector)",
    ),
    ParamSpec("max_skew_s", 0.02, "colour, depth, camera info stamps agree within this [s]"),
    ParamSpec(
        "camera_sync_skew_s", 0.05, "one frame per camera within this forms one fused set [s]"
    ),
    ParamSpec(
        "input_timeout_s", 0.5, "no synchronised set of all cameras this long: no heartbeat [s]"
    ),
    ParamSpec("joint_state_timeout_s", 0.5, "older joint states: frame not trusted [s]"),
    ParamSpec("heartbeat_period_s", 0.1, "heartbeat period while healthy [s]"),
    ParamSpec("publish_debug_image", True, "annotated image, only while subscribed"),
    ParamSpec(
        "held_object_radius_m",
        0.06,
        "sphere at the tool frame treated as robot: an object in the gripper is no intrusion [m]",
    ),
)

POSE_SOURCES = ("robot_model", "parameters")
# first components of the pipeline's parameter names: not usable as camera names
_RESERVED_CAMERA_NAMES = frozenset(
    {"detector", "lift", "depth", "monitored_volume", "tracker", "fusion", "cameras"}
)


def camera_parameters(name: str) -> tuple[ParamSpec, ...]:
    """The NAME.* parameters of one camera of the `cameras` list (declared per name)."""
    return (
        ParamSpec(f"{name}.color_topic", f"/{name}/color/image_raw", "sensor_msgs/Image, colour"),
        ParamSpec(
            f"{name}.depth_topic",
            f"/{name}/depth/image_raw",
            "sensor_msgs/Image, depth registered to the colour image (32FC1 m | 16UC1 mm)",
        ),
        ParamSpec(
            f"{name}.camera_info_topic",
            f"/{name}/color/camera_info",
            "sensor_msgs/CameraInfo of the colour image",
        ),
        ParamSpec(
            f"{name}.pose_source",
            "robot_model",
            "robot_model (a URDF frame, FK at the joint state) | parameters (fixed, base frame)",
        ),
        ParamSpec(f"{name}.frame", "", "robot_model: optical frame in the URDF; '' = robot's"),
        ParamSpec(f"{name}.position_m", [], "parameters: optical frame position, base frame [m]"),
        ParamSpec(
            f"{name}.orientation_xyzw",
            [0.0, 0.0, 0.0, 1.0],
            "parameters: optical frame orientation, base frame (quaternion x y z w)",
        ),
        ParamSpec(f"{name}.rgb_detector", True, "run the RGB detector on this camera's images"),
    )


@dataclass(frozen=True)
class CameraInput:
    """One camera the node watches: its topics and where it is."""

    name: str  # the name in `cameras`
    color_topic: str
    depth_topic: str
    camera_info_topic: str
    frame: str  # URDF optical frame (robot_model), "" with fixed extrinsics
    base_from_camera: np.ndarray | None  # 4x4 fixed extrinsics (parameters), None = from FK
    rgb_detector: bool  # run the RGB detector on its images

    @property
    def topics(self) -> tuple[str, str, str]:
        """(colour, depth, camera info), the order the node synchronises them in."""
        return (self.color_topic, self.depth_topic, self.camera_info_topic)


def camera_inputs_from_params(
    names: Sequence[str], params: Mapping[str, Any], default_frame: str
) -> tuple[CameraInput, ...]:
    """Validated cameras from {dotted name: value} (missing NAME.* take their defaults).

    `default_frame` is the robot config's camera frame, used by a robot_model camera whose
    frame is "". ValueError for a bad name, pose or a topic or frame used twice.
    """
    from vla_ros.core.perception.camera import extrinsics_from_xyz_quaternion

    names = [str(n) for n in names]
    if not names:
        raise ValueError("cameras: name at least one camera")
    if len(set(names)) != len(names):
        raise ValueError(f"cameras: names must be distinct, got {names}")
    out = []
    for name in names:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or name in _RESERVED_CAMERA_NAMES:
            raise ValueError(
                f"camera name {name!r}: letters, digits and _ only, not one of "
                f"{sorted(_RESERVED_CAMERA_NAMES)}"
            )
        values = {
            spec.name.split(".", 1)[1]: params.get(spec.name, spec.default)
            for spec in camera_parameters(name)
        }
        source = str(values["pose_source"])
        frame, pose = "", None
        if source == "robot_model":
            frame = str(values["frame"]) or default_frame
            if not frame:
                raise ValueError(f"{name}.pose_source robot_model needs {name}.frame")
        elif source == "parameters":
            position = list(values["position_m"])
            if len(position) != 3:
                raise ValueError(
                    f"{name}.pose_source parameters needs {name}.position_m (3 values [m]), "
                    f"got {position}"
                )
            pose = extrinsics_from_xyz_quaternion(position, values["orientation_xyzw"])
        else:
            raise ValueError(f"{name}.pose_source must be one of {POSE_SOURCES}, got {source!r}")
        out.append(
            CameraInput(
                name=name,
                color_topic=str(values["color_topic"]),
                depth_topic=str(values["depth_topic"]),
                camera_info_topic=str(values["camera_info_topic"]),
                frame=frame,
                base_from_camera=pose,
                rgb_detector=bool(values["rgb_detector"]),
            )
        )
    topics = [t for c in out for t in c.topics]
    if len(set(topics)) != len(topics):
        raise ValueError(f"cameras: every camera needs its own topics, got {topics}")
    frames = [c.frame for c in out if c.frame]
    if len(set(frames)) != len(frames):
        raise ValueError(f"cameras: two robot_model cameras in one URDF frame: {frames}")
    return tuple(out)


PERCEPTION_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("detector.backend", "hog", "RGB person detector: hog | onnx | mediapipe | none"),
    ParamSpec("detector.every_n_frames", 1, "run the RGB detector on every n-th frame [frames]"),
    ParamSpec(
        "detector.hog_upscale", 1.0, "HOG: resize factor before detection (>1: small people)"
    ),
    ParamSpec("detector.hog_min_confidence", 0.3, "HOG: minimum confidence [0..1]"),
    ParamSpec("detector.hog_scale_step", 1.1, "HOG: image pyramid factor (smaller: slower)"),
    ParamSpec("detector.hog_win_stride_px", 8, "HOG: sliding window step [px] (4, 8 or 16)"),
    ParamSpec("detector.onnx_model_path", "", "ONNX: local model file (YOLO-style output)"),
    ParamSpec("detector.onnx_input_width_px", 640, "ONNX: model input width [px]"),
    ParamSpec("detector.onnx_input_height_px", 640, "ONNX: model input height [px]"),
    ParamSpec("detector.onnx_output_layout", "yolov5", "ONNX: yolov5 (N, 5+C) | yolov8 (4+C, N)"),
    ParamSpec("detector.onnx_person_class_index", 0, "ONNX: class index of 'person'"),
    ParamSpec("detector.onnx_score_threshold", 0.4, "ONNX: minimum person score [0..1]"),
    ParamSpec("lift.near_percentile", 10.0, "depth percentile taken as the person's front [%]"),
    ParamSpec("lift.body_depth_m", 0.5, "points this far behind the front are the person [m]"),
    ParamSpec("depth.background_frames", 15, "frames learned as static background (0 = none)"),
    ParamSpec("depth.background_margin_m", 0.08, "nearer than the background by this [m]"),
    ParamSpec("depth.pixel_stride", 2, "use every n-th depth pixel in each direction [px]"),
    ParamSpec("depth.min_depth_m", 0.15, "nearer depth readings are ignored [m]"),
    ParamSpec("depth.max_depth_m", 6.0, "farther depth readings are ignored [m]"),
    ParamSpec("depth.voxel_size_m", 0.05, "clustering voxel edge [m]"),
    ParamSpec("depth.min_cluster_points", 30, "smaller clusters are noise [points]"),
    ParamSpec("depth.self_filter_padding_m", 0.05, "points this close to the robot are it [m]"),
    ParamSpec("depth.static_padding_m", 0.03, "static boxes grow by this [m]"),
    ParamSpec(
        "depth.static_boxes_m", [], "static scene boxes, 6 values each: cx cy cz sx sy sz [m]"
    ),
    ParamSpec("monitored_volume.shape", "cylinder", "box | cylinder (vertical axis)"),
    ParamSpec("monitored_volume.center_m", [0.0, 0.0, 0.3], "centre in the base frame [m]"),
    ParamSpec("monitored_volume.size_m", [3.0, 3.0, 2.0], "box extents / cylinder height [m]"),
    ParamSpec("monitored_volume.radius_m", 1.5, "cylinder radius [m]"),
    ParamSpec("tracker.gate_m", 0.6, "association gate [m]"),
    ParamSpec("tracker.max_missed_s", 0.5, "a track unseen this long is deleted [s]"),
    ParamSpec("tracker.max_speed_m_s", 3.0, "velocity estimates are clipped to this [m/s]"),
    ParamSpec("fusion.fuse_distance_m", 0.5, "RGB and depth detections this close merge [m]"),
    ParamSpec(
        "fusion.robot_box_fraction",
        0.2,
        "an unconfirmed RGB box with this share of its depth on the arm ...",
    ),
    ParamSpec(
        "fusion.robot_box_max_new_fraction",
        0.05,
        "... and at most this share neither arm nor learned background is the arm",
    ),
    ParamSpec(
        "fusion.scene_box_min_valid_fraction",
        0.8,
        "an unconfirmed RGB box with valid depth over this share, all arm or background, "
        "is the static scene",
    ),
)


def _triple(values: Any, name: str) -> tuple[float, float, float]:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size != 3:
        raise ValueError(f"{name} needs 3 values, got {arr.tolist()}")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def config_from_params(params: Mapping[str, Any]) -> tuple[PerceptionConfig, DetectorSpec]:
    """Build the configs from {dotted name: value}; missing names take their defaults."""
    unknown = set(params) - {p.name for p in PERCEPTION_PARAMETERS}
    if unknown:
        raise ValueError(f"unknown perception parameters {sorted(unknown)}")
    values = {p.name: params.get(p.name, p.default) for p in PERCEPTION_PARAMETERS}
    boxes_flat = np.asarray(values["depth.static_boxes_m"], dtype=np.float64).reshape(-1)
    if boxes_flat.size % 6:
        raise ValueError(f"depth.static_boxes_m needs 6 values per box, got {boxes_flat.size}")
    static = tuple(
        Box3(center_m=_triple(row[:3], "box centre"), size_m=_triple(row[3:], "box size"))
        for row in boxes_flat.reshape(-1, 6)
    )
    volume = MonitoredVolume(
        shape=str(values["monitored_volume.shape"]),
        center_m=_triple(values["monitored_volume.center_m"], "monitored_volume.center_m"),
        size_m=_triple(values["monitored_volume.size_m"], "monitored_volume.size_m"),
        radius_m=float(values["monitored_volume.radius_m"]),
    )
    depth = DepthMonitorConfig(
        volume=volume,
        static_boxes=static,
        static_padding_m=float(values["depth.static_padding_m"]),
        self_filter_padding_m=float(values["depth.self_filter_padding_m"]),
        background_frames=int(values["depth.background_frames"]),
        background_margin_m=float(values["depth.background_margin_m"]),
        pixel_stride=int(values["depth.pixel_stride"]),
        min_depth_m=float(values["depth.min_depth_m"]),
        max_depth_m=float(values["depth.max_depth_m"]),
        voxel_size_m=float(values["depth.voxel_size_m"]),
        min_cluster_points=int(values["depth.min_cluster_points"]),
    )
    config = PerceptionConfig(
        lift=LiftConfig(
            near_percentile=float(values["lift.near_percentile"]),
            body_depth_m=float(values["lift.body_depth_m"]),
        ),
        depth=depth,
        tracker=TrackerConfig(
            gate_m=float(values["tracker.gate_m"]),
            max_missed_s=float(values["tracker.max_missed_s"]),
            max_speed_m_s=float(values["tracker.max_speed_m_s"]),
        ),
        fuse_distance_m=float(values["fusion.fuse_distance_m"]),
        robot_box_fraction=float(values["fusion.robot_box_fraction"]),
        robot_box_max_new_fraction=float(values["fusion.robot_box_max_new_fraction"]),
        scene_box_min_valid_fraction=float(values["fusion.scene_box_min_valid_fraction"]),
        detector_every_n_frames=int(values["detector.every_n_frames"]),
    )
    backend = str(values["detector.backend"])
    options: dict[str, Any] = {}
    if backend == "hog":
        options = {
            "upscale": float(values["detector.hog_upscale"]),
            "min_confidence": float(values["detector.hog_min_confidence"]),
            "win_stride_px": int(values["detector.hog_win_stride_px"]),
            "scale_step": float(values["detector.hog_scale_step"]),
        }
    elif backend == "onnx":
        options = {
            "model_path": str(values["detector.onnx_model_path"]),
            "input_width_px": int(values["detector.onnx_input_width_px"]),
            "input_height_px": int(values["detector.onnx_input_height_px"]),
            "output_layout": str(values["detector.onnx_output_layout"]),
            "person_class_index": int(values["detector.onnx_person_class_index"]),
            "score_threshold": float(values["detector.onnx_score_threshold"]),
        }
    return config, DetectorSpec(backend=backend, options=options)
