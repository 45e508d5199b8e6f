"""Shared set-up and independent invariant checks for the safety filter tests."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np

from vla_ros.core.collision import EmbeddedCollisionChecker, SceneObject
from vla_ros.core.resources import resource_path
from vla_ros.core.robot_config import load_robot
from vla_ros.core.safety import SafetyConfig, SafetyFilter
from vla_ros.core.safety.build import build_filter, load_safety_file
from vla_ros.core.safety.types import FilteredTrajectory

ROBOTS = ("vla_arm6", "arm7")
# An obstacle in the arm's reach so that random motions run into it.
OBSTACLE = SceneObject(
    name="post", shape="box", dimensions=(0.12, 0.12, 0.6), position_m=(0.35, 0.25, 0.3)
)


def load(robot: str):
    """(robot config, model) of one of the project's robots."""
    return load_robot(resource_path("config", "robots", f"{robot}.yaml"))


def safety_config(**overrides) -> SafetyConfig:
    """The shipped safety.yaml, with perception not required unless a test says so."""
    config = load_safety_file(resource_path("config", "safety.yaml")).config
    watchdog = replace(config.watchdog, require_perception=False)
    return replace(config, watchdog=watchdog, **overrides)


def make_filter(robot: str, config: SafetyConfig | None = None, *, obstacle: bool = True):
    """(filter, model, independent checker) with the post obstacle in the scene."""
    _, model = load(robot)
    config = config or safety_config()
    contacts = (("base_link", "table"),)
    scene = [OBSTACLE.to_dict()] if obstacle else []
    safety = build_filter(model, config, scene=scene, allowed_scene_contacts=contacts)
    # the test's own checker: separate pinocchio data, same model and scene
    checker = EmbeddedCollisionChecker(model, allowed_scene_contacts=contacts)
    checker.set_scene([OBSTACLE] if obstacle else [])
    return safety, model, checker


def cold_gjk(checker: EmbeddedCollisionChecker) -> None:
    """Start every GJK of the checker from the default guess: its answers then do not depend
    on earlier queries (pinocchio warm-starts each pair from its last answer, which moves
    distances by up to ~1e-6 m), so two query paths must agree to the bit."""
    import warnings

    import pinocchio as pin

    checker._path_geom_data_for(64)  # the path queries' data, created now
    datas = []
    for value in vars(checker).values():
        values = value if isinstance(value, list) else [value]
        datas += [v for v in values if isinstance(v, pin.GeometryData)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # enable_cached_gjk_guess
        for data in datas:
            for request in data.distanceRequests:
                request.enable_cached_gjk_guess = False


def interpolate(points: np.ndarray, resolution: float) -> np.ndarray:
    """States along a polyline, no joint moving more than `resolution` between neighbours."""
    out = [points[0]]
    for a, b in itertools.pairwise(points):
        n = max(1, math.ceil(float(np.max(np.abs(b - a))) / resolution))
        for k in range(1, n + 1):
            out.append(a + (b - a) * k / n)
    return np.asarray(out)


class InvariantChecker:
    """Asserts the filter's promises on every output, independently of its implementation."""

    def __init__(self, safety: SafetyFilter, model, checker) -> None:
        self.safety = safety
        self.model = model
        self.checker = checker
        self.limits = safety.limits
        self.dt = safety.config.output_period_s
        self.states_checked = 0

    def check(
        self,
        trajectory: FilteredTrajectory,
        *,
        allowed_speed_m_s: float,
        hard_stop: bool = False,
        ssm_horizon_s: float = math.inf,
    ) -> None:
        lim = self.limits
        q = trajectory.positions
        assert np.all(np.isfinite(q)) and np.all(np.isfinite(trajectory.velocities))
        assert np.all(np.isfinite(trajectory.times_s))
        tol = 1e-9
        start = trajectory.start_positions
        inside = np.all(start >= lim.lower_rad - tol) and np.all(start <= lim.upper_rad + tol)
        if inside:
            assert np.all(q >= lim.lower_rad - tol), (q.min(0), lim.lower_rad)
            assert np.all(q <= lim.upper_rad + tol), (q.max(0), lim.upper_rad)
        assert np.all(q >= lim.hard_lower_rad - tol) and np.all(q <= lim.hard_upper_rad + tol)
        full = np.vstack([start[None, :], q])
        v = np.diff(full, axis=0) / self.dt
        assert np.all(np.abs(v) <= lim.velocity_rad_s * (1 + 1e-9) + 1e-12), np.abs(v).max(0)
        v_all = np.vstack([trajectory.start_velocities[None, :], v, np.zeros((1, v.shape[1]))])
        a = np.diff(v_all, axis=0) / self.dt
        if hard_stop:  # stopping short of a failing state may brake harder at the very end
            a = a[:-2]
        # the path follower budgets acceleration; allow float noise only
        assert np.all(np.abs(a) <= lim.acceleration_rad_s2 * (1 + 1e-6) + 1e-9), (
            np.abs(a).max(0),
            lim.acceleration_rad_s2,
        )
        # no state in collision along the path the controller interpolates
        resolution = self.safety.config.collision.joint_resolution_rad
        for state in interpolate(full, resolution):
            assert not self.checker.check(state, with_distance=False).in_collision, state
            self.states_checked += 1
        # SSM: no robot point faster than allowed (chord approximation, 10 % slack), or slowing
        if math.isfinite(allowed_speed_m_s) and len(q) > 0:
            # link_points costs ~80 us: the bulk tests check the part that runs before the
            # next command arrives, and every n-th output in full
            count = (
                len(full) if math.isinf(ssm_horizon_s) else 1 + math.ceil(ssm_horizon_s / self.dt)
            )
            points = np.stack([self.model.link_points(x) for x in full[:count]])
            speeds = np.max(np.linalg.norm(np.diff(points, axis=0), axis=2), axis=1) / self.dt
            for k, speed in enumerate(speeds):
                ok = speed <= allowed_speed_m_s * 1.1 + 1e-6 or (k > 0 and speed <= speeds[k - 1])
                if k == 0 and not ok:
                    v0 = trajectory.start_velocities
                    moved = self.model.link_points(start + v0 * self.dt) - points[0]
                    ok = speed <= np.max(np.linalg.norm(moved, axis=1)) / self.dt + 1e-6
                assert ok, (k, speed, allowed_speed_m_s)
