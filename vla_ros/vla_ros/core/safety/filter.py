"""The safety filter: nothing a policy proposes reaches a controller except through it.

For a joint proposal it (1) validates it (arm joints all present, gripper joints optional),
(2) clamps it into the position limits with a
margin, (3) builds the path from the current reference state through the proposal (first
braking along the current motion where the new direction cannot be taken within the
acceleration limits), (4) walks that path at the joint resolution through the collision and
Cartesian gate and cuts it before the first state that fails, (5) caps the speed on every
piece of it by the proposal's own timing, MoveIt Servo's proximity law and ISO/TS 15066 SSM,
and (6) time-parameterises it so that velocity and acceleration stay within limits and the
motion comes to rest at the end of the checked path. A proposal that fails validation is
rejected whole. Watchdogs, the e-stop latch and SSM stops brake along the current path.
The gripper columns of a proposal are clamped into the gripper's limits and let through only
with an accepted arm command while OK or SLOWED; otherwise the gripper holds its last safe
target (nothing new is sent). Each gripper point is timed to the arm: it acts no earlier than
proposed and no earlier than the filtered arm reaches the arm posture of the same point, so a
slowed or cut arm motion never leaves the gripper opening or closing ahead of the arm (a
release over the goal happens over the goal); points of postures the filtered motion does not
reach (cut short, beyond the lookahead, in the past) are held back until a later proposal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from vla_ros.core.safety import path as pathlib
from vla_ros.core.safety.config import SafetyConfig
from vla_ros.core.safety.gate import KinematicModel, PathGate, StateChecker
from vla_ros.core.safety.limits import EffectiveLimits, GripperLimits, clamp_positions
from vla_ros.core.safety.reach import max_point_speed_bound, point_speed_bound
from vla_ros.core.safety.ssm import (
    Human,
    PeopleDistances,
    SsmResult,
    evaluate_ssm,
    humans_clear,
)
from vla_ros.core.safety.state_machine import SafetyMonitor
from vla_ros.core.safety.twist import TwistLimiter
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
from vla_ros.core.safety.validation import validated_command, validated_joint_state

# Relative allowance for the chord approximation of robot point speeds between checked states.
_CHORD_MARGIN = 1.05
# Largest point displacement for which cached link points stand in for fresh ones [m].
_POINTS_REFRESH_M = 0.02
# Robot point speeds are measured over this many checked states (see _ssm_caps).
_SSM_STRIDE = 4
# Share of the SSM speed that paths are planned at. The filter re-plans every cycle, and a
# trajectory controller splices each new trajectory onto its set-point: in the simulated arm
# the executed set-point overshot the planned point-speed bound by up to 6 % in transients
# (test_sim_arm_limits). Planning at 90 % keeps the executed speed under the SSM's.
_SSM_PLANNING_SHARE = 0.9


class SafetyFilter:
    """Stateful filter for one robot; call from one thread only."""

    def __init__(
        self,
        model: KinematicModel,
        limits: EffectiveLimits,
        config: SafetyConfig,
        checker: StateChecker | None = None,
        link_point_radii_m: np.ndarray | None = None,
        reach_m: np.ndarray | None = None,
        gripper_limits: GripperLimits | None = None,
    ) -> None:
        if tuple(limits.names) != tuple(model.joint_names):
            raise ValueError(f"limits for {limits.names} but the model has {model.joint_names}")
        if config.collision.enabled and checker is None:
            raise ValueError("collision gate enabled but no collision checker given")
        self.model = model
        self.limits = limits
        self.config = config
        self.joint_names = tuple(model.joint_names)
        self.gripper_limits = GripperLimits.none() if gripper_limits is None else gripper_limits
        if set(self.gripper_limits.names) & set(self.joint_names):
            raise ValueError(f"gripper joints {self.gripper_limits.names} overlap the arm's")
        self._gripper_index = {n: i for i, n in enumerate(self.gripper_limits.names)}
        self._gripper_hold: dict[str, float] = {}  # last gripper target let through
        self.gate = PathGate(
            model,
            checker,
            config.collision,
            config.workspace,
            config.keep_out_zones,
            config.cartesian_frames,
        )
        self.monitor = SafetyMonitor(config.watchdog, config.ssm)
        self._dt = config.output_period_s
        self._path_accel = pathlib.path_acceleration_limit(
            limits.velocity_rad_s, limits.acceleration_rad_s2
        )
        self._path_jerk = float(
            pathlib.PATH_ACCELERATION_SHARE * np.min(limits.jerk_rad_s3 / limits.velocity_rad_s)
        )
        self._max_steps = max(2, math.ceil(config.max_output_horizon_s / self._dt))
        # the filter's own worst-case stop from full path speed bounds T_s in S_p
        self.stopping_time_s = max(config.ssm.robot_stopping_time_s, 1.0 / self._path_accel)
        self._ssm_config = replace(config.ssm, robot_stopping_time_s=self.stopping_time_s)
        self._radii = None if link_point_radii_m is None else np.asarray(link_point_radii_m)
        # per-joint reach bounds (reach.py) make the SSM speed cap a guarantee; without them
        # point speeds are estimated from link-point chords along the path
        self._reach = None if reach_m is None else np.asarray(reach_m, dtype=float)
        if self._reach is not None and self._reach.shape != (len(self.joint_names),):
            raise ValueError(f"reach_m needs one value per joint, got {self._reach.shape}")
        self.twist_limiter = TwistLimiter(config, self._ssm_config)
        self._points_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._measured_q: np.ndarray | None = None
        self._measured_v: np.ndarray | None = None
        self._ref_times: np.ndarray | None = None  # absolute times of the reference samples
        self._ref_positions: np.ndarray | None = None
        self._anchor_memo: tuple | None = None
        self._humans: tuple[Human, ...] = ()
        self._people = PeopleDistances()
        self._ssm = SsmResult(math.inf, 0.0, 0.0, self._ssm_config.max_robot_speed_m_s, -1)
        self._state = SafetyState.STOPPED
        self._speed_scale = 1.0
        self._obstacle_distance = math.inf
        # the last planned path's progress, for timing the gripper to the arm: the path
        # parameter of each proposed target and (sample times from now, path parameter at
        # each); None after a plan that could not follow the proposal
        self._target_arcs: np.ndarray | None = None
        self._progress: tuple[np.ndarray, np.ndarray] | None = None
        self._command_reasons: tuple[str, ...] = ()
        self._colliding: tuple[tuple[str, str], ...] = ()
        self._counts = {"received": 0, "passed": 0, "modified": 0, "rejected": 0}

    # ------------------------------------------------------------------ inputs
    def update_joint_state(self, sample: JointStateSample) -> None:
        """Measured state; ValueError (and no update) if malformed."""
        q, v = validated_joint_state(sample, self.joint_names)
        self._measured_q, self._measured_v = q, v
        self.monitor.note_joint_state(sample.received_s)

    def update_humans(self, humans: Sequence[Human]) -> None:
        """People seen by perception (base frame); their freshness is the heartbeat's job."""
        self._humans = tuple(humans)

    def note_heartbeat(
        self, received_s: float, *, ok: bool = True, degraded: bool = False
    ) -> None:
        """Perception heartbeat arrived."""
        self.monitor.note_heartbeat(received_s, ok=ok, degraded=degraded)

    def set_estop(self, *, engaged: bool) -> None:
        """E-stop input (latches)."""
        self.monitor.set_estop(engaged=engaged)

    def reset(self, now_s: float) -> tuple[bool, str]:
        """Reset service: clears the e-stop latch unless refused."""
        self._evaluate_humans(now_s)
        return self.monitor.reset(now_s)

    # ------------------------------------------------------------------ main entry points
    def filter(
        self,
        command: JointCommand,
        joint_state: JointStateSample | None,
        humans: Sequence[Human] | None,
        now_s: float,
    ) -> FilterResult:
        """One-call form: update the measured state and people, then filter the proposal."""
        if joint_state is not None:
            self.update_joint_state(joint_state)
        if humans is not None:
            self.update_humans(humans)
        return self.filter_command(command, now_s)

    def filter_command(self, command: JointCommand, now_s: float) -> FilterResult:
        """Filter a proposed joint chunk or target; rejected proposals change nothing."""
        self._counts["received"] += 1
        try:
            checked = validated_command(
                command,
                self.joint_names,
                now_s,
                self.config.watchdog.command_timeout_s,
                self.config.watchdog.future_stamp_tolerance_s,
                self.gripper_limits.names,
            )
            times_rel, positions = checked.times_rel, checked.positions
            future = times_rel > 1e-9
            if not future[-1]:  # times increase: the last point is the latest
                raise ValueError("every point of the command lies in the past")
        except ValueError as exc:
            return self._reject(now_s, f"command_invalid: {exc}")
        braking, _ = self._watch(now_s)
        if self._state >= SafetyState.STOPPED:
            result = self._reject(now_s, f"state_{self._state.name.lower()}")
            return replace(result, trajectory=braking)
        self.monitor.note_command(command.stamp_s)
        # the future points up to the lookahead, and always the first future one
        keep = future & (times_rel <= self.config.collision.lookahead_s)
        keep[int(np.argmax(future))] = True
        kept = np.flatnonzero(keep)
        if not keep.all():
            times_rel, positions = times_rel[keep], positions[keep]
        clamped = clamp_positions(positions, self.limits)
        was_clamped = bool((np.abs(clamped - positions) > 1e-12).any())
        trajectory, truncated, exceeded = self._plan(now_s, times_rel, clamped)
        slowed = self._speed_scale < 1.0 - 1e-6
        self._state, reasons = self.monitor.state(now_s, slowed=slowed)
        gripper, gripper_clamped, gripper_waits = None, False, False
        if checked.gripper_names and trajectory is not None and self._state <= SafetyState.SLOWED:
            gripper, gripper_waits = self._gripper_command(
                command, now_s, kept, checked.gripper_names, checked.gripper_positions
            )
            gripper_clamped = gripper is not None and not np.array_equal(
                gripper.positions, checked.gripper_positions[kept[: len(gripper.positions)]]
            )
        modified = was_clamped or truncated or slowed or exceeded or gripper_clamped
        self._counts["modified" if modified else "passed"] += 1
        notes = [
            *self._command_reasons,
            *(["clamped_to_joint_limits"] if was_clamped else []),
            *(["braking_limited"] if exceeded else []),
            *(["gripper_clamped_to_limits"] if gripper_clamped else []),
            *(["gripper_waits_for_arm"] if gripper_waits else []),
        ]
        self._command_reasons = tuple(notes)
        status = self.status(now_s, extra=reasons)
        return FilterResult(status=status, trajectory=trajectory, accepted=True, gripper=gripper)

    @property
    def gripper_hold(self) -> dict[str, float]:
        """Last gripper target let through, per joint (empty before any): where the gripper
        stays while no new gripper command passes (HOLD, STOPPED, ESTOP, rejections)."""
        return dict(self._gripper_hold)

    def _gripper_command(
        self,
        command: JointCommand,
        now_s: float,
        kept: np.ndarray,
        names: tuple[str, ...],
        positions: np.ndarray,
    ) -> tuple[GripperCommand | None, bool]:
        """The gripper points of the proposal's planned targets (`kept`: their indices in the
        proposal), clamped into the gripper's limits (already finite) and timed to the arm:
        each at its proposed time or when the filtered arm reaches the target's posture,
        whichever is later; points whose posture the filtered motion does not reach are held
        back, and so are all after them. Returns (command or None, whether any point waits
        for the arm)."""
        arrival = self._arrival_times(len(kept))
        reached = int(np.count_nonzero(np.isfinite(arrival)))
        held_back = reached < len(kept)
        if reached == 0:
            return None, held_back
        index = kept[:reached]
        columns = [self._gripper_index[n] for n in names]
        lower, upper = self.gripper_limits.lower_rad, self.gripper_limits.upper_rad
        clamped = np.clip(positions[index], lower[columns], upper[columns])
        proposed = np.array(command.times_s, dtype=float)[index]
        times = np.maximum(proposed, (now_s - float(command.stamp_s)) + arrival[:reached])
        # a point waits that moves the gripper and comes later than proposed
        before = np.array([self._gripper_hold.get(n, math.nan) for n in names])
        previous = np.vstack((before[None, :], clamped[:-1]))
        moves = ~(np.abs(clamped - previous) <= 1e-9).all(axis=1)
        late = bool((moves & (times > proposed + self._dt)).any())
        for k in range(1, len(times)):  # strictly increasing, as a trajectory's times must be
            times[k] = max(times[k], times[k - 1] + _GRIPPER_TIME_STEP_S)
        self._gripper_hold.update(zip(names, clamped[-1].tolist(), strict=True))
        command_out = GripperCommand(tuple(names), float(command.stamp_s), times, clamped)
        return command_out, late or held_back

    def _arrival_times(self, count: int) -> np.ndarray:
        """Seconds from now until the planned motion reaches each of the last plan's `count`
        proposed targets (0 for one already there); inf where it does not reach it."""
        out = np.full(count, np.inf)
        if self._target_arcs is None or self._progress is None:
            return out
        sample_times, s = self._progress
        arcs = self._target_arcs  # one per planned target: `count` of them
        tolerance = 1e-6
        first = np.searchsorted(s, arcs - tolerance, side="left")  # s is non-decreasing
        hit = first < len(s)
        out[hit] = sample_times[first[hit]]
        out[arcs <= tolerance] = 0.0
        return out

    def filter_twist(self, command: TwistCommand, now_s: float) -> FilterResult:
        """Filter a proposed end-effector or base twist (one control cycle)."""
        self._counts["received"] += 1
        self.cycle(now_s)
        q = self._anchor(now_s)[0] if self._measured_q is not None else None
        moving_allowed = self._state < SafetyState.STOPPED
        try:
            twist, notes, scale = self.twist_limiter.limit(
                command,
                now_s,
                model=self.model,
                gate=self.gate,
                limits=self.limits,
                q=q,
                humans=self._humans,
                allowed=moving_allowed,
            )
        except ValueError as exc:
            return self._reject(now_s, f"twist_invalid: {exc}")
        if moving_allowed:
            self.monitor.note_command(command.stamp_s)
        self._speed_scale = scale
        self._command_reasons = tuple(notes)
        self._state, reasons = self.monitor.state(now_s, slowed=scale < 1.0 - 1e-6)
        self._counts["modified" if notes or scale < 1.0 - 1e-6 else "passed"] += 1
        return FilterResult(
            status=self.status(now_s, extra=reasons), twist=twist, accepted=moving_allowed
        )

    def cycle(self, now_s: float) -> FilterResult:
        """Watchdog cycle: evaluate faults and people; brake on entering HOLD/STOPPED/ESTOP."""
        trajectory, reasons = self._watch(now_s)
        return FilterResult(status=self.status(now_s, extra=reasons), trajectory=trajectory)

    def _watch(self, now_s: float) -> tuple[FilteredTrajectory | None, list[str]]:
        """cycle() without building the status: the braking trajectory (if any) and reasons."""
        self._evaluate_humans(now_s)
        previous = self._state
        self._state, reasons = self.monitor.state(now_s, slowed=self._speed_scale < 1.0 - 1e-6)
        trajectory = None
        if self._state >= SafetyState.HOLD and (
            previous < SafetyState.HOLD or self._state > previous
        ):
            trajectory = self._brake(now_s)
            self._speed_scale = 0.0 if self._state >= SafetyState.STOPPED else self._speed_scale
        return trajectory, reasons

    def twist_brake(self, target: str, now_s: float) -> TwistCommand | None:
        """While HOLD/STOPPED/ESTOP: the next decelerating twist (None when at rest or OK)."""
        if self._state < SafetyState.HOLD:
            return None
        return self.twist_limiter.brake(target, now_s)

    def reference_at(self, time_s: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Reference position and velocity at time_s (for forward position controllers)."""
        if self._ref_times is None or self._ref_positions is None:
            return None
        return _sample(self._ref_times, self._ref_positions, time_s)

    def status(self, now_s: float, extra: Sequence[str] = ()) -> SafetyStatusData:
        """Current status (the node publishes it at a fixed rate and on every change)."""
        reasons = tuple(dict.fromkeys([*extra, *self._command_reasons]))
        return SafetyStatusData(
            state=self._state,
            speed_scale=float(self._speed_scale),
            min_separation_m=self._ssm.min_separation_m,
            protective_separation_m=self._ssm.protective_separation_m,
            min_obstacle_distance_m=self._obstacle_distance,
            reasons=reasons,
            estop_latched=self.monitor.estop_latched,
            commands_received=self._counts["received"],
            commands_passed=self._counts["passed"],
            commands_modified=self._counts["modified"],
            commands_rejected=self._counts["rejected"],
            estop_count=self.monitor.estop_count,
            colliding_pairs=self._colliding,
            allowed_robot_speed_m_s=self._ssm.allowed_robot_speed_m_s,
        )

    @property
    def state(self) -> SafetyState:
        """State after the last call."""
        return self._state

    # ------------------------------------------------------------------ internals
    def reject(self, now_s: float, why: str) -> FilterResult:
        """Count a proposal that could not even be decoded as rejected."""
        self._counts["received"] += 1
        return self._reject(now_s, why)

    def _reject(self, now_s: float, why: str) -> FilterResult:
        self._counts["rejected"] += 1
        self._state, reasons = self.monitor.state(now_s, slowed=self._speed_scale < 1.0 - 1e-6)
        return FilterResult(status=self.status(now_s, extra=[*reasons, why]), error=why)

    def _ssm_caps(
        self, dense: np.ndarray, steps: np.ndarray, moves: np.ndarray | None = None
    ) -> np.ndarray:
        """Largest ds/dt per dense segment that keeps every robot point within the SSM speed.

        Point speeds are chords between every `_SSM_STRIDE`-th checked state (link_points is
        the expensive call); over <= 0.2 rad the chord is within 1 % of the arc, and the
        chord margin covers it. `moves` is dense[1:] - dense[:-1] where the caller has it.
        """
        allowed = self._ssm.allowed_robot_speed_m_s * _SSM_PLANNING_SHARE
        if not math.isfinite(allowed):
            return np.full(len(steps), np.inf)
        if self._reach is not None:
            # joint rate per unit ds/dt (steps > 0: subdivide never repeats a state)
            rates = (dense[1:] - dense[:-1] if moves is None else moves) / steps[:, None]
            bound = max_point_speed_bound(rates, self._reach)
            return np.divide(allowed, bound, out=np.full(len(bound), np.inf), where=bound > 0)
        picks = _chord_groups(len(dense), _SSM_STRIDE)
        points = np.stack([self.model.link_points(dense[i]) for i in picks])
        chord = np.max(np.linalg.norm(np.diff(points, axis=0), axis=2), axis=1)
        arc = np.concatenate(([0.0], np.cumsum(steps)))
        length = np.diff(arc[picks])
        with np.errstate(divide="ignore", invalid="ignore"):
            per_rate = np.where(length > 0, chord / length, 0.0) * _CHORD_MARGIN
            group_cap = np.where(per_rate > 0, allowed / per_rate, np.inf)
        # each dense segment takes the cap of the chord group it belongs to
        group_of_segment = np.searchsorted(picks, np.arange(1, len(dense)), side="left") - 1
        return group_cap[np.clip(group_of_segment, 0, len(group_cap) - 1)]

    def _link_points_near(self, q: np.ndarray) -> tuple[np.ndarray, float]:
        """Link points of q, or of a cached state whose points lie within `slack` of q's.

        link_points is the costliest call of a cycle; with the reach bounds the displacement
        of every point since the cached state is at most sum_j |dq_j| R_j, which SSM then
        adds to the link radii (conservative: people look that much closer).
        """
        if self._reach is not None and self._points_cache is not None:
            cached_q, cached_points = self._points_cache
            slack = point_speed_bound(q - cached_q, self._reach)
            if slack <= _POINTS_REFRESH_M:
                return cached_points, slack
        points = self.model.link_points(q)
        self._points_cache = (q.copy(), points)
        return points, 0.0

    def _evaluate_humans(self, now_s: float) -> None:
        if self._measured_q is None:
            return
        q0, v0 = self._anchor(now_s)
        if not self._humans or not self._ssm_config.enabled:
            self._ssm = evaluate_ssm((), np.zeros((0, 3)), 0.0, self._ssm_config)
            self.monitor.update_humans(now_s, inside_sp=False, clear=True)
            return
        points, slack = self._link_points_near(q0)
        speed = 0.0
        if self._reach is not None:
            speed = point_speed_bound(v0, self._reach)
        elif np.any(v0):
            moved = self.model.link_points(q0 + v0 * self._dt)
            speed = float(np.max(np.linalg.norm(moved - points, axis=1))) / self._dt
        radii = (
            self._radii if self._radii is not None and len(self._radii) == len(points) else None
        )
        if slack > 0.0:  # points from a nearby state: every link may be up to `slack` closer
            radii = (np.zeros(len(points)) if radii is None else radii) + slack
        self._ssm = evaluate_ssm(
            self._humans, points, speed, self._ssm_config, radii_m=radii, cache=self._people
        )
        clear = self.monitor.human_stop_active and humans_clear(
            self._humans, points, self._ssm_config, radii_m=radii, cache=self._people
        )
        inside = self._ssm_config.enabled and self._ssm.allowed_robot_speed_m_s <= 0.0
        self.monitor.update_humans(now_s, inside_sp=inside, clear=clear)

    def _anchor(self, now_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Where the motion starts: the reference at now, or the measured state if they differ.

        Memoised on (now_s, measured state, reference): a command evaluates people and then
        plans from the same anchor. The inputs are replaced, never changed in place, so
        identity tells whether they changed; callers get copies.
        """
        measured = self._measured_q
        assert measured is not None
        key = (now_s, measured, self._measured_v, self._ref_times, self._ref_positions)
        memo = self._anchor_memo
        if (
            memo is not None
            and memo[0] == now_s
            and all(a is b for a, b in zip(memo[1:5], key[1:], strict=True))
        ):
            return memo[5].copy(), memo[6].copy()
        q, v = self._anchor_of(now_s, measured)
        self._anchor_memo = (*key, q, v)
        return q.copy(), v.copy()

    def _anchor_of(self, now_s: float, measured: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._ref_times is not None and self._ref_positions is not None:
            q, v = _sample(self._ref_times, self._ref_positions, now_s)
            if np.max(np.abs(q - measured)) <= self.config.watchdog.max_tracking_error_rad:
                return q, v
        v_meas = self._measured_v if self._measured_v is not None else np.zeros_like(measured)
        v_meas = np.clip(v_meas, -self.limits.velocity_rad_s, self.limits.velocity_rad_s)
        return measured.copy(), v_meas

    def _tail(self, now_s: float, q0: np.ndarray, v0: np.ndarray) -> np.ndarray:
        """Path the robot takes while braking as hard as allowed along its current motion."""
        rate = float(np.max(np.abs(v0) / self.limits.velocity_rad_s))
        if rate <= 1e-12:
            return q0[None, :]
        distance = rate * rate / (2.0 * self._path_accel) + 2.0 * rate * self._dt
        tail = None
        if self._ref_times is not None and self._ref_positions is not None:
            later = self._ref_times > now_s
            candidate = np.vstack([q0[None, :], self._ref_positions[later]])
            if len(candidate) >= 2:
                # np.allclose(along, heading, atol=1e-6) without its Python-level overhead
                along = (candidate[1] - q0) / max(float(np.abs(candidate[1] - q0).max()), 1e-12)
                heading = v0 / np.abs(v0).max()
                if (np.abs(along - heading) <= 1e-6 + 1e-5 * np.abs(heading)).all():
                    tail = candidate
        if tail is None:  # no usable reference: brake on the line of the measured velocity
            tail = np.vstack([q0, q0 + v0 / rate * distance])
        tail = clamp_positions(tail, self.limits) if tail is not None else tail
        steps = np.max(np.abs(np.diff(tail, axis=0)) / self.limits.velocity_rad_s, axis=1)
        arc = np.concatenate(([0.0], np.cumsum(steps)))
        if arc[-1] <= distance:
            return tail
        cut = int(np.searchsorted(arc, distance))
        frac = (distance - arc[cut - 1]) / (arc[cut] - arc[cut - 1])
        end = tail[cut - 1] + (tail[cut] - tail[cut - 1]) * frac
        return np.vstack([tail[:cut], end[None, :]])

    def _brake(self, now_s: float) -> FilteredTrajectory | None:
        """Stop along the current path at the path deceleration limit."""
        if self._measured_q is None:
            return None
        q0, v0 = self._anchor(now_s)
        tail = self._tail(now_s, q0, v0)
        self._target_arcs = None  # braking follows no proposal
        trajectory, _, _ = self._follow(now_s, q0, v0, tail, None, None)
        return trajectory

    def _plan(
        self, now_s: float, times_rel: np.ndarray, targets: np.ndarray
    ) -> tuple[FilteredTrajectory | None, bool, bool]:
        if self._measured_q is None:
            return None, False, False
        q0, v0 = self._anchor(now_s)
        rates = self.limits.velocity_rad_s
        first_step = targets[0] - q0
        first_len = float((np.abs(first_step) / rates).max())
        start_rate = 0.0
        compatible = True
        moving = bool(v0.any())
        if moving and first_len > 1e-12:
            direction = first_step / first_len
            start_rate = max(float(np.dot(direction, v0) / np.dot(direction, direction)), 0.0)
            residual = np.abs(start_rate * direction - v0)
            budget = (1.0 - pathlib.PATH_ACCELERATION_SHARE) * self.limits.acceleration_rad_s2
            compatible = bool((residual <= budget * self._dt).all())
        elif moving:
            compatible = False
        prefix = q0[None, :] if compatible else self._tail(now_s, q0, v0)
        waypoints = np.concatenate((prefix, targets))
        # path parameter of every waypoint, in the units of the follower's s (max_j |dq_j|/v_j
        # summed; subdividing a straight segment keeps its length)
        lengths = (np.abs(np.diff(waypoints, axis=0)) / rates).max(axis=1)
        self._target_arcs = np.concatenate(([0.0], np.cumsum(lengths)))[len(prefix) :]
        # never faster than proposed: each proposed segment keeps at least its own duration
        seg_times = np.empty(len(times_rel))
        seg_times[0] = times_rel[0]
        seg_times[1:] = times_rel[1:] - times_rel[:-1]
        proposed = waypoints[len(prefix) - 1 :]
        seg_len = (np.abs(proposed[1:] - proposed[:-1]) / rates).max(axis=1)
        timing = np.minimum(seg_len / seg_times, 1.0)
        if not compatible:
            timing[0] = 1.0  # already late after braking: the first leg may use full speed
        seg_timing = np.concatenate((np.ones(len(prefix) - 1), timing))
        junction = len(prefix) - 1 if not compatible else -1
        trajectory, truncated, exceeded = self._follow(
            now_s, q0, v0, waypoints, seg_timing, junction if junction > 0 else None
        )
        if not compatible:
            self._command_reasons = (*self._command_reasons, "braking_for_direction_change")
        return trajectory, truncated, exceeded

    def _follow(
        self,
        now_s: float,
        q0: np.ndarray,
        v0: np.ndarray,
        waypoints: np.ndarray,
        seg_timing: np.ndarray | None,
        junction: int | None,
    ) -> tuple[FilteredTrajectory, bool, bool]:
        """Gate the path, cap its speed, parameterise it in time and store it as reference."""
        cfg = self.config
        rates = self.limits.velocity_rad_s
        # one state past the check budget tells whether the path went on beyond it
        dense, owner = pathlib.subdivide(
            waypoints, cfg.collision.joint_resolution_rad, cfg.collision.max_checked_states + 1
        )
        reasons: list[str] = []
        truncated = False
        limit = min(len(dense), cfg.collision.max_checked_states)
        start_invalid = False
        walk = self.gate.walk(dense[:limit])
        scales = walk.scales
        self._obstacle_distance = walk.min_obstacle_distance_m
        if walk.failure is not None:
            self._colliding = walk.failure.colliding_pairs
            if not scales:
                start_invalid = True
                reasons.append("start_state_invalid:" + walk.failure.reason)
            else:
                reasons.append("path_stopped_short:" + walk.failure.reason)
            truncated = True
        else:
            self._colliding = ()
            if limit < len(dense):
                truncated = True
                reasons.append("path_cut_at_check_budget")
        if start_invalid:
            self._target_arcs = None  # the motion below does not follow the proposal
            # nothing safe ahead is known: brake along the current motion, then stay
            dense = self._tail(now_s, q0, v0)
            owner = np.zeros(len(dense), dtype=int)
            scales = (1.0,) * len(dense)
            self._obstacle_distance = 0.0
            seg_timing, junction = None, None
        count = max(len(scales), 1)
        dense, owner = dense[:count], owner[:count]
        moves = dense[1:] - dense[:-1]
        steps = (np.abs(moves) / rates).max(axis=1) if count > 1 else np.zeros(0)
        proposal = np.ones(count - 1)
        if seg_timing is not None and count > 1:
            proposal = seg_timing[owner[1:] - 1]
        seg_cap = proposal.copy()
        if count > 1 and min(scales) < 1.0:  # else a factor of 1 throughout
            scale = np.array(scales)
            seg_cap *= np.minimum(scale[:-1], scale[1:])
        if self._ssm_config.enabled and count > 1:
            seg_cap = np.minimum(seg_cap, self._ssm_caps(dense, steps, moves))
        point_cap = np.full(count, np.inf)
        if junction is not None:
            point_cap[np.searchsorted(owner, junction, side="right") - 1] = 0.0
        if self._state >= SafetyState.STOPPED or start_invalid:
            seg_cap[:] = 0.0
        if count > 1:
            used = proposal > 0
            ratio = seg_cap[used] / proposal[used]
            self._speed_scale = float(min(1.0, np.min(ratio))) if ratio.size else 1.0
        profile = pathlib.make_profile(
            dense,
            rates,
            self.limits.acceleration_rad_s2,
            self._dt,
            seg_cap,
            point_cap,
            steps=moves,
            lengths=steps,
        )
        moving = bool(v0.any())
        start_rate = float((np.abs(v0) / rates).max()) if moving else 0.0
        if len(profile.waypoints) > 1 and moving:
            direction = (profile.waypoints[1] - profile.waypoints[0]) / (
                profile.arc[1] - profile.arc[0]
            )
            start_rate = max(float(np.dot(direction, v0) / np.dot(direction, direction)), 0.0)
        s_out, exceeded, overrun = pathlib.follow(
            profile, start_rate, self._path_accel, self._path_jerk, self._dt, self._max_steps
        )
        if overrun:
            reasons.append("stopped_short_harder_than_limits")
        if len(s_out) == 0:
            s_out = np.zeros(1)
        positions = pathlib.positions_at(profile, s_out)
        reference = np.empty((len(positions) + 1, len(q0)))
        reference[0] = q0
        reference[1:] = positions
        velocities = (positions - reference[:-1]) / self._dt
        times = self._dt * np.arange(1, len(positions) + 1)
        self._progress = (times, s_out)
        ref_times = np.empty(len(times) + 1)
        ref_times[0] = now_s
        ref_times[1:] = now_s + times
        self._ref_times, self._ref_positions = ref_times, reference
        self._command_reasons = tuple(reasons)
        trajectory = FilteredTrajectory(
            joint_names=self.joint_names,
            stamp_s=now_s,
            times_s=times,
            positions=positions,
            velocities=velocities,
            start_positions=q0,
            start_velocities=v0,
        )
        return trajectory, truncated, exceeded


_GRIPPER_TIME_STEP_S = 1e-3  # least spacing of gripper points whose times coincide


def _chord_groups(count: int, stride: int) -> np.ndarray:
    """Indices of every stride-th state of a dense path, always including the last."""
    index = np.arange(0, count, stride)
    return index if index[-1] == count - 1 else np.append(index, count - 1)


def _sample(times: np.ndarray, positions: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of a sampled trajectory, with its segment velocity (0 outside)."""
    if t <= times[0]:
        return positions[0].copy(), np.zeros(positions.shape[1])
    if t >= times[-1] or len(times) < 2:
        return positions[-1].copy(), np.zeros(positions.shape[1])
    k = int(np.searchsorted(times, t, side="right")) - 1
    span = times[k + 1] - times[k]
    frac = (t - times[k]) / span
    velocity = (positions[k + 1] - positions[k]) / span
    return positions[k] + (positions[k + 1] - positions[k]) * frac, velocity
