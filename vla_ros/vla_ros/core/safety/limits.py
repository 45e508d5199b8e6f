"""Joint limits as pure functions: effective limits, position clamping, braking-distance caps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vla_ros.core.safety.config import JointLimitConfig


@dataclass(frozen=True)
class EffectiveLimits:
    """Per-joint limits the filter enforces (prismatic joints: metres in the same fields)."""

    names: tuple[str, ...]
    lower_rad: np.ndarray  # position limit plus margin
    upper_rad: np.ndarray  # position limit minus margin
    hard_lower_rad: np.ndarray  # description's position limit
    hard_upper_rad: np.ndarray
    velocity_rad_s: np.ndarray  # lower of description, YAML and global cap, times velocity_scale
    acceleration_rad_s2: np.ndarray
    jerk_rad_s3: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.names)
        for name in (
            "lower_rad",
            "upper_rad",
            "hard_lower_rad",
            "hard_upper_rad",
            "velocity_rad_s",
            "acceleration_rad_s2",
            "jerk_rad_s3",
        ):
            value = getattr(self, name)
            if value.shape != (n,):
                raise ValueError(f"{name} has shape {value.shape}, expected ({n},)")
            value.setflags(write=False)
        if not (np.all(np.isfinite(self.lower_rad)) and np.all(np.isfinite(self.upper_rad))):
            raise ValueError("every controlled joint needs finite position limits")
        if np.any(self.upper_rad <= self.lower_rad):
            bad = [
                n
                for n, lo, hi in zip(self.names, self.lower_rad, self.upper_rad, strict=True)
                if hi <= lo
            ]
            raise ValueError(f"position margin leaves no range for joints {bad}")
        for name in ("velocity_rad_s", "acceleration_rad_s2"):
            value = getattr(self, name)
            if not (np.all(np.isfinite(value)) and np.all(value > 0.0)):
                raise ValueError(f"{name} must be finite and > 0 for every joint: {value}")
        if not np.all(self.jerk_rad_s3 > 0.0):
            raise ValueError("jerk_rad_s3 must be > 0 (inf: unlimited)")


@dataclass(frozen=True)
class GripperLimits:
    """Position bounds of the gripper joints a proposal may command (from the robot model;
    prismatic fingers: metres in the same fields)."""

    names: tuple[str, ...]
    lower_rad: np.ndarray
    upper_rad: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.names)
        lower = np.array(self.lower_rad, dtype=float)
        upper = np.array(self.upper_rad, dtype=float)
        if lower.shape != (n,) or upper.shape != (n,):
            raise ValueError(f"gripper limits need {n} lower and upper bounds")
        if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
            raise ValueError(f"gripper joints {self.names} need finite position limits")
        if np.any(upper < lower):
            raise ValueError(f"gripper upper limits below lower limits: {lower} > {upper}")
        lower.setflags(write=False)
        upper.setflags(write=False)
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "lower_rad", lower)
        object.__setattr__(self, "upper_rad", upper)

    @classmethod
    def none(cls) -> GripperLimits:
        """No gripper: proposals naming gripper joints are rejected as unknown joints."""
        return cls((), np.zeros(0), np.zeros(0))


def effective_limits(
    names: tuple[str, ...],
    lower_rad: np.ndarray,
    upper_rad: np.ndarray,
    velocity_rad_s: np.ndarray,
    acceleration_rad_s2: np.ndarray,
    jerk_rad_s3: np.ndarray,
    config: JointLimitConfig,
) -> EffectiveLimits:
    """Combine the robot description's limits with the safety YAML: the lower wins everywhere.

    Unknown (inf) description limits fall back to the YAML caps; a joint left without a
    finite velocity or acceleration limit makes construction fail (refuse to start).
    """
    lower = np.asarray(lower_rad, dtype=float)
    upper = np.asarray(upper_rad, dtype=float)
    margin = config.position_margin_rad
    velocity = np.minimum(np.asarray(velocity_rad_s, float), config.max_joint_velocity_rad_s)
    velocity = np.where(velocity > 0.0, velocity, np.inf)  # URDF velocity="0" means unknown
    return EffectiveLimits(
        names=tuple(names),
        lower_rad=lower + margin,
        upper_rad=upper - margin,
        hard_lower_rad=lower.copy(),
        hard_upper_rad=upper.copy(),
        velocity_rad_s=velocity * config.velocity_scale,
        acceleration_rad_s2=np.minimum(
            np.asarray(acceleration_rad_s2, float), config.max_joint_acceleration_rad_s2
        ),
        jerk_rad_s3=np.minimum(np.asarray(jerk_rad_s3, float), config.max_joint_jerk_rad_s3),
    )


def clamp_positions(positions: np.ndarray, limits: EffectiveLimits) -> np.ndarray:
    """Clamp (..., J) positions into [lower + margin, upper - margin]."""
    # np.clip's values, without its Python-level wrapper (this runs for every command)
    return np.minimum(np.maximum(positions, limits.lower_rad), limits.upper_rad)


def braking_velocity_limit(
    distance: float | np.ndarray,
    deceleration: float | np.ndarray,
    period_s: float,
    final_speed: float | np.ndarray = 0.0,
) -> float | np.ndarray:
    """Largest speed from which a discrete-time controller still stops within `distance`.

    Continuous form v = sqrt(2 a d); with a control period dt the speed applies for one
    more step before braking starts, so solve (v^2 - v_f^2) / (2a) + v dt <= d:
    v = -a dt + sqrt((a dt)^2 + v_f^2 + 2 a d). Zero or negative distance gives 0.
    """
    d = np.maximum(distance, 0.0)
    a = np.asarray(deceleration, dtype=float)
    a_dt = a * period_s
    v = -a_dt + np.sqrt(a_dt * a_dt + np.square(final_speed) + 2.0 * a * d)
    v = np.maximum(v, 0.0)
    return float(v) if np.ndim(v) == 0 else v


def toward_bound_velocity_cap(
    positions: np.ndarray, velocities: np.ndarray, limits: EffectiveLimits, period_s: float
) -> np.ndarray:
    """Per-joint speed cap: a joint moving toward a bound slows and halts at the margin."""
    to_upper = limits.upper_rad - positions
    to_lower = positions - limits.lower_rad
    distance = np.where(velocities >= 0.0, to_upper, to_lower)
    cap = np.asarray(braking_velocity_limit(distance, limits.acceleration_rad_s2, period_s))
    return np.minimum(cap, limits.velocity_rad_s)


def servo_collision_scale(
    distance_m: float, slowdown_distance_m: float, stop_distance_m: float
) -> float:
    """MoveIt Servo's exponential proximity law: 1 at the threshold, 0 at stop distance.

    scale = exp(lambda (d - d_slow)) with lambda = ln(1000) / (d_slow - d_stop), so the
    scale is 1e-3 at d_stop; at or below d_stop it is exactly 0 (stop short of contact).
    """
    if not math.isfinite(distance_m):
        return 1.0 if distance_m > 0 else 0.0
    if distance_m >= slowdown_distance_m:
        return 1.0
    if distance_m <= stop_distance_m:
        return 0.0
    rate = math.log(1000.0) / (slowdown_distance_m - stop_distance_m)
    return math.exp(rate * (distance_m - slowdown_distance_m))
