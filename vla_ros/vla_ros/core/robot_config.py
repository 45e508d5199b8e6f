"""Per-robot configuration (config/robots/<robot>.yaml): description files, frames, limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vla_ros.core.resources import share_dir
from vla_ros.core.robot_model import LIMIT_FIELDS, RobotModel


@dataclass(frozen=True)
class RobotConfig:
    """Everything a node needs to know about the robot it drives."""

    name: str
    """Robot name (matches the URDF's robot name)."""
    urdf: str
    """URDF path, relative to the package share directory unless absolute."""
    srdf: str = ""
    """SRDF path (same rule); "" for none (then the group is base_frame -> tool_frame)."""
    group: str = "arm"
    """Planning group whose joints the policy commands."""
    base_frame: str = "base_link"
    """Frame that poses, scene objects and link points are expressed in."""
    tool_frame: str = "tool0"
    """Tool centre point frame."""
    camera_frame: str = ""
    """Optical frame of the robot-mounted or scene camera, "" if none."""
    home_state: str = "home"
    """SRDF group_state used as the home pose."""
    gripper_joint: str = ""
    """Actuated gripper joint, "" for a robot without gripper."""
    gripper_open_position: float = 0.0
    """Gripper joint position when open (m for prismatic, rad for revolute)."""
    gripper_closed_position: float = 0.0
    """Gripper joint position when closed (m or rad)."""
    joint_limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """{joint: {lower_rad|upper_rad|velocity_rad_s|effort_nm|acceleration_rad_s2|
    jerk_rad_s3: value}}; tightens the URDF limits (the stricter value wins)."""

    def __post_init__(self) -> None:
        for name in ("name", "urdf", "group", "base_frame", "tool_frame", "home_state"):
            if not str(getattr(self, name)):
                raise ValueError(f"robot config field {name!r} must not be empty")
        for position in (self.gripper_open_position, self.gripper_closed_position):
            if not math.isfinite(float(position)):
                raise ValueError("gripper positions must be finite")
        limits: dict[str, dict[str, float]] = {}
        for joint, entry in self.joint_limits.items():
            if not isinstance(entry, Mapping):
                raise ValueError(f"joint_limits.{joint} must be a mapping")
            for key, value in entry.items():
                if key not in LIMIT_FIELDS:
                    raise ValueError(f"joint_limits.{joint}.{key}: unknown; use {LIMIT_FIELDS}")
                number = float(value)
                if math.isnan(number) or (key not in ("lower_rad", "upper_rad") and number <= 0):
                    raise ValueError(f"joint_limits.{joint}.{key} must be positive, got {value}")
            limits[str(joint)] = {str(k): float(v) for k, v in entry.items()}
        object.__setattr__(self, "joint_limits", limits)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RobotConfig:
        """Build from a mapping with this class's field names; ValueError on unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown robot config keys {sorted(unknown)}; known {sorted(known)}")
        if "name" not in data or "urdf" not in data:
            raise ValueError("robot config needs at least 'name' and 'urdf'")
        return cls(**dict(data))

    @classmethod
    def from_yaml(cls, path: str | Path) -> RobotConfig:
        """Load config/robots/<robot>.yaml: either a top-level `robot:` mapping or a ROS 2
        params file (`<node or /**>: ros__parameters: robot: ...`)."""
        import yaml

        with Path(path).open(encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
        if not isinstance(document, Mapping):
            raise ValueError(f"{path}: expected a mapping")
        if "robot" in document:
            return cls.from_dict(document["robot"])
        for value in document.values():
            params = value.get("ros__parameters") if isinstance(value, Mapping) else None
            if isinstance(params, Mapping) and "robot" in params:
                return cls.from_dict(params["robot"])
        raise ValueError(f"{path}: no 'robot' section")

    def resolve(self, relative: str) -> Path:
        """Absolute path of a description file named in this config."""
        path = Path(relative)
        return path if path.is_absolute() else share_dir() / path

    def load_model(self) -> RobotModel:
        """The RobotModel this config describes, with its limit overrides applied."""
        model = RobotModel.from_urdf(
            self.resolve(self.urdf),
            self.resolve(self.srdf) if self.srdf else None,
            group=self.group,
            tool_frame=self.tool_frame,
            base_frame=self.base_frame,
            limits_override=self.joint_limits,
        )
        if self.camera_frame and not model.has_frame(self.camera_frame):
            raise ValueError(f"camera_frame {self.camera_frame!r} not in {self.urdf}")
        if self.gripper_joint:
            if self.gripper_joint not in model.gripper_joint_names:
                raise ValueError(
                    f"gripper_joint {self.gripper_joint!r} is not an actuated gripper joint of "
                    f"{self.name}: {model.gripper_joint_names}"
                )
            limits = model.gripper_limits.subset([self.gripper_joint])
            for position in (self.gripper_open_position, self.gripper_closed_position):
                if not limits.contains([position], tolerance_rad=1e-9):
                    raise ValueError(
                        f"gripper position {position} outside [{limits.lower_rad[0]}, "
                        f"{limits.upper_rad[0]}]"
                    )
        if self.srdf:
            model.named_state(self.home_state)  # KeyError now, not on the first homing
        return model


def load_robot(path: str | Path) -> tuple[RobotConfig, RobotModel]:
    """Config and model from a robot YAML file."""
    config = RobotConfig.from_yaml(path)
    return config, config.load_model()
