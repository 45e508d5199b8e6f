"""Synthetic RGB-D scenes for the perception tests: exact ray casting of boxes and spheres."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from vla_ros.core.perception.camera import CameraIntrinsics, look_at_extrinsics
from vla_ros.core.perception.geometry import Box3, RobotShapes

FLOOR_Z = -0.8
TABLE = Box3(center_m=(0.2, 0.0, -0.4), size_m=(1.0, 1.2, 0.8))
FLOOR = Box3(center_m=(0.0, 0.0, FLOOR_Z - 0.05), size_m=(20.0, 20.0, 0.1))
PERSON = Box3(center_m=(0.45, -0.85, 0.1), size_m=(0.3, 0.3, 1.8))  # floor to 1.0 m


def camera(width_px: int = 320, height_px: int = 240) -> tuple[CameraIntrinsics, np.ndarray]:
    """The cell camera: intrinsics and base_from_camera."""
    intrinsics = CameraIntrinsics.from_fov(width_px, height_px, np.deg2rad(60.0))
    return intrinsics, look_at_extrinsics((1.8, 0.0, 1.2), (0.0, -0.3, 0.2))


def robot_pose(name: str) -> RobotShapes:
    """A two-segment arm on the table as spheres along its links (radius 6 cm)."""
    joints = {
        "home": [(0.0, 0.0, 0.0), (0.0, 0.0, 0.4), (0.3, 0.0, 0.6)],
        "reach": [(0.0, 0.0, 0.0), (0.0, 0.0, 0.4), (0.2, -0.3, 0.45)],
    }[name]
    centers = []
    for a, b in itertools.pairwise(joints):
        for t in np.linspace(0.0, 1.0, 6):
            centers.append((1 - t) * np.asarray(a) + t * np.asarray(b))
    return RobotShapes.from_link_points(np.asarray(centers), radius_m=0.06)


@dataclass
class Scene:
    """Boxes and spheres in the base frame; render() gives depth (z along the optical axis)."""

    boxes: list[Box3] = field(default_factory=list)
    robot: RobotShapes | None = None

    def render(
        self,
        intrinsics: CameraIntrinsics,
        base_from_camera: np.ndarray,
        noise_m: float = 0.0,
        seed: int = 0,
    ) -> np.ndarray:
        v, u = np.mgrid[0 : intrinsics.height_px, 0 : intrinsics.width_px]
        rays_cam = intrinsics.backproject(u.ravel(), v.ravel(), np.ones(u.size))  # z = 1
        rot, origin = base_from_camera[:3, :3], base_from_camera[:3, 3]
        rays = rays_cam @ rot.T  # t along these rays is the optical depth
        best = np.full(u.size, np.inf)
        for box in self.boxes:
            lo = np.asarray(box.center_m) - np.asarray(box.size_m) / 2
            hi = np.asarray(box.center_m) + np.asarray(box.size_m) / 2
            with np.errstate(divide="ignore", invalid="ignore"):
                t0 = (lo - origin) / rays
                t1 = (hi - origin) / rays
            t_near = np.nanmax(np.minimum(t0, t1), axis=1)
            t_far = np.nanmin(np.maximum(t0, t1), axis=1)
            hit = (t_near <= t_far) & (t_far > 0)
            best = np.where(hit & (t_near > 0) & (t_near < best), t_near, best)
        if self.robot is not None:
            oc = origin - self.robot.sphere_centers_m  # (S, 3)
            a = np.einsum("nd,nd->n", rays, rays)[:, None]
            b = 2 * rays @ oc.T
            c = np.einsum("sd,sd->s", oc, oc)[None, :] - self.robot.sphere_radii_m[None, :] ** 2
            disc = b * b - 4 * a * c
            with np.errstate(invalid="ignore"):
                t = (-b - np.sqrt(disc)) / (2 * a)
            t = np.where((disc >= 0) & (t > 0), t, np.inf).min(axis=1)
            best = np.minimum(best, t)
        depth = best.reshape(u.shape).astype(np.float32)
        if noise_m > 0:
            depth += np.random.default_rng(seed).normal(0, noise_m, depth.shape).astype(np.float32)
        depth[~np.isfinite(depth)] = np.nan
        return depth


def static_scene() -> list[Box3]:
    """Floor and table."""
    return [FLOOR, TABLE]


def box_distance_to_robot(box: Box3, robot: RobotShapes) -> float:
    """Exact distance between an axis-aligned box and the robot spheres."""
    lo = np.asarray(box.center_m) - np.asarray(box.size_m) / 2
    hi = np.asarray(box.center_m) + np.asarray(box.size_m) / 2
    c = robot.sphere_centers_m
    gap = np.maximum(np.maximum(lo - c, 0.0), c - hi)
    return float((np.linalg.norm(gap, axis=1) - robot.sphere_radii_m).min())
