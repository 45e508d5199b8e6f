"""Shared helpers of the robot-model and collision tests: both descriptions, and an
independent URDF forward kinematics (numpy only) to check pinocchio against."""

from __future__ import annotations

import functools
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from vla_ros.core.resources import resource_path
from vla_ros.core.robot_config import RobotConfig
from vla_ros.core.robot_model import RobotModel

ROBOTS = ("vla_arm6", "arm7")


@functools.cache
def robot_config(name: str) -> RobotConfig:
    return RobotConfig.from_yaml(resource_path("config", "robots", f"{name}.yaml"))


@functools.cache
def _model(name: str) -> RobotModel:
    return robot_config(name).load_model()


def robot_model(name: str) -> RobotModel:
    """A cached model; tests only read from it (FK data is per call)."""
    return _model(name)


def urdf_path(name: str) -> Path:
    return robot_config(name).resolve(robot_config(name).urdf)


def srdf_path(name: str) -> Path:
    return robot_config(name).resolve(robot_config(name).srdf)


def _rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr, cp, sp, cy, sy = (
        math.cos(roll),
        math.sin(roll),
        math.cos(pitch),
        math.sin(pitch),
        math.cos(yaw),
        math.sin(yaw),
    )
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def urdf_fk(urdf: Path, positions: dict[str, float], link: str) -> np.ndarray:
    """4x4 pose of `link` in the root link, straight from the URDF text (mimic joints follow
    their leader). Written independently of pinocchio on purpose."""
    root = ET.parse(urdf).getroot()
    by_child = {j.find("child").get("link"): j for j in root.findall("joint")}  # type: ignore[union-attr]
    pose = np.eye(4)
    current = link
    while current in by_child:
        joint = by_child[current]
        origin = joint.find("origin")
        xyz = (
            [0.0, 0.0, 0.0]
            if origin is None
            else [float(v) for v in origin.get("xyz", "0 0 0").split()]
        )
        rpy = (
            [0.0, 0.0, 0.0]
            if origin is None
            else [float(v) for v in origin.get("rpy", "0 0 0").split()]
        )
        static = np.eye(4)
        static[:3, :3] = _rpy(*rpy)
        static[:3, 3] = xyz
        motion = np.eye(4)
        kind = joint.get("type")
        if kind in ("revolute", "continuous", "prismatic"):
            axis_el = joint.find("axis")
            axis = np.array(
                [1.0, 0, 0] if axis_el is None else [float(v) for v in axis_el.get("xyz").split()]
            )  # type: ignore[union-attr]
            mimic = joint.find("mimic")
            if mimic is not None:
                value = positions.get(mimic.get("joint"), 0.0) * float(
                    mimic.get("multiplier", "1")
                ) + float(mimic.get("offset", "0"))  # type: ignore[arg-type]
            else:
                value = positions.get(joint.get("name"), 0.0)  # type: ignore[arg-type]
            if kind == "prismatic":
                motion[:3, 3] = axis / np.linalg.norm(axis) * value
            else:
                motion[:3, :3] = _axis_angle(axis, value)
        pose = static @ motion @ pose
        current = joint.find("parent").get("link")  # type: ignore[union-attr]
    return pose
