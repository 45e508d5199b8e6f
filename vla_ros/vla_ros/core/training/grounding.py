"""Auxiliary grounding targets for training: where the named object and the task's goal are.

A simulated recording carries the ground-truth object positions (core.recording's
/sim/object_poses). VlaNet's grounding head regresses them from the image features and the
instruction, and the training can also make two attention heads look at their projections into
the scene camera (image_points); that makes the language-conditioned vision features find the
cube the instruction names, which plain behaviour cloning learns slowly from 3-6 pixel cubes.
Inference never sees the ground truth (the head's prediction feeds the action head).

Targets per frame, base frame, metres (GROUNDING_DIM = 6):
- the named cube's current position;
- the goal: pick, the cube's start position raised by the lift height; place, the bowl or
  plate; push, the cube's start position moved along y by the push distance; stack, the base
  cube's current position.

With `--grounding-tool-relative` (TOOL_RELATIVE_GROUNDING_DIM = 12) six more per frame: the
named cube's and the goal's offsets from the tool (tool0), in the tool's own frame
(tool_frame_offsets). The wrist camera is rigid with the tool, so it shows these offsets
directly, without the arm's posture; and an offset is what the action head has to close to
set a held cube down on another. The base-frame estimate of the base cube stays as coarse as
the scene camera's few pixels make it (bench_stack_releases: 3.7 cm at the releases).
Measured in session 13 (bench/README.md): a 6000-step fine-tune did not learn these offsets
(5.3 cm off on training frames), so the shipped checkpoint does not use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from vla_ros.core.sim.tasks import LIFT_HEIGHT_M, PUSH_DISTANCE_M, parse_instruction

if TYPE_CHECKING:
    from vla_ros.core.perception.camera import CameraIntrinsics
    from vla_ros.core.robot_model import RobotModel

GROUNDING_DIM = 6
TOOL_RELATIVE_GROUNDING_DIM = 12
GROUNDING_DIMS = (GROUNDING_DIM, TOOL_RELATIVE_GROUNDING_DIM)


def grounding_targets(instruction: str, objects_m: Mapping[str, np.ndarray]) -> np.ndarray:
    """(T, 6) targets for an episode with canonical `instruction` and object positions
    (name -> (T, 3), as EpisodeArrays.object_positions_m). Raises ValueError when the
    instruction is not a simulator task or an object it names was not recorded."""
    task = parse_instruction(instruction)

    def track(name: str) -> np.ndarray:
        if name not in objects_m:
            raise ValueError(f"the recording has no ground truth for '{name}'")
        return np.asarray(objects_m[name], dtype=np.float64)

    cube = track(f"cube_{task.colour}")
    start = np.broadcast_to(cube[0], cube.shape)
    if task.family == "pick":
        goal = start + np.array([0.0, 0.0, LIFT_HEIGHT_M])
    elif task.family == "place":
        goal = track(task.target)
    elif task.family == "push":
        side = 1.0 if task.direction == "left" else -1.0  # the robot's left is +y
        goal = start + np.array([0.0, side * PUSH_DISTANCE_M, 0.0])
    else:
        goal = track(f"cube_{task.base_colour}")
    return np.concatenate([cube, goal], axis=1)


def tool_frame_offsets(
    targets_m: np.ndarray, arm_joints: np.ndarray, robot: RobotModel | None = None
) -> np.ndarray:
    """(T, 6) the named cube's and the goal's offsets from the tool, in the tool frame [m]:
    R^T (p - t) for the tool pose (R, t) by FK of `robot` (default simulator_robot()) at each
    row of the measured arm joints (T, dof), and the base-frame targets (T, 6) of
    grounding_targets. Raises ValueError when the lengths differ."""
    targets = np.asarray(targets_m, dtype=np.float64)
    rows = np.asarray(arm_joints, dtype=np.float64)
    if targets.ndim != 2 or targets.shape[1] != GROUNDING_DIM or len(rows) != len(targets):
        raise ValueError(
            f"need (T, {GROUNDING_DIM}) targets and T joint rows, got {targets.shape} and"
            f" {rows.shape}"
        )
    robot = robot or simulator_robot()
    out = np.empty_like(targets)
    for t, q in enumerate(rows):
        pose = robot.fk(q)
        rotation, position = pose[:3, :3], pose[:3, 3]
        points = targets[t].reshape(2, 3)
        out[t] = ((points - position) @ rotation).reshape(-1)  # R^T (p - t), row-wise
    return out


def scene_camera_projection() -> tuple[np.ndarray, CameraIntrinsics]:
    """(4x4 pose of the optical frame in the base frame, intrinsics) of the simulator's scene
    camera without its per-episode jitter (1 cm, 0.015 rad: about 2 px at 128 px wide). The
    intrinsics are for SimConfig's default size; image_points returns normalised
    coordinates, so they fit any image of the same aspect ratio."""
    from vla_ros.core.perception.camera import CameraIntrinsics
    from vla_ros.core.sim.env import SimConfig, nominal_scene_camera_pose

    pose = nominal_scene_camera_pose()
    config = SimConfig()
    intrinsics = CameraIntrinsics.from_fov(
        config.image_width_px, config.image_height_px, np.radians(config.camera_fovy_deg)
    )
    return pose, intrinsics


def image_points(
    points_m: np.ndarray, camera_pose: np.ndarray, intrinsics: CameraIntrinsics
) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) base-frame points -> ((..., 2) image coordinates in [-1, 1] (x right, y down,
    -1 / +1 at the image edges), (...) bool: in front of the camera and inside the image)."""
    points = np.asarray(points_m, dtype=np.float64)
    flat = points.reshape(-1, 3)
    rotation, position = camera_pose[:3, :3], camera_pose[:3, 3]
    optical = (flat - position) @ rotation  # R^T (p - t), row-wise
    in_front = optical[:, 2] > 0.05
    optical[~in_front, 2] = 1.0  # any value: masked below
    pixels = intrinsics.project(optical)
    size = np.array([intrinsics.width_px, intrinsics.height_px], dtype=np.float64)
    normalised = (pixels + 0.5) / size * 2.0 - 1.0
    valid = in_front & np.all(np.abs(normalised) <= 1.0, axis=1)
    return normalised.reshape(*points.shape[:-1], 2), valid.reshape(points.shape[:-1])


def simulator_robot() -> RobotModel:
    """The packaged vla_arm6 the simulator runs (load once, pass to attention_points)."""
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import default_urdf_path

    return RobotModel.from_urdf(default_urdf_path())


def wrist_camera_projection(
    joint_positions: np.ndarray, robot: RobotModel | None = None
) -> tuple[np.ndarray, CameraIntrinsics]:
    """((T, 4, 4) poses of the wrist camera's optical frame in the base frame for each row of
    arm joint positions (T, 6), by FK of `robot` (default simulator_robot()), intrinsics as
    scene_camera_projection's). The gripper does not move the camera."""
    from vla_ros.core.perception.camera import CameraIntrinsics
    from vla_ros.core.sim.env import SimConfig
    from vla_ros.core.sim.scene import WRIST_CAMERA_FOVY_DEG, WRIST_CAMERA_FRAME

    robot = robot or simulator_robot()
    rows = np.asarray(joint_positions, dtype=np.float64)
    poses = np.stack([robot.fk(q, WRIST_CAMERA_FRAME) for q in rows])
    config = SimConfig()
    intrinsics = CameraIntrinsics.from_fov(
        config.image_width_px, config.image_height_px, np.radians(WRIST_CAMERA_FOVY_DEG)
    )
    return poses, intrinsics


def attention_points(
    camera: str,
    targets_m: np.ndarray,
    joint_positions: np.ndarray,
    robot: RobotModel | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Where an episode's grounding targets (T, K, 3) are in `camera`'s images: ((T, K, 2)
    normalised image coordinates, (T, K) valid), as image_points. "front" is the scene camera
    (its nominal pose), "wrist" the wrist camera (its pose at each row of the arm's joint
    positions (T, 6), by FK of `robot`, default simulator_robot()). Raises ValueError for
    another camera."""
    from vla_ros.core.policy.interface import WRIST_IMAGE_KEY

    targets = np.asarray(targets_m, dtype=np.float64)
    if camera == "front":
        pose, intrinsics = scene_camera_projection()
        return image_points(targets, pose, intrinsics)
    if camera != WRIST_IMAGE_KEY:
        raise ValueError(f"no projection for camera '{camera}' (known: front, wrist)")
    poses, intrinsics = wrist_camera_projection(joint_positions, robot)
    if len(poses) != len(targets):
        raise ValueError("targets and joint positions differ in length")
    points = np.empty((*targets.shape[:-1], 2))
    valid = np.empty(targets.shape[:-1], dtype=bool)
    for t, pose in enumerate(poses):
        points[t], valid[t] = image_points(targets[t], pose, intrinsics)
    return points, valid
