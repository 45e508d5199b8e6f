"""Validated configuration of the safety filter (every field in SI units, named with its unit)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _finite_positive(value: float, name: str) -> None:
    _require(math.isfinite(value) and value > 0.0, f"{name} must be finite and > 0, got {value}")


def _finite_non_negative(value: float, name: str) -> None:
    _require(math.isfinite(value) and value >= 0.0, f"{name} must be finite and >= 0, got {value}")


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in the robot base frame."""

    name: str  # label used in reasons and markers
    min_m: tuple[float, float, float]  # lower corner [m]
    max_m: tuple[float, float, float]  # upper corner [m]

    def __post_init__(self) -> None:
        _require(len(self.min_m) == 3 and len(self.max_m) == 3, f"box {self.name}: need x, y, z")
        lo, hi = np.asarray(self.min_m, float), np.asarray(self.max_m, float)
        _require(
            bool(np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))), f"box {self.name}: NaN"
        )
        _require(bool(np.all(hi > lo)), f"box {self.name}: max_m must exceed min_m per axis")

    def contains(self, points_m: np.ndarray) -> np.ndarray:
        """(k,) bool: which of the (k, 3) points lie inside (boundary included)."""
        return np.all((points_m >= self.min_m) & (points_m <= self.max_m), axis=-1)


@dataclass(frozen=True)
class JointLimitConfig:
    """Caps on top of the robot description: the lower of URDF/robot YAML and these wins."""

    position_margin_rad: float = 0.05  # stay this far inside every position limit [rad or m]
    max_joint_velocity_rad_s: float = math.inf  # global velocity cap [rad/s]
    max_joint_acceleration_rad_s2: float = 4.0  # global acceleration cap (must end finite)
    max_joint_jerk_rad_s3: float = 200.0  # global jerk cap, applied while speeding up [rad/s^3]
    velocity_scale: float = 1.0  # fraction of the effective velocity limit ever commanded

    def __post_init__(self) -> None:
        _finite_non_negative(self.position_margin_rad, "position_margin_rad")
        for name in ("max_joint_velocity_rad_s", "max_joint_acceleration_rad_s2"):
            value = getattr(self, name)
            _require(value > 0.0 and not math.isnan(value), f"{name} must be > 0, got {value}")
        _require(self.max_joint_jerk_rad_s3 > 0.0, "max_joint_jerk_rad_s3 must be > 0")
        _require(0.0 < self.velocity_scale <= 1.0, "velocity_scale must be in (0, 1]")


@dataclass(frozen=True)
class CollisionGateConfig:
    """Path collision gate and MoveIt-Servo-style proximity slow-down."""

    enabled: bool = True  # check states along the path with the collision checker
    joint_resolution_rad: float = 0.05  # largest joint step between two checked states [rad]
    lookahead_s: float = 1.0  # check the proposed chunk this far ahead [s]
    # scene clearance at and above which speed scale is 1 [m]; at 0.10 m the hand was slowed
    # to ~3 % over a cube on the table and picks through the graph timed out (bench/README.md)
    slowdown_distance_m: float = 0.04
    stop_distance_m: float = 0.02  # scene clearance treated as contact: never planned into [m]
    self_slowdown_distance_m: float = 0.03  # same for robot-robot pairs [m]
    self_stop_distance_m: float = 0.005  # same for robot-robot pairs [m]
    max_checked_states: int = 64  # states checked per command at most (bounds latency)

    def __post_init__(self) -> None:
        _finite_positive(self.joint_resolution_rad, "joint_resolution_rad")
        _finite_positive(self.lookahead_s, "lookahead_s")
        _finite_non_negative(self.stop_distance_m, "stop_distance_m")
        _finite_non_negative(self.self_stop_distance_m, "self_stop_distance_m")
        _require(
            self.slowdown_distance_m > self.stop_distance_m,
            "slowdown_distance_m must exceed stop_distance_m",
        )
        _require(
            self.self_slowdown_distance_m > self.self_stop_distance_m,
            "self_slowdown_distance_m must exceed self_stop_distance_m",
        )
        _require(self.max_checked_states >= 2, "max_checked_states must be >= 2")


@dataclass(frozen=True)
class SsmConfig:
    """ISO/TS 15066 speed and separation monitoring: S_p = S_h + S_r + S_s + C + Z_d + Z_r."""

    enabled: bool = True  # monitor people from /humans
    human_speed_m_s: float = 1.6  # assumed approach speed (ISO 13855 K) [m/s]
    robot_reaction_time_s: float = 0.1  # T_r: detection to stop command [s]
    robot_stopping_time_s: float = 0.3  # T_s: stop command to standstill (worst case) [s]
    intrusion_distance_m: float = 0.2  # C: reach past the sensing boundary (ISO 13855) [m]
    human_position_uncertainty_m: float = 0.1  # Z_d: sensing uncertainty of the person [m]
    robot_position_uncertainty_m: float = 0.02  # Z_r: robot position uncertainty [m]
    max_robot_speed_m_s: float = 1.0  # cap on any robot point's speed without people [m/s]
    resume_hysteresis_m: float = 0.2  # person must be this far beyond S_p to resume [m]
    resume_delay_s: float = 1.0  # ... for this long [s]
    uncertainty_sigma: float = 2.0  # detection 1-sigma uncertainty multiplier for Z_d

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "enabled":
                continue
            _finite_non_negative(getattr(self, f.name), f.name)
        _finite_positive(self.human_speed_m_s, "human_speed_m_s")
        _finite_positive(self.max_robot_speed_m_s, "max_robot_speed_m_s")


@dataclass(frozen=True)
class TwistLimitConfig:
    """Limits for Cartesian twist commands (end effector or mobile base)."""

    max_linear_speed_m_s: float = 0.25  # [m/s]
    max_angular_speed_rad_s: float = 1.0  # [rad/s]
    max_linear_acceleration_m_s2: float = 1.0  # [m/s^2]
    max_angular_acceleration_rad_s2: float = 4.0  # [rad/s^2]
    base_stop_radius_m: float = 0.5  # mobile base: stop when a person is this close [m]
    base_slow_radius_m: float = 1.5  # mobile base: slow linearly inside this radius [m]
    lookahead_s: float = 0.3  # end-effector twist: predicted motion checked this far [s]

    def __post_init__(self) -> None:
        for f in fields(self):
            _finite_positive(getattr(self, f.name), f.name)
        _require(
            self.base_slow_radius_m > self.base_stop_radius_m,
            "base_slow_radius_m must exceed base_stop_radius_m",
        )


@dataclass(frozen=True)
class WatchdogConfig:
    """Input freshness; a stale safety input fails closed."""

    joint_state_timeout_s: float = 0.1  # older joint states -> STOPPED [s]
    perception_timeout_s: float = 0.25  # older perception heartbeat -> STOPPED [s]
    command_timeout_s: float = 0.2  # no fresh command -> HOLD; older stamps rejected [s]
    future_stamp_tolerance_s: float = 0.05  # stamps further in the future are rejected [s]
    require_perception: bool = True  # without a heartbeat at all, stay STOPPED
    max_tracking_error_rad: float = 0.2  # re-anchor on the measured state beyond this [rad]

    def __post_init__(self) -> None:
        for name in (
            "joint_state_timeout_s",
            "perception_timeout_s",
            "command_timeout_s",
            "max_tracking_error_rad",
        ):
            _finite_positive(getattr(self, name), name)
        _finite_non_negative(self.future_stamp_tolerance_s, "future_stamp_tolerance_s")


@dataclass(frozen=True)
class SafetyConfig:
    """Everything the safety filter needs besides the robot description."""

    output_period_s: float = 0.02  # spacing of filtered trajectory samples [s]
    max_output_horizon_s: float = 3.0  # filtered trajectories come to rest within this [s]
    joint_limits: JointLimitConfig = field(default_factory=JointLimitConfig)
    collision: CollisionGateConfig = field(default_factory=CollisionGateConfig)
    ssm: SsmConfig = field(default_factory=SsmConfig)
    twist: TwistLimitConfig = field(default_factory=TwistLimitConfig)
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    workspace: Box | None = None  # checked frames must stay inside (None: unchecked)
    keep_out_zones: tuple[Box, ...] = ()  # checked frames must stay outside
    cartesian_frames: tuple[str, ...] = ("tool0",)  # frames held to workspace/keep-out

    def __post_init__(self) -> None:
        _finite_positive(self.output_period_s, "output_period_s")
        _require(
            self.max_output_horizon_s >= 2 * self.output_period_s,
            "max_output_horizon_s must span at least two output periods",
        )
        names = [zone.name for zone in self.keep_out_zones]
        _require(len(set(names)) == len(names), f"duplicate keep-out zone names: {names}")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> SafetyConfig:
        """Build from nested YAML parameters; unknown keys are errors (typos fail closed)."""
        params = dict(params)
        sections: dict[str, type] = {
            "joint_limits": JointLimitConfig,
            "collision": CollisionGateConfig,
            "ssm": SsmConfig,
            "twist": TwistLimitConfig,
            "watchdog": WatchdogConfig,
        }
        kwargs: dict[str, Any] = {}
        for key, section_cls in sections.items():
            kwargs[key] = _build(section_cls, params.pop(key, {}) or {}, key)
        workspace = params.pop("workspace", None)
        if workspace:
            kwargs["workspace"] = _box("workspace", workspace)
        zone_names = params.pop("keep_out_zone_names", []) or []
        zones = params.pop("keep_out_zones", {}) or {}
        _require(
            set(zones) == set(zone_names),
            f"keep_out_zones {sorted(zones)} must match keep_out_zone_names {list(zone_names)}",
        )
        kwargs["keep_out_zones"] = tuple(_box(name, zones[name]) for name in zone_names)
        if "cartesian_frames" in params:
            kwargs["cartesian_frames"] = tuple(params.pop("cartesian_frames") or ())
        return _build(cls, {**params, **kwargs}, "safety")


def _box(name: str, spec: Mapping[str, Sequence[float]]) -> Box:
    _require(set(spec) == {"min_m", "max_m"}, f"box {name} needs exactly min_m and max_m")
    lo, hi = (tuple(float(v) for v in spec[k]) for k in ("min_m", "max_m"))
    return Box(name=name, min_m=lo, max_m=hi)  # type: ignore[arg-type]


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    _require(not unknown, f"unknown {where} parameters: {unknown}")
    converted: dict[str, Any] = {}
    for key, value in values.items():
        default = getattr(cls(), key)
        if isinstance(default, bool):
            _require(isinstance(value, bool), f"{where}.{key} must be true or false")
            converted[key] = value
        elif isinstance(default, int) and not isinstance(default, bool):
            _require(isinstance(value, int), f"{where}.{key} must be an integer")
            converted[key] = value
        elif isinstance(default, float):
            _require(
                isinstance(value, (int, float)) and not isinstance(value, bool),
                f"{where}.{key} must be a number, got {value!r}",
            )
            converted[key] = float(value)
        else:
            converted[key] = value
    return cls(**converted)
