"""A joint_trajectory_controller-like executor: it turns trajectories into servo set-points.

Semantics follow ros2_controllers' joint_trajectory_controller where it matters to a client:
- a trajectory starts at its header stamp; stamp 0 means "now";
- a new trajectory replaces the running one from its start time (until then the old one
  keeps running); one whose last point lies in the past is rejected;
- when the first point is later than the start, the motion starts from the current set-point;
- positions only: linear interpolation ("linear") or a C1 cubic through the points with
  velocities estimated from the neighbours ("cubic"); with velocities given, cubic Hermite;
- after the last point the set-point holds the last position.
The set-point is then limited: position limits are clamped and the per-update change is
bounded by the velocity limits, so no trajectory can drive a joint faster than allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INTERPOLATIONS = ("linear", "cubic")


@dataclass(frozen=True)
class _Trajectory:
    start_time_s: float
    times_s: np.ndarray  # (N,) relative to start, strictly increasing, first may be 0
    positions: np.ndarray  # (N, J)
    velocities: np.ndarray  # (N, J)


def _estimate_velocities(times_s: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Waypoint velocities for a C1 cubic: zero at the ends and at reversals, else mean slope."""
    velocities = np.zeros_like(positions)
    if len(times_s) < 3:
        return velocities
    slopes = np.diff(positions, axis=0) / np.diff(times_s)[:, None]
    left, right = slopes[:-1], slopes[1:]
    same_sign = np.sign(left) == np.sign(right)
    velocities[1:-1] = np.where(same_sign, 0.5 * (left + right), 0.0)
    return velocities


class TrajectoryExecutor:
    """Samples the active trajectory at each controller update and limits the result."""

    def __init__(
        self,
        joint_names: tuple[str, ...],
        lower_limits: np.ndarray,
        upper_limits: np.ndarray,
        max_velocities: np.ndarray,
        initial_positions: np.ndarray,
        interpolation: str = "cubic",
    ) -> None:
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation}")
        self.joint_names = tuple(joint_names)
        n = len(self.joint_names)
        self._lower = np.asarray(lower_limits, dtype=np.float64).reshape(n)
        self._upper = np.asarray(upper_limits, dtype=np.float64).reshape(n)
        self._vmax = np.asarray(max_velocities, dtype=np.float64).reshape(n)
        if np.any(self._vmax <= 0.0) or np.any(self._lower > self._upper):
            raise ValueError("velocity limits must be > 0 and lower limits <= upper limits")
        self._interpolation = interpolation
        self._reference = np.clip(
            np.asarray(initial_positions, dtype=np.float64).reshape(n), self._lower, self._upper
        )
        self._velocity = np.zeros(n)
        # the set-point's velocity at this instant (the spline's derivative), where a new
        # trajectory is spliced on, as joint_trajectory_controller splices from its desired state
        self._splice_velocity = np.zeros(n)
        self._active: _Trajectory | None = None
        self._pending: _Trajectory | None = None
        self._target: np.ndarray | None = None  # forward (direct position) command

    @property
    def reference(self) -> np.ndarray:
        """Current position set-point (copy)."""
        return self._reference.copy()

    @property
    def reference_velocity(self) -> np.ndarray:
        """Velocity of the set-point over the last update (copy)."""
        return self._velocity.copy()

    @property
    def is_moving(self) -> bool:
        """True while a trajectory is active or pending, or a direct target is not reached."""
        if self._active is not None or self._pending is not None:
            return True
        return self._target is not None and not np.allclose(self._target, self._reference)

    def reset(self, positions: np.ndarray) -> None:
        """Drop every trajectory and command; hold `positions`."""
        self._reference = np.clip(
            np.asarray(positions, dtype=np.float64), self._lower, self._upper
        )
        self._velocity = np.zeros_like(self._reference)
        self._splice_velocity = np.zeros_like(self._reference)
        self._active = self._pending = None
        self._target = None

    def set_trajectory(
        self,
        times_s: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray | None,
        *,
        start_time_s: float,
        now_s: float,
    ) -> None:
        """Accept a trajectory (columns in `joint_names` order); start_time_s 0 = now.

        Raises ValueError for malformed or stale trajectories; the running motion is kept.
        """
        times = np.asarray(times_s, dtype=np.float64).reshape(-1)
        pos = np.asarray(positions, dtype=np.float64)
        n = len(self.joint_names)
        if times.size == 0 or pos.shape != (times.size, n):
            raise ValueError(f"positions must have shape ({times.size}, {n}), got {pos.shape}")
        if not (np.all(np.isfinite(times)) and np.all(np.isfinite(pos))):
            raise ValueError("trajectory contains NaN or inf")
        if times[0] < 0.0 or np.any(np.diff(times) <= 0.0):
            raise ValueError("time_from_start must be >= 0 and strictly increasing")
        start = now_s if start_time_s == 0.0 else start_time_s
        if start + times[-1] < now_s:
            raise ValueError(
                f"trajectory ends {now_s - start - times[-1]:.3f} s in the past; rejected"
            )
        if velocities is not None:
            vel = np.asarray(velocities, dtype=np.float64)
            if vel.shape != pos.shape or not np.all(np.isfinite(vel)):
                raise ValueError("velocities must be finite and shaped like positions")
        else:
            vel = None
        trajectory = _Trajectory(start, times, pos, vel if vel is not None else np.zeros(0))
        self._pending = trajectory
        self._target = None
        if start <= now_s:
            self._activate(now_s)

    def set_positions(self, positions: np.ndarray) -> None:
        """Direct position command (forward_command_controller): cancels any trajectory."""
        target = np.asarray(positions, dtype=np.float64).reshape(-1)
        if target.size != len(self.joint_names) or not np.all(np.isfinite(target)):
            raise ValueError(
                f"position command needs {len(self.joint_names)} finite values, got {target}"
            )
        self._active = self._pending = None
        self._target = target

    def _activate(self, now_s: float) -> None:
        trajectory = self._pending
        assert trajectory is not None
        self._pending = None
        times, pos = trajectory.times_s, trajectory.positions
        given_vel = trajectory.velocities.size > 0
        vel = trajectory.velocities if given_vel else None
        # start from the current set-point unless the first point is at the start itself
        if times[0] > 0.0:
            times = np.concatenate([[0.0], times])
            pos = np.vstack([self._reference, pos])
            if vel is not None:
                vel = np.vstack([self._splice_velocity, vel])
        if vel is None:
            vel = (
                _estimate_velocities(times, pos)
                if self._interpolation == "cubic"
                else np.zeros_like(pos)
            )
        self._active = _Trajectory(trajectory.start_time_s, times, pos, vel)

    def _sample(self, now_s: float) -> tuple[np.ndarray | None, np.ndarray]:
        """The set-point the command asks for at `now_s`, and its velocity there."""
        trajectory = self._active
        still = np.zeros_like(self._reference)
        if trajectory is None:
            return self._target, still
        tau = now_s - trajectory.start_time_s
        times, pos, vel = trajectory.times_s, trajectory.positions, trajectory.velocities
        if tau >= times[-1]:
            self._active = None
            self._target = pos[-1].copy()
            return self._target, still
        if tau <= times[0]:
            return pos[0], still
        i = int(np.searchsorted(times, tau, side="right")) - 1
        duration = times[i + 1] - times[i]
        s = (tau - times[i]) / duration
        if self._interpolation == "linear":
            rate = (pos[i + 1] - pos[i]) / duration
            return pos[i] + s * (pos[i + 1] - pos[i]), rate
        # cubic Hermite basis and its derivative
        h00 = 2 * s**3 - 3 * s**2 + 1
        h10 = s**3 - 2 * s**2 + s
        h01 = -2 * s**3 + 3 * s**2
        h11 = s**3 - s**2
        position = (
            h00 * pos[i] + h10 * duration * vel[i] + h01 * pos[i + 1] + h11 * duration * vel[i + 1]
        )
        rate = (
            (6 * s**2 - 6 * s) * (pos[i] - pos[i + 1]) / duration
            + (3 * s**2 - 4 * s + 1) * vel[i]
            + (3 * s**2 - 2 * s) * vel[i + 1]
        )
        return position, rate

    def update(self, now_s: float, dt_s: float) -> np.ndarray:
        """Advance to `now_s` (one controller period `dt_s` later) and return the set-point."""
        if dt_s <= 0.0:
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        if self._pending is not None and self._pending.start_time_s <= now_s:
            self._activate(now_s)
        desired, rate = self._sample(now_s)
        previous = self._reference
        if desired is not None:
            step = np.clip(desired - previous, -self._vmax * dt_s, self._vmax * dt_s)
            self._reference = np.clip(previous + step, self._lower, self._upper)
        self._velocity = (self._reference - previous) / dt_s
        # where the set-point follows the spline, a new trajectory continues with the spline's
        # velocity; where it is clamped (velocity or position limit), with the clamped motion's
        on_spline = desired is not None and np.allclose(self._reference, desired, atol=1e-12)
        self._splice_velocity = rate if on_spline else self._velocity.copy()
        return self._reference.copy()
