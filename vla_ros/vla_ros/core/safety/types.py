"""Value types crossing the safety filter's boundary (ROS-free; the node converts messages)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class SafetyState(IntEnum):
    """Same numbering as vla_ros_msgs/SafetyStatus STATE_*; a higher value is more restrictive."""

    OK = 0
    SLOWED = 1
    HOLD = 2
    STOPPED = 3
    ESTOP = 4


@dataclass(frozen=True)
class JointCommand:
    """A proposed joint motion: a chunk of (time, positions) points, or one target point."""

    joint_names: tuple[str, ...]  # column order of positions
    times_s: np.ndarray  # (N,) time of each point after stamp_s [s]
    positions: np.ndarray  # (N, J) [rad or m]
    stamp_s: float  # when the proposal was made (its points are relative to this) [s]


@dataclass(frozen=True)
class TwistCommand:
    """A proposed Cartesian velocity of the end effector or of a mobile base (base frame)."""

    linear_m_s: np.ndarray  # (3,)
    angular_rad_s: np.ndarray  # (3,)
    stamp_s: float  # [s]
    target: str = "end_effector"  # "end_effector" or "base"


@dataclass(frozen=True)
class JointStateSample:
    """Measured joint state, in any joint order."""

    names: tuple[str, ...]
    positions: np.ndarray  # (J,)
    velocities: np.ndarray | None  # (J,) or None when not measured
    received_s: float  # when it arrived (watchdogs use arrival, not the sender's clock) [s]


@dataclass(frozen=True)
class FilteredTrajectory:
    """The motion the filter lets through: samples every output period, ending at rest."""

    joint_names: tuple[str, ...]
    stamp_s: float  # start time; sample k is at stamp_s + times_s[k] [s]
    times_s: np.ndarray  # (K,) [s]
    positions: np.ndarray  # (K, J)
    velocities: np.ndarray  # (K, J) mean velocity over the period ending at each sample
    start_positions: np.ndarray  # (J,) where the motion starts at stamp_s
    start_velocities: np.ndarray  # (J,) velocity of the previous output at stamp_s


@dataclass(frozen=True)
class GripperCommand:
    """The gripper part of a proposal the filter lets through, clamped into the limits."""

    joint_names: tuple[str, ...]
    stamp_s: float  # the proposal's stamp; point k is at stamp_s + times_s[k] [s]
    times_s: np.ndarray  # (N,) the proposal's own point times [s]
    positions: np.ndarray  # (N, G) inside the gripper's position limits, finite


@dataclass(frozen=True)
class SafetyStatusData:
    """What /safety/status reports."""

    state: SafetyState
    speed_scale: float = 1.0
    min_separation_m: float = math.inf
    protective_separation_m: float = 0.0
    min_obstacle_distance_m: float = math.inf
    reasons: tuple[str, ...] = ()
    estop_latched: bool = False
    commands_received: int = 0
    commands_passed: int = 0
    commands_modified: int = 0
    commands_rejected: int = 0
    estop_count: int = 0
    colliding_pairs: tuple[tuple[str, str], ...] = ()
    allowed_robot_speed_m_s: float = math.inf


@dataclass(frozen=True)
class FilterResult:
    """Outcome of one proposed command (or of one watchdog cycle)."""

    status: SafetyStatusData
    trajectory: FilteredTrajectory | None = None  # None: nothing new to send
    twist: TwistCommand | None = None
    accepted: bool = False  # the proposal (possibly modified) went through
    error: str = ""  # why a proposal was rejected
    # None: no new gripper target; the gripper holds the last one the filter let through
    # (SafetyFilter.gripper_hold). Only an accepted proposal while OK/SLOWED moves it.
    gripper: GripperCommand | None = None
