"""ISO/TS 15066 speed and separation monitoring (SSM) as pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vla_ros.core.safety.config import SsmConfig


@dataclass(frozen=True)
class Human:
    """A person near the robot, in the robot base frame."""

    position_m: tuple[float, float, float]  # nearest point of the person [m]
    velocity_m_s: tuple[float, float, float] = (0.0, 0.0, 0.0)  # estimated velocity [m/s]
    position_uncertainty_m: float = 0.0  # 1-sigma radius of the estimate [m]

    def __post_init__(self) -> None:
        values = [*self.position_m, *self.velocity_m_s, self.position_uncertainty_m]
        if len(self.position_m) != 3 or len(self.velocity_m_s) != 3:
            raise ValueError("human position and velocity need x, y, z")
        if not all(math.isfinite(v) for v in values) or self.position_uncertainty_m < 0.0:
            raise ValueError(f"human detection has NaN/inf or negative uncertainty: {values}")


@dataclass(frozen=True)
class SsmResult:
    """Separation to the nearest person and the robot speed ISO/TS 15066 allows there."""

    min_separation_m: float  # nearest person to any robot point; inf when nobody is seen
    protective_separation_m: float  # S_p at the current robot speed
    protective_separation_at_rest_m: float  # S_p with v_r = 0: inside it the robot must stop
    allowed_robot_speed_m_s: float  # max speed of any robot point now (0: stop)
    nearest_human_index: int  # -1 when nobody is seen


def human_speed_toward(human: Human, robot_points_m: np.ndarray, config: SsmConfig) -> float:
    """Approach speed used in S_h: the configured speed, or faster if measured so."""
    if robot_points_m.size == 0:
        return config.human_speed_m_s
    position = np.asarray(human.position_m)
    nearest = robot_points_m[np.argmin(np.linalg.norm(robot_points_m - position, axis=1))]
    direction = nearest - position
    norm = float(np.linalg.norm(direction))
    measured = float(np.dot(human.velocity_m_s, direction / norm)) if norm > 1e-9 else 0.0
    return max(config.human_speed_m_s, measured)


def protective_separation_m(
    robot_speed_m_s: float, human_speed_m_s: float, zd_m: float, config: SsmConfig
) -> float:
    """S_p = S_h + S_r + S_s + C + Z_d + Z_r (ISO/TS 15066 eq. 1, constant speeds).

    S_h = v_h (T_r + T_s): the person keeps walking until the robot stands still;
    S_r = v_r T_r: the robot keeps its speed during the reaction time;
    S_s = v_r T_s / 2: linear deceleration to rest within T_s.
    """
    t_r, t_s = config.robot_reaction_time_s, config.robot_stopping_time_s
    s_h = human_speed_m_s * (t_r + t_s)
    s_r = robot_speed_m_s * t_r
    s_s = robot_speed_m_s * t_s / 2.0
    return (
        s_h + s_r + s_s + config.intrusion_distance_m + zd_m + config.robot_position_uncertainty_m
    )


def allowed_robot_speed_m_s(
    separation_m: float, human_speed_m_s: float, zd_m: float, config: SsmConfig
) -> float:
    """Solve S_p(v_r) <= separation for v_r; 0 inside S_p at rest, capped at the max speed."""
    at_rest = protective_separation_m(0.0, human_speed_m_s, zd_m, config)
    slack = separation_m - at_rest
    if slack <= 0.0:
        return 0.0
    per_speed = config.robot_reaction_time_s + config.robot_stopping_time_s / 2.0
    if per_speed <= 0.0:
        return config.max_robot_speed_m_s
    return min(config.max_robot_speed_m_s, slack / per_speed)


def separation_m(human: Human, robot_points_m: np.ndarray, radii_m: np.ndarray | None) -> float:
    """Distance from the person to the robot: to the points, or to spheres of radii_m around
    them that cover the links (never negative); inf without robot points."""
    if robot_points_m.size == 0:
        return math.inf
    distance = np.linalg.norm(robot_points_m - np.asarray(human.position_m), axis=1)
    if radii_m is not None:
        distance = distance - radii_m
    return max(float(np.min(distance)), 0.0)


def _zd(human: Human, config: SsmConfig) -> float:
    """Z_d: the larger of the configured and the detector's (scaled) position uncertainty."""
    return max(
        config.human_position_uncertainty_m,
        config.uncertainty_sigma * human.position_uncertainty_m,
    )


class PeopleDistances:
    """Keeps the (people x robot points) distances of the last people and points evaluated:
    the filter evaluates the same people (perception updates at camera rate) against the
    same cached link points for many commands in a row, where only the radii change.
    Identity decides reuse (people and points are replaced, never changed in place)."""

    def __init__(self) -> None:
        self._key: tuple[tuple[Human, ...], np.ndarray, SsmConfig] | None = None
        self._value: tuple[np.ndarray, list[float], list[float]] = (np.zeros(0), [], [])

    def get(
        self, humans: Sequence[Human], robot_points_m: np.ndarray, config: SsmConfig
    ) -> tuple[np.ndarray, list[float], list[float]]:
        """(H, P) distances, approach speeds v_h and Z_d of every person."""
        key = self._key
        if (
            key is not None
            and key[1] is robot_points_m
            and key[2] is config
            and len(key[0]) == len(humans)
            and all(a is b for a, b in zip(key[0], humans, strict=True))
        ):
            return self._value
        self._value = _distances(humans, robot_points_m, config)
        self._key = (tuple(humans), robot_points_m, config)  # strong refs: ids stay unique
        return self._value


def _distances(
    humans: Sequence[Human], robot_points_m: np.ndarray, config: SsmConfig
) -> tuple[np.ndarray, list[float], list[float]]:
    """(H, P) person-point distances, approach speed v_h and Z_d of every person (points
    not empty)."""
    positions = np.array([h.position_m for h in humans], dtype=float)  # (H, 3)
    offsets = robot_points_m[None, :, :] - positions[:, None, :]  # (H, P, 3)
    distance = np.sqrt(np.einsum("hpk,hpk->hp", offsets, offsets))  # (H, P)
    nearest = np.argmin(distance, axis=1)
    toward = offsets[np.arange(len(humans)), nearest]  # (H, 3): person -> nearest point
    norms = distance[np.arange(len(humans)), nearest].tolist()
    speeds = []
    for human, direction, norm in zip(humans, toward.tolist(), norms, strict=True):
        measured = 0.0
        if norm > 1e-9:
            vx, vy, vz = human.velocity_m_s
            measured = (vx * direction[0] + vy * direction[1] + vz * direction[2]) / norm
        speeds.append(max(config.human_speed_m_s, measured))
    return distance, speeds, [_zd(h, config) for h in humans]


def _per_human(
    humans: Sequence[Human],
    robot_points_m: np.ndarray,
    config: SsmConfig,
    radii_m: np.ndarray | None,
    cache: PeopleDistances | None = None,
) -> tuple[list[float], list[float], list[float]]:
    """Separation, approach speed v_h and Z_d of every person: the same values as
    separation_m, human_speed_toward and _zd, from one (people x points) distance matrix."""
    if robot_points_m.size == 0:
        count = len(humans)
        return (
            [math.inf] * count,
            [config.human_speed_m_s] * count,
            [_zd(h, config) for h in humans],
        )
    if cache is None:
        distance, speeds, zds = _distances(humans, robot_points_m, config)
    else:
        distance, speeds, zds = cache.get(humans, robot_points_m, config)
    gap = distance - radii_m if radii_m is not None else distance
    separations = np.maximum(np.min(gap, axis=1), 0.0).tolist()
    return separations, speeds, zds


def evaluate_ssm(
    humans: Sequence[Human],
    robot_points_m: np.ndarray,
    robot_speed_m_s: float,
    config: SsmConfig,
    *,
    radii_m: np.ndarray | None = None,
    cache: PeopleDistances | None = None,
) -> SsmResult:
    """SSM for every person against every robot point; the most restrictive person wins.
    `cache` reuses the people-point distances of the same people and points."""
    if not config.enabled or not humans:
        return SsmResult(math.inf, 0.0, 0.0, config.max_robot_speed_m_s, -1)
    separations, speeds, zds = _per_human(humans, robot_points_m, config, radii_m, cache)
    best: SsmResult | None = None
    for index, (separation, v_h, zd) in enumerate(zip(separations, speeds, zds, strict=True)):
        allowed = allowed_robot_speed_m_s(separation, v_h, zd, config)
        if best is None or (allowed, separation) < (
            best.allowed_robot_speed_m_s,
            best.min_separation_m,
        ):
            best = SsmResult(
                min_separation_m=separation,
                protective_separation_m=protective_separation_m(robot_speed_m_s, v_h, zd, config),
                protective_separation_at_rest_m=protective_separation_m(0.0, v_h, zd, config),
                allowed_robot_speed_m_s=allowed,
                nearest_human_index=index,
            )
    assert best is not None
    return best


def humans_clear(
    humans: Sequence[Human],
    robot_points_m: np.ndarray,
    config: SsmConfig,
    *,
    radii_m: np.ndarray | None = None,
    cache: PeopleDistances | None = None,
) -> bool:
    """True when every person is beyond S_p (at rest) plus the resume hysteresis."""
    if not humans:
        return True
    separations, speeds, zds = _per_human(humans, robot_points_m, config, radii_m, cache)
    for separation, v_h, zd in zip(separations, speeds, zds, strict=True):
        rest = protective_separation_m(0.0, v_h, zd, config)
        if separation <= rest + config.resume_hysteresis_m:
            return False
    return True
