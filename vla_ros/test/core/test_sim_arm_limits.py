"""The simulated arm can do what its robot config declares: it follows the safety filter's
fastest motions (the declared velocity, acceleration and jerk limits) and stops within the
stopping time the SSM assumes. Real physics (MuJoCo), the shipped config/safety.yaml and
config/robots/vla_arm6.yaml, the filter built as the safety_filter node builds it."""

from __future__ import annotations

import numpy as np
import pytest

from vla_ros.core.policy.filtered_loop import SimSafety, check_arm_at_limits
from vla_ros.core.safety import SafetyState
from vla_ros.core.sim.env import SimConfig, SimEnv


@pytest.fixture(scope="module")
def env():
    sim = SimEnv(SimConfig(image_width_px=32, image_height_px=24))
    yield sim
    sim.close()


def test_the_sim_arm_follows_the_filters_fastest_motion_and_stops_in_time(env):
    safety = SimSafety()
    check = check_arm_at_limits(env, safety)
    # 1. full speed toward a far target: the filter accelerates at its limits
    assert set(check.moving.states) <= {SafetyState.OK, SafetyState.SLOWED}  # SLOWED: SSM cap
    limits = safety.make().limits
    peak = np.max(np.abs(check.moving.velocities), axis=0)
    cap = check.speed_cap_m_s
    # as fast as the filter lets it be: a joint near its velocity limit, or the robot points
    # near the SSM's no-person speed cap (the reach bound, core.safety.reach) ...
    assert np.max(peak / limits.velocity_rad_s) > 0.8 or check.peak_speed_bound_m_s > 0.8 * cap
    # ... and no faster, the set-point and the measured arm alike (the filter plans at 90 %
    # of the cap: re-planning every cycle, the splices overshoot the plan by a few per cent)
    assert check.peak_speed_bound_m_s <= cap
    assert check.peak_set_point_speed_bound_m_s <= cap
    # 2. a person right beside the arm: the filter brakes (STOPPED) at its deceleration limits
    assert check.braking.states[-1] == SafetyState.STOPPED
    # the servos follow the filtered set-points closely all along (measured: under 3 mrad;
    # the watchdog's fault threshold, max_tracking_error_rad, is 0.2 rad)
    assert np.all(check.tracking_error_rad < 0.01), check.tracking_error_rad
    # standstill within the stopping time that S_p assumes (robot_stopping_time_s, raised to
    # the filter's own worst-case stop), and it stays at rest
    assert check.stop_s <= check.stopping_time_s + 0.02, (check.stop_s, check.stopping_time_s)
    rest = check.braking.times_s >= check.braking.times_s[0] + check.stop_s + 0.1
    assert rest.any() and np.max(np.abs(check.braking.velocities[rest])) < 0.02
