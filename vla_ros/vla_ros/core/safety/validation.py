"""Input validation: a proposal that fails any check is rejected whole (fail closed)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from vla_ros.core.safety.types import JointCommand, JointStateSample, TwistCommand


def check_stamp(
    stamp_s: float, now_s: float, max_age_s: float, future_tolerance_s: float, what: str
) -> None:
    """ValueError when a stamp is not finite, older than max_age_s or from the future."""
    if not math.isfinite(stamp_s) or stamp_s <= 0.0:
        raise ValueError(f"{what} has no valid stamp ({stamp_s})")
    age = now_s - stamp_s
    if age > max_age_s:
        raise ValueError(f"{what} is stale: {age:.3f} s old (limit {max_age_s} s)")
    if -age > future_tolerance_s:
        raise ValueError(f"{what} is from the future: {-age:.3f} s ahead")


def column_order(names: Sequence[str], expected: Sequence[str], what: str) -> np.ndarray:
    """Indices that reorder `names` into `expected`; unknown, missing or repeated names fail."""
    names = list(names)
    if len(set(names)) != len(names):
        raise ValueError(f"{what} repeats joint names: {names}")
    unknown = [n for n in names if n not in expected]
    missing = [n for n in expected if n not in names]
    if unknown or missing:
        raise ValueError(f"{what} joints do not match: unknown {unknown}, missing {missing}")
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[n] for n in expected], dtype=int)


class ValidatedCommand(NamedTuple):
    """A proposal that passed validation, split into arm and gripper columns."""

    times_rel: np.ndarray  # (N,) point times relative to now [s]
    positions: np.ndarray  # (N, J) arm positions in the filter's joint order
    gripper_names: tuple[str, ...]  # gripper joints the proposal commands (model order)
    gripper_positions: np.ndarray  # (N, G) their positions, G = len(gripper_names)


@functools.lru_cache(maxsize=64)
def _command_columns(
    names: tuple[str, ...], arm: tuple[str, ...], gripper: tuple[str, ...], what: str
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """(arm column order, gripper joints present, their columns) of a proposal's names.

    Every arm joint must be there; gripper joints are optional; anything else, or a repeated
    name, fails. Cached: a policy sends the same names with every command.
    """
    if len(set(names)) != len(names):
        raise ValueError(f"{what} repeats joint names: {list(names)}")
    unknown = [n for n in names if n not in arm and n not in gripper]
    missing = [n for n in arm if n not in names]
    if unknown or missing:
        raise ValueError(f"{what} joints do not match: unknown {unknown}, missing {missing}")
    index = {n: i for i, n in enumerate(names)}
    arm_order = np.array([index[n] for n in arm], dtype=int)
    present = tuple(n for n in gripper if n in index)
    gripper_order = np.array([index[n] for n in present], dtype=int)
    arm_order.flags.writeable = False  # shared by every call with these names
    gripper_order.flags.writeable = False
    return arm_order, present, gripper_order


def validated_command(
    command: JointCommand,
    joint_names: Sequence[str],
    now_s: float,
    max_age_s: float,
    future_tolerance_s: float,
    gripper_names: Sequence[str] = (),
) -> ValidatedCommand:
    """The proposal with times relative to now and columns split into arm (`joint_names`
    order) and gripper (`gripper_names` it contains), or ValueError. NaN/inf anywhere, in an
    arm or a gripper column, rejects the whole proposal."""
    check_stamp(command.stamp_s, now_s, max_age_s, future_tolerance_s, "command")
    times = np.asarray(command.times_s, dtype=float)
    positions = np.asarray(command.positions, dtype=float)
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"command needs at least one point, got times of shape {times.shape}")
    if positions.shape != (times.size, len(command.joint_names)):
        raise ValueError(
            f"positions shape {positions.shape} does not fit {times.size} points x "
            f"{len(command.joint_names)} joints"
        )
    if not (np.isfinite(times).all() and np.isfinite(positions).all()):
        raise ValueError("command contains NaN or inf")
    if times[0] < 0.0 or (times.size > 1 and float(np.min(np.diff(times))) <= 0.0):
        raise ValueError("command times must be >= 0 and strictly increasing")
    arm_order, present, gripper_order = _command_columns(
        tuple(command.joint_names), tuple(joint_names), tuple(gripper_names), "command"
    )
    return ValidatedCommand(
        command.stamp_s + times - now_s,
        positions[:, arm_order],
        present,
        positions[:, gripper_order],
    )


def validated_joint_state(
    sample: JointStateSample, joint_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Measured positions (and velocities) in `joint_names` order; extra joints are ignored."""
    names = list(sample.names)
    if len(set(names)) != len(names):
        raise ValueError(f"joint state repeats names: {names}")
    missing = [n for n in joint_names if n not in names]
    if missing:
        raise ValueError(f"joint state is missing joints {missing}")
    positions = np.asarray(sample.positions, dtype=float).reshape(-1)
    if positions.size != len(names):
        raise ValueError(f"joint state has {len(names)} names but {positions.size} positions")
    index = [names.index(n) for n in joint_names]
    q = positions[index]
    if not np.all(np.isfinite(q)):
        raise ValueError("joint state positions contain NaN or inf")
    v = None
    if sample.velocities is not None and np.asarray(sample.velocities).size:
        velocities = np.asarray(sample.velocities, dtype=float).reshape(-1)
        if velocities.size != len(names):
            raise ValueError(
                f"joint state has {len(names)} names but {velocities.size} velocities"
            )
        v = velocities[index]
        if not np.all(np.isfinite(v)):
            raise ValueError("joint state velocities contain NaN or inf")
    return q, v


def validated_twist(
    command: TwistCommand, now_s: float, max_age_s: float, future_tolerance_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """(linear (3,), angular (3,)) or ValueError."""
    check_stamp(command.stamp_s, now_s, max_age_s, future_tolerance_s, "twist")
    if command.target not in ("end_effector", "base"):
        raise ValueError(f"twist target must be end_effector or base, got {command.target!r}")
    linear = np.asarray(command.linear_m_s, dtype=float).reshape(-1)
    angular = np.asarray(command.angular_rad_s, dtype=float).reshape(-1)
    if linear.size != 3 or angular.size != 3:
        raise ValueError("twist needs 3 linear and 3 angular components")
    if not (np.all(np.isfinite(linear)) and np.all(np.isfinite(angular))):
        raise ValueError("twist contains NaN or inf")
    return linear, angular
