"""The simulated arm can do what its robot config declares: it follows the safety filter's
fastest motions (the declared velocity, acceleration and jerk limits) and stops within the
stopping time the SSM assumes. Real physics (MuJoCo), the shipped config/safety.yaml and
config/robots/vla_arm6.yaml, the filter built as the safety_filter node builds it."""

from __future__ import annotations

import numpy as np
import pytest

from vla_ros.core.policy.filtered_loop import SimSafety
from vla_ros.core.safety import JointCommand, JointStateSample, SafetyState
from vla_ros.core.safety.reach import joint_reach_bounds, max_point_speed_bound
from vla_ros.core.safety.ssm import Human
from vla_ros.core.sim.env import SimConfig, SimEnv
from vla_ros.core.sim.scene import ARM_JOINTS

CLOCK_OFFSET_S = 1000.0  # the filter treats stamp 0 as "unstamped"
PERIOD_S = 0.02  # proposals at 50 Hz, as the policy node streams them
# a wide motion of every joint from the sim's home posture, clear of the table
MOVE_RAD = np.array([1.2, -0.35, 0.35, 1.2, 0.9, 2.5])


@pytest.fixture(scope="module")
def env():
    sim = SimEnv(SimConfig(image_width_px=32, image_height_px=24))
    yield sim
    sim.close()


def _drive(env, guard, target, seconds, humans=()):
    """Propose `target` every PERIOD_S for `seconds` (simulated), execute the filter's output;
    returns per physics step: (time, set-point, measured positions, measured velocities,
    filter state, set-point velocity)."""
    log = []
    substeps = round(PERIOD_S / env.config.control_period_s)
    for _ in range(round(seconds / PERIOD_S)):
        now = env.time_s + CLOCK_OFFSET_S
        joints = env.joint_state()
        q, v = joints.positions[: len(ARM_JOINTS)], joints.velocities[: len(ARM_JOINTS)]
        guard.update_joint_state(JointStateSample(ARM_JOINTS, q, v, now))
        guard.update_humans(humans)
        guard.note_heartbeat(now)
        result = guard.filter_command(
            JointCommand(ARM_JOINTS, np.array([0.1]), target[None, :], now), now
        )
        if result.trajectory is not None:
            traj = result.trajectory
            env.command_arm_trajectory(
                traj.times_s,
                traj.positions,
                traj.velocities,
                start_time_s=traj.stamp_s - CLOCK_OFFSET_S,
            )
        for _ in range(substeps):
            env.step()
            joints = env.joint_state()
            log.append(
                (
                    env.time_s,
                    env.arm.reference,
                    joints.positions[: len(ARM_JOINTS)].copy(),
                    joints.velocities[: len(ARM_JOINTS)].copy(),
                    result.status.state,
                    env.arm.reference_velocity,
                )
            )
    return log


def still_after(log):
    t0 = log[0][0]
    still = [t for t, _, _, v, *_ in log if np.max(np.abs(v)) < 0.02]
    return still[0] - t0 if still else None


def test_the_sim_arm_follows_the_filters_fastest_motion_and_stops_in_time(env):
    safety = SimSafety()
    guard = safety.make()
    limits = guard.limits
    env.reset(seed=0, task="pick")
    start = env.joint_state().positions[: len(ARM_JOINTS)].copy()
    target = start + MOVE_RAD
    # 1. full speed toward a far target: the filter accelerates at its limits
    moving = _drive(env, guard, target, 1.0)
    states = {entry[4] for entry in moving}
    assert states <= {SafetyState.OK, SafetyState.SLOWED}, states  # SLOWED: the SSM speed cap
    velocities = np.array([entry[3] for entry in moving])
    peak = np.max(np.abs(velocities), axis=0)
    # the motion is as fast as the filter lets it be: a joint near its velocity limit, or the
    # robot points near the SSM's no-person speed cap (the reach bound, core.safety.reach);
    # and no faster, the set-point and the measured arm alike (the filter plans at 90 % of
    # the cap: re-planning every cycle, the splices overshoot the plan by a few per cent)
    reach = joint_reach_bounds(safety.robot)
    bound = max_point_speed_bound(velocities, reach).max()
    set_point = max_point_speed_bound(np.array([entry[5] for entry in moving]), reach).max()
    cap = safety.settings.config.ssm.max_robot_speed_m_s
    assert np.max(peak / limits.velocity_rad_s) > 0.8 or bound > 0.8 * cap, (peak, bound)
    assert bound <= cap and set_point <= cap, (bound, set_point, cap)
    errors = np.array([np.abs(entry[1] - entry[2]) for entry in moving])
    # 2. a person right beside the arm: the filter brakes (STOPPED) at its deceleration limits
    person = Human((0.35, 0.0, 0.3))
    braking = _drive(env, guard, target, 1.0, humans=(person,))
    assert braking[-1][4] == SafetyState.STOPPED
    errors = np.vstack([errors, [np.abs(entry[1] - entry[2]) for entry in braking]])
    # the servos follow the filtered set-points closely all along (the watchdog's fault
    # threshold, max_tracking_error_rad, is 0.2 rad)
    worst = errors.max(axis=0)
    assert np.all(worst < 0.03), worst
    # standstill within the stopping time that S_p assumes (robot_stopping_time_s, raised to
    # the filter's own worst-case stop), counted from the first braking tick
    t0 = braking[0][0]
    still = [t for t, _, _, v, *_ in braking if np.max(np.abs(v)) < 0.02]
    assert still, "the arm never came to rest"
    assert still[0] - t0 <= guard.stopping_time_s + PERIOD_S, (
        still[0] - t0,
        guard.stopping_time_s,
    )
    # and stays at rest
    rest = [entry for entry in braking if entry[0] >= still[0] + 0.1]
    assert rest and max(np.max(np.abs(entry[3])) for entry in rest) < 0.02
