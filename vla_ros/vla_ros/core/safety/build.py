"""Assemble a SafetyFilter from the robot files and vla_ros/config/safety.yaml."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vla_ros.core.safety.config import SafetyConfig
from vla_ros.core.safety.filter import SafetyFilter
from vla_ros.core.safety.gate import StateChecker
from vla_ros.core.safety.limits import EffectiveLimits, GripperLimits, effective_limits
from vla_ros.core.safety.reach import joint_reach_bounds

NODE_NAME = "safety_filter"


@dataclass(frozen=True)
class SafetyFile:
    """Contents of safety.yaml: the filter config plus node-level settings."""

    config: SafetyConfig
    scene: tuple[dict[str, Any], ...]  # SceneObject.from_dict mappings, base frame
    allowed_scene_contacts: tuple[tuple[str, str], ...]  # (link, object) never checked
    node: dict[str, Any]  # remaining node parameters (topics, rates, backend)


def split_parameters(params: Mapping[str, Any]) -> SafetyFile:
    """Separate the node's flat parameters from the filter's nested configuration."""
    params = dict(params)
    scene_names = list(params.pop("scene_object_names", []) or [])
    scene_objects = dict(params.pop("scene_objects", {}) or {})
    if set(scene_names) != set(scene_objects):
        raise ValueError(
            f"scene_objects {sorted(scene_objects)} must match scene_object_names {scene_names}"
        )
    scene = tuple({"name": name, **dict(scene_objects[name])} for name in scene_names)
    contacts_flat = list(params.pop("allowed_scene_contacts", []) or [])
    contacts = []
    for item in contacts_flat:
        link, _, obstacle = str(item).partition(":")
        if not link or not obstacle:
            raise ValueError(f"allowed_scene_contacts entries are 'link:object', got {item!r}")
        contacts.append((link, obstacle))
    filter_keys = {
        "output_period_s",
        "max_output_horizon_s",
        "joint_limits",
        "collision",
        "ssm",
        "twist",
        "watchdog",
        "workspace",
        "keep_out_zone_names",
        "keep_out_zones",
        "cartesian_frames",
    }
    config = SafetyConfig.from_dict({k: v for k, v in params.items() if k in filter_keys})
    node = {k: v for k, v in params.items() if k not in filter_keys}
    return SafetyFile(config, scene, tuple(contacts), node)


def read_parameters(path: str | Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """The `ros__parameters` mapping of a ROS 2 params file; unreadable files raise."""
    import yaml

    with Path(path).open(encoding="utf-8") as stream:
        document = yaml.safe_load(stream)
    if not isinstance(document, Mapping):
        raise ValueError(f"{path}: expected a mapping")
    for key in (node_name, f"/{node_name}", "/**"):
        section = document.get(key)
        if isinstance(section, Mapping) and isinstance(section.get("ros__parameters"), Mapping):
            return dict(section["ros__parameters"])
    raise ValueError(f"{path}: no '{node_name}: ros__parameters:' section")


def load_safety_file(path: str | Path, node_name: str = NODE_NAME) -> SafetyFile:
    """Read and validate safety.yaml (an invalid file raises: refuse to start)."""
    return split_parameters(read_parameters(path, node_name))


def robot_limits(robot: Any, config: SafetyConfig) -> EffectiveLimits:
    """Effective limits of a RobotModel's group (its limits already merge URDF and YAML)."""
    limits = robot.limits
    return effective_limits(
        tuple(robot.joint_names),
        limits.lower_rad,
        limits.upper_rad,
        limits.velocity_rad_s,
        limits.acceleration_rad_s2,
        limits.jerk_rad_s3,
        config.joint_limits,
    )


def build_filter(
    robot: Any,
    config: SafetyConfig,
    *,
    checker: StateChecker | None = None,
    scene: Sequence[Mapping[str, Any]] = (),
    allowed_scene_contacts: Sequence[tuple[str, str]] = (),
) -> SafetyFilter:
    """A SafetyFilter for a RobotModel; without `checker`, the embedded pinocchio + coal one."""
    if checker is None and config.collision.enabled:
        from vla_ros.core.collision import EmbeddedCollisionChecker, scene_from_list

        embedded = EmbeddedCollisionChecker(robot, allowed_scene_contacts=allowed_scene_contacts)
        embedded.set_scene(scene_from_list(scene))
        checker = embedded
    return SafetyFilter(
        robot,
        robot_limits(robot, config),
        config,
        checker,
        link_point_radii_m=getattr(robot, "link_point_radii_m", None),
        reach_m=joint_reach_bounds(robot),
        gripper_limits=gripper_limits(robot),
    )


def gripper_limits(robot: Any) -> GripperLimits:
    """Position limits of a RobotModel's gripper joints (none when it has no gripper)."""
    limits = getattr(robot, "gripper_limits", None)
    if limits is None or not len(limits.names):
        return GripperLimits.none()
    return GripperLimits(tuple(limits.names), limits.lower_rad, limits.upper_rad)
