"""ROS-free safety filter: validation, joint and Cartesian limits, collision gate, ISO/TS 15066
speed and separation monitoring, watchdogs and the safety state machine."""

from __future__ import annotations

from vla_ros.core.safety.config import (
    Box,
    CollisionGateConfig,
    JointLimitConfig,
    SafetyConfig,
    SsmConfig,
    TwistLimitConfig,
    WatchdogConfig,
)
from vla_ros.core.safety.filter import SafetyFilter
from vla_ros.core.safety.limits import EffectiveLimits, GripperLimits, effective_limits
from vla_ros.core.safety.ssm import Human
from vla_ros.core.safety.types import (
    FilteredTrajectory,
    FilterResult,
    GripperCommand,
    JointCommand,
    JointStateSample,
    SafetyState,
    SafetyStatusData,
    TwistCommand,
)

__all__ = [
    "Box",
    "CollisionGateConfig",
    "EffectiveLimits",
    "FilterResult",
    "FilteredTrajectory",
    "GripperCommand",
    "GripperLimits",
    "Human",
    "JointCommand",
    "JointLimitConfig",
    "JointStateSample",
    "SafetyConfig",
    "SafetyFilter",
    "SafetyState",
    "SafetyStatusData",
    "SsmConfig",
    "TwistCommand",
    "TwistLimitConfig",
    "WatchdogConfig",
    "effective_limits",
]
