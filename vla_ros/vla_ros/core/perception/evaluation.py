"""Walk-in evaluation of the perception pipeline in the simulated cell (no ROS).

Each episode: the arm holds home while the depth background is learned, then the scripted
expert works on a random task while a seeded person walks past the cell (path, speed, closest
approach, pause and direction drawn as the sim's own person sampling draws them). Every camera
frame (one per configured camera: the scene camera, optionally the room camera) goes through
`HumanPerception`; the fused result is compared with the person's ground truth.

Definitions (the bench prints them):
- distance to the robot: the smallest distance between the person's body surface (the MuJoCo
  person's geoms, sampled densely) and the robot's collision spheres (links and base) at the
  measured joint state; the same robot model perception uses.
- a detection is the person's when its reported point lies within `match_radius_m` of the
  body surface; other detections while the person is present are counted as spurious.
- detected in time: a detection of the person (either channel) was reported on or before the
  first frame at which that distance fell below `alarm_distance_m`.
- in view: at least `in_view_fraction` of the body's surface samples project into the image
  of one of the cameras and are not hidden there (the rendered depth is not nearer than the
  sample); a walk-in that only comes into view inside the alarm distance is a coverage gap of
  the cameras, not a detection failure, and is reported as such.
- position error: 3D distance between the reported nearest point of the person's detection
  (the one nearest the truth if several) and the ground-truth nearest point, i.e. the
  body-surface point nearest to the robot. Where the body's side is about equidistant from
  the robot over some height, the two points may differ in height while the reported distance
  is right, so the signed distance error (reported minus true distance) is kept as well.
- false positive: a frame, after the background is learned, with any detection while nobody
  is in the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from vla_ros.core.perception.camera import CameraIntrinsics, transform_points
from vla_ros.core.perception.depth_monitor import DepthMonitorConfig
from vla_ros.core.perception.geometry import MonitoredVolume, RobotShapes, distance_to_robot
from vla_ros.core.perception.pipeline import (
    SOURCE_NAMES,
    HumanPerception,
    PerceptionConfig,
    PerceptionFrame,
)
from vla_ros.core.sim.person import PersonSchedule, sample_person

if TYPE_CHECKING:
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import SimEnv


@dataclass(frozen=True)
class WalkinEvalConfig:
    """Settings of the walk-in evaluation."""

    camera_period_s: float = 0.1  # [s] time between camera frames (and expert actions)
    background_frames: int = 10  # frames of the empty cell, arm at home, learned first
    empty_lead_s: float = 1.5  # [s] arm working, nobody present, before the person appears
    alarm_distance_m: float = 1.5  # [m] the person must be reported before getting this close
    volume_radius_m: float = 2.5  # [m] monitored cylinder around the base (depth channel)
    use_rgb_detector: bool = True  # run the HOG detector as well as the depth channel
    detector_every_n_frames: int = 1  # HOG on every n-th frame (cost)
    empty_duration_s: float = 10.0  # [s] length of an episode without a person
    body_points_per_geom: int = 400  # ground-truth surface samples per person geom
    match_radius_m: float = 0.3  # a detection this close to the body surface is the person's
    in_view_fraction: float = 0.1  # the person is in view with this share of body samples visible
    occlusion_margin_m: float = (
        0.03  # a sample is hidden when the rendered depth is nearer by this
    )
    held_object_radius_m: float = 0.06  # [m] tool-frame sphere of the self-filter (held cube)
    cameras: tuple[str, ...] = ("scene_camera",)  # SimEnv cameras fed to perception, in order
    rgb_cameras: tuple[str, ...] | None = None  # those the RGB detector runs on; None = all

    def __post_init__(self) -> None:
        if self.camera_period_s <= 0.0 or self.empty_lead_s < 0.0:
            raise ValueError("camera_period_s must be > 0 and empty_lead_s >= 0")
        if self.background_frames < 1 or self.detector_every_n_frames < 1:
            raise ValueError("background_frames and detector_every_n_frames must be >= 1")
        if self.alarm_distance_m <= 0.0 or self.volume_radius_m <= 0.0:
            raise ValueError("alarm_distance_m and volume_radius_m must be > 0")
        if self.empty_duration_s <= 0.0 or self.body_points_per_geom < 10:
            raise ValueError("empty_duration_s must be > 0 and body_points_per_geom >= 10")
        if self.match_radius_m <= 0.0 or self.occlusion_margin_m < 0.0:
            raise ValueError("match_radius_m must be > 0 and occlusion_margin_m >= 0")
        if self.held_object_radius_m < 0.0:
            raise ValueError("held_object_radius_m must be >= 0")
        if not 0.0 < self.in_view_fraction <= 1.0:
            raise ValueError("in_view_fraction must be in (0, 1]")
        if not self.cameras or not set(self.rgb_cameras or ()) <= set(self.cameras):
            raise ValueError("need cameras, and rgb_cameras among them")


@dataclass(frozen=True)
class EpisodeOutcome:
    """What one evaluated episode showed."""

    seed: int
    task: str  # instruction the arm worked on
    person: PersonSchedule | None  # None: nobody present
    frames: int  # frames after the background was learned
    empty_frames: int  # ... of which with nobody in the scene
    false_positive_frames: int  # empty frames with any detection
    person_frames: int  # frames with the person in the scene
    detected_frames: int  # person frames with a detection on the person
    spurious_frames: int  # person frames with a detection away from the person
    min_distance_m: float  # [m] closest the person came to the robot (inf: no person)
    first_detection_distance_m: float  # [m] person-robot distance at first detection (nan: none)
    first_detection_source: str  # rgb | depth | fused | "" (never detected)
    detected_in_time: bool | None  # None when the person never came within the alarm distance
    first_in_view_distance_m: float  # [m] person-robot distance when first in view (nan: never)
    in_view_before_alarm: bool  # in view on or before the first frame within the alarm distance
    first_in_view_time_s: float  # [s] episode time the person first came into view (nan: never)
    first_detection_time_s: float  # [s] episode time of the first person's detection (nan: none)
    position_errors_m: tuple[float, ...]  # per detected person frame, see the module doc
    error_distances_m: tuple[float, ...]  # person-robot distance on each of those frames
    distance_errors_m: tuple[float, ...]  # reported minus true person-robot distance, same frames

    @property
    def alarm_reached(self) -> bool:
        """The person came within the alarm distance."""
        return self.detected_in_time is not None


def _quat_matrix(quat_wxyz: np.ndarray) -> np.ndarray:
    w, x, y, z = (float(v) for v in quat_wxyz / np.linalg.norm(quat_wxyz))
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def person_surface_points(env: SimEnv, points_per_geom: int) -> np.ndarray:
    """(N, 3) points on the surface of the person's geoms, in the person body frame."""
    import mujoco

    rng = np.random.default_rng(0)
    model = env.model
    out = []
    for g in env.ids.person_geoms:
        kind, size = int(model.geom_type[g]), model.geom_size[g]
        n = points_per_geom
        if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            local = size[0] * _unit_vectors(rng, n)
        elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
            radius, half = float(size[0]), float(size[1])
            caps = radius * _unit_vectors(rng, n // 2)
            caps[:, 2] += np.sign(caps[:, 2]) * half
            angle = rng.uniform(0.0, 2.0 * math.pi, n - n // 2)
            side = np.stack(
                [
                    radius * np.cos(angle),
                    radius * np.sin(angle),
                    rng.uniform(-half, half, angle.size),
                ],
                axis=1,
            )
            local = np.concatenate([caps, side])
        elif kind == mujoco.mjtGeom.mjGEOM_BOX:
            # uniform in the box, then pushed onto the face along the axis it is closest to
            local = rng.uniform(-1.0, 1.0, (n, 3))
            axis = np.argmax(np.abs(local), axis=1)
            rows = np.arange(n)
            local[rows, axis] = np.sign(local[rows, axis])
            local *= size[None, :]
        else:
            raise ValueError(f"person geom type {kind} is not sampled (sphere, capsule, box)")
        rot = _quat_matrix(model.geom_quat[g])
        out.append(local @ rot.T + model.geom_pos[g])
    return np.concatenate(out)


def _place(points_body: np.ndarray, feet_m: np.ndarray, yaw_rad: float) -> np.ndarray:
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return points_body @ rot.T + feet_m


def visible_fraction(
    points_m: np.ndarray,
    depth_m: np.ndarray,
    intrinsics: CameraIntrinsics,
    base_from_camera: np.ndarray,
    occlusion_margin_m: float,
) -> float:
    """Share of base-frame points inside the image and not hidden behind what the depth shows."""
    in_camera = transform_points(np.linalg.inv(base_from_camera), points_m)
    z = in_camera[:, 2]
    front = z > 1e-3
    if not front.any():
        return 0.0
    uv = intrinsics.project(in_camera[front])
    u, v = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    height, width = depth_m.shape
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    rendered = depth_m[v[inside], u[inside]]
    with np.errstate(invalid="ignore"):
        seen = ~(rendered < z[front][inside] - occlusion_margin_m)
    return float(np.count_nonzero(seen)) / points_m.shape[0]


def walkin_schedule(seed: int, start_time_s: float, floor_z_m: float) -> PersonSchedule:
    """The seeded walk: the sim's own person sampling, shifted to start at `start_time_s`."""
    rng = np.random.default_rng([seed, 7])
    return replace(sample_person(rng, 30.0, floor_z_m), start_time_s=start_time_s)


def make_perception(config: WalkinEvalConfig) -> HumanPerception:
    """The pipeline under test: depth channel over the monitored cylinder, optionally HOG.

    One depth background per camera in `config.cameras`; HOG on `config.rgb_cameras`.
    """
    from vla_ros.core.perception.detectors import HogPersonDetector

    volume = MonitoredVolume(
        shape="cylinder", center_m=(0, 0, 0.3), radius_m=config.volume_radius_m
    )
    return HumanPerception(
        HogPersonDetector() if config.use_rgb_detector else None,
        PerceptionConfig(
            depth=DepthMonitorConfig(volume=volume, background_frames=config.background_frames),
            detector_every_n_frames=config.detector_every_n_frames,
        ),
        cameras=config.cameras,
        rgb_cameras=config.rgb_cameras,
    )


def run_episode(
    env: SimEnv,
    robot: RobotModel,
    seed: int,
    config: WalkinEvalConfig,
    *,
    with_person: bool,
) -> EpisodeOutcome:
    """One seeded episode, walk-in or empty, with the scripted expert moving the arm."""
    from vla_ros.core.sim.expert import ScriptedExpert
    from vla_ros.core.sim.scene import TABLE_HEIGHT_M

    missing = set(config.cameras) - set(env.cameras)
    if missing:
        raise ValueError(f"the simulated cell has no camera {sorted(missing)} (room_camera off?)")
    steps_per_frame = max(1, round(config.camera_period_s / env.config.control_period_s))
    learn_s = config.background_frames * steps_per_frame * env.config.control_period_s
    person = (
        walkin_schedule(seed, learn_s + config.empty_lead_s, -TABLE_HEIGHT_M)
        if with_person
        else None
    )
    info = env.reset(seed, person=person)
    expert = ScriptedExpert(robot)
    expert.reset(info.task)
    perception = make_perception(config)
    body = person_surface_points(env, config.body_points_per_geom) if with_person else None
    end_s = (
        person.start_time_s + person.walk_duration_s
        if person is not None
        else learn_s + config.empty_duration_s
    )
    views = [(name, env.intrinsics(name), env.camera_pose(name)) for name in config.cameras]
    frames = empty = false_pos = person_frames = detected = spurious = 0
    min_dist, first_dist, first_source = math.inf, math.nan, ""
    alarm_frame_detected: bool | None = None
    view_before_alarm: bool | None = None
    first_view_dist = first_view_time = first_time = math.nan
    errors: list[float] = []
    error_distances: list[float] = []
    distance_errors: list[float] = []
    while env.episode_time_s < end_s:
        if perception.background_ready:
            # the arm stays at home while the empty cell is learned, as at a real start-up
            arm, gripper = expert.act(env.joint_state().positions, env.state_view())
            env.command_arm_trajectory(np.array([config.camera_period_s]), np.asarray(arm)[None])
            env.command_gripper(float(gripper))
        for _ in range(steps_per_frame):
            env.step()
        state = env.joint_state()
        q, grip = state.positions[:6], state.positions[6:]
        shapes = RobotShapes.from_link_points(
            robot.link_points(q, gripper=grip), robot.link_point_radii_m
        ).with_spheres(robot.fk(q)[None, :3, 3], config.held_object_radius_m)
        depths = []
        inputs = []
        for name, intrinsics, camera_pose in views:
            rgb, depth = env.render(camera=name)
            assert depth is not None
            depths.append(depth)
            inputs.append(
                PerceptionFrame(env.episode_time_s, rgb, depth, intrinsics, camera_pose, shapes)
            )
        result = perception.process_frames(inputs)
        if not result.background_ready:
            continue
        frames += 1
        truth = env.person_pose()
        if truth is None or body is None:
            empty += 1
            false_pos += len(result.humans) > 0
            continue
        person_frames += 1
        surface = _place(body, truth[0], truth[1])
        dist = distance_to_robot(surface, shapes)
        i = int(np.argmin(dist))
        distance = float(dist[i])
        min_dist = min(min_dist, distance)
        # a detection is the person's when its reported point lies on or near the body; any
        # other one (a moved cube, the arm's shadow in depth) is spurious
        on_body = [
            h
            for h in result.humans
            if float(np.min(np.linalg.norm(surface - h.position_m, axis=1)))
            <= config.match_radius_m
        ]
        spurious += len(on_body) < len(result.humans)
        if on_body:
            detected += 1
            nearest = min(on_body, key=lambda h: float(np.linalg.norm(h.position_m - surface[i])))
            errors.append(float(np.linalg.norm(nearest.position_m - surface[i])))
            error_distances.append(distance)
            distance_errors.append(nearest.distance_to_robot_m - distance)
            if not first_source:
                first_dist, first_source = distance, SOURCE_NAMES[nearest.source]
                first_time = env.episode_time_s
        if math.isnan(first_view_dist) and any(
            visible_fraction(surface, depth, intrinsics, pose, config.occlusion_margin_m)
            >= config.in_view_fraction
            for depth, (_, intrinsics, pose) in zip(depths, views, strict=True)
        ):
            first_view_dist, first_view_time = distance, env.episode_time_s
        if alarm_frame_detected is None and distance < config.alarm_distance_m:
            alarm_frame_detected = bool(first_source)
            view_before_alarm = not math.isnan(first_view_dist)
    return EpisodeOutcome(
        seed=seed,
        task=info.task.instruction,
        person=person,
        frames=frames,
        empty_frames=empty,
        false_positive_frames=false_pos,
        person_frames=person_frames,
        detected_frames=detected,
        spurious_frames=spurious,
        min_distance_m=min_dist,
        first_detection_distance_m=first_dist,
        first_detection_source=first_source,
        detected_in_time=alarm_frame_detected,
        first_in_view_distance_m=first_view_dist,
        in_view_before_alarm=bool(view_before_alarm),
        first_in_view_time_s=first_view_time,
        first_detection_time_s=first_time,
        position_errors_m=tuple(errors),
        error_distances_m=tuple(error_distances),
        distance_errors_m=tuple(distance_errors),
    )
