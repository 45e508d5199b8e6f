"""Pinhole camera intrinsics, depth back-projection and camera extrinsics (YAML or URDF)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole model of one image stream (distortion is ignored: rectified images expected)."""

    width_px: int  # image width
    height_px: int  # image height
    fx_px: float  # focal length along x
    fy_px: float  # focal length along y
    cx_px: float  # principal point x
    cy_px: float  # principal point y

    def __post_init__(self) -> None:
        if self.width_px <= 0 or self.height_px <= 0:
            raise ValueError(f"image size must be positive, got {self.width_px}x{self.height_px}")
        values = (self.fx_px, self.fy_px, self.cx_px, self.cy_px)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"intrinsics must be finite, got {values}")
        if self.fx_px <= 0.0 or self.fy_px <= 0.0:
            raise ValueError(f"focal lengths must be positive, got {self.fx_px}, {self.fy_px}")

    @classmethod
    def from_k(
        cls, k: Sequence[float] | np.ndarray, width_px: int, height_px: int
    ) -> CameraIntrinsics:
        """From a row-major 3x3 K (9 values, as in sensor_msgs/CameraInfo.k)."""
        k_arr = np.asarray(k, dtype=np.float64).reshape(-1)
        if k_arr.size != 9:
            raise ValueError(f"K must have 9 values, got {k_arr.size}")
        return cls(
            width_px=int(width_px),
            height_px=int(height_px),
            fx_px=float(k_arr[0]),
            fy_px=float(k_arr[4]),
            cx_px=float(k_arr[2]),
            cy_px=float(k_arr[5]),
        )

    @classmethod
    def from_fov(cls, width_px: int, height_px: int, vertical_fov_rad: float) -> CameraIntrinsics:
        """Square pixels, principal point at the centre (how renderers such as MuJoCo work)."""
        f = 0.5 * height_px / math.tan(0.5 * vertical_fov_rad)
        return cls(width_px, height_px, f, f, (width_px - 1) / 2.0, (height_px - 1) / 2.0)

    def k_matrix(self) -> np.ndarray:
        """The 3x3 camera matrix."""
        return np.array(
            [[self.fx_px, 0.0, self.cx_px], [0.0, self.fy_px, self.cy_px], [0.0, 0.0, 1.0]]
        )

    def scaled(self, factor: float) -> CameraIntrinsics:
        """Intrinsics of the same camera after resizing the image by `factor`."""
        return CameraIntrinsics(
            width_px=max(1, round(self.width_px * factor)),
            height_px=max(1, round(self.height_px * factor)),
            fx_px=self.fx_px * factor,
            fy_px=self.fy_px * factor,
            cx_px=(self.cx_px + 0.5) * factor - 0.5,
            cy_px=(self.cy_px + 0.5) * factor - 0.5,
        )

    def backproject(self, u_px: np.ndarray, v_px: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
        """Pixels with depth (z along the optical axis) -> (N, 3) points in the optical frame."""
        z = np.asarray(depth_m, dtype=np.float64)
        x = (np.asarray(u_px, dtype=np.float64) - self.cx_px) / self.fx_px * z
        y = (np.asarray(v_px, dtype=np.float64) - self.cy_px) / self.fy_px * z
        return np.stack([x, y, z], axis=-1)

    def project(self, points_m: np.ndarray) -> np.ndarray:
        """(N, 3) optical-frame points -> (N, 2) pixel coordinates (u, v); z must be > 0."""
        pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
        z = pts[:, 2]
        return np.stack(
            [pts[:, 0] / z * self.fx_px + self.cx_px, pts[:, 1] / z * self.fy_px + self.cy_px],
            axis=-1,
        )


def check_depth_image(depth_m: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """The depth image as float32 metres (NaN = invalid) after checking it fits `intrinsics`."""
    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        raise ValueError(f"depth image must be 2D, got shape {depth.shape}")
    if depth.shape != (intrinsics.height_px, intrinsics.width_px):
        raise ValueError(
            f"depth image {depth.shape[1]}x{depth.shape[0]} does not match the camera info "
            f"{intrinsics.width_px}x{intrinsics.height_px}"
        )
    return depth.astype(np.float32, copy=False)


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 homogeneous transform to (N, 3) points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return pts @ transform[:3, :3].T + transform[:3, 3]


def quaternion_to_matrix(quaternion_xyzw: Sequence[float]) -> np.ndarray:
    """Unit quaternion (x, y, z, w) -> 3x3 rotation matrix (normalised first)."""
    q = np.asarray(quaternion_xyzw, dtype=np.float64).reshape(-1)
    if q.size != 4 or not np.all(np.isfinite(q)):
        raise ValueError(f"quaternion must be 4 finite values (x, y, z, w), got {q.tolist()}")
    norm = float(np.linalg.norm(q))
    if norm < 1e-9:
        raise ValueError("quaternion has zero norm")
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def rpy_to_matrix(rpy_rad: Sequence[float]) -> np.ndarray:
    """URDF roll-pitch-yaw (fixed axes x, y, z) -> 3x3 rotation matrix."""
    roll, pitch, yaw = (float(a) for a in rpy_rad)
    cr, sr, cp, sp = math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def pose_matrix(translation_m: Sequence[float], rotation: np.ndarray) -> np.ndarray:
    """4x4 homogeneous transform from a translation and a 3x3 rotation."""
    t = np.asarray(translation_m, dtype=np.float64).reshape(-1)
    if t.size != 3 or not np.all(np.isfinite(t)):
        raise ValueError(f"translation must be 3 finite values, got {t.tolist()}")
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = t
    return out


def extrinsics_from_xyz_quaternion(
    translation_m: Sequence[float], quaternion_xyzw: Sequence[float]
) -> np.ndarray:
    """base_T_camera_optical from a YAML translation and quaternion."""
    return pose_matrix(translation_m, quaternion_to_matrix(quaternion_xyzw))


def look_at_extrinsics(
    eye_m: Sequence[float], target_m: Sequence[float], up: Sequence[float] = (0.0, 0.0, 1.0)
) -> np.ndarray:
    """Pose of the optical frame of a camera at `eye` looking at `target` (z forward, y down)."""
    eye = np.asarray(eye_m, dtype=np.float64)
    z_axis = np.asarray(target_m, dtype=np.float64) - eye
    z_axis /= np.linalg.norm(z_axis)
    x_axis = np.cross(z_axis, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(x_axis) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to 'up'")
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(z_axis, x_axis)
    return pose_matrix(eye.tolist(), np.stack([x_axis, y_axis, z_axis], axis=1))


def urdf_fixed_transform(urdf_path: str | Path, base_frame: str, child_frame: str) -> np.ndarray:
    """parent_T_child through a chain of fixed URDF joints (a camera bolted to the cell).

    Raises ValueError when the chain contains a moving joint: such a camera moves with the
    robot, and its pose must come from forward kinematics at the current joint state.
    """
    root = ET.parse(str(urdf_path)).getroot()
    by_child: dict[str, ET.Element] = {}
    for joint in root.iter("joint"):
        child = joint.find("child")
        if child is not None:
            by_child[child.attrib["link"]] = joint
    transform = np.eye(4)
    frame = child_frame
    visited = 0
    while frame != base_frame:
        found = by_child.get(frame)
        if found is None:
            raise ValueError(f"no URDF joint chain from '{base_frame}' to '{child_frame}'")
        joint = found
        if joint.attrib.get("type") != "fixed":
            raise ValueError(
                f"joint '{joint.attrib.get('name')}' between '{base_frame}' and '{child_frame}' "
                f"is {joint.attrib.get('type')}: the camera pose depends on the joint state"
            )
        origin = joint.find("origin")
        xyz = [0.0, 0.0, 0.0]
        rpy = [0.0, 0.0, 0.0]
        if origin is not None:
            xyz = [float(v) for v in origin.attrib.get("xyz", "0 0 0").split()]
            rpy = [float(v) for v in origin.attrib.get("rpy", "0 0 0").split()]
        transform = pose_matrix(xyz, rpy_to_matrix(rpy)) @ transform
        parent_link = joint.find("parent")
        if parent_link is None:
            raise ValueError(f"URDF joint '{joint.attrib.get('name')}' has no parent")
        frame = parent_link.attrib["link"]
        visited += 1
        if visited > 1000:
            raise ValueError("URDF joint chain has a loop")
    return transform
