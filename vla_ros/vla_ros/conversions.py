"""The one place where ROS messages meet numpy: paired `x_from_msg` / `x_to_msg` functions.

Every function raises ValueError with a message that says what is wrong when a message is
malformed (short data, bad step, unknown encoding, unknown joints, NaN where forbidden).
Nodes catch it, count it, log it at a throttled rate, and keep running.
"""

from __future__ import annotations

import array
import math
import sys
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration as DurationMsg
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion, Twist, TwistStamped, Vector3
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState, RegionOfInterest
from std_msgs.msg import Float64MultiArray, Header, MultiArrayDimension
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker
from vla_ros_msgs.msg import (
    AudioData,
    Heartbeat,
    HumanDetection,
    HumanDetectionArray,
    Instruction,
    PolicyStatus,
    SafetyStatus,
    TaskState,
)
from vla_ros_msgs.srv import ResetEpisode

from vla_ros.core.perception.camera import CameraIntrinsics
from vla_ros.core.perception.detectors import PersonBox
from vla_ros.core.perception.pipeline import HumanEstimate
from vla_ros.core.policy.session import PolicyState, PolicyStatusReport
from vla_ros.core.safety.types import SafetyState, SafetyStatusData
from vla_ros.core.sim.tasks import EpisodeStatus

# encoding -> (numpy dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
_HOST_BIG_ENDIAN = sys.byteorder == "big"
_NS = 1_000_000_000


# ----------------------------------------------------------------------------- time


def stamp_to_seconds(stamp: TimeMsg) -> float:
    """builtin_interfaces/Time -> seconds (float)."""
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> TimeMsg:
    """Seconds (finite, >= 0) -> builtin_interfaces/Time, rounded to the nanosecond."""
    if not math.isfinite(seconds) or seconds < 0.0:
        raise ValueError(f"stamp must be a finite, non-negative number of seconds, got {seconds}")
    total_ns = round(seconds * _NS)
    return TimeMsg(sec=total_ns // _NS, nanosec=total_ns % _NS)


def duration_to_seconds(duration: DurationMsg) -> float:
    """builtin_interfaces/Duration -> seconds (float); negative durations are allowed."""
    return duration.sec + duration.nanosec * 1e-9


def seconds_to_duration(seconds: float) -> DurationMsg:
    """Seconds (finite) -> builtin_interfaces/Duration (nanosec is always in [0, 1e9))."""
    if not math.isfinite(seconds):
        raise ValueError(f"duration must be finite, got {seconds}")
    total_ns = round(seconds * _NS)
    return DurationMsg(sec=total_ns // _NS, nanosec=total_ns % _NS)


def make_header(stamp_s: float, frame_id: str = "") -> Header:
    """std_msgs/Header from a stamp in seconds and a frame id."""
    return Header(stamp=seconds_to_stamp(stamp_s), frame_id=frame_id)


# ----------------------------------------------------------------------------- images


def _byte_view(data: object) -> np.ndarray:
    """The message's data field as a flat uint8 array, without copying where possible."""
    if isinstance(data, (bytes, bytearray, memoryview, array.array, np.ndarray)):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8)


def _to_uint8_array(buffer: np.ndarray) -> array.array:
    """Bytes of a C-contiguous array as array('B'): the fast path of rosidl's uint8[] setter."""
    out = array.array("B")
    out.frombytes(np.ascontiguousarray(buffer).reshape(-1).view(np.uint8).data)
    return out


def image_from_msg(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> array of shape (H, W) or (H, W, C) in the message's encoding.

    Honours `step` (row padding) and `is_bigendian`; returns native-endian data. The result
    may share memory with the message: copy it before writing into it.
    """
    encoding = msg.encoding
    if encoding not in IMAGE_ENCODINGS:
        raise ValueError(
            f"unsupported image encoding '{encoding}'; supported: {', '.join(IMAGE_ENCODINGS)}"
        )
    dtype, channels = IMAGE_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ValueError(f"image has no pixels: {width}x{height}")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ValueError(
            f"image step {step} is smaller than width*channels*bytes = {row_bytes} ({encoding})"
        )
    raw = _byte_view(msg.data)
    needed = step * (height - 1) + row_bytes
    if raw.size < needed:
        raise ValueError(
            f"image data too short: {raw.size} bytes for {width}x{height} {encoding} "
            f"with step {step} (need {needed})"
        )
    if step == row_bytes:
        rows = raw[: height * row_bytes]
    else:
        padded = np.lib.stride_tricks.as_strided(raw, shape=(height, row_bytes), strides=(step, 1))
        rows = np.ascontiguousarray(padded)
    arr = rows.view(dtype.newbyteorder(">" if msg.is_bigendian else "<"))
    if dtype.itemsize > 1 and bool(msg.is_bigendian) != _HOST_BIG_ENDIAN:
        arr = arr.astype(dtype)  # byte-swap to native order
    shape = (height, width) if channels == 1 else (height, width, channels)
    return arr.reshape(shape)


def image_to_msg(
    image: np.ndarray, encoding: str, stamp_s: float = 0.0, frame_id: str = ""
) -> Image:
    """Array (H, W) or (H, W, C) -> sensor_msgs/Image in `encoding` (native endian, no padding)."""
    if encoding not in IMAGE_ENCODINGS:
        raise ValueError(
            f"unsupported image encoding '{encoding}'; supported: {', '.join(IMAGE_ENCODINGS)}"
        )
    dtype, channels = IMAGE_ENCODINGS[encoding]
    image = np.asarray(image)
    expected_ndim = 2 if channels == 1 else 3
    if image.ndim == 3 and channels == 1 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != expected_ndim or (channels > 1 and image.shape[2] != channels):
        raise ValueError(
            f"array of shape {image.shape} does not fit encoding {encoding} "
            f"({channels} channel{'s' if channels > 1 else ''})"
        )
    if image.dtype != dtype:
        raise ValueError(f"encoding {encoding} needs dtype {dtype}, got {image.dtype}")
    height, width = image.shape[:2]
    msg = Image()
    msg.header = make_header(stamp_s, frame_id)
    msg.height, msg.width = height, width
    msg.encoding = encoding
    msg.is_bigendian = int(_HOST_BIG_ENDIAN)
    msg.step = width * channels * dtype.itemsize
    msg.data = _to_uint8_array(image)
    return msg


def rgb_from_msg(msg: Image) -> np.ndarray:
    """Any colour or mono 8-bit sensor_msgs/Image -> (H, W, 3) uint8 RGB."""
    image = image_from_msg(msg)
    encoding = msg.encoding
    if encoding == "rgb8":
        return image
    if encoding == "bgr8":
        return image[:, :, ::-1]
    if encoding == "rgba8":
        return image[:, :, :3]
    if encoding == "bgra8":
        return image[:, :, 2::-1]
    if encoding in ("mono8", "8UC1"):
        return np.repeat(image[:, :, None], 3, axis=2)
    raise ValueError(f"image encoding '{encoding}' is not a colour image")


def depth_from_msg(msg: Image) -> np.ndarray:
    """Depth sensor_msgs/Image (32FC1 metres or 16UC1/mono16 millimetres) -> float32 metres.

    Invalid pixels (0 mm, NaN, inf, <= 0 m) become NaN.
    """
    image = image_from_msg(msg)
    if msg.encoding == "32FC1":
        depth = image.astype(np.float32, copy=True)
    elif msg.encoding in ("16UC1", "mono16"):
        depth = image.astype(np.float32) * np.float32(0.001)
        depth[image == 0] = np.nan
        return depth
    else:
        raise ValueError(f"image encoding '{msg.encoding}' is not a depth encoding")
    depth[~np.isfinite(depth) | (depth <= 0.0)] = np.nan
    return depth


def depth_to_msg(
    depth_m: np.ndarray, encoding: str = "32FC1", stamp_s: float = 0.0, frame_id: str = ""
) -> Image:
    """Float depth in metres (NaN = invalid) -> 32FC1 (metres) or 16UC1 (millimetres) Image."""
    depth_m = np.asarray(depth_m, dtype=np.float32)
    if depth_m.ndim != 2:
        raise ValueError(f"depth must be a 2D array, got shape {depth_m.shape}")
    if encoding == "32FC1":
        return image_to_msg(depth_m, "32FC1", stamp_s, frame_id)
    if encoding == "16UC1":
        valid = np.isfinite(depth_m) & (depth_m > 0.0)
        mm = np.zeros(depth_m.shape, dtype=np.uint16)
        mm[valid] = np.clip(np.rint(depth_m[valid] * 1000.0), 0, 65535).astype(np.uint16)
        return image_to_msg(mm, "16UC1", stamp_s, frame_id)
    raise ValueError(f"depth encoding must be 32FC1 or 16UC1, got '{encoding}'")


def compressed_image_from_msg(msg: CompressedImage) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg or png) -> (H, W, 3) uint8 RGB, or (H, W) for mono."""
    import cv2  # lazy: only nodes that see compressed images need OpenCV

    fmt = msg.format.lower()
    if not any(kind in fmt for kind in ("jpeg", "jpg", "png")):
        raise ValueError(f"unsupported compressed image format '{msg.format}' (jpeg or png)")
    raw = _byte_view(msg.data)
    if raw.size == 0:
        raise ValueError("compressed image has no data")
    decoded = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ValueError(f"compressed image ({msg.format}, {raw.size} bytes) could not be decoded")
    if decoded.ndim == 3 and decoded.shape[2] == 3:
        return decoded[:, :, ::-1].copy()
    if decoded.ndim == 3 and decoded.shape[2] == 4:
        return decoded[:, :, 2::-1].copy()
    return decoded


def compressed_image_to_msg(
    image: np.ndarray,
    image_format: str = "jpeg",
    stamp_s: float = 0.0,
    frame_id: str = "",
    jpeg_quality: int = 90,
) -> CompressedImage:
    """(H, W, 3) uint8 RGB or (H, W) mono -> sensor_msgs/CompressedImage (jpeg or png)."""
    import cv2

    image = np.asarray(image)
    if (
        image.dtype != np.uint8
        or image.ndim not in (2, 3)
        or (image.ndim == 3 and image.shape[2] != 3)
    ):
        raise ValueError(
            f"need uint8 (H, W, 3) RGB or (H, W) mono, got {image.dtype} {image.shape}"
        )
    if image_format not in ("jpeg", "png"):
        raise ValueError(f"image_format must be 'jpeg' or 'png', got '{image_format}'")
    bgr = image[:, :, ::-1] if image.ndim == 3 else image
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if image_format == "jpeg" else []
    ok, encoded = cv2.imencode("." + ("jpg" if image_format == "jpeg" else "png"), bgr, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {image_format}")
    msg = CompressedImage()
    msg.header = make_header(stamp_s, frame_id)
    msg.format = ("rgb8; " if image.ndim == 3 else "mono8; ") + image_format
    msg.data = _to_uint8_array(encoded.reshape(-1))
    return msg


# ----------------------------------------------------------------------------- joints


def _finite_vector(values: Sequence[float], what: str) -> np.ndarray:
    vec = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(vec)):
        raise ValueError(f"{what} contains NaN or inf: {vec.tolist()}")
    return vec


def joint_positions_from_msg(msg: JointState, joint_names: Sequence[str]) -> np.ndarray:
    """sensor_msgs/JointState -> positions ordered as `joint_names` (extra joints are ignored).

    Missing joints, duplicate names, size mismatches and non-finite values are errors.
    """
    names = list(msg.name)
    if len(msg.position) != len(names):
        raise ValueError(f"JointState has {len(names)} names but {len(msg.position)} positions")
    index = {name: i for i, name in enumerate(names)}
    if len(index) != len(names):
        raise ValueError(f"JointState has duplicate joint names: {names}")
    missing = [name for name in joint_names if name not in index]
    if missing:
        raise ValueError(f"JointState is missing joints {missing} (has {names})")
    positions = np.asarray(msg.position, dtype=np.float64)
    out = positions[[index[name] for name in joint_names]]
    return _finite_vector(out, "JointState positions")


def joint_velocities_from_msg(msg: JointState, joint_names: Sequence[str]) -> np.ndarray | None:
    """Velocities ordered as `joint_names`, or None when the message carries none."""
    if len(msg.velocity) == 0:
        return None
    names = list(msg.name)
    if len(msg.velocity) != len(names):
        raise ValueError(f"JointState has {len(names)} names but {len(msg.velocity)} velocities")
    index = {name: i for i, name in enumerate(names)}
    missing = [name for name in joint_names if name not in index]
    if missing:
        raise ValueError(f"JointState is missing joints {missing} (has {names})")
    out = np.asarray(msg.velocity, dtype=np.float64)[[index[n] for n in joint_names]]
    return _finite_vector(out, "JointState velocities")


def joint_state_to_msg(
    joint_names: Sequence[str],
    positions: Sequence[float],
    velocities: Sequence[float] | None = None,
    efforts: Sequence[float] | None = None,
    stamp_s: float = 0.0,
) -> JointState:
    """Joint names and vectors -> sensor_msgs/JointState."""
    n = len(joint_names)
    msg = JointState()
    msg.header = make_header(stamp_s)
    msg.name = list(joint_names)
    for field, values in (("position", positions), ("velocity", velocities), ("effort", efforts)):
        if values is None:
            continue
        vec = np.asarray(values, dtype=np.float64).reshape(-1)
        if vec.size != n:
            raise ValueError(f"{field} has {vec.size} values for {n} joints")
        setattr(msg, field, vec.tolist())
    return msg


def trajectory_from_msg(
    msg: JointTrajectory, joint_names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """trajectory_msgs/JointTrajectory -> (times_s (N,), positions (N, J), velocities or None).

    Columns follow `joint_names` when given (the message may list the joints in another
    order; unknown or missing joints are errors). Times must be finite and strictly
    increasing; positions and velocities finite; every point the same size.
    """
    names = list(msg.joint_names)
    if len(set(names)) != len(names):
        raise ValueError(f"JointTrajectory has duplicate joint names: {names}")
    if not msg.points:
        raise ValueError("JointTrajectory has no points")
    if joint_names is None:
        order = list(range(len(names)))
    else:
        unknown = [n for n in names if n not in joint_names]
        missing = [n for n in joint_names if n not in names]
        if unknown or missing:
            raise ValueError(
                f"JointTrajectory joints do not match: unknown {unknown}, missing {missing}"
            )
        order = [names.index(n) for n in joint_names]
    n_points, n_joints = len(msg.points), len(names)
    times = np.empty(n_points)
    positions = np.empty((n_points, n_joints))
    has_vel = all(len(p.velocities) > 0 for p in msg.points)
    velocities = np.empty((n_points, n_joints)) if has_vel else None
    for i, point in enumerate(msg.points):
        if len(point.positions) != n_joints:
            raise ValueError(
                f"point {i} has {len(point.positions)} positions for {n_joints} joints"
            )
        times[i] = duration_to_seconds(point.time_from_start)
        positions[i] = point.positions
        if velocities is not None:
            if len(point.velocities) != n_joints:
                raise ValueError(
                    f"point {i} has {len(point.velocities)} velocities for {n_joints} joints"
                )
            velocities[i] = point.velocities
    if not np.all(np.isfinite(positions)):
        raise ValueError("JointTrajectory positions contain NaN or inf")
    if velocities is not None and not np.all(np.isfinite(velocities)):
        raise ValueError("JointTrajectory velocities contain NaN or inf")
    if np.any(times < 0.0) or np.any(np.diff(times) <= 0.0):
        raise ValueError(f"time_from_start must be >= 0 and strictly increasing: {times.tolist()}")
    positions = positions[:, order]
    if velocities is not None:
        velocities = velocities[:, order]
    return times, positions, velocities


def trajectory_to_msg(
    joint_names: Sequence[str],
    times_s: Sequence[float],
    positions: np.ndarray,
    velocities: np.ndarray | None = None,
    stamp_s: float = 0.0,
    frame_id: str = "",
) -> JointTrajectory:
    """(times (N,), positions (N, J)[, velocities (N, J)]) -> trajectory_msgs/JointTrajectory.

    A stamp of 0 means "start now" for joint_trajectory_controller.
    """
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape != (times.size, len(joint_names)):
        raise ValueError(
            f"positions must have shape ({times.size}, {len(joint_names)}), got {pos.shape}"
        )
    vel = None if velocities is None else np.asarray(velocities, dtype=np.float64)
    if vel is not None and vel.shape != pos.shape:
        raise ValueError(f"velocities shape {vel.shape} differs from positions {pos.shape}")
    msg = JointTrajectory()
    msg.header = make_header(stamp_s, frame_id)
    msg.joint_names = list(joint_names)
    for i, t in enumerate(times):
        point = JointTrajectoryPoint()
        point.positions = pos[i].tolist()
        if vel is not None:
            point.velocities = vel[i].tolist()
        point.time_from_start = seconds_to_duration(float(t))
        msg.points.append(point)
    return msg


def float_array_from_msg(msg: Float64MultiArray, size: int | None = None) -> np.ndarray:
    """std_msgs/Float64MultiArray (a forward controller's command) -> finite vector."""
    vec = _finite_vector(msg.data, "Float64MultiArray data")
    if size is not None and vec.size != size:
        raise ValueError(f"Float64MultiArray has {vec.size} values, expected {size}")
    return vec


def float_array_to_msg(values: Sequence[float], label: str = "joints") -> Float64MultiArray:
    """Vector -> std_msgs/Float64MultiArray with one labelled dimension."""
    vec = np.asarray(values, dtype=np.float64).reshape(-1)
    msg = Float64MultiArray()
    msg.layout.dim = [MultiArrayDimension(label=label, size=vec.size, stride=vec.size)]
    msg.data = vec.tolist()
    return msg


# ----------------------------------------------------------------------------- camera info


def camera_info_from_msg(msg: CameraInfo) -> CameraIntrinsics:
    """sensor_msgs/CameraInfo -> pinhole intrinsics (K and the image size; D is ignored)."""
    if msg.width <= 0 or msg.height <= 0:
        raise ValueError(f"CameraInfo has no image size: {msg.width}x{msg.height}")
    k = np.asarray(msg.k, dtype=np.float64)
    if k.size != 9 or not np.all(np.isfinite(k)):
        raise ValueError(f"CameraInfo K must be 9 finite values, got {k.tolist()}")
    return CameraIntrinsics.from_k(k, int(msg.width), int(msg.height))


def camera_info_to_msg(
    intrinsics: CameraIntrinsics, stamp_s: float = 0.0, frame_id: str = ""
) -> CameraInfo:
    """Pinhole intrinsics -> sensor_msgs/CameraInfo (plumb_bob, zero distortion, R = I)."""
    msg = CameraInfo()
    msg.header = make_header(stamp_s, frame_id)
    msg.width, msg.height = int(intrinsics.width_px), int(intrinsics.height_px)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    k = intrinsics.k_matrix()
    msg.k = k.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = np.hstack([k, np.zeros((3, 1))]).reshape(-1).tolist()
    return msg


# ----------------------------------------------------------------------------- humans


def _box_to_roi(box: PersonBox | None) -> RegionOfInterest:
    if box is None:
        return RegionOfInterest()
    x0, y0 = max(0, math.floor(box.x_min_px)), max(0, math.floor(box.y_min_px))
    x1, y1 = max(x0, math.ceil(box.x_max_px)), max(y0, math.ceil(box.y_max_px))
    return RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0)


def human_detections_to_msg(
    humans: Sequence[HumanEstimate], stamp_s: float, frame_id: str
) -> HumanDetectionArray:
    """Perception output -> vla_ros_msgs/HumanDetectionArray (boxes rounded outwards to pixels).

    min_distance_to_robot_m is the smallest distance_to_robot_m, +inf when nobody is seen.
    """
    msg = HumanDetectionArray()
    msg.header = make_header(stamp_s, frame_id)
    for human in humans:
        pos = _finite_vector(human.position_m, "human position")
        vel = _finite_vector(human.velocity_m_s, "human velocity")
        if pos.size != 3 or vel.size != 3:
            raise ValueError("human position and velocity need 3 values each")
        det = HumanDetection()
        det.track_id = int(human.track_id)
        det.position = Point(x=float(pos[0]), y=float(pos[1]), z=float(pos[2]))
        det.velocity = Vector3(x=float(vel[0]), y=float(vel[1]), z=float(vel[2]))
        det.position_uncertainty_m = float(human.position_uncertainty_m)
        det.distance_to_robot_m = float(human.distance_to_robot_m)
        det.box = _box_to_roi(human.box)
        det.confidence = float(human.confidence)
        det.source = int(human.source)
        msg.detections.append(det)
    msg.min_distance_to_robot_m = float(
        min((h.distance_to_robot_m for h in humans), default=math.inf)
    )
    return msg


def human_detections_from_msg(msg: HumanDetectionArray) -> tuple[HumanEstimate, ...]:
    """vla_ros_msgs/HumanDetectionArray -> detections (stamp and frame are in msg.header).

    Positions and velocities must be finite; a zero-size box means "no box".
    """
    out = []
    for i, det in enumerate(msg.detections):
        pos = _finite_vector(
            [det.position.x, det.position.y, det.position.z], f"human {i} position"
        )
        vel = _finite_vector(
            [det.velocity.x, det.velocity.y, det.velocity.z], f"human {i} velocity"
        )
        if math.isnan(det.distance_to_robot_m) or math.isnan(det.position_uncertainty_m):
            raise ValueError(f"human {i} has a NaN distance or uncertainty")
        if det.source not in (
            HumanDetection.SOURCE_RGB,
            HumanDetection.SOURCE_DEPTH,
            HumanDetection.SOURCE_FUSED,
        ):
            raise ValueError(f"human {i} has unknown source {det.source}")
        roi = det.box
        box = None
        if roi.width > 0 and roi.height > 0:
            box = PersonBox(
                float(roi.x_offset),
                float(roi.y_offset),
                float(roi.x_offset + roi.width),
                float(roi.y_offset + roi.height),
                float(det.confidence),
            )
        out.append(
            HumanEstimate(
                track_id=int(det.track_id),
                position_m=pos,
                velocity_m_s=vel,
                position_uncertainty_m=float(det.position_uncertainty_m),
                distance_to_robot_m=float(det.distance_to_robot_m),
                box=box,
                confidence=float(det.confidence),
                source=int(det.source),
            )
        )
    return tuple(out)


# ----------------------------------------------------------------------------- simulation


def clock_to_msg(seconds: float) -> Clock:
    """Simulated time in seconds -> rosgraph_msgs/Clock."""
    return Clock(clock=seconds_to_stamp(seconds))


def clock_from_msg(msg: Clock) -> float:
    """rosgraph_msgs/Clock -> seconds."""
    return stamp_to_seconds(msg.clock)


def pose_stamped_to_msg(
    position_m: Sequence[float], quaternion_xyzw: Sequence[float], stamp_s: float, frame_id: str
) -> PoseStamped:
    """Position (3,) and unit quaternion (x, y, z, w) -> geometry_msgs/PoseStamped."""
    pos = _finite_vector(position_m, "pose position")
    quat = _finite_vector(quaternion_xyzw, "pose orientation")
    if pos.size != 3 or quat.size != 4:
        raise ValueError(f"pose needs 3 + 4 values, got {pos.size} + {quat.size}")
    norm = float(np.linalg.norm(quat))
    if abs(norm - 1.0) > 1e-3:
        raise ValueError(f"orientation is not a unit quaternion (norm {norm:.4f})")
    msg = PoseStamped()
    msg.header = make_header(stamp_s, frame_id)
    msg.pose = Pose(
        position=Point(x=float(pos[0]), y=float(pos[1]), z=float(pos[2])),
        orientation=Quaternion(
            x=float(quat[0]), y=float(quat[1]), z=float(quat[2]), w=float(quat[3])
        ),
    )
    return msg


def pose_stamped_from_msg(msg: PoseStamped) -> tuple[np.ndarray, np.ndarray, float, str]:
    """geometry_msgs/PoseStamped -> (position (3,), quaternion xyzw (4,), stamp_s, frame_id)."""
    p, q = msg.pose.position, msg.pose.orientation
    pos = _finite_vector([p.x, p.y, p.z], "pose position")
    quat = _finite_vector([q.x, q.y, q.z, q.w], "pose orientation")
    norm = float(np.linalg.norm(quat))
    if abs(norm - 1.0) > 1e-3:
        raise ValueError(f"orientation is not a unit quaternion (norm {norm:.4f})")
    return pos, quat, stamp_to_seconds(msg.header.stamp), msg.header.frame_id


def task_state_to_msg(status: EpisodeStatus, stamp_s: float) -> TaskState:
    """Episode status of the simulated cell -> vla_ros_msgs/TaskState."""
    return TaskState(
        header=make_header(stamp_s),
        episode_id=int(status.episode_id),
        seed=int(status.seed),
        task_family=status.task_family,
        instruction=status.instruction,
        success=bool(status.success),
        done=bool(status.done),
        elapsed_s=float(status.elapsed_s),
        time_limit_s=float(status.time_limit_s),
    )


def task_state_from_msg(msg: TaskState) -> EpisodeStatus:
    """vla_ros_msgs/TaskState -> episode status."""
    if not (math.isfinite(msg.elapsed_s) and math.isfinite(msg.time_limit_s)):
        raise ValueError("TaskState times must be finite")
    return EpisodeStatus(
        episode_id=int(msg.episode_id),
        seed=int(msg.seed),
        task_family=str(msg.task_family),
        instruction=str(msg.instruction),
        success=bool(msg.success),
        done=bool(msg.done),
        elapsed_s=float(msg.elapsed_s),
        time_limit_s=float(msg.time_limit_s),
    )


def reset_episode_request_to_msg(
    seed: int, task: str = "", *, with_person: bool = False
) -> ResetEpisode.Request:
    """(seed, task family / instruction / "", with_person) -> ResetEpisode request."""
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must fit uint32, got {seed}")
    return ResetEpisode.Request(seed=int(seed), task=task, with_person=bool(with_person))


def reset_episode_request_from_msg(msg: ResetEpisode.Request) -> tuple[int, str, bool]:
    """ResetEpisode request -> (seed, task, with_person)."""
    return int(msg.seed), str(msg.task).strip(), bool(msg.with_person)


# ----------------------------------------------------------------------------- audio


def audio_from_msg(msg: AudioData) -> tuple[np.ndarray, int]:
    """vla_ros_msgs/AudioData -> (int16 samples of shape (N, channels), sample rate [Hz]).

    The sample count must be a whole number of frames; the rate and channel count non-zero.
    """
    sample_rate_hz = int(msg.sample_rate_hz)
    channels = int(msg.channels)
    if sample_rate_hz <= 0:
        raise ValueError(f"audio sample rate must be positive, got {sample_rate_hz} Hz")
    if channels <= 0:
        raise ValueError(f"audio must have at least one channel, got {channels}")
    samples = np.asarray(msg.samples, dtype=np.int16).reshape(-1)
    if samples.size % channels:
        raise ValueError(
            f"audio has {samples.size} samples, not a multiple of its {channels} channels"
        )
    return samples.reshape(-1, channels), sample_rate_hz


def audio_to_msg(
    samples: np.ndarray, sample_rate_hz: int, stamp_s: float = 0.0, frame_id: str = ""
) -> AudioData:
    """int16 samples, shape (N,) mono or (N, channels) -> vla_ros_msgs/AudioData.

    `stamp_s` is the capture time of the first sample.
    """
    arr = np.asarray(samples)
    if arr.dtype != np.int16:
        raise ValueError(f"audio samples must be int16 PCM, got {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1 or arr.shape[1] > 255:
        raise ValueError(f"audio must have shape (N,) or (N, channels<=255), got {arr.shape}")
    if int(sample_rate_hz) <= 0:
        raise ValueError(f"audio sample rate must be positive, got {sample_rate_hz} Hz")
    msg = AudioData()
    msg.header = make_header(stamp_s, frame_id)
    msg.sample_rate_hz = int(sample_rate_hz)
    msg.channels = int(arr.shape[1])
    out = array.array("h")
    out.frombytes(np.ascontiguousarray(arr).reshape(-1).tobytes())
    msg.samples = out
    return msg


# ----------------------------------------------------------------------------- policy


def instruction_from_msg(msg: Instruction) -> tuple[str, str, float]:
    """vla_ros_msgs/Instruction -> (text, id, stamp_s); an empty text means "cancel"."""
    if not math.isfinite(msg.confidence) or not 0.0 <= msg.confidence <= 1.0:
        raise ValueError(f"instruction confidence must be in [0, 1], got {msg.confidence}")
    if msg.source not in (Instruction.SOURCE_TEXT, Instruction.SOURCE_VOICE):
        raise ValueError(f"unknown instruction source {msg.source}")
    return str(msg.text).strip(), str(msg.id), stamp_to_seconds(msg.header.stamp)


def instruction_to_msg(
    text: str,
    instruction_id: str,
    stamp_s: float = 0.0,
    source: int = Instruction.SOURCE_TEXT,
    confidence: float = 1.0,
) -> Instruction:
    """Instruction fields -> vla_ros_msgs/Instruction."""
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be in [0, 1], got {confidence}")
    return Instruction(
        header=make_header(stamp_s),
        text=text,
        source=source,
        confidence=float(confidence),
        id=instruction_id,
    )


def twist_stamped_from_msg(msg: TwistStamped) -> tuple[np.ndarray, float, str]:
    """geometry_msgs/TwistStamped -> ((6,) [vx, vy, vz, wx, wy, wz], stamp_s, frame_id)."""
    lin, ang = msg.twist.linear, msg.twist.angular
    twist = _finite_vector([lin.x, lin.y, lin.z, ang.x, ang.y, ang.z], "twist")
    return twist, stamp_to_seconds(msg.header.stamp), msg.header.frame_id


def twist_stamped_to_msg(twist: Sequence[float], stamp_s: float, frame_id: str) -> TwistStamped:
    """(6,) [m/s, rad/s] -> geometry_msgs/TwistStamped in `frame_id`."""
    vec = _finite_vector(twist, "twist")
    if vec.size != 6:
        raise ValueError(f"a twist has 6 values, got {vec.size}")
    return TwistStamped(
        header=make_header(stamp_s, frame_id),
        twist=Twist(
            linear=Vector3(x=vec[0], y=vec[1], z=vec[2]),
            angular=Vector3(x=vec[3], y=vec[4], z=vec[5]),
        ),
    )


def policy_status_to_msg(report: PolicyStatusReport) -> PolicyStatus:
    """PolicyStatusReport -> vla_ros_msgs/PolicyStatus (NaN latencies become 0)."""

    def num(value: float) -> float:
        return float(value) if math.isfinite(value) else 0.0

    return PolicyStatus(
        header=make_header(report.stamp_s),
        state=int(report.state),
        backend=report.backend,
        instruction_id=report.instruction_id,
        instruction_text=report.instruction_text,
        instruction_matched=report.instruction_matched,
        inference_latency_last_ms=num(report.inference_latency_last_ms),
        inference_latency_p50_ms=num(report.inference_latency_p50_ms),
        inference_latency_p99_ms=num(report.inference_latency_p99_ms),
        chunk_age_s=num(report.chunk_age_s),
        chunk_length=int(report.chunk_length),
        actions_remaining=int(report.actions_remaining),
        chunks_received=int(report.chunks_received),
        underruns=int(report.underruns),
        observations_dropped=int(report.observations_dropped),
        inference_errors=int(report.inference_errors),
        control_rate_hz=num(report.control_rate_hz),
        inference_rate_hz=num(report.inference_rate_hz),
    )


def policy_status_from_msg(msg: PolicyStatus) -> PolicyStatusReport:
    """vla_ros_msgs/PolicyStatus -> PolicyStatusReport."""
    try:
        state = PolicyState(msg.state)
    except ValueError as exc:
        raise ValueError(f"unknown policy state {msg.state}") from exc
    return PolicyStatusReport(
        stamp_s=stamp_to_seconds(msg.header.stamp),
        state=state,
        backend=msg.backend,
        instruction_id=msg.instruction_id,
        instruction_text=msg.instruction_text,
        inference_latency_last_ms=msg.inference_latency_last_ms,
        inference_latency_p50_ms=msg.inference_latency_p50_ms,
        inference_latency_p99_ms=msg.inference_latency_p99_ms,
        chunk_age_s=msg.chunk_age_s,
        chunk_length=msg.chunk_length,
        actions_remaining=msg.actions_remaining,
        chunks_received=msg.chunks_received,
        underruns=msg.underruns,
        observations_dropped=msg.observations_dropped,
        inference_errors=msg.inference_errors,
        control_rate_hz=msg.control_rate_hz,
        inference_rate_hz=msg.inference_rate_hz,
        instruction_matched=msg.instruction_matched,
    )


def path_marker_to_msg(
    points_m: np.ndarray,
    stamp_s: float,
    frame_id: str,
    namespace: str = "policy_path",
    marker_id: int = 0,
    rgba: Sequence[float] = (0.1, 0.6, 1.0, 0.9),
    width_m: float = 0.005,
) -> Marker:
    """(N, 3) points [m] -> visualization_msgs/Marker LINE_STRIP (e.g. a predicted tool path)."""
    pts = np.asarray(points_m, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or not np.all(np.isfinite(pts)):
        raise ValueError(f"path points must be finite (N, 3), got {pts.shape}")
    marker = Marker(header=make_header(stamp_s, frame_id), ns=namespace, id=int(marker_id))
    marker.type = Marker.LINE_STRIP
    marker.action = Marker.ADD
    marker.pose.orientation.w = 1.0
    marker.scale.x = float(width_m)
    marker.color.r, marker.color.g, marker.color.b, marker.color.a = (float(c) for c in rgba)
    marker.points = [Point(x=p[0], y=p[1], z=p[2]) for p in pts.tolist()]
    return marker


def path_marker_from_msg(msg: Marker) -> np.ndarray:
    """visualization_msgs/Marker LINE_STRIP -> (N, 3) points [m]."""
    if msg.type != Marker.LINE_STRIP:
        raise ValueError(f"expected a LINE_STRIP marker, got type {msg.type}")
    pts = np.array([[p.x, p.y, p.z] for p in msg.points], dtype=np.float64).reshape(-1, 3)
    return _finite_vector(pts.reshape(-1), "marker points").reshape(-1, 3)


# ----------------------------------------------------------------------------- safety


def heartbeat_to_msg(
    stamp_s: float, source: str, sequence: int, status: int = 0, message: str = ""
) -> Heartbeat:
    """Liveness of a safety-relevant input -> vla_ros_msgs/Heartbeat."""
    if status not in (Heartbeat.STATUS_OK, Heartbeat.STATUS_DEGRADED, Heartbeat.STATUS_ERROR):
        raise ValueError(f"heartbeat status must be 0, 1 or 2, got {status}")
    return Heartbeat(
        header=make_header(stamp_s),
        source=source,
        sequence=int(sequence),
        status=int(status),
        message=message,
    )


def heartbeat_from_msg(msg: Heartbeat) -> tuple[float, str, int, int, str]:
    """vla_ros_msgs/Heartbeat -> (stamp_s, source, sequence, status, message)."""
    if msg.status not in (Heartbeat.STATUS_OK, Heartbeat.STATUS_DEGRADED, Heartbeat.STATUS_ERROR):
        raise ValueError(f"heartbeat has unknown status {msg.status}")
    return (
        stamp_to_seconds(msg.header.stamp),
        msg.source,
        int(msg.sequence),
        int(msg.status),
        msg.message,
    )


def safety_status_to_msg(status: SafetyStatusData, stamp_s: float) -> SafetyStatus:
    """Safety filter status -> vla_ros_msgs/SafetyStatus (inf is kept: "nobody seen")."""
    return SafetyStatus(
        header=make_header(stamp_s),
        state=int(status.state),
        speed_scale=float(status.speed_scale),
        min_separation_m=float(status.min_separation_m),
        protective_separation_m=float(status.protective_separation_m),
        min_obstacle_distance_m=float(status.min_obstacle_distance_m),
        reasons=list(status.reasons),
        estop_latched=bool(status.estop_latched),
        commands_received=int(status.commands_received),
        commands_passed=int(status.commands_passed),
        commands_modified=int(status.commands_modified),
        commands_rejected=int(status.commands_rejected),
        estop_count=int(status.estop_count),
    )


def safety_status_from_msg(msg: SafetyStatus) -> SafetyStatusData:
    """vla_ros_msgs/SafetyStatus -> SafetyStatusData (fields it lacks take their defaults)."""
    try:
        state = SafetyState(msg.state)
    except ValueError as exc:
        raise ValueError(f"unknown safety state {msg.state}") from exc
    return SafetyStatusData(
        state=state,
        speed_scale=msg.speed_scale,
        min_separation_m=msg.min_separation_m,
        protective_separation_m=msg.protective_separation_m,
        min_obstacle_distance_m=msg.min_obstacle_distance_m,
        reasons=tuple(msg.reasons),
        estop_latched=msg.estop_latched,
        commands_received=msg.commands_received,
        commands_passed=msg.commands_passed,
        commands_modified=msg.commands_modified,
        commands_rejected=msg.commands_rejected,
        estop_count=msg.estop_count,
    )


def diagnostic_to_msg(
    stamp_s: float,
    name: str,
    level: int,
    message: str,
    values: dict[str, str],
    hardware_id: str = "",
) -> DiagnosticArray:
    """One component's health -> diagnostic_msgs/DiagnosticArray with a single status."""
    if level not in (0, 1, 2, 3):
        raise ValueError(f"diagnostic level must be OK/WARN/ERROR/STALE (0-3), got {level}")
    status = DiagnosticStatus(
        level=bytes([level]),
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()],
    )
    return DiagnosticArray(header=make_header(stamp_s), status=[status])


def diagnostic_from_msg(msg: DiagnosticArray) -> list[tuple[str, int, str, dict[str, str]]]:
    """diagnostic_msgs/DiagnosticArray -> [(name, level, message, values)]."""
    out = []
    for status in msg.status:
        level = status.level if isinstance(status.level, int) else status.level[0]
        out.append(
            (status.name, int(level), status.message, {kv.key: kv.value for kv in status.values})
        )
    return out


def shape_marker_to_msg(
    shape: str,
    center_m: Sequence[float],
    size_m: Sequence[float],
    stamp_s: float,
    frame_id: str,
    namespace: str,
    marker_id: int,
    rgba: Sequence[float],
) -> Marker:
    """A CUBE or SPHERE marker: centre [m] and full extent along x, y, z [m]."""
    kinds = {"box": Marker.CUBE, "sphere": Marker.SPHERE}
    if shape not in kinds:
        raise ValueError(f"shape must be box or sphere, got {shape!r}")
    center = _finite_vector(center_m, "marker centre")
    size = _finite_vector(size_m, "marker size")
    if center.size != 3 or size.size != 3 or np.any(size <= 0):
        raise ValueError("marker centre and size need 3 values, sizes > 0")
    marker = Marker(header=make_header(stamp_s, frame_id), ns=namespace, id=int(marker_id))
    marker.type = kinds[shape]
    marker.action = Marker.ADD
    marker.pose.position = Point(x=center[0], y=center[1], z=center[2])
    marker.pose.orientation.w = 1.0
    marker.scale = Vector3(x=size[0], y=size[1], z=size[2])
    marker.color.r, marker.color.g, marker.color.b, marker.color.a = (float(c) for c in rgba)
    return marker


def shape_marker_from_msg(msg: Marker) -> tuple[str, np.ndarray, np.ndarray]:
    """CUBE or SPHERE marker -> (shape, centre (3,), size (3,))."""
    shapes = {Marker.CUBE: "box", Marker.SPHERE: "sphere"}
    if msg.type not in shapes:
        raise ValueError(f"expected a CUBE or SPHERE marker, got type {msg.type}")
    p, s = msg.pose.position, msg.scale
    return shapes[msg.type], np.array([p.x, p.y, p.z]), np.array([s.x, s.y, s.z])


def points_marker_to_msg(
    points_m: np.ndarray,
    radius_m: float,
    stamp_s: float,
    frame_id: str,
    namespace: str,
    marker_id: int,
    rgba: Sequence[float],
) -> Marker:
    """(N, 3) points [m] -> SPHERE_LIST marker (e.g. robot links in collision)."""
    pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
    if not np.all(np.isfinite(pts)):
        raise ValueError("marker points contain NaN or inf")
    marker = Marker(header=make_header(stamp_s, frame_id), ns=namespace, id=int(marker_id))
    marker.type = Marker.SPHERE_LIST
    marker.action = Marker.ADD
    marker.pose.orientation.w = 1.0
    marker.scale = Vector3(x=2 * radius_m, y=2 * radius_m, z=2 * radius_m)
    marker.color.r, marker.color.g, marker.color.b, marker.color.a = (float(c) for c in rgba)
    marker.points = [Point(x=p[0], y=p[1], z=p[2]) for p in pts.tolist()]
    return marker


def points_marker_from_msg(msg: Marker) -> np.ndarray:
    """SPHERE_LIST marker -> (N, 3) points [m]."""
    if msg.type != Marker.SPHERE_LIST:
        raise ValueError(f"expected a SPHERE_LIST marker, got type {msg.type}")
    return np.array([[p.x, p.y, p.z] for p in msg.points], dtype=np.float64).reshape(-1, 3)
