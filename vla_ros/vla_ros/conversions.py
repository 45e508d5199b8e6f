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
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, Header, MultiArrayDimension
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

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
