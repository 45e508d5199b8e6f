"""Both perception channels, fused and tracked: one call per synchronised RGB-D frame."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from vla_ros.core.perception.camera import CameraIntrinsics, transform_points
from vla_ros.core.perception.depth_monitor import (
    DepthIntrusionDetector,
    DepthMonitorConfig,
    Intrusion,
)
from vla_ros.core.perception.detectors import PersonBox, PersonDetector
from vla_ros.core.perception.geometry import RobotShapes, distance_to_robot
from vla_ros.core.perception.lifting import LiftConfig, lift_box
from vla_ros.core.perception.tracker import PersonTracker, TrackerConfig

# values of HumanDetection.source (the message constants, repeated so the core stays ROS-free)
SOURCE_RGB = 0
SOURCE_DEPTH = 1
SOURCE_FUSED = 2


@dataclass(frozen=True)
class PerceptionConfig:
    """Settings of the whole perception pipeline."""

    lift: LiftConfig = field(default_factory=LiftConfig)  # box -> 3D
    depth: DepthMonitorConfig = field(default_factory=DepthMonitorConfig)  # intrusion channel
    tracker: TrackerConfig = field(default_factory=TrackerConfig)  # ids and velocities
    fuse_distance_m: float = 0.5  # an RGB person and a depth cluster this close are one person
    depth_confidence_points: int = 200  # a cluster with this many points has confidence 1
    detector_every_n_frames: int = 1  # run the RGB detector on every n-th frame (cost)
    rgb_only_uncertainty_m: float = 0.3  # 1-sigma added when only the RGB channel saw a person

    def __post_init__(self) -> None:
        if self.fuse_distance_m < 0.0 or self.rgb_only_uncertainty_m < 0.0:
            raise ValueError("fuse_distance_m and rgb_only_uncertainty_m must be >= 0")
        if self.depth_confidence_points < 1 or self.detector_every_n_frames < 1:
            raise ValueError("depth_confidence_points and detector_every_n_frames must be >= 1")


@dataclass(frozen=True)
class PerceptionFrame:
    """One synchronised input: colour and aligned depth from the same camera."""

    stamp_s: float  # capture time
    rgb: np.ndarray  # (H, W, 3) uint8
    depth_m: np.ndarray  # (H, W) float32 metres, NaN = invalid
    intrinsics: CameraIntrinsics  # of both images (depth registered to colour)
    base_from_camera: np.ndarray  # 4x4 pose of the optical frame in the robot base frame
    robot: RobotShapes  # the robot at this frame's joint state (empty if unknown)


@dataclass(frozen=True)
class HumanEstimate:
    """One person or unexplained intrusion, in the robot base frame."""

    track_id: int  # tracker id
    position_m: np.ndarray  # (3,) nearest point to the robot
    velocity_m_s: np.ndarray  # (3,)
    position_uncertainty_m: float  # 1-sigma radius
    distance_to_robot_m: float  # +inf when unknown
    box: PersonBox | None  # 2D box in the colour image, if the RGB channel saw it
    confidence: float  # [0, 1]
    source: int  # SOURCE_RGB, SOURCE_DEPTH or SOURCE_FUSED


@dataclass(frozen=True)
class PerceptionResult:
    """Everything seen in one frame, plus what the debug outputs need."""

    stamp_s: float  # capture time of the frame
    humans: tuple[HumanEstimate, ...]  # sorted by distance to the robot
    rgb_boxes: tuple[PersonBox, ...]  # raw detector output
    intrusions: tuple[Intrusion, ...]  # raw depth clusters
    background_ready: bool  # False while the depth background is still being learned
    rgb_without_depth: int  # people the detector saw where depth was missing
    timings_ms: dict[str, float]  # per-stage latency

    @property
    def min_distance_to_robot_m(self) -> float:
        """Smallest distance of anything seen; +inf when nothing is."""
        return min((h.distance_to_robot_m for h in self.humans), default=math.inf)


@dataclass
class _Candidate:
    position_m: np.ndarray
    distance_m: float
    sigma_m: float
    box: PersonBox | None
    confidence: float
    source: int


class HumanPerception:
    """RGB detector + depth intrusion monitor + fusion + tracker. Not thread-safe."""

    def __init__(
        self, detector: PersonDetector | None, config: PerceptionConfig | None = None
    ) -> None:
        self.config = config or PerceptionConfig()
        self.detector = detector
        self.depth_monitor = DepthIntrusionDetector(self.config.depth)
        self.tracker = PersonTracker(self.config.tracker)
        self._frame_count = 0
        self._last_boxes: list[PersonBox] = []

    def _rgb_candidates(
        self, frame: PerceptionFrame, boxes: list[PersonBox]
    ) -> tuple[list[_Candidate], int]:
        out, without_depth = [], 0
        for box in boxes:
            lifted = lift_box(box, frame.depth_m, frame.intrinsics, self.config.lift)
            if lifted is None:
                without_depth += 1
                continue
            pts = transform_points(frame.base_from_camera, lifted.points_m)
            dist = distance_to_robot(pts, frame.robot)
            i = (
                int(np.argmin(dist))
                if np.isfinite(dist).any()
                else int(np.argmin(lifted.points_m[:, 2]))
            )
            out.append(
                _Candidate(
                    position_m=pts[i],
                    distance_m=float(dist[i]),
                    sigma_m=max(lifted.depth_spread_m, 0.02),
                    box=box,
                    confidence=box.confidence,
                    source=SOURCE_RGB,
                )
            )
        return out, without_depth

    def _fuse(self, rgb: list[_Candidate], intrusions: list[Intrusion]) -> list[_Candidate]:
        cfg = self.config
        fused: list[_Candidate] = []
        used: set[int] = set()
        for cand in rgb:
            best, best_d = -1, math.inf
            for j, intr in enumerate(intrusions):
                if j in used:
                    continue
                # an RGB person matches a cluster that contains points near its nearest point
                d = float(np.min(np.linalg.norm(intr.points_m - cand.position_m, axis=1)))
                if d < best_d:
                    best, best_d = j, d
            if best >= 0 and best_d <= cfg.fuse_distance_m:
                used.add(best)
                intr = intrusions[best]
                nearer_is_depth = intr.distance_to_robot_m < cand.distance_m
                fused.append(
                    _Candidate(
                        position_m=intr.nearest_point_m if nearer_is_depth else cand.position_m,
                        distance_m=min(intr.distance_to_robot_m, cand.distance_m),
                        sigma_m=min(cand.sigma_m, cfg.depth.voxel_size_m),
                        box=cand.box,
                        confidence=max(cand.confidence, self._depth_confidence(intr)),
                        source=SOURCE_FUSED,
                    )
                )
            else:
                cand.sigma_m = math.hypot(cand.sigma_m, cfg.rgb_only_uncertainty_m)
                fused.append(cand)
        for j, intr in enumerate(intrusions):
            if j not in used:
                fused.append(
                    _Candidate(
                        position_m=intr.nearest_point_m,
                        distance_m=intr.distance_to_robot_m,
                        sigma_m=cfg.depth.voxel_size_m,
                        box=None,
                        confidence=self._depth_confidence(intr),
                        source=SOURCE_DEPTH,
                    )
                )
        return fused

    def _depth_confidence(self, intrusion: Intrusion) -> float:
        return float(min(1.0, intrusion.num_points / self.config.depth_confidence_points))

    def process(self, frame: PerceptionFrame) -> PerceptionResult:
        """Run both channels on one frame; the detector may be skipped on some frames."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if frame.rgb.shape[:2] != frame.depth_m.shape[:2]:
            raise ValueError(
                f"colour {frame.rgb.shape[:2]} and depth {frame.depth_m.shape[:2]} sizes differ: "
                "depth must be registered to the colour image"
            )
        if (
            self.detector is not None
            and self._frame_count % self.config.detector_every_n_frames == 0
        ):
            self._last_boxes = self.detector.detect(frame.rgb)
        boxes = self._last_boxes if self.detector is not None else []
        self._frame_count += 1
        t1 = time.perf_counter()
        rgb, without_depth = self._rgb_candidates(frame, boxes)
        t2 = time.perf_counter()
        intrusions = self.depth_monitor.update(
            frame.depth_m, frame.intrinsics, frame.base_from_camera, frame.robot
        )
        t3 = time.perf_counter()
        candidates = self._fuse(rgb, intrusions)
        estimates = self.tracker.update(
            frame.stamp_s,
            np.array([c.position_m for c in candidates]).reshape(-1, 3),
            np.array([c.sigma_m for c in candidates]),
        )
        humans = [
            HumanEstimate(
                track_id=est.track_id,
                position_m=np.asarray(c.position_m, dtype=np.float64).copy(),
                velocity_m_s=est.velocity_m_s,
                position_uncertainty_m=float(c.sigma_m),
                distance_to_robot_m=float(c.distance_m),
                box=c.box,
                confidence=float(np.clip(c.confidence, 0.0, 1.0)),
                source=c.source,
            )
            for c, est in zip(candidates, estimates, strict=True)
        ]
        humans.sort(key=lambda h: h.distance_to_robot_m)
        t4 = time.perf_counter()
        timings.update(
            rgb_detector_ms=(t1 - t0) * 1e3,
            lift_ms=(t2 - t1) * 1e3,
            depth_channel_ms=(t3 - t2) * 1e3,
            fuse_track_ms=(t4 - t3) * 1e3,
            total_ms=(t4 - t0) * 1e3,
        )
        return PerceptionResult(
            stamp_s=frame.stamp_s,
            humans=tuple(humans),
            rgb_boxes=tuple(boxes),
            intrusions=tuple(intrusions),
            background_ready=self.depth_monitor.background.ready,
            rgb_without_depth=without_depth,
            timings_ms=timings,
        )


def draw_debug_image(rgb: np.ndarray, result: PerceptionResult) -> np.ndarray:
    """The colour image annotated with detector boxes (green) and depth clusters (red)."""
    import cv2  # lazy

    image = np.ascontiguousarray(rgb).copy()
    for box in result.rgb_boxes:
        p0 = (int(box.x_min_px), int(box.y_min_px))
        p1 = (int(box.x_max_px), int(box.y_max_px))
        cv2.rectangle(image, p0, p1, (0, 255, 0), 2)
        cv2.putText(
            image, f"{box.confidence:.2f}", (p0[0], max(p0[1] - 4, 10)), 0, 0.4, (0, 255, 0)
        )
    for intr in result.intrusions:
        u0, v0, u1, v1 = intr.pixel_box
        cv2.rectangle(image, (u0, v0), (u1, v1), (255, 0, 0), 1)
        label = (
            f"{intr.distance_to_robot_m:.2f} m" if math.isfinite(intr.distance_to_robot_m) else "?"
        )
        cv2.putText(image, label, (u0, min(v1 + 12, image.shape[0] - 2)), 0, 0.4, (255, 0, 0))
    if not result.background_ready:
        cv2.putText(image, "learning background", (5, 15), 0, 0.5, (255, 255, 0))
    return image
