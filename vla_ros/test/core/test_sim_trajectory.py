"""The joint_trajectory_controller-like executor: timing, interpolation, limits, replacement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_ros.core.sim.trajectory import TrajectoryExecutor

DT = 0.01
NAMES = ("a", "b")


def make(interpolation: str = "linear", vmax: float = 10.0, start=(0.0, 0.0)):
    return TrajectoryExecutor(
        NAMES,
        lower_limits=np.array([-2.0, -2.0]),
        upper_limits=np.array([2.0, 2.0]),
        max_velocities=np.array([vmax, vmax]),
        initial_positions=np.array(start),
        interpolation=interpolation,
    )


def run(executor: TrajectoryExecutor, t0: float, t1: float) -> dict[float, np.ndarray]:
    """Update every DT from t0 (exclusive) to t1 (inclusive); set-points by rounded time."""
    out = {}
    steps = round((t1 - t0) / DT)
    for k in range(1, steps + 1):
        now = t0 + k * DT
        out[round(now, 6)] = executor.update(now, DT)
    return out


def test_linear_interpolation_timing_and_hold():
    ex = make("linear")
    ex.set_trajectory(
        np.array([1.0, 2.0]),
        np.array([[1.0, -1.0], [0.0, 0.0]]),
        None,
        start_time_s=0.0,
        now_s=0.0,
    )
    sp = run(ex, 0.0, 3.0)
    np.testing.assert_allclose(sp[0.5], [0.5, -0.5], atol=1e-9)  # from the current set-point
    np.testing.assert_allclose(sp[1.0], [1.0, -1.0], atol=1e-9)
    np.testing.assert_allclose(sp[1.5], [0.5, -0.5], atol=1e-9)
    np.testing.assert_allclose(sp[2.0], [0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(sp[3.0], [0.0, 0.0], atol=1e-9)  # holds the last point
    assert not ex.is_moving


def test_cubic_passes_waypoints_with_zero_end_velocity():
    ex = make("cubic")
    ex.set_trajectory(
        np.array([1.0, 2.0]), np.array([[1.0, 1.0], [1.5, 0.5]]), None, start_time_s=0.0, now_s=0.0
    )
    sp = run(ex, 0.0, 2.5)
    np.testing.assert_allclose(sp[1.0], [1.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(sp[2.0], [1.5, 0.5], atol=1e-9)
    # smooth start: the first step moves much less than the linear profile would
    assert abs(sp[0.01][0]) < 0.01 * 1.0 * 0.5
    # joint b reverses at the waypoint, so its velocity there is zero: no overshoot past 1.0
    assert max(v[1] for v in sp.values()) <= 1.0 + 1e-9


def test_cubic_hermite_uses_given_velocities():
    ex = make("cubic")
    ex.set_trajectory(
        np.array([0.0, 1.0]),
        np.array([[0.0, 0.0], [1.0, 1.0]]),
        np.array([[1.0, 0.0], [1.0, 0.0]]),
        start_time_s=0.0,
        now_s=0.0,
    )
    sp = run(ex, 0.0, 1.0)
    # joint a: constant velocity 1 -> exactly linear; joint b: smoothstep, 0.5 at the middle
    np.testing.assert_allclose(sp[0.25][0], 0.25, atol=1e-9)
    np.testing.assert_allclose(sp[0.5][1], 0.5, atol=1e-9)
    assert sp[0.25][1] < 0.25


def test_future_start_keeps_old_trajectory_until_then():
    ex = make("linear")
    ex.set_trajectory(np.array([2.0]), np.array([[1.0, 1.0]]), None, start_time_s=0.0, now_s=0.0)
    run(ex, 0.0, 0.5)
    # stamped 0.5 s in the future (absolute start at 1.0)
    ex.set_trajectory(np.array([0.5]), np.array([[-1.0, -1.0]]), None, start_time_s=1.0, now_s=0.5)
    sp = run(ex, 0.5, 2.0)
    np.testing.assert_allclose(sp[0.99], [0.495, 0.495], atol=1e-9)  # old one ran until 1.0
    # then the new one, from the set-point at its start: 0.495 -> -1 over 0.5 s
    np.testing.assert_allclose(sp[1.25], [-0.2525, -0.2525], atol=1e-9)
    np.testing.assert_allclose(sp[1.5], [-1.0, -1.0], atol=1e-9)


def test_new_trajectory_replaces_old_from_now():
    ex = make("linear")
    ex.set_trajectory(np.array([1.0]), np.array([[1.0, 1.0]]), None, start_time_s=0.0, now_s=0.0)
    run(ex, 0.0, 0.5)
    ex.set_trajectory(np.array([0.5]), np.array([[0.0, 1.0]]), None, start_time_s=0.0, now_s=0.5)
    sp = run(ex, 0.5, 1.5)
    np.testing.assert_allclose(sp[0.75], [0.25, 0.75], atol=1e-9)
    np.testing.assert_allclose(sp[1.5], [0.0, 1.0], atol=1e-9)


def test_a_spliced_trajectory_continues_with_the_set_points_own_velocity():
    # q(t) = t^2 on both joints, as samples with velocities 2t, every 0.1 s; a second
    # trajectory, sent at t = 0.5 (as the safety filter re-plans), continues the same
    # parabola from 0.6 s. The executor prepends its set-point and its velocity at 0.5; the
    # spline's own velocity there (1.0) keeps it on the parabola, where the last 10 ms step's
    # average velocity (0.99) would bend it.
    ex = make("cubic")

    def samples(times):
        return times, np.stack([times**2] * 2, axis=1), np.stack([2 * times] * 2, axis=1)

    times, pos, vel = samples(np.arange(1, 11) * 0.1)
    ex.set_trajectory(times, pos, vel, start_time_s=0.0, now_s=0.0)
    run(ex, 0.0, 0.5)
    times, pos, vel = samples(np.arange(6, 11) * 0.1)
    ex.set_trajectory(times - 0.5, pos, vel, start_time_s=0.5, now_s=0.5)
    after = run(ex, 0.5, 1.0)
    for t, q in after.items():
        np.testing.assert_allclose(q, [t**2, t**2], atol=1e-9)


def test_stale_and_malformed_trajectories_are_rejected_and_motion_kept():
    ex = make("linear")
    ex.set_trajectory(np.array([1.0]), np.array([[1.0, 1.0]]), None, start_time_s=0.0, now_s=0.0)
    run(ex, 0.0, 0.5)
    with pytest.raises(ValueError, match="past"):
        ex.set_trajectory(
            np.array([0.1]), np.array([[0.0, 0.0]]), None, start_time_s=0.2, now_s=0.5
        )
    with pytest.raises(ValueError):
        ex.set_trajectory(
            np.array([0.2, 0.1]), np.zeros((2, 2)), None, start_time_s=0.0, now_s=0.5
        )
    with pytest.raises(ValueError):
        ex.set_trajectory(
            np.array([0.2]), np.array([[np.nan, 0.0]]), None, start_time_s=0.0, now_s=0.5
        )
    with pytest.raises(ValueError):
        ex.set_trajectory(np.array([0.2]), np.zeros((1, 3)), None, start_time_s=0.0, now_s=0.5)
    sp = run(ex, 0.5, 1.0)
    np.testing.assert_allclose(sp[1.0], [1.0, 1.0], atol=1e-9)


def test_forward_command_cancels_trajectory():
    ex = make("linear", vmax=1.0)
    ex.set_trajectory(np.array([1.0]), np.array([[1.0, 1.0]]), None, start_time_s=0.0, now_s=0.0)
    run(ex, 0.0, 0.2)
    ex.set_positions(np.array([0.0, 0.5]))
    sp = run(ex, 0.2, 1.0)
    np.testing.assert_allclose(sp[1.0], [0.0, 0.5], atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    times=st.lists(st.floats(0.01, 0.5), min_size=1, max_size=5),
    targets=st.lists(st.floats(-5.0, 5.0), min_size=10, max_size=10),
    vmax=st.floats(0.1, 5.0),
    interpolation=st.sampled_from(["linear", "cubic"]),
)
def test_setpoint_never_exceeds_velocity_or_position_limits(times, targets, vmax, interpolation):
    """Whatever a client sends, the servo set-point obeys the limits (safety-relevant)."""
    ex = make(interpolation, vmax=vmax)
    stamps = np.cumsum(times)
    positions = np.array(targets[: 2 * len(stamps)]).reshape(-1, 2)
    ex.set_trajectory(stamps, positions, None, start_time_s=0.0, now_s=0.0)
    previous = ex.reference
    for k in range(1, 150):
        sp = ex.update(k * DT, DT)
        assert np.all(np.abs(sp - previous) <= vmax * DT + 1e-12)
        assert np.all((sp >= -2.0) & (sp <= 2.0))
        previous = sp


def test_config_validation():
    with pytest.raises(ValueError):
        TrajectoryExecutor(NAMES, np.zeros(2), np.ones(2), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError):
        TrajectoryExecutor(NAMES, np.zeros(2), np.ones(2), np.ones(2), np.zeros(2), "spline")
