"""Channel 2: anything unexpected in depth inside the monitored volume around the robot.

A depth pixel is an intrusion when it is nearer than the learned static background, its
3D point lies inside the monitored volume, outside the configured static scene, and not on
the robot (self-filter at the current joint state). Intrusion points are clustered on a
voxel grid (26-connected components); each cluster reports its point nearest to the robot.
No learning beyond the per-pixel background: it sees whatever a detector would miss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Imported with the module, not at the first intrusion: a lazy import here stalled the
# detector for ~2.5 s on the first frame with a person in it (frames dropped meanwhile).
from scipy import ndimage

from vla_ros.core.perception.camera import CameraIntrinsics, check_depth_image, transform_points
from vla_ros.core.perception.geometry import (
    Box3,
    MonitoredVolume,
    RobotShapes,
    distance_to_robot,
    nearest_point_to_robot,
    voxel_lower_bounds,
)


@dataclass(frozen=True)
class DepthMonitorConfig:
    """Settings of the depth intrusion channel."""

    volume: MonitoredVolume = field(default_factory=MonitoredVolume)  # where to look, base frame
    static_boxes: tuple[Box3, ...] = ()  # known static scene (tables, fixtures), base frame
    static_padding_m: float = 0.03  # static boxes grow by this before points are dropped
    self_filter_padding_m: float = 0.05  # points this close to the robot shapes are the robot
    background_frames: int = 15  # frames averaged into the per-pixel background (0 = none)
    background_margin_m: float = 0.08  # a pixel must be this much nearer than the background
    background_margin_fraction: float = 0.02  # ... plus this fraction of its depth (noise grows)
    pixel_stride: int = 2  # use every n-th pixel in each direction (cost vs resolution)
    min_depth_m: float = 0.15  # nearer readings are sensor artefacts
    max_depth_m: float = 6.0  # farther readings are ignored
    voxel_size_m: float = 0.05  # clustering grid cell
    min_cluster_points: int = 30  # smaller clusters are noise (counted at the strided resolution)

    def __post_init__(self) -> None:
        for name in ("static_padding_m", "self_filter_padding_m", "background_margin_m"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"{name} must be >= 0")
        if not 0.0 <= self.background_margin_fraction < 1.0:
            raise ValueError("background_margin_fraction must be in [0, 1)")
        if self.background_frames < 0:
            raise ValueError("background_frames must be >= 0")
        if self.pixel_stride < 1:
            raise ValueError("pixel_stride must be >= 1")
        if not 0.0 <= self.min_depth_m < self.max_depth_m:
            raise ValueError("need 0 <= min_depth_m < max_depth_m")
        if self.voxel_size_m <= 0.0 or self.min_cluster_points < 1:
            raise ValueError("voxel_size_m must be > 0 and min_cluster_points >= 1")


@dataclass(frozen=True)
class Intrusion:
    """One cluster of unexplained depth points (base frame)."""

    nearest_point_m: np.ndarray  # (3,) point of the cluster nearest to the robot
    distance_to_robot_m: float  # from that point to the robot surface; +inf if robot unknown
    centroid_m: np.ndarray  # (3,) mean of the cluster
    extent_min_m: np.ndarray  # (3,) axis-aligned bounds of the cluster
    extent_max_m: np.ndarray  # (3,)
    num_points: int  # points in the cluster (at the strided resolution)
    pixel_box: tuple[int, int, int, int]  # (u_min, v_min, u_max, v_max) in the full image
    points_m: np.ndarray  # (N, 3) the cluster's points


class BackgroundModel:
    """Per-pixel depth of the static scene, learned over the first frames after start-up.

    The background is the per-pixel median over `num_frames` frames. Pixels that were never
    valid (no return: sky, far walls) have an infinite background, so anything that appears
    there counts as foreground. Whatever stands in view while learning becomes background,
    which is why the node reports itself degraded until learning is complete.
    """

    def __init__(self, num_frames: int) -> None:
        self.num_frames = num_frames
        self._frames: list[np.ndarray] = []
        self.depth_m: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        """True once learning is complete (always with num_frames = 0)."""
        return self.num_frames == 0 or self.depth_m is not None

    def reset(self) -> None:
        """Forget the background and learn again."""
        self._frames.clear()
        self.depth_m = None

    def add(self, depth_m: np.ndarray) -> None:
        """Feed one frame while learning (ignored once ready)."""
        if self.ready:
            return
        if self._frames and self._frames[0].shape != depth_m.shape:
            self._frames.clear()
        self._frames.append(np.array(depth_m, dtype=np.float32, copy=True))
        if len(self._frames) >= self.num_frames:
            stack = np.stack(self._frames)
            valid = np.isfinite(stack)
            counts = valid.sum(axis=0)
            filled = np.where(valid, stack, np.inf)
            # median of the valid readings; a pixel valid in under half the frames is unknown
            middle = np.clip((counts - 1) // 2, 0, None)[None]
            median = np.take_along_axis(np.sort(filled, axis=0), middle, axis=0)[0]
            median[counts * 2 < len(self._frames)] = np.inf
            self.depth_m = median.astype(np.float32)
            self._frames.clear()

    def foreground(
        self, depth_m: np.ndarray, margin_m: float, margin_fraction: float
    ) -> np.ndarray:
        """True where the depth is valid and nearer than the background by the margin."""
        valid = np.isfinite(depth_m)
        if self.depth_m is None or self.depth_m.shape != depth_m.shape:
            return valid
        threshold = foreground_threshold(self.depth_m, margin_m, margin_fraction)
        with np.errstate(invalid="ignore"):
            return valid & (depth_m < threshold)


def foreground_threshold(
    background_m: np.ndarray, margin_m: float, margin_fraction: float
) -> np.ndarray:
    """Depth below which a reading is nearer than the background by the margin; +inf where
    the background is unknown (anything there is foreground)."""
    known = np.isfinite(background_m)
    background = np.where(known, background_m, 0.0)
    return np.where(known, background - (margin_m + margin_fraction * background), np.inf)


def cluster_points(points_m: np.ndarray, voxel_size_m: float, min_points: int) -> list[np.ndarray]:
    """Indices of each cluster: voxel grid + 26-connected components, small clusters dropped."""
    pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
    if pts.shape[0] < min_points:
        return []
    cells = np.floor(pts / voxel_size_m).astype(np.int64)
    lo = cells.min(axis=0)
    cells -= lo
    shape = tuple(int(v) + 1 for v in cells.max(axis=0))
    if math.prod(shape) > 20_000_000:
        raise ValueError(f"clustering grid {shape} too large: check voxel_size_m and the volume")
    grid = np.zeros(shape, dtype=bool)
    grid[cells[:, 0], cells[:, 1], cells[:, 2]] = True
    labels, count = ndimage.label(grid, structure=np.ones((3, 3, 3), dtype=bool))
    point_labels = labels[cells[:, 0], cells[:, 1], cells[:, 2]]
    sizes = np.bincount(point_labels, minlength=count + 1)
    order = np.argsort(point_labels, kind="stable")
    bounds = np.cumsum(sizes)
    out = []
    for label in range(1, count + 1):
        if sizes[label] >= min_points:
            out.append(order[bounds[label - 1] : bounds[label]])
    return out


class DepthIntrusionDetector:
    """Finds unexplained objects (people included) in depth images; one instance per camera."""

    def __init__(self, config: DepthMonitorConfig | None = None) -> None:
        self.config = config or DepthMonitorConfig()
        self.background = BackgroundModel(self.config.background_frames)
        self._pixel_grid: tuple[tuple[int, int], np.ndarray, np.ndarray] | None = None

    def _grid(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        if self._pixel_grid is None or self._pixel_grid[0] != shape:
            s = self.config.pixel_stride
            v, u = np.mgrid[0 : shape[0] : s, 0 : shape[1] : s]
            self._pixel_grid = (shape, u, v)
        return self._pixel_grid[1], self._pixel_grid[2]

    def is_background(self, pixels_uv: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
        """Per full-resolution pixel (column, row) and its depth: True where the learned
        background is known there and the depth is not nearer than it by the margin (the
        static scene, or where something has left). All False until the background is ready."""
        uv = np.asarray(pixels_uv, dtype=np.int64).reshape(-1, 2)
        z = np.asarray(depth_m, dtype=np.float64).reshape(-1)
        background = self.background.depth_m
        if background is None or uv.shape[0] == 0:
            return np.zeros(uv.shape[0], dtype=bool)
        s = self.config.pixel_stride
        rows = np.clip(uv[:, 1] // s, 0, background.shape[0] - 1)
        cols = np.clip(uv[:, 0] // s, 0, background.shape[1] - 1)
        cfg = self.config
        threshold = foreground_threshold(
            background[rows, cols].astype(np.float64),
            cfg.background_margin_m,
            cfg.background_margin_fraction,
        )
        return np.isfinite(threshold) & (z >= threshold)

    def update(
        self,
        depth_m: np.ndarray,
        intrinsics: CameraIntrinsics,
        base_from_camera: np.ndarray,
        robot: RobotShapes,
    ) -> list[Intrusion]:
        """One depth frame -> intrusions (base frame). Learns the background first."""
        cfg = self.config
        depth = check_depth_image(depth_m, intrinsics)
        s = cfg.pixel_stride
        sub = depth[::s, ::s]
        with np.errstate(invalid="ignore"):
            sub = np.where((sub >= cfg.min_depth_m) & (sub <= cfg.max_depth_m), sub, np.nan)
        if not self.background.ready:
            # while learning, every pixel would be "foreground": report nothing rather than
            # the whole cell; the node reports itself degraded until learning completes
            self.background.add(sub)
            return []
        fg = self.background.foreground(
            sub, cfg.background_margin_m, cfg.background_margin_fraction
        )
        u_grid, v_grid = self._grid(depth.shape)
        u, v, z = u_grid[fg], v_grid[fg], sub[fg]
        pts = transform_points(base_from_camera, intrinsics.backproject(u, v, z))
        keep = cfg.volume.contains(pts)
        for box in cfg.static_boxes:
            keep &= ~box.contains(pts, cfg.static_padding_m)
        u, v, pts = u[keep], v[keep], pts[keep]
        # exact distances only where a per-voxel lower bound says they can matter: the
        # self-filter needs points near the robot, each cluster only its nearest candidates
        bound_cell_m = cfg.voxel_size_m / 2.0
        lower = voxel_lower_bounds(pts, robot, bound_cell_m)
        near = lower <= cfg.self_filter_padding_m
        robot_points = np.zeros(pts.shape[0], dtype=bool)
        robot_points[near] = distance_to_robot(pts[near], robot) <= cfg.self_filter_padding_m
        keep = ~robot_points
        u, v, pts = u[keep], v[keep], pts[keep]
        out = []
        for idx in cluster_points(pts, cfg.voxel_size_m, cfg.min_cluster_points):
            cpts = pts[idx]
            i, distance = nearest_point_to_robot(cpts, robot, bound_cell_m)
            if robot.empty:
                i = int(np.argmin(cpts[:, 2]))
            cu, cv = u[idx], v[idx]
            out.append(
                Intrusion(
                    nearest_point_m=cpts[i].copy(),
                    distance_to_robot_m=distance,
                    centroid_m=cpts.mean(axis=0),
                    extent_min_m=cpts.min(axis=0),
                    extent_max_m=cpts.max(axis=0),
                    num_points=len(idx),
                    pixel_box=(int(cu.min()), int(cv.min()), int(cu.max()) + s, int(cv.max()) + s),
                    points_m=cpts,
                )
            )
        out.sort(key=lambda item: item.distance_to_robot_m)
        return out
