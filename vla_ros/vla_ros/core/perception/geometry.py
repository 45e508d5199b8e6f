"""Robot links as spheres and capsules, point-to-robot distances, and the monitored volume."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _points(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).reshape(-1, 3)


@dataclass(frozen=True)
class RobotShapes:
    """The robot at one joint state, approximated by spheres and capsules in the base frame."""

    sphere_centers_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (S, 3)
    sphere_radii_m: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (S,)
    capsule_starts_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (C, 3)
    capsule_ends_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (C, 3)
    capsule_radii_m: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (C,)

    def __post_init__(self) -> None:
        centers = _points(self.sphere_centers_m)
        radii = np.asarray(self.sphere_radii_m, dtype=np.float64).reshape(-1)
        starts, ends = _points(self.capsule_starts_m), _points(self.capsule_ends_m)
        c_radii = np.asarray(self.capsule_radii_m, dtype=np.float64).reshape(-1)
        if centers.shape[0] != radii.size:
            raise ValueError(f"{centers.shape[0]} sphere centres but {radii.size} radii")
        if not starts.shape == ends.shape or starts.shape[0] != c_radii.size:
            raise ValueError("capsule starts, ends and radii must have matching lengths")
        for arr in (centers, radii, starts, ends, c_radii):
            if not np.all(np.isfinite(arr)):
                raise ValueError("robot shapes must be finite")
        if np.any(radii < 0.0) or np.any(c_radii < 0.0):
            raise ValueError("radii must be >= 0")
        object.__setattr__(self, "sphere_centers_m", centers)
        object.__setattr__(self, "sphere_radii_m", radii)
        object.__setattr__(self, "capsule_starts_m", starts)
        object.__setattr__(self, "capsule_ends_m", ends)
        object.__setattr__(self, "capsule_radii_m", c_radii)

    @classmethod
    def from_link_points(cls, points_m: np.ndarray, radius_m: float | np.ndarray) -> RobotShapes:
        """Spheres at points along the links (RobotModel.link_points, link_point_radii_m)."""
        pts = _points(points_m)
        radii = np.broadcast_to(np.asarray(radius_m, dtype=np.float64), (pts.shape[0],))
        return cls(sphere_centers_m=pts, sphere_radii_m=radii.copy())

    def with_spheres(self, centers_m: np.ndarray, radii_m: float | np.ndarray) -> RobotShapes:
        """These shapes plus extra spheres (e.g. an object held in the gripper)."""
        centers = _points(centers_m)
        radii = np.broadcast_to(np.asarray(radii_m, dtype=np.float64), (centers.shape[0],))
        return RobotShapes(
            sphere_centers_m=np.vstack([self.sphere_centers_m, centers]),
            sphere_radii_m=np.concatenate([self.sphere_radii_m, radii]),
            capsule_starts_m=self.capsule_starts_m,
            capsule_ends_m=self.capsule_ends_m,
            capsule_radii_m=self.capsule_radii_m,
        )

    @property
    def empty(self) -> bool:
        """True when there is no shape at all (robot unknown)."""
        return self.sphere_radii_m.size == 0 and self.capsule_radii_m.size == 0


def distance_to_robot(points_m: np.ndarray, shapes: RobotShapes) -> np.ndarray:
    """Distance of each point to the nearest robot surface (< 0 inside); +inf without shapes."""
    pts = _points(points_m)
    best = np.full(pts.shape[0], np.inf)
    if pts.shape[0] == 0:
        return best
    if shapes.sphere_radii_m.size:
        # per-axis accumulation: no (N, S, 3) temporary, and no BLAS call, which is slow for
        # an inner dimension of 3 and competes for cores with the rest of the node
        c = shapes.sphere_centers_m
        sq = np.square(pts[:, 0, None] - c[None, :, 0])
        sq += np.square(pts[:, 1, None] - c[None, :, 1])
        sq += np.square(pts[:, 2, None] - c[None, :, 2])
        d = np.sqrt(np.maximum(sq, 0.0)) - shapes.sphere_radii_m[None, :]
        best = np.minimum(best, d.min(axis=1))
    if shapes.capsule_radii_m.size:
        a, b = shapes.capsule_starts_m, shapes.capsule_ends_m
        ab = b - a
        ab_sq = np.einsum("kd,kd->k", ab, ab)
        ap = pts[:, None, :] - a[None, :, :]
        t = np.einsum("nkd,kd->nk", ap, ab) / np.where(ab_sq > 0.0, ab_sq, 1.0)[None, :]
        t = np.clip(t, 0.0, 1.0)
        closest = a[None, :, :] + t[:, :, None] * ab[None, :, :]
        diff = pts[:, None, :] - closest
        d = np.sqrt(np.einsum("nkd,nkd->nk", diff, diff)) - shapes.capsule_radii_m[None, :]
        best = np.minimum(best, d.min(axis=1))
    return best


def _voxel_representatives(
    pts: np.ndarray, shapes: RobotShapes, cell_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exact distance of each voxel's first point, that point's index, voxel of each point)."""
    cells = np.floor(pts / cell_m).astype(np.int64)
    cells -= cells.min(axis=0)
    dims = cells.max(axis=0) + 1
    keys = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return distance_to_robot(pts[first], shapes), first, inverse.reshape(-1)


def voxel_lower_bounds(points_m: np.ndarray, shapes: RobotShapes, cell_m: float) -> np.ndarray:
    """A lower bound of each point's distance to the robot from one exact value per voxel.

    The distance is 1-Lipschitz, so every point of a voxel is at least the distance of the
    voxel's first point minus the voxel diagonal. Cuts the cost of dense clouds ~100x.
    """
    pts = _points(points_m)
    if pts.shape[0] == 0 or shapes.empty:
        return np.full(pts.shape[0], np.inf)
    representative, _, voxel = _voxel_representatives(pts, shapes, cell_m)
    return representative[voxel] - math.sqrt(3.0) * cell_m


def nearest_point_to_robot(
    points_m: np.ndarray, shapes: RobotShapes, cell_m: float
) -> tuple[int, float]:
    """(index, distance) of the point nearest to the robot; exact, without a dense N x S pass.

    The best voxel representative bounds the answer from above; only voxels whose lower
    bound is below it can hold a nearer point, and only their points are evaluated.
    """
    pts = _points(points_m)
    if pts.shape[0] == 0:
        raise ValueError("nearest_point_to_robot needs at least one point")
    if shapes.empty:
        return 0, math.inf
    representative, _, voxel = _voxel_representatives(pts, shapes, cell_m)
    bound = float(representative.min())
    candidates = np.flatnonzero(representative[voxel] - math.sqrt(3.0) * cell_m <= bound)
    dist = distance_to_robot(pts[candidates], shapes)
    best = int(np.argmin(dist))
    return int(candidates[best]), float(dist[best])


def self_filter_mask(points_m: np.ndarray, shapes: RobotShapes, padding_m: float) -> np.ndarray:
    """True for points that belong to the robot: within `padding_m` of its padded shapes."""
    if padding_m < 0.0:
        raise ValueError(f"padding_m must be >= 0, got {padding_m}")
    return distance_to_robot(points_m, shapes) <= padding_m


@dataclass(frozen=True)
class Box3:
    """An oriented-with-the-base-frame box, used for the static scene (tables, fixtures)."""

    center_m: tuple[float, float, float]  # box centre in the base frame
    size_m: tuple[float, float, float]  # full extents along base x, y, z

    def __post_init__(self) -> None:
        if len(self.center_m) != 3 or len(self.size_m) != 3:
            raise ValueError("box centre and size need 3 values each")
        if not all(math.isfinite(v) for v in (*self.center_m, *self.size_m)):
            raise ValueError("box must be finite")
        if any(s <= 0.0 for s in self.size_m):
            raise ValueError(f"box size must be positive, got {self.size_m}")

    def contains(self, points_m: np.ndarray, padding_m: float = 0.0) -> np.ndarray:
        """True for points inside the box grown by `padding_m` on every side."""
        half = np.asarray(self.size_m) / 2.0 + padding_m
        return np.all(np.abs(_points(points_m) - np.asarray(self.center_m)) <= half, axis=1)


@dataclass(frozen=True)
class MonitoredVolume:
    """The region around the robot where any unexplained depth point is an intrusion.

    shape "box": `size_m` (sx, sy, sz) centred at `center_m`. shape "cylinder": vertical axis
    through `center_m`, `radius_m`, height `size_m[2]` centred at `center_m[2]`.
    """

    shape: str = "cylinder"  # box | cylinder
    center_m: tuple[float, float, float] = (0.0, 0.0, 0.3)  # centre in the base frame
    size_m: tuple[float, float, float] = (3.0, 3.0, 2.0)  # box extents; cylinder uses size_m[2]
    radius_m: float = 1.5  # cylinder radius

    def __post_init__(self) -> None:
        if self.shape not in ("box", "cylinder"):
            raise ValueError(f"monitored volume shape must be box or cylinder, got '{self.shape}'")
        if len(self.center_m) != 3 or len(self.size_m) != 3:
            raise ValueError("center_m and size_m need 3 values each")
        if any(s <= 0.0 for s in self.size_m) or self.radius_m <= 0.0:
            raise ValueError("monitored volume sizes must be positive")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitoredVolume:
        """From YAML: {shape, center_m: [x, y, z], size_m: [sx, sy, sz], radius_m}."""
        known = {"shape", "center_m", "size_m", "radius_m"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown monitored volume keys {sorted(unknown)}")
        kwargs: dict[str, Any] = dict(data)
        for key in ("center_m", "size_m"):
            if key in kwargs:
                kwargs[key] = tuple(float(v) for v in kwargs[key])
        return cls(**kwargs)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned (min corner, max corner) in the base frame."""
        c = np.asarray(self.center_m, dtype=np.float64)
        if self.shape == "box":
            half = np.asarray(self.size_m) / 2.0
        else:
            half = np.array([self.radius_m, self.radius_m, self.size_m[2] / 2.0])
        return c - half, c + half

    def contains(self, points_m: np.ndarray) -> np.ndarray:
        """True for points inside the volume."""
        pts = _points(points_m)
        lo, hi = self.bounds()
        inside = np.all((pts >= lo) & (pts <= hi), axis=1)
        if self.shape == "cylinder":
            dxy = pts[:, :2] - np.asarray(self.center_m[:2])
            inside &= np.einsum("nd,nd->n", dxy, dxy) <= self.radius_m**2
        return inside


def boxes_from_config(items: Sequence[dict[str, Any]]) -> tuple[Box3, ...]:
    """Static scene boxes from YAML: [{center_m: [x, y, z], size_m: [sx, sy, sz]}, ...]."""
    out = []
    for item in items:
        unknown = set(item) - {"center_m", "size_m", "name"}
        if unknown:
            raise ValueError(f"unknown static box keys {sorted(unknown)}")
        out.append(
            Box3(
                center_m=tuple(float(v) for v in item["center_m"]),  # type: ignore[arg-type]
                size_m=tuple(float(v) for v in item["size_m"]),  # type: ignore[arg-type]
            )
        )
    return tuple(out)
