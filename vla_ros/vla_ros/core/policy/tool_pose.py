"""Tool-pose action representation of the embedded VLA: FK for training targets, IK at inference.

With `action_representation: tool_pose` the network predicts each chunk row as the top-down tool
pose (x, y, z [m] in the robot's base frame, sin and cos of k * yaw) plus the gripper target,
instead of absolute joint angles; image keypoints map almost linearly to table x/y, joint angles
of a 6-DOF arm do not. The scripted expert keeps the tool pointing down (tool z = -base z), so
position + yaw is the whole pose.

- Training: the recorded joint-position targets become tool poses by forward kinematics, once
  per episode (`ToolPoseConverter.tool_actions`); the state input gets the current tool pose
  (FK of the measured joints, `state_features`) appended to the joint positions.
- Inference: `joint_actions` turns a predicted chunk back into the SAME joint-position rows the
  node and the safety filter consume, by damped-least-squares IK warm-started from the measured
  joints and then from each previous solution (no random restarts: they could switch branch).
  A row whose IK does not converge, or whose solution is further than `max_joint_step_rad` from
  the previous row in any joint, ends the chunk there (truncation); when the first row already
  fails, ToolPoseIkError is raised, so the caller holds instead of jumping. The step bound
  (default 1 rad) guards against IK switching branch (an elbow or wrist flip); it is not a
  velocity limit (the safety filter enforces those). For scale: the scripted expert's command
  leads the measured joints by at most 0.28 rad and moves at most 0.28 rad per 0.1 s step.

Yaw: `yaw_symmetry` k in (1, 2, 4) encodes sin/cos(k * yaw). k = 1 is exact. k = 2 uses the
two-finger gripper's 180-degree symmetry; k = 4 also the cube's 90-degree one, which LOSES the
push orientation (the expert turns the fingers' wide side towards the push: yaw pi/2 and the home
yaw pi are the same angle mod pi/2). Decoding picks the equivalent yaw nearest the previous row's
(the measured tool yaw for the first row), as the expert picks the grasp yaw nearest its current.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vla_ros.core.robot_model import RobotModel

POSE_FEATURES = 5  # x, y, z [m], sin(k yaw), cos(k yaw)
YAW_SYMMETRIES = (1, 2, 4)
DEFAULT_ROBOT_CONFIG = "config/robots/vla_arm6.yaml"  # relative to the package share directory


class ToolPoseIkError(ValueError):
    """The first row of a predicted tool-pose chunk has no IK solution near the measured joints:
    the chunk is unusable (the caller holds)."""


def top_down_rotation(yaw_rad: float) -> np.ndarray:
    """Tool orientation pointing down (tool z = -base z) with tool x at `yaw_rad` (the scripted
    expert's convention, core.sim.expert.top_down_rotation)."""
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


def tool_yaw(rotation: np.ndarray) -> float:
    """Yaw [rad] of a (near) top-down tool rotation: the angle of tool x in the base x-y plane."""
    return math.atan2(float(rotation[1, 0]), float(rotation[0, 0]))


def nearest_equivalent(angle_rad: float, reference_rad: float, period_rad: float) -> float:
    """angle + n * period nearest to `reference`."""
    return angle_rad + period_rad * round((reference_rad - angle_rad) / period_rad)


def resolve_robot_config(relative_or_absolute: str) -> str:
    """Absolute path of a robot YAML named relative to the package share directory."""
    from pathlib import Path

    from vla_ros.core.resources import share_dir

    path = Path(relative_or_absolute)
    return str(path if path.is_absolute() else share_dir() / path)


class ToolPoseConverter:
    """Joint-position rows <-> top-down tool-pose rows of one robot (see the module docstring).

    Rows are (arm joints..., [gripper]) <-> (x, y, z, sin k*yaw, cos k*yaw, [gripper]); the
    gripper element passes through unchanged. Holds a RobotModel: not thread-safe.
    """

    def __init__(
        self,
        robot: RobotModel,
        *,
        yaw_symmetry: int = 1,
        has_gripper: bool = True,
        max_joint_step_rad: float = 1.0,
        ik_max_iterations: int = 60,
        position_tolerance_m: float = 1e-3,
        orientation_tolerance_rad: float = 1e-2,
    ) -> None:
        if yaw_symmetry not in YAW_SYMMETRIES:
            raise ValueError(f"yaw_symmetry must be one of {YAW_SYMMETRIES}, got {yaw_symmetry}")
        if not max_joint_step_rad > 0.0 or ik_max_iterations < 1:
            raise ValueError("max_joint_step_rad must be > 0 and ik_max_iterations >= 1")
        self.robot = robot
        self.yaw_symmetry = int(yaw_symmetry)
        self.has_gripper = has_gripper
        self.max_joint_step_rad = float(max_joint_step_rad)
        self.ik_max_iterations = int(ik_max_iterations)
        self.position_tolerance_m = position_tolerance_m
        self.orientation_tolerance_rad = orientation_tolerance_rad
        self.truncations = 0  # chunks cut short at an IK failure (diagnostics)

    @classmethod
    def from_robot_config(
        cls, robot_config: str, joint_names: tuple[str, ...], **options: object
    ) -> ToolPoseConverter:
        """Load the robot YAML (path relative to the share directory, or absolute) and check
        that its planning group is `joint_names`, in order."""
        from vla_ros.core.robot_config import RobotConfig

        robot = RobotConfig.from_yaml(resolve_robot_config(robot_config)).load_model()
        if tuple(robot.joint_names) != tuple(joint_names):
            raise ValueError(
                f"robot {robot_config} has joints {robot.joint_names}, the policy {joint_names}"
            )
        return cls(robot, **options)  # type: ignore[arg-type]

    @property
    def action_dim(self) -> int:
        """Elements of one tool-pose row."""
        return POSE_FEATURES + (1 if self.has_gripper else 0)

    @property
    def arm_dof(self) -> int:
        """Arm joints of one joint row."""
        return self.robot.dof

    # ------------------------------------------------------------------ joints -> tool pose

    def pose_features(self, pose: np.ndarray) -> np.ndarray:
        """(5,) x, y, z, sin(k yaw), cos(k yaw) of a 4x4 tool pose."""
        angle = self.yaw_symmetry * tool_yaw(pose[:3, :3])
        return np.array([pose[0, 3], pose[1, 3], pose[2, 3], math.sin(angle), math.cos(angle)])

    def state_features(self, arm_joints: np.ndarray) -> np.ndarray:
        """(5,) tool-pose features of the measured arm joints (appended to the state input)."""
        return self.pose_features(self.robot.fk(np.asarray(arm_joints, dtype=np.float64)))

    def tool_actions(self, joint_actions: np.ndarray) -> np.ndarray:
        """(T, 5 [+1]) tool-pose rows of joint-position rows (T, dof [+1]), by FK."""
        rows = np.atleast_2d(np.asarray(joint_actions, dtype=np.float64))
        dof = self.arm_dof
        if rows.shape[1] != dof + (1 if self.has_gripper else 0):
            raise ValueError(
                f"joint rows must have {dof} arm joints (+ gripper), got {rows.shape}"
            )
        out = np.empty((len(rows), self.action_dim))
        for i, row in enumerate(rows):
            out[i, :POSE_FEATURES] = self.pose_features(self.robot.fk(row[:dof]))
        if self.has_gripper:
            out[:, POSE_FEATURES] = rows[:, dof]
        return out

    # ------------------------------------------------------------------ tool pose -> joints

    def target_pose(self, row: np.ndarray, reference_yaw_rad: float) -> tuple[np.ndarray, float]:
        """(4x4 top-down pose, its yaw) of one tool-pose row; the yaw is the k-fold equivalent
        nearest `reference_yaw_rad`."""
        k = self.yaw_symmetry
        yaw = math.atan2(float(row[3]), float(row[4])) / k
        yaw = nearest_equivalent(yaw, reference_yaw_rad, 2.0 * math.pi / k)
        pose = np.eye(4)
        pose[:3, :3] = top_down_rotation(yaw)
        pose[:3, 3] = row[:3]
        return pose, yaw

    def joint_actions(
        self,
        tool_rows: np.ndarray,
        measured_arm_joints: np.ndarray,
        *,
        first_seed: np.ndarray | None = None,
    ) -> np.ndarray:
        """Joint-position rows (H', dof [+1]) for tool-pose rows (H, 5 [+1]), H' <= H.

        IK of row 0 starts at `first_seed` (default the measured joints), row i at row i-1's
        solution; the yaw reference is the measured tool yaw, then each previous row's. The
        chunk ends before the first row whose IK fails or jumps (any joint moving more than
        max_joint_step_rad from the previous row, or from the measured joints for row 0);
        ToolPoseIkError when that is row 0.
        """
        rows = np.atleast_2d(np.asarray(tool_rows, dtype=np.float64))
        if rows.shape[1] != self.action_dim or not np.all(np.isfinite(rows)):
            raise ValueError(f"tool-pose rows must be finite (H, {self.action_dim}), {rows.shape}")
        measured = np.asarray(measured_arm_joints, dtype=np.float64).reshape(-1)
        if measured.size != self.arm_dof:
            raise ValueError(f"measured joints must have {self.arm_dof} entries")
        previous = measured if first_seed is None else np.asarray(first_seed, dtype=np.float64)
        yaw_ref = tool_yaw(self.robot.fk(previous)[:3, :3])
        solved: list[np.ndarray] = []
        for i, row in enumerate(rows):
            pose, yaw_ref = self.target_pose(row, yaw_ref)
            q, ok = self.robot.ik(
                pose,
                previous,
                max_iterations=self.ik_max_iterations,
                position_tolerance_m=self.position_tolerance_m,
                orientation_tolerance_rad=self.orientation_tolerance_rad,
            )
            step = float(np.max(np.abs(q - previous)))
            if not ok or step > self.max_joint_step_rad:
                reason = "no IK solution" if not ok else f"a joint jump of {step:.2f} rad"
                if i == 0:
                    raise ToolPoseIkError(
                        f"tool pose {np.round(row[:3], 3).tolist()} yaw {yaw_ref:.2f}: {reason}"
                        " near the measured joints; no chunk"
                    )
                self.truncations += 1
                break
            gripper = [row[POSE_FEATURES]] if self.has_gripper else []
            solved.append(np.concatenate([q, gripper]))
            previous = q
        return np.stack(solved)
