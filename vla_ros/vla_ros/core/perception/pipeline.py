"""Both perception channels over one or more cameras, fused and tracked in the base frame.

Per camera (`observe`): the RGB detector's boxes lifted with depth, the depth intrusion channel
against that camera's own learned background, and the two fused. Across cameras
(`fuse_and_track`): the cameras' candidates that lie on the same body are merged (the point
nearest to the robot wins), and one tracker update gives ids and velocities. `process` is the
single-camera shortcut, `process_frames` one synchronised frame per camera.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
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
SOURCE_NAMES = {SOURCE_RGB: "rgb", SOURCE_DEPTH: "depth", SOURCE_FUSED: "fused"}


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
    # An RGB box that no depth cluster confirms, whose depth lies on the robot for at least
    # robot_box_fraction and is otherwise the learned background (at most
    # robot_box_max_new_fraction anything else) is the arm itself (HOG fires on it), not a
    # person: dropped and counted. A person there would be new depth, a cluster.
    robot_box_fraction: float = 0.2
    robot_box_max_new_fraction: float = 0.05
    # An unconfirmed RGB box whose central region has valid depth over at least
    # scene_box_min_valid_fraction and whose depth is all the learned background or the arm
    # (at most robot_box_max_new_fraction anything else) has no body in it: HOG fired on the
    # static scene (the table's edge, the arm's silhouette against it). A person there would be
    # new depth; depth holes (dark clothes) keep the valid share low, and the box is kept.
    scene_box_min_valid_fraction: float = 0.8

    def __post_init__(self) -> None:
        if self.fuse_distance_m < 0.0 or self.rgb_only_uncertainty_m < 0.0:
            raise ValueError("fuse_distance_m and rgb_only_uncertainty_m must be >= 0")
        if not 0.0 < self.robot_box_fraction <= 1.0:
            raise ValueError("robot_box_fraction must be in (0, 1]")
        if not 0.0 <= self.robot_box_max_new_fraction < 1.0:
            raise ValueError("robot_box_max_new_fraction must be in [0, 1)")
        if not 0.0 < self.scene_box_min_valid_fraction <= 1.0:
            raise ValueError("scene_box_min_valid_fraction must be in (0, 1]")
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
    cameras: tuple[str, ...] = ()  # the cameras that saw it


@dataclass
class Candidate:
    """One person or intrusion seen by one camera (both channels fused), before tracking."""

    position_m: np.ndarray  # (3,) base frame: the point nearest to the robot
    distance_m: float  # from that point to the robot; +inf when the robot is unknown
    sigma_m: float  # 1-sigma position uncertainty
    box: PersonBox | None  # the RGB box in that camera's image, if the detector saw it
    confidence: float  # [0, 1]
    source: int  # SOURCE_RGB, SOURCE_DEPTH or SOURCE_FUSED
    points_m: np.ndarray  # (N, 3) base-frame points of the body seen (cross-camera matching)
    cameras: tuple[str, ...] = ()  # the cameras that saw it
    robot_fraction: float = 0.0  # share of an RGB box's depth points that lie on the robot
    new_fraction: float = 1.0  # ... that are neither the robot nor the learned background
    valid_fraction: float = 0.0  # share of an RGB box's central region with valid depth


@dataclass(frozen=True)
class CameraObservation:
    """What one camera's frame showed: the per-camera half of the pipeline."""

    camera: str  # camera name
    stamp_s: float  # capture time of the frame
    candidates: tuple[Candidate, ...]  # RGB and depth fused within this camera
    rgb_boxes: tuple[PersonBox, ...]  # raw detector output (this camera's pixels)
    intrusions: tuple[Intrusion, ...]  # raw depth clusters (pixel boxes in this camera)
    background_ready: bool  # False while this camera's depth background is being learned
    rgb_without_depth: int  # people the detector saw where depth was missing
    timings_ms: dict[str, float]  # per-stage latency
    rgb_on_robot: int = 0  # detector boxes on the arm itself, dropped (robot_box_fraction)
    rgb_on_scene: int = 0  # ... on the static scene, dropped (scene_box_min_valid_fraction)


@dataclass(frozen=True)
class PerceptionResult:
    """Everything seen in one synchronised set of frames (one per camera)."""

    stamp_s: float  # capture time: the oldest frame of the set
    humans: tuple[HumanEstimate, ...]  # sorted by distance to the robot
    cameras: tuple[CameraObservation, ...]  # per camera, in the pipeline's camera order
    timings_ms: dict[str, float]  # per-stage latency, summed over the cameras

    @property
    def min_distance_to_robot_m(self) -> float:
        """Smallest distance of anything seen; +inf when nothing is."""
        return min((h.distance_to_robot_m for h in self.humans), default=math.inf)

    @property
    def background_ready(self) -> bool:
        """False while any camera's depth background is still being learned."""
        return all(c.background_ready for c in self.cameras)

    @property
    def rgb_without_depth(self) -> int:
        """People the detector saw where depth was missing, over all cameras."""
        return sum(c.rgb_without_depth for c in self.cameras)

    @property
    def rgb_on_robot(self) -> int:
        """Detector boxes dropped as the arm itself, over all cameras."""
        return sum(c.rgb_on_robot for c in self.cameras)

    @property
    def rgb_on_scene(self) -> int:
        """Detector boxes dropped as the static scene (background and arm), over all cameras."""
        return sum(c.rgb_on_scene for c in self.cameras)

    @property
    def rgb_boxes(self) -> tuple[PersonBox, ...]:
        """Raw detector boxes of all cameras (each in its own camera's pixels)."""
        return tuple(b for c in self.cameras for b in c.rgb_boxes)

    @property
    def intrusions(self) -> tuple[Intrusion, ...]:
        """Raw depth clusters of all cameras."""
        return tuple(i for c in self.cameras for i in c.intrusions)


class _CameraState:
    """Per-camera state: its own depth background and detector schedule."""

    def __init__(self, config: DepthMonitorConfig, use_rgb: bool) -> None:
        self.depth_monitor = DepthIntrusionDetector(config)
        self.use_rgb = use_rgb
        self.frame_count = 0
        self.last_boxes: list[PersonBox] = []


class HumanPerception:
    """RGB detector + depth intrusion monitor per camera, fusion, one tracker. Not thread-safe.

    `cameras` names the cameras (one depth background each); the RGB detector runs on those
    in `rgb_cameras` (None: all). With one camera this is the single-camera pipeline.
    """

    def __init__(
        self,
        detector: PersonDetector | None,
        config: PerceptionConfig | None = None,
        cameras: Sequence[str] = ("camera",),
        rgb_cameras: Collection[str] | None = None,
    ) -> None:
        self.config = config or PerceptionConfig()
        self.detector = detector
        names = tuple(str(c) for c in cameras)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"need one or more distinct camera names, got {list(names)}")
        unknown = set(rgb_cameras or ()) - set(names)
        if unknown:
            raise ValueError(f"rgb_cameras {sorted(unknown)} are not among {list(names)}")
        self._cameras = {
            name: _CameraState(self.config.depth, rgb_cameras is None or name in rgb_cameras)
            for name in names
        }
        self.tracker = PersonTracker(self.config.tracker)

    @property
    def camera_names(self) -> tuple[str, ...]:
        """The cameras, in the order results report them."""
        return tuple(self._cameras)

    def depth_monitor_of(self, camera: str) -> DepthIntrusionDetector:
        """The depth channel (and its background model) of one camera."""
        return self._camera(camera).depth_monitor

    @property
    def depth_monitor(self) -> DepthIntrusionDetector:
        """The first camera's depth channel (the only one in a single-camera pipeline)."""
        return next(iter(self._cameras.values())).depth_monitor

    @property
    def background_ready(self) -> bool:
        """True once every camera's depth background is learned."""
        return all(c.depth_monitor.background.ready for c in self._cameras.values())

    def reset_background(self) -> None:
        """Relearn every camera's background and drop the tracks (the cell changed)."""
        for state in self._cameras.values():
            state.depth_monitor.background.reset()
        self.tracker.reset()

    def _camera(self, camera: str) -> _CameraState:
        state = self._cameras.get(camera)
        if state is None:
            raise ValueError(f"unknown camera {camera!r}; configured: {list(self._cameras)}")
        return state

    def _rgb_candidates(
        self, frame: PerceptionFrame, boxes: list[PersonBox], monitor: DepthIntrusionDetector
    ) -> tuple[list[Candidate], int]:
        out, without_depth = [], 0
        for box in boxes:
            lifted = lift_box(box, frame.depth_m, frame.intrinsics, self.config.lift)
            if lifted is None:
                without_depth += 1
                continue
            pts = transform_points(frame.base_from_camera, lifted.points_m)
            dist = distance_to_robot(pts, frame.robot)
            known = bool(np.isfinite(dist).any())
            i = int(np.argmin(dist)) if known else int(np.argmin(lifted.points_m[:, 2]))
            on_robot = dist <= self.config.depth.self_filter_padding_m
            known_scene = monitor.is_background(lifted.pixels_uv, lifted.points_m[:, 2])
            new = ~on_robot & ~known_scene
            out.append(
                Candidate(
                    position_m=pts[i],
                    distance_m=float(dist[i]),
                    sigma_m=max(lifted.depth_spread_m, 0.02),
                    box=box,
                    confidence=box.confidence,
                    source=SOURCE_RGB,
                    points_m=pts,
                    robot_fraction=float(on_robot.mean()),  # 0 with the robot unknown
                    new_fraction=float(new.mean()),
                    valid_fraction=lifted.valid_fraction,
                )
            )
        return out, without_depth

    def _fuse(
        self, rgb: list[Candidate], intrusions: list[Intrusion]
    ) -> tuple[list[Candidate], int, int]:
        """Per camera: RGB candidates matched with depth clusters; (candidates, boxes dropped
        as the robot, boxes dropped as the static scene). An RGB box is dropped only when no
        cluster confirms it and its depth is the arm and the learned background: a person
        there would be new depth, a cluster."""
        cfg = self.config
        fused: list[Candidate] = []
        used: set[int] = set()
        on_robot = on_scene = 0
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
                    Candidate(
                        position_m=intr.nearest_point_m if nearer_is_depth else cand.position_m,
                        distance_m=min(intr.distance_to_robot_m, cand.distance_m),
                        sigma_m=min(cand.sigma_m, cfg.depth.voxel_size_m),
                        box=cand.box,
                        confidence=max(cand.confidence, self._depth_confidence(intr)),
                        source=SOURCE_FUSED,
                        points_m=intr.points_m,
                    )
                )
            elif cand.new_fraction <= cfg.robot_box_max_new_fraction and (
                cand.robot_fraction >= cfg.robot_box_fraction
            ):
                on_robot += 1
            elif cand.new_fraction <= cfg.robot_box_max_new_fraction and (
                cand.valid_fraction >= cfg.scene_box_min_valid_fraction
            ):
                on_scene += 1
            else:
                cand.sigma_m = math.hypot(cand.sigma_m, cfg.rgb_only_uncertainty_m)
                fused.append(cand)
        for j, intr in enumerate(intrusions):
            if j not in used:
                fused.append(
                    Candidate(
                        position_m=intr.nearest_point_m,
                        distance_m=intr.distance_to_robot_m,
                        sigma_m=cfg.depth.voxel_size_m,
                        box=None,
                        confidence=self._depth_confidence(intr),
                        source=SOURCE_DEPTH,
                        points_m=intr.points_m,
                    )
                )
        return fused, on_robot, on_scene

    def _depth_confidence(self, intrusion: Intrusion) -> float:
        return float(min(1.0, intrusion.num_points / self.config.depth_confidence_points))

    def observe(self, camera: str, frame: PerceptionFrame) -> CameraObservation:
        """Both channels on one camera's frame; the detector may be skipped on some frames."""
        state = self._camera(camera)
        t0 = time.perf_counter()
        if frame.rgb.shape[:2] != frame.depth_m.shape[:2]:
            raise ValueError(
                f"colour {frame.rgb.shape[:2]} and depth {frame.depth_m.shape[:2]} sizes differ: "
                "depth must be registered to the colour image"
            )
        run_rgb = self.detector is not None and state.use_rgb
        if run_rgb and state.frame_count % self.config.detector_every_n_frames == 0:
            assert self.detector is not None
            state.last_boxes = self.detector.detect(frame.rgb)
        boxes = state.last_boxes if run_rgb else []
        state.frame_count += 1
        t1 = time.perf_counter()
        rgb, without_depth = self._rgb_candidates(frame, boxes, state.depth_monitor)
        t2 = time.perf_counter()
        intrusions = state.depth_monitor.update(
            frame.depth_m, frame.intrinsics, frame.base_from_camera, frame.robot
        )
        t3 = time.perf_counter()
        candidates, on_robot, on_scene = self._fuse(rgb, intrusions)
        for cand in candidates:
            cand.cameras = (camera,)
        t4 = time.perf_counter()
        return CameraObservation(
            camera=camera,
            stamp_s=frame.stamp_s,
            candidates=tuple(candidates),
            rgb_boxes=tuple(boxes),
            intrusions=tuple(intrusions),
            background_ready=state.depth_monitor.background.ready,
            rgb_without_depth=without_depth,
            rgb_on_robot=on_robot,
            rgb_on_scene=on_scene,
            timings_ms={
                "rgb_detector_ms": (t1 - t0) * 1e3,
                "lift_ms": (t2 - t1) * 1e3,
                "depth_channel_ms": (t3 - t2) * 1e3,
                "fuse_ms": (t4 - t3) * 1e3,
            },
        )

    def _merge_cameras(self, observations: Sequence[CameraObservation]) -> list[Candidate]:
        """One candidate per body: candidates of different cameras on the same body merge.

        Two candidates are the same body when either's nearest point lies within
        fuse_distance_m of the other's points; merging is transitive. The merged candidate
        keeps the member nearest to the robot (position, distance, uncertainty): the
        conservative choice for separation monitoring.
        """
        flat = [(i, c) for i, obs in enumerate(observations) for c in obs.candidates]
        if len(observations) < 2 or len(flat) < 2:
            return [c for _, c in flat]
        parent = list(range(len(flat)))

        def root(k: int) -> int:
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        limit = self.config.fuse_distance_m
        for a, (cam_a, cand_a) in enumerate(flat):
            for b in range(a + 1, len(flat)):
                cam_b, cand_b = flat[b]
                if cam_a == cam_b or root(a) == root(b):
                    continue
                gap = min(
                    float(np.min(np.linalg.norm(cand_b.points_m - cand_a.position_m, axis=1))),
                    float(np.min(np.linalg.norm(cand_a.points_m - cand_b.position_m, axis=1))),
                )
                if gap <= limit:
                    parent[root(b)] = root(a)
        groups: dict[int, list[Candidate]] = {}
        for k, (_, cand) in enumerate(flat):
            groups.setdefault(root(k), []).append(cand)
        merged = []
        for members in groups.values():
            if len(members) == 1:
                merged.append(members[0])
                continue
            nearest = min(members, key=lambda c: c.distance_m)
            sources = {c.source for c in members}
            boxed = [c for c in members if c.box is not None]
            merged.append(
                Candidate(
                    position_m=nearest.position_m,
                    distance_m=nearest.distance_m,
                    sigma_m=nearest.sigma_m,
                    box=nearest.box if nearest.box is not None or not boxed else boxed[0].box,
                    confidence=max(c.confidence for c in members),
                    source=sources.pop() if len(sources) == 1 else SOURCE_FUSED,
                    points_m=np.concatenate([c.points_m for c in members]),
                    cameras=tuple(dict.fromkeys(n for c in members for n in c.cameras)),
                )
            )
        return merged

    def fuse_and_track(self, observations: Sequence[CameraObservation]) -> PerceptionResult:
        """Merge one observation per camera (a synchronised set) and update the tracker.

        ValueError unless every configured camera contributes exactly one observation: a
        camera that is missing would leave its part of the cell unwatched.
        """
        names = [o.camera for o in observations]
        if sorted(names) != sorted(self._cameras):
            raise ValueError(f"need one observation per camera {list(self._cameras)}, got {names}")
        order = {name: i for i, name in enumerate(self._cameras)}
        ordered = sorted(observations, key=lambda o: order[o.camera])
        t0 = time.perf_counter()
        stamp_s = min(o.stamp_s for o in ordered)
        candidates = self._merge_cameras(ordered)
        estimates = self.tracker.update(
            stamp_s,
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
                cameras=c.cameras,
            )
            for c, est in zip(candidates, estimates, strict=True)
        ]
        humans.sort(key=lambda h: h.distance_to_robot_m)
        timings: dict[str, float] = {}
        for obs in ordered:
            for key, value in obs.timings_ms.items():
                timings[key] = timings.get(key, 0.0) + value
        timings["track_ms"] = (time.perf_counter() - t0) * 1e3
        timings["fuse_track_ms"] = timings.pop("fuse_ms", 0.0) + timings["track_ms"]
        timings["total_ms"] = sum(
            timings[k] for k in ("rgb_detector_ms", "lift_ms", "depth_channel_ms", "fuse_track_ms")
        )
        return PerceptionResult(
            stamp_s=stamp_s, humans=tuple(humans), cameras=tuple(ordered), timings_ms=timings
        )

    def process_frames(self, frames: Sequence[PerceptionFrame]) -> PerceptionResult:
        """One synchronised frame per camera, in `camera_names` order -> the fused result."""
        if len(frames) != len(self._cameras):
            raise ValueError(
                f"need {len(self._cameras)} frames (one per camera), got {len(frames)}"
            )
        return self.fuse_and_track(
            [self.observe(name, frame) for name, frame in zip(self._cameras, frames, strict=True)]
        )

    def process(self, frame: PerceptionFrame) -> PerceptionResult:
        """Single-camera pipeline: both channels on one frame, then the tracker."""
        return self.process_frames([frame])


def draw_debug_image(rgb: np.ndarray, result: CameraObservation | PerceptionResult) -> np.ndarray:
    """The colour image annotated with detector boxes (green) and depth clusters (red).

    Pass the observation of the camera that took `rgb` (a result: single-camera pipelines).
    """
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
