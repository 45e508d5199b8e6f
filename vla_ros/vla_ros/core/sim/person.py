"""Scripted walk of the simulated person: in from afar, past the cell, out again.

The walk is a straight line tangent to a circle around the robot base, so the closest
approach to the base is exactly `closest_approach_m`, reached at the line's midpoint where
the person may pause. Outside [start, end] the person is away (not in the scene).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WALK_HALF_LENGTH_M = 3.5  # from the entry point to the closest approach


@dataclass(frozen=True)
class PersonSchedule:
    """One episode's walk; positions are the point between the feet, base frame, metres."""

    start_time_s: float  # [s] episode time at which the person appears at the entry point
    speed_m_s: float  # [m/s] walking speed
    closest_approach_m: float  # [m] horizontal distance from the robot base at the closest point
    bearing_rad: float  # [rad] direction of the closest point seen from the base (0 = +x)
    pause_s: float = 0.0  # [s] standing still at the closest point
    walk_sign: float = 1.0  # +1 / -1: which way along the tangent line the person walks
    floor_z_m: float = -0.75  # [m] floor height in the base frame

    def __post_init__(self) -> None:
        if self.speed_m_s <= 0.0 or not math.isfinite(self.speed_m_s):
            raise ValueError(f"speed_m_s must be > 0, got {self.speed_m_s}")
        if self.closest_approach_m <= 0.0:
            raise ValueError(f"closest_approach_m must be > 0, got {self.closest_approach_m}")
        if self.pause_s < 0.0 or self.start_time_s < 0.0:
            raise ValueError("pause_s and start_time_s must be >= 0")
        if self.walk_sign not in (-1.0, 1.0):
            raise ValueError("walk_sign must be +1 or -1")

    @property
    def closest_point_m(self) -> np.ndarray:
        """(x, y) of the closest approach."""
        return self.closest_approach_m * np.array(
            [math.cos(self.bearing_rad), math.sin(self.bearing_rad)]
        )

    @property
    def _direction(self) -> np.ndarray:
        return self.walk_sign * np.array([-math.sin(self.bearing_rad), math.cos(self.bearing_rad)])

    @property
    def walk_duration_s(self) -> float:
        """[s] from appearing to leaving."""
        return 2.0 * WALK_HALF_LENGTH_M / self.speed_m_s + self.pause_s

    @property
    def closest_time_s(self) -> float:
        """[s] episode time at which the person reaches the closest point."""
        return self.start_time_s + WALK_HALF_LENGTH_M / self.speed_m_s

    def pose_at(self, time_s: float) -> tuple[np.ndarray, float] | None:
        """((x, y, z) of the feet, heading yaw in rad) at episode time, or None when away."""
        elapsed = time_s - self.start_time_s
        if elapsed < 0.0 or elapsed > self.walk_duration_s:
            return None
        to_closest = WALK_HALF_LENGTH_M / self.speed_m_s
        if elapsed <= to_closest:
            along = -WALK_HALF_LENGTH_M + elapsed * self.speed_m_s
        elif elapsed <= to_closest + self.pause_s:
            along = 0.0
        else:
            along = (elapsed - to_closest - self.pause_s) * self.speed_m_s
        xy = self.closest_point_m + along * self._direction
        yaw = math.atan2(self._direction[1], self._direction[0])
        return np.array([xy[0], xy[1], self.floor_z_m]), yaw


def sample_person(
    rng: np.random.Generator, episode_time_limit_s: float, floor_z_m: float
) -> PersonSchedule:
    """A random walk past the cell that reaches its closest point within the episode."""
    speed = float(rng.uniform(0.8, 1.4))
    to_closest = WALK_HALF_LENGTH_M / speed
    latest_closest = max(episode_time_limit_s * 0.8, to_closest + 0.5)
    closest_time = float(rng.uniform(min(to_closest + 0.5, latest_closest), latest_closest))
    # beside the table (left/right) or behind the robot; the camera faces the robot. The walk
    # passes the table's sides (0.7 m from the base) and its back edge (0.3 m) with room for
    # the body.
    side = int(rng.choice(3))
    bearing = {0: math.pi / 2, 1: -math.pi / 2, 2: math.pi}[side]
    bearing += float(rng.uniform(-0.1, 0.1))
    nearest = 0.6 if side == 2 else 1.05
    return PersonSchedule(
        start_time_s=closest_time - to_closest,
        speed_m_s=speed,
        closest_approach_m=float(rng.uniform(nearest, nearest + 0.6)),
        bearing_rad=bearing,
        pause_s=float(rng.uniform(0.0, 2.0)),
        walk_sign=float(rng.choice([-1.0, 1.0])),
        floor_z_m=floor_z_m,
    )
