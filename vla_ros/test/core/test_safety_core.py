"""Unit tests of the safety core: configuration, limit laws, SSM, state machine, filter cases."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from safety_helpers import OBSTACLE, InvariantChecker, cold_gjk, make_filter, safety_config

from vla_ros.core.resources import resource_path
from vla_ros.core.safety import (
    Human,
    JointCommand,
    JointStateSample,
    SafetyConfig,
    SafetyFilter,
    SafetyState,
    SsmConfig,
    TwistCommand,
    WatchdogConfig,
)
from vla_ros.core.safety.build import load_safety_file, read_parameters, split_parameters
from vla_ros.core.safety.limits import braking_velocity_limit, servo_collision_scale
from vla_ros.core.safety.ssm import allowed_robot_speed_m_s, protective_separation_m
from vla_ros.core.safety.state_machine import SafetyMonitor

# ----------------------------------------------------------------------------- configuration


def test_shipped_config_loads_and_is_strict():
    shipped = load_safety_file(resource_path("config", "safety.yaml"))
    assert shipped.config.watchdog.joint_state_timeout_s == 0.1
    assert shipped.config.watchdog.perception_timeout_s == 0.25
    assert shipped.config.ssm.human_speed_m_s == 1.6
    assert shipped.node["collision_backend"] == "embedded"


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (("joint_limits", "position_margin_rad"), -0.1, "position_margin_rad"),
        (("joint_limits", "velocity_scale"), 1.5, "velocity_scale"),
        (("watchdog", "joint_state_timeout_s"), 0.0, "joint_state_timeout_s"),
        (("watchdog", "command_timeout_s"), math.nan, "command_timeout_s"),
        (("ssm", "human_speed_m_s"), -1.6, "human_speed_m_s"),
        (("ssm", "robot_reaction_tme_s"), 0.1, "unknown ssm parameters"),
        (("collision", "stop_distance_m"), 0.5, "slowdown_distance_m must exceed"),
        (("collision", "enabled"), "yes", "true or false"),
        (("workspace", "max_m"), [-1.0, 0.9, 1.2], "max_m must exceed"),
        (("keep_out_zone_names",), ["scene_camera", "ghost"], "must match"),
    ],
)
def test_bad_configuration_refuses_to_start(path, value, match):
    params = read_parameters(resource_path("config", "safety.yaml"))
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValueError, match=match):
        split_parameters(params)


def test_collision_gate_without_checker_refuses_to_start():
    safety, model, _ = make_filter("vla_arm6")
    with pytest.raises(ValueError, match="no collision checker"):
        SafetyFilter(model, safety.limits, safety.config, None)


def test_limits_lower_wins():
    safety, model, _ = make_filter("vla_arm6")
    yaml_cap = safety.config.joint_limits.max_joint_velocity_rad_s
    urdf = model.limits.velocity_rad_s
    np.testing.assert_allclose(safety.limits.velocity_rad_s, np.minimum(urdf, yaml_cap))
    cap = safety.config.joint_limits.max_joint_acceleration_rad_s2
    accel = np.minimum(model.limits.acceleration_rad_s2, cap)
    np.testing.assert_allclose(safety.limits.acceleration_rad_s2, accel)
    # a cap between the robot's own limits: it binds on some joints only
    config = safety_config()
    tighter = replace(
        config, joint_limits=replace(config.joint_limits, max_joint_acceleration_rad_s2=18.0)
    )
    capped, _, _ = make_filter("vla_arm6", tighter)
    own = model.limits.acceleration_rad_s2
    assert np.any(own < 18.0) and np.any(own > 18.0)
    np.testing.assert_allclose(capped.limits.acceleration_rad_s2, np.minimum(own, 18.0))
    margin = safety.config.joint_limits.position_margin_rad
    np.testing.assert_allclose(safety.limits.upper_rad, model.limits.upper_rad - margin)


# ----------------------------------------------------------------------------- limit laws


@settings(max_examples=300, deadline=None)
@given(
    distance=st.floats(0.0, 3.0),
    accel=st.floats(0.5, 20.0),
    period=st.sampled_from([0.002, 0.01, 0.02, 0.05]),
)
def test_braking_law_stops_within_the_distance(distance, accel, period):
    """From the speed the law allows, braking at the limit in discrete steps stops in time."""
    v = braking_velocity_limit(distance, accel, period)
    travelled = v * period  # the step commanded now, then one decrement per step
    while v > 0:
        v = max(v - accel * period, 0.0)
        travelled += v * period
    assert travelled <= distance + 1e-9


def test_servo_scale_law():
    assert servo_collision_scale(0.10, 0.10, 0.02) == 1.0
    assert servo_collision_scale(0.5, 0.10, 0.02) == 1.0
    assert servo_collision_scale(0.02, 0.10, 0.02) == 0.0
    assert servo_collision_scale(-0.01, 0.10, 0.02) == 0.0
    assert servo_collision_scale(0.0201, 0.10, 0.02) < 0.0011
    samples = [servo_collision_scale(d, 0.10, 0.02) for d in np.linspace(0.021, 0.1, 50)]
    assert all(b > a for a, b in itertools.pairwise(samples))


# ----------------------------------------------------------------------------- SSM


def test_protective_separation_by_hand():
    cfg = SsmConfig(
        human_speed_m_s=1.6,
        robot_reaction_time_s=0.1,
        robot_stopping_time_s=0.4,
        intrusion_distance_m=0.2,
        human_position_uncertainty_m=0.1,
        robot_position_uncertainty_m=0.02,
    )
    # S_h = 1.6 * 0.5, S_r = 0.5 * 0.1, S_s = 0.5 * 0.4 / 2, C + Z_d + Z_r = 0.32
    assert protective_separation_m(0.5, 1.6, 0.1, cfg) == pytest.approx(0.8 + 0.05 + 0.1 + 0.32)
    assert allowed_robot_speed_m_s(1.0, 1.6, 0.1, cfg) == 0.0  # inside S_p at rest (1.12 m)


@settings(max_examples=300, deadline=None)
@given(separation=st.floats(0.0, 6.0), human_speed=st.floats(0.5, 3.0))
def test_allowed_speed_solves_the_ssm_inequality(separation, human_speed):
    cfg = SsmConfig(max_robot_speed_m_s=10.0)
    v = allowed_robot_speed_m_s(separation, human_speed, 0.1, cfg)
    assert v >= 0.0
    if v > 0:
        assert protective_separation_m(v, human_speed, 0.1, cfg) <= separation + 1e-9
        if v < 10.0:
            assert protective_separation_m(v, human_speed, 0.1, cfg) == pytest.approx(separation)


# ----------------------------------------------------------------------------- state machine


@pytest.mark.parametrize("watched", ["joint_state", "heartbeat"])
@pytest.mark.parametrize("period_s", [0.002, 0.01, 0.03])
def test_watchdog_trips_within_timeout_plus_one_cycle(watched, period_s):
    watchdog = WatchdogConfig()
    monitor = SafetyMonitor(watchdog, SsmConfig())
    timeout = (
        watchdog.joint_state_timeout_s
        if watched == "joint_state"
        else watchdog.perception_timeout_s
    )
    t = 0.0
    monitor.note_joint_state(t)
    monitor.note_heartbeat(t, ok=True)
    monitor.note_command(t)
    last_input = 0.0
    tripped_at = None
    for _ in range(1000):
        t += period_s
        if watched != "joint_state" or t < 1.0:
            monitor.note_joint_state(t)
        if watched != "heartbeat" or t < 1.0:
            monitor.note_heartbeat(t, ok=True)
        monitor.note_command(t)
        if t < 1.0:
            last_input = t
        state, reasons = monitor.state(t, slowed=False)
        if state == SafetyState.STOPPED:
            tripped_at = t
            assert reasons == [
                f"{'joint_states' if watched == 'joint_state' else 'perception'}_stale"
            ]
            break
        assert state == SafetyState.OK
    assert tripped_at is not None
    assert timeout < tripped_at - last_input <= timeout + period_s + 1e-9


def test_estop_latches_and_reset_refused_while_faulted():
    monitor = SafetyMonitor(WatchdogConfig(), SsmConfig())
    monitor.note_joint_state(0.0)
    monitor.note_heartbeat(0.0, ok=True)
    monitor.note_command(0.0)
    monitor.set_estop(engaged=True)
    assert monitor.state(0.01, slowed=False)[0] == SafetyState.ESTOP
    ok, message = monitor.reset(0.01)
    assert not ok and "still engaged" in message
    monitor.set_estop(engaged=False)
    assert monitor.state(0.01, slowed=False)[0] == SafetyState.ESTOP  # latched
    ok, message = monitor.reset(0.5)  # joint states are stale by now
    assert not ok and "joint_states_stale" in message
    monitor.note_joint_state(0.5)
    monitor.note_heartbeat(0.5, ok=True)
    ok, _ = monitor.reset(0.5)
    assert ok and monitor.state(0.5, slowed=False)[0] == SafetyState.HOLD
    assert monitor.estop_count == 1


def test_perception_required_and_error_status_stop():
    monitor = SafetyMonitor(WatchdogConfig(), SsmConfig())
    monitor.note_joint_state(0.0)
    monitor.note_command(0.0)
    assert "perception_missing" in monitor.state(0.0, slowed=False)[1]
    monitor.note_heartbeat(0.0, ok=False)
    assert monitor.state(0.0, slowed=False) == (SafetyState.STOPPED, ["perception_error"])


def test_person_resume_needs_hysteresis_for_the_delay():
    cfg = SsmConfig(resume_delay_s=1.0)
    monitor = SafetyMonitor(WatchdogConfig(require_perception=False), cfg)
    monitor.update_humans(0.0, inside_sp=True, clear=False)
    assert "human_inside_sp" in monitor.faults(0.0)
    monitor.update_humans(0.5, inside_sp=False, clear=False)  # out of S_p, not beyond hysteresis
    monitor.update_humans(0.6, inside_sp=False, clear=True)
    monitor.update_humans(1.5, inside_sp=False, clear=True)
    assert "human_inside_sp" in monitor.faults(1.5)
    monitor.update_humans(1.61, inside_sp=False, clear=True)
    assert "human_inside_sp" not in monitor.faults(1.61)


# ----------------------------------------------------------------------------- filter cases


def drive(safety, model, q, commands, period_s=0.02, humans=()):
    """Feed commands at a fixed rate with a robot that tracks the output perfectly."""
    now = 100.0
    outputs = []
    for make in commands:
        reference = safety.reference_at(now)
        q = reference[0] if reference is not None else q
        safety.update_joint_state(JointStateSample(model.joint_names, q, None, now))
        safety.update_humans(humans)
        result = safety.filter_command(make(now, q), now)
        outputs.append(result)
        now += period_s
    return outputs, now


def test_joint_pushed_past_its_limit_halts_at_the_margin():
    safety, model, checker = make_filter("vla_arm6", obstacle=False)
    limits = safety.limits
    q0 = np.zeros(len(model.joint_names))
    target = q0.copy()
    target[0] = limits.hard_upper_rad[0] + 1.0

    def command(now, q):
        return JointCommand(model.joint_names, np.array([0.05]), target[None, :], now)

    outputs, _ = drive(safety, model, q0, [command] * 300)
    invariants = InvariantChecker(safety, model, checker)
    for result in outputs:
        assert result.accepted
        invariants.check(result.trajectory, allowed_speed_m_s=math.inf)
    final = outputs[-1].trajectory.positions[-1]
    assert final[0] == pytest.approx(limits.upper_rad[0], abs=1e-9)
    assert "clamped_to_joint_limits" in outputs[-1].status.reasons


def test_collision_course_stops_short_with_clearance():
    safety, model, checker = make_filter("vla_arm6")
    q0 = np.zeros(len(model.joint_names))
    # joint_1 sweeps the arm toward the post at (0.35, 0.25); find a pose that reaches over it
    reach = q0.copy()
    reach[1], reach[2] = 0.5, 1.2  # tool at (0.72, 0, 0.52): joint_1 = 0.62 hits the post
    target = reach.copy()
    target[0] = 1.4

    def command(now, q):
        return JointCommand(
            model.joint_names, np.array([0.5, 1.0]), np.stack([reach, target]), now
        )

    outputs, _ = drive(safety, model, q0, [command] * 200)
    invariants = InvariantChecker(safety, model, checker)
    for result in outputs:
        hard = "stopped_short_harder_than_limits" in result.status.reasons
        invariants.check(result.trajectory, allowed_speed_m_s=math.inf, hard_stop=hard)
    final = outputs[-1].trajectory.positions[-1]
    report = checker.check(final)
    reasons = outputs[-1].status.reasons
    assert any(r.startswith("path_stopped_short:") for r in reasons), reasons
    assert report.min_scene_distance_m >= safety.config.collision.stop_distance_m
    assert final[0] < 1.4 - 1e-3  # it did not get there


def test_no_fresh_command_decelerates_within_limits_then_holds():
    safety, model, checker = make_filter("vla_arm6", obstacle=False)
    q0 = np.zeros(len(model.joint_names))
    target = q0 + 0.8

    def command(now, q):
        return JointCommand(model.joint_names, np.array([0.4]), target[None, :], now)

    outputs, now = drive(safety, model, q0, [command] * 10)
    assert outputs[-1].status.state in (SafetyState.OK, SafetyState.SLOWED)
    moving = safety.reference_at(now)[1]
    assert np.any(np.abs(moving) > 0.1)
    now += safety.config.watchdog.command_timeout_s + 0.01
    q = safety.reference_at(now)[0]
    safety.update_joint_state(JointStateSample(model.joint_names, q, None, now))
    result = safety.cycle(now)
    assert result.status.state == SafetyState.HOLD
    InvariantChecker(safety, model, checker).check(result.trajectory, allowed_speed_m_s=math.inf)
    assert np.allclose(result.trajectory.velocities[-1], 0.0, atol=0.5)
    later = safety.reference_at(now + 5.0)
    assert np.allclose(later[1], 0.0) and np.allclose(later[0], result.trajectory.positions[-1])


def test_person_inside_sp_stops_and_commands_are_rejected():
    safety, model, _ = make_filter("vla_arm6", obstacle=False)
    q0 = np.zeros(len(model.joint_names))
    person = Human((0.6, 0.0, 0.5))

    def command(now, q):
        return JointCommand(model.joint_names, np.array([0.2]), (q + 0.1)[None, :], now)

    outputs, _ = drive(safety, model, q0, [command] * 3, humans=[person])
    assert all(not r.accepted for r in outputs)
    assert outputs[-1].status.state == SafetyState.STOPPED
    assert "human_inside_sp" in outputs[-1].status.reasons
    assert outputs[-1].status.min_separation_m < outputs[-1].status.protective_separation_m


def test_twist_for_base_respects_zones_and_acceleration():
    config = replace(safety_config(), ssm=replace(safety_config().ssm, enabled=False))
    safety, model, _ = make_filter("vla_arm6", config, obstacle=False)
    q0 = np.zeros(len(model.joint_names))
    safety.update_joint_state(JointStateSample(model.joint_names, q0, None, 10.0))
    fast = TwistCommand(np.array([5.0, 0.0, 0.0]), np.zeros(3), 10.0, "base")
    first = safety.filter_twist(fast, 10.0).twist
    limit = config.twist.max_linear_acceleration_m_s2 * config.output_period_s
    assert np.linalg.norm(first.linear_m_s) <= limit + 1e-12
    now, speed = 10.0, float(np.linalg.norm(first.linear_m_s))
    for _ in range(100):
        now += 0.01
        safety.update_joint_state(JointStateSample(model.joint_names, q0, None, now))
        out = safety.filter_twist(replace(fast, stamp_s=now), now).twist
        new_speed = float(np.linalg.norm(out.linear_m_s))
        assert new_speed - speed <= config.twist.max_linear_acceleration_m_s2 * 0.01 + 1e-12
        speed = new_speed
    assert speed == pytest.approx(config.twist.max_linear_speed_m_s)
    safety.update_humans([Human((0.3, 0.0, 0.0))])  # inside the base stop zone
    for _ in range(100):
        now += 0.01
        safety.update_joint_state(JointStateSample(model.joint_names, q0, None, now))
        result = safety.filter_twist(replace(fast, stamp_s=now), now)
    assert np.allclose(result.twist.linear_m_s, 0.0)
    assert "human_in_base_stop_zone" in result.status.reasons


@settings(max_examples=300, deadline=None, phases=[Phase.explicit, Phase.generate], database=None)
@given(
    twists=st.lists(
        st.tuples(
            st.lists(st.floats(-3, 3), min_size=6, max_size=6),
            st.sampled_from(["ok", "nan", "stale", "future"]),
        ),
        min_size=50,
        max_size=50,
    ),
    seed=st.integers(0, 2**31),
)
def test_end_effector_twists_stay_within_limits(twists, seed):
    safety, model, checker = _twist_filter()
    cfg = safety.config.twist
    rng = np.random.default_rng(seed)
    q = np.clip(
        rng.normal(0, 0.5, len(model.joint_names)),
        safety.limits.lower_rad,
        safety.limits.upper_rad,
    )
    type(safety).__init__(
        safety, model, safety.limits, safety.config, safety.gate._checker, reach_m=safety._reach
    )
    now, previous, last_time = 50.0, np.zeros(6), None
    for values, kind in twists:
        now += 0.01
        safety.update_joint_state(JointStateSample(model.joint_names, q, None, now))
        safety.note_heartbeat(now)
        stamp = {"stale": now - 5.0, "future": now + 5.0}.get(kind, now)
        vec = np.array(values)
        if kind == "nan":
            vec[int(rng.integers(6))] = math.nan
        result = safety.filter_twist(TwistCommand(vec[:3], vec[3:], stamp), now)
        _TWIST_COUNT[0] += 1
        if kind != "ok":
            assert not result.accepted and result.twist is None
            continue
        out = np.concatenate([result.twist.linear_m_s, result.twist.angular_rad_s])
        assert np.all(np.isfinite(out))
        assert np.linalg.norm(out[:3]) <= cfg.max_linear_speed_m_s + 1e-9
        assert np.linalg.norm(out[3:]) <= cfg.max_angular_speed_rad_s + 1e-9
        dt = safety.config.output_period_s if last_time is None else now - last_time
        assert (
            np.linalg.norm(out[:3] - previous[:3]) <= cfg.max_linear_acceleration_m_s2 * dt + 1e-9
        )
        assert (
            np.linalg.norm(out[3:] - previous[3:])
            <= cfg.max_angular_acceleration_rad_s2 * dt + 1e-9
        )
        previous, last_time = out, now
        # the robot moves as commanded for one step, never into a collision
        qdot = np.linalg.lstsq(model.jacobian(q), out, rcond=None)[0]
        q_next = q + qdot * 0.01
        if not checker.check(q_next, with_distance=False).in_collision:
            q = np.clip(q_next, safety.limits.lower_rad, safety.limits.upper_rad)


_TWIST_COUNT = [0]
_TWIST = {}


@pytest.fixture(scope="module", autouse=True)
def report_twist_count():
    yield
    print(f"\nsafety twist property test: {_TWIST_COUNT[0]} proposed twists")


def _twist_filter():
    if "f" not in _TWIST:
        _TWIST["f"] = make_filter("vla_arm6")
    return _TWIST["f"]


def test_obstacle_fixture_is_in_reach():
    safety, model, checker = make_filter("vla_arm6")
    assert OBSTACLE.name == "post"
    assert safety.gate.check(np.zeros(len(model.joint_names))).valid
    assert isinstance(SafetyConfig(), SafetyConfig)
    assert checker.check(np.zeros(len(model.joint_names))).min_scene_distance_m > 0.05


# ----------------------------------------------------------------------------- gripper


def test_gripper_columns_are_clamped_sent_with_the_arm_and_held_on_stop():
    safety, model, _ = make_filter("vla_arm6", obstacle=False)
    grip = model.gripper_limits
    names = (*model.joint_names, grip.names[0])
    q0 = np.zeros(len(model.joint_names))
    fingers = np.array([-1.0, 0.02, 5.0])

    def command(now, q):
        rows = np.hstack([q + np.array([[0.02], [0.04], [0.06]]), fingers[:, None]])
        return JointCommand(names, np.array([0.1, 0.2, 0.3]), rows, now)

    outputs, now = drive(safety, model, q0, [command] * 3)
    result = outputs[-1]
    assert result.accepted and result.gripper is not None
    assert result.gripper.joint_names == grip.names
    expected = [grip.lower_rad[0], 0.02, grip.upper_rad[0]]
    assert result.gripper.positions[:, 0].tolist() == expected
    # timed to the arm: never before proposed, and the arm (from rest) reaches the first
    # posture a little later than proposed; the last when it comes to rest there
    times = result.gripper.times_s
    assert np.all(times >= np.array([0.1, 0.2, 0.3])) and np.all(np.diff(times) > 0)
    assert "gripper_clamped_to_limits" in result.status.reasons
    assert safety.gripper_hold == {grip.names[0]: grip.upper_rad[0]}
    # the arm part stays an arm command
    assert result.trajectory.joint_names == model.joint_names

    # an arm-only proposal leaves the gripper where it is
    arm_only = JointCommand(model.joint_names, np.array([0.1]), q0[None, :], now)
    safety.update_joint_state(JointStateSample(model.joint_names, q0, None, now))
    assert safety.filter_command(arm_only, now).gripper is None

    # NaN or inf in the gripper column rejects the whole proposal
    for bad in (math.nan, math.inf):
        rows = np.hstack([q0[None, :], [[bad]]])
        rejected = safety.filter_command(JointCommand(names, np.array([0.1]), rows, now), now)
        assert not rejected.accepted and rejected.gripper is None and rejected.trajectory is None
        assert "NaN or inf" in rejected.error
    # a gripper-only proposal misses the arm joints
    alone = JointCommand(grip.names, np.array([0.1]), np.array([[0.01]]), now)
    assert "missing" in safety.filter_command(alone, now).error

    # e-stop: the arm brakes, the gripper gets nothing new and holds its last safe target
    safety.set_estop(engaged=True)
    stopped = safety.filter_command(command(now, q0), now)
    assert stopped.status.state == SafetyState.ESTOP and stopped.gripper is None
    assert safety.gripper_hold == {grip.names[0]: grip.upper_rad[0]}


def test_gripper_release_waits_for_a_slowed_arm():
    """A policy-like stream (50 Hz, current + 4 next actions 0.1 s apart on the policy's own
    clock) carries the arm to a goal and opens the gripper there. With the arm slowed to a
    fraction of the proposed speed (a low SSM speed cap), the policy's clock runs ahead of
    the arm: the opening must still happen at the goal, not where the arm is when the
    policy's clock says so (a cube released beside the base instead of on it)."""
    base = safety_config()
    results = {}
    for name, cap_m_s in (("full", 10.0), ("slowed", 0.15)):
        config = replace(base, ssm=replace(base.ssm, max_robot_speed_m_s=cap_m_s))
        safety, model, _ = make_filter("vla_arm6", config, obstacle=False)
        grip = model.gripper_limits
        names = (*model.joint_names, grip.names[0])
        closed, opened = float(grip.lower_rad[0]), float(grip.upper_rad[0])
        start = model.named_state("home")
        goal = start.copy()
        goal[0] += 0.6  # 0.6 rad of the base joint in 1.2 s: 0.5 rad/s proposed
        now, q, hold = 100.0, start.copy(), None
        opened_at_q, waited, slowest = None, False, 1.0
        for tick in range(400):
            reference = safety.reference_at(now)
            q = reference[0] if reference is not None else q
            if hold is not None and opened_at_q is None and hold >= opened - 1e-9:
                opened_at_q = q.copy()
            safety.update_joint_state(JointStateSample(model.joint_names, q, None, now))
            clock = tick * 0.02  # the policy's timeline: runs on, whatever the arm does
            times = 0.02 + 0.1 * np.arange(5)
            phase = np.clip((clock + times) / 1.2, 0.0, 1.0)
            arm = start + np.outer(phase, goal - start)
            fingers = np.where(phase >= 1.0, opened, closed)
            result = safety.filter_command(
                JointCommand(names, times, np.hstack([arm, fingers[:, None]]), now), now
            )
            assert result.accepted
            waited |= "gripper_waits_for_arm" in result.status.reasons
            slowest = min(slowest, result.status.speed_scale)
            if result.gripper is not None:
                # what the gripper controller does with the newest command: each point at its
                # time; the first point in effect by the next tick decides
                due = result.gripper.stamp_s + result.gripper.times_s
                reached = result.gripper.positions[due <= now + 0.02 + 1e-9, 0]
                if reached.size:
                    hold = float(reached[-1])
            now += 0.02
        assert opened_at_q is not None, name
        results[name] = (opened_at_q[0] - start[0], waited, slowest)
    # the gripper opened with the arm at the goal (within one output period's motion)
    for name, (travelled, _, _) in results.items():
        assert abs(travelled - 0.6) <= 0.05, (name, travelled)
    assert results["slowed"][2] < 0.5 and results["slowed"][1]  # slowed, and it said so
    assert results["full"][2] > 0.99


def test_gripper_held_while_no_fresh_command():
    safety, model, _ = make_filter("vla_arm6", obstacle=False)
    now = 100.0
    q0 = np.zeros(len(model.joint_names))
    safety.update_joint_state(JointStateSample(model.joint_names, q0, None, now))
    result = safety.cycle(now)
    assert result.status.state == SafetyState.HOLD and result.gripper is None
    assert safety.gripper_hold == {}


def test_gripper_limits_must_be_finite():
    from vla_ros.core.safety import GripperLimits

    with pytest.raises(ValueError, match="finite"):
        GripperLimits(("finger",), np.array([0.0]), np.array([math.inf]))
    with pytest.raises(ValueError, match="below"):
        GripperLimits(("finger",), np.array([0.04]), np.array([0.0]))


# ----------------------------------------------------------------------------- fast paths


@settings(max_examples=300, deadline=None, phases=[Phase.explicit, Phase.generate])
@given(
    seed=st.integers(0, 2**31),
    segments=st.integers(1, 8),
    scale=st.sampled_from([1e-13, 0.01, 0.05, 0.3]),
    resolution=st.sampled_from([0.01, 0.033, 0.05, 0.1]),
    budget=st.integers(1, 40),
)
def test_subdivide_budget_builds_the_same_first_states(seed, segments, scale, resolution, budget):
    """subdivide(..., max_states=k) is exactly the first k states of the full subdivision."""
    from vla_ros.core.safety.path import subdivide

    rng = np.random.default_rng(seed)
    points = np.cumsum(rng.normal(0.0, scale, (segments, 6)), axis=0)
    if rng.random() < 0.3:
        points = np.round(points / resolution) * resolution  # lengths on the grid exactly
    if segments > 1 and rng.random() < 0.3:
        points[1] = points[0]  # a repeated waypoint
    full, owners = subdivide(points, resolution)
    # the grid: every joint moves at most one resolution between neighbours
    assert np.all(np.abs(np.diff(full, axis=0)) <= resolution + 1e-9)
    part, part_owners = subdivide(points, resolution, budget)
    keep = min(budget, len(full))
    assert np.array_equal(part, full[:keep]) and np.array_equal(part_owners, owners[:keep])


@settings(max_examples=300, deadline=None, phases=[Phase.explicit, Phase.generate])
@given(seed=st.integers(0, 2**31), people=st.integers(0, 3), points=st.integers(0, 40))
def test_ssm_matches_the_per_person_definitions(seed, people, points):
    """evaluate_ssm's (people x points) evaluation equals the per-person formulas."""
    from vla_ros.core.safety.ssm import (
        _zd,
        evaluate_ssm,
        human_speed_toward,
        humans_clear,
        separation_m,
    )

    rng = np.random.default_rng(seed)
    cfg = safety_config().ssm
    robot = rng.normal(0.0, 0.5, (points, 3))
    radii = rng.uniform(0.0, 0.1, points) if rng.random() < 0.5 else None
    humans = [
        Human(tuple(rng.normal(0, 1.5, 3)), tuple(rng.normal(0, 1, 3)), rng.uniform(0, 0.2))
        for _ in range(people)
    ]
    speed = float(rng.uniform(0.0, 2.0))
    result = evaluate_ssm(humans, robot, speed, cfg, radii_m=radii)
    expected = []
    for index, human in enumerate(humans):
        separation = separation_m(human, robot, radii)
        v_h = human_speed_toward(human, robot, cfg)
        zd = _zd(human, cfg)
        allowed = allowed_robot_speed_m_s(separation, v_h, zd, cfg)
        rest = protective_separation_m(0.0, v_h, zd, cfg)
        expected.append((allowed, separation, index, v_h, zd, rest))
    if not humans:
        assert result.nearest_human_index == -1 and math.isinf(result.min_separation_m)
        assert humans_clear(humans, robot, cfg, radii_m=radii)
        return
    allowed, separation, index, v_h, zd, _ = min(expected)
    assert result.nearest_human_index == index
    assert result.allowed_robot_speed_m_s == pytest.approx(allowed, abs=1e-12)
    assert result.min_separation_m == pytest.approx(separation, abs=1e-12)
    assert result.protective_separation_m == pytest.approx(
        protective_separation_m(speed, v_h, zd, cfg), abs=1e-12
    )
    clear = all(e[1] > e[5] + cfg.resume_hysteresis_m for e in expected)
    assert humans_clear(humans, robot, cfg, radii_m=radii) == clear


def test_gate_fast_path_agrees_with_the_model_fk_path():
    """The embedded checker's one-FK state query (distances and Cartesian frames) gives the
    same verdicts as its full report with the zones tested first on the model's FK."""
    from vla_ros.core.safety.gate import PathGate

    safety, model, _ = make_filter("vla_arm6")

    class Plain:  # the same checker without state_distances: the generic path
        def __init__(self, inner):
            self.inner = inner

        def check(self, q, *, with_distance=True):
            return self.inner.check(q, with_distance=with_distance)

    cfg = safety.config
    fast = safety.gate
    generic = PathGate(
        model,
        Plain(safety.gate._checker),
        cfg.collision,
        cfg.workspace,
        cfg.keep_out_zones,
        cfg.cartesian_frames,
    )
    assert fast._state_distances is not None and generic._state_distances is None
    rng = np.random.default_rng(7)
    reasons = set()
    for _ in range(400):
        q = rng.uniform(safety.limits.lower_rad, safety.limits.upper_rad)
        a, b = fast.check(q), generic.check(q)
        assert (a.valid, a.reason, a.colliding_pairs) == (b.valid, b.reason, b.colliding_pairs)
        # distances agree to the solver's tolerance (GJK warm starts differ between paths)
        if math.isfinite(a.obstacle_distance_m) and a.reason != "collision":
            assert a.obstacle_distance_m == pytest.approx(b.obstacle_distance_m, abs=1e-5)
        reasons.add(a.reason.split(":")[0])
    assert {"", "outside_workspace", "collision"} <= reasons


@pytest.mark.parametrize("robot", ["vla_arm6", "arm7"])
def test_gate_walk_matches_checking_every_state(robot):
    """walk() (bounded distances, the embedded checker's path query) gives what check() on
    each state in turn gives: the scales of the valid prefix, the first failing verdict
    (reason, pairs, clearance) and the smallest clearance; so does the state-by-state
    fallback for checkers without a path query. GJK runs without warm starts here, so
    distances agree to the bit."""
    from vla_ros.core.safety.gate import PathGate

    safety, model, _ = make_filter(robot)
    gate = safety.gate
    cold_gjk(gate._checker)

    class Plain:  # no path query: walk() checks state by state
        def __init__(self, inner):
            self.inner = inner

        def check(self, q, *, with_distance=True):
            return self.inner.check(q, with_distance=with_distance)

    cfg = safety.config
    plain = PathGate(
        model, Plain(gate._checker), cfg.collision, cfg.workspace, cfg.keep_out_zones,
        cfg.cartesian_frames,
    )  # fmt: skip
    assert gate._path_query is not None and plain._path_query is None
    rng = np.random.default_rng(5)
    lo, hi = safety.limits.lower_rad, safety.limits.upper_rad
    reasons = set()
    for _ in range(150):
        start = rng.uniform(lo, hi)
        steps = rng.uniform(-0.05, 0.05, (int(rng.integers(1, 12)), len(lo)))
        states = np.clip(start + np.cumsum(steps, axis=0), lo, hi)
        scales, nearest, failure = [], math.inf, None
        for q in states:
            verdict = gate.check(q)
            if not verdict.valid:
                failure = verdict
                break
            scales.append(verdict.scale)
            nearest = min(nearest, verdict.obstacle_distance_m)
        for walker in (gate, plain):
            walk = walker.walk(states)
            assert walk.scales == tuple(scales)
            assert walk.min_obstacle_distance_m == nearest
            assert walk.failure == failure
        reasons.add("" if failure is None else failure.reason.split(":")[0])
        reasons.add("slowed" if any(s < 1.0 for s in scales) else "")
    assert {"", "slowed", "collision", "outside_workspace"} <= reasons, reasons
