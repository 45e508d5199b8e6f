"""Path gate: every interpolated state is checked for collisions and Cartesian zones."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vla_ros.core.safety.config import Box, CollisionGateConfig
from vla_ros.core.safety.limits import servo_collision_scale

# Frames this close to a zone boundary [m] are tested on pinocchio's positions, not on the
# path query's numpy ones (which agree to ~1e-15 m, checked to 1e-9 m on construction).
_ZONE_GUARD_M = 1e-6


class KinematicModel(Protocol):
    """The parts of vla_ros.core.robot_model.RobotModel the safety filter uses."""

    joint_names: tuple[str, ...]
    base_frame: str
    tool_frame: str

    def fk(self, q: np.ndarray, frame: str | None = None) -> np.ndarray: ...

    def link_points(self, q: np.ndarray) -> np.ndarray: ...

    def jacobian(self, q: np.ndarray, frame: str | None = None) -> np.ndarray: ...


class StateChecker(Protocol):
    """The collision-check call the gate makes (CollisionChecker.check)."""

    def check(self, q: np.ndarray, *, with_distance: bool = True) -> object: ...


@dataclass(frozen=True)
class StateVerdict:
    """One checked state."""

    valid: bool  # collision-free with clearance and inside the Cartesian zones
    scale: float  # MoveIt Servo proximity speed scale at this state [0..1]
    obstacle_distance_m: float  # smallest scene or self clearance (inf when unchecked)
    reason: str  # "" when valid, else why not
    colliding_pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PathVerdict:
    """The gate's answer for a path checked state by state from its first state."""

    scales: tuple[float, ...]  # proximity speed scale of each valid state, in order
    min_obstacle_distance_m: float  # smallest clearance over those states (inf: none)
    failure: StateVerdict | None  # the first state that failed (None: every state valid)


class PathGate:
    """Checks single states; the filter walks a path through it and stops short of failures."""

    def __init__(
        self,
        model: KinematicModel,
        checker: StateChecker | None,
        config: CollisionGateConfig,
        workspace: Box | None,
        keep_out_zones: Sequence[Box],
        cartesian_frames: Sequence[str],
    ) -> None:
        self._model = model
        self._checker = checker if config.enabled else None
        self._config = config
        self._workspace = workspace
        self._keep_out = tuple(keep_out_zones)
        self._frames = tuple(cartesian_frames) if (workspace or keep_out_zones) else ()
        # the embedded checker answers distances and frame positions from one FK, no report
        self._state_distances = getattr(self._checker, "state_distances", None)
        # ... and whole paths with distances only where they can matter (walk)
        self._path_query = getattr(self._checker, "path_query", None)
        guard = _ZONE_GUARD_M
        # (min x, y, z, max x, y, z) of the workspace shrunk and the keep-out zones grown
        self._workspace_inner = (
            None
            if workspace is None
            else tuple(float(v) + guard for v in workspace.min_m)
            + tuple(float(v) - guard for v in workspace.max_m)
        )
        self._keep_out_outer = [
            tuple(float(v) - guard for v in z.min_m) + tuple(float(v) + guard for v in z.max_m)
            for z in self._keep_out
        ]
        # clearances above these change no verdict's validity or scale
        self._self_limit = max(config.self_slowdown_distance_m, config.self_stop_distance_m)
        self._scene_limit = max(config.slowdown_distance_m, config.stop_distance_m)

    def frame_positions(self, q: np.ndarray) -> np.ndarray:
        """(F, 3) positions of the monitored frames in the base frame."""
        return np.array([self._model.fk(q, frame)[:3, 3] for frame in self._frames])

    def check(self, q: np.ndarray) -> StateVerdict:
        """Cartesian zones, then collisions with distances (a zone failure takes precedence).

        With a checker that answers distances and frame positions from one forward kinematics
        (the embedded one), both come from that query; otherwise the zones are tested first on
        the model's FK and a failure skips the collision query.
        """
        if self._state_distances is not None:
            state = self._state_distances(q, self._frames)
            zone = self._zone_verdict(state.frame_positions) if self._frames else None
            if zone is not None:
                return zone
            return self._verdict(
                state.in_collision,
                state.min_scene_distance_m,
                state.min_self_distance_m,
                state.colliding_pairs,
            )
        if self._frames:
            positions = [self._model.fk(q, frame)[:3, 3].tolist() for frame in self._frames]
            zone = self._zone_verdict(positions)
            if zone is not None:
                return zone
        if self._checker is None:
            return StateVerdict(True, 1.0, math.inf, "")
        report = self._checker.check(q, with_distance=True)
        return self._verdict(
            bool(getattr(report, "in_collision", False)),
            float(getattr(report, "min_scene_distance_m", math.inf)),
            float(getattr(report, "min_self_distance_m", math.inf)),
            tuple(getattr(report, "colliding_pairs", ())),
        )

    def walk(self, states: np.ndarray) -> PathVerdict:
        """check() each state in order, up to the first that fails.

        With the embedded checker's path query, a state's verdict is the one check() gives
        (collision flag, pairs and every clearance that decides validity or scale are
        coal's, the pairs skipped are farther than any threshold), and the smallest
        clearance over the valid states is the exact minimum over all their pairs.
        """
        query = None
        if self._path_query is not None and len(states):
            query = self._path_query(states, self._frames)
        scales: list[float] = []
        if query is None:
            nearest = math.inf
            for q in states:
                verdict = self.check(q)
                if not verdict.valid:
                    return PathVerdict(tuple(scales), nearest, verdict)
                scales.append(verdict.scale)
                nearest = min(nearest, verdict.obstacle_distance_m)
            return PathVerdict(tuple(scales), nearest, None)
        self_limit, scene_limit = self._self_limit, self._scene_limit
        cfg = self._config
        failure = None
        near_zone = self._zone_flags(query.approximate_frame_positions, len(states))
        for index in range(len(states)):
            if near_zone[index]:
                failure = self._zone_verdict(query.frame_positions(index))
                if failure is not None:
                    break
            self_d, scene_d, pairs = query.minima(index, self_limit, scene_limit)
            if self_d == scene_d == math.inf:  # nothing within the limits, so no contact
                scales.append(1.0)
                continue
            if not pairs and scene_d > cfg.stop_distance_m and self_d > cfg.self_stop_distance_m:
                scales.append(  # valid: _verdict's scale
                    min(
                        servo_collision_scale(
                            scene_d, cfg.slowdown_distance_m, cfg.stop_distance_m
                        ),
                        servo_collision_scale(
                            self_d, cfg.self_slowdown_distance_m, cfg.self_stop_distance_m
                        ),
                    )
                )
                continue
            verdict = self._verdict(bool(pairs), scene_d, self_d, pairs)
            if not verdict.valid:
                # its clearance min(scene, self) as check() reports it: both classes exact
                # up to the larger limit, which bounds the failing one
                both = max(self_limit, scene_limit)
                self_d, scene_d, pairs = query.minima(index, both, both)
                failure = self._verdict(bool(pairs), scene_d, self_d, pairs)
                break
            scales.append(verdict.scale)
        return PathVerdict(tuple(scales), query.min_distance(len(scales)), failure)

    def _zone_flags(self, positions: np.ndarray | None, count: int) -> list[bool]:
        """Per state, whether its zone verdict must be computed from pinocchio's frame
        positions: some frame lies outside the workspace shrunk by _ZONE_GUARD_M or inside
        a keep-out zone grown by it (all states without approximate positions). Elsewhere
        the exact positions (within 1e-9 m) pass every zone test too: no failure."""
        if not self._frames:
            return [False] * count
        if positions is None:
            return [True] * count
        flags = []
        inner, outer = self._workspace_inner, self._keep_out_outer
        # plain float comparisons: a few states and frames, every command
        for frames in positions.tolist():
            flag = False
            for x, y, z in frames:
                if inner is not None and not (
                    inner[0] < x < inner[3] and inner[1] < y < inner[4] and inner[2] < z < inner[5]
                ):
                    flag = True
                    break
                for lo_x, lo_y, lo_z, hi_x, hi_y, hi_z in outer:
                    if lo_x <= x <= hi_x and lo_y <= y <= hi_y and lo_z <= z <= hi_z:
                        flag = True
                        break
                if flag:
                    break
            flags.append(flag)
        return flags

    def _zone_verdict(self, positions: Sequence[Sequence[float]]) -> StateVerdict | None:
        """A failing verdict when a monitored frame is outside the workspace or in a keep-out
        zone; None when every frame is fine."""
        for x, y, z in positions:
            # plain float comparisons: this runs for every checked state of every command
            ws = self._workspace
            if ws is not None and not (
                ws.min_m[0] <= x <= ws.max_m[0]
                and ws.min_m[1] <= y <= ws.max_m[1]
                and ws.min_m[2] <= z <= ws.max_m[2]
            ):
                return StateVerdict(False, 0.0, math.inf, "outside_workspace")
            for zone in self._keep_out:
                lo, hi = zone.min_m, zone.max_m
                if lo[0] <= x <= hi[0] and lo[1] <= y <= hi[1] and lo[2] <= z <= hi[2]:
                    return StateVerdict(False, 0.0, math.inf, f"inside_keep_out:{zone.name}")
        return None

    def _verdict(
        self,
        in_collision: bool,
        scene_d: float,
        self_d: float,
        pairs: tuple[tuple[str, str], ...],
    ) -> StateVerdict:
        cfg = self._config
        if in_collision:
            return StateVerdict(False, 0.0, min(scene_d, self_d, 0.0), "collision", pairs)
        distance = min(scene_d, self_d)
        if scene_d <= cfg.stop_distance_m or self_d <= cfg.self_stop_distance_m:
            return StateVerdict(False, 0.0, distance, "too_close_to_obstacle")
        scale = min(
            servo_collision_scale(scene_d, cfg.slowdown_distance_m, cfg.stop_distance_m),
            servo_collision_scale(self_d, cfg.self_slowdown_distance_m, cfg.self_stop_distance_m),
        )
        return StateVerdict(True, scale, distance, "")
