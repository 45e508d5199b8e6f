"""Property-based tests of the safety filter: >= 100,000 proposed commands, clean and adversarial.

Every output is checked independently of the filter's implementation: inside the position
limits (with margin), velocity and acceleration within limits, no state in collision along the
path the controller interpolates, robot point speeds within the ISO/TS 15066 bound for the
people present, and no NaN. Invalid proposals (NaN/inf, wrong sizes, unknown or missing
joints, stale or future stamps, bad times) must be rejected whole. Half the proposals also
carry the gripper joint (in or far out of its limits, NaN/inf among the adversarial ones):
the gripper output is always finite, inside the gripper's limits, the proposal's gripper
points clamped, only sent with an accepted arm command while OK or SLOWED, and never ahead of
the arm: each gripper point acts no earlier than proposed and no earlier than the filtered arm
has reached the arm posture of the same point.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from safety_helpers import InvariantChecker, make_filter

from vla_ros.core.safety import Human, JointCommand, JointStateSample, SafetyState

CLEAN = ("chunk", "target", "stream", "jump", "out_of_limits", "boundary", "toward_obstacle")
ADVERSARIAL = (
    "nan",
    "inf",
    "stale",
    "future",
    "unknown_joint",
    "missing_joint",
    "wrong_size",
    "bad_times",
    "unstamped",
    "gripper_nan",
    "gripper_inf",
)
# A 500 Hz stream of small steps is what a policy sends most; weight it accordingly.
WEIGHTED_KINDS = ("stream",) * 12 + CLEAN + ADVERSARIAL
TOTALS = {
    "commands": 0,
    "accepted": 0,
    "rejected": 0,
    "states_checked": 0,
    "modified": 0,
    "gripper_sent": 0,
    "gripper_clamped": 0,
    "gripper_points_delayed": 0,
    "gripper_held_back": 0,
}
REJECTIONS: dict[str, int] = {}
_FILTERS: dict[str, tuple] = {}


def filter_for(robot: str):
    """One filter per robot for the whole module (building the collision model takes ~0.1 s)."""
    if robot not in _FILTERS:
        _FILTERS[robot] = make_filter(robot)
    return _FILTERS[robot]


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    print(
        f"\nsafety property tests: {TOTALS['commands']} proposed commands "
        f"({TOTALS['accepted']} accepted, {TOTALS['rejected']} rejected), "
        f"{TOTALS['states_checked']} path states re-checked for collision, "
        f"{TOTALS['gripper_sent']} gripper commands sent ({TOTALS['gripper_clamped']} clamped, "
        f"{TOTALS['gripper_points_delayed']} points delayed to the arm, "
        f"{TOTALS['gripper_held_back']} proposals' gripper held back); "
        f"main-stream rejections by cause: {REJECTIONS}"
    )


def obstacle_state(robot: str) -> np.ndarray:
    """A configuration whose links pass through the post (found once per robot)."""
    if robot + "/obstacle" not in _FILTERS:
        safety, _, checker = filter_for(robot)
        rng = np.random.default_rng(3)
        lo, hi = safety.limits.lower_rad, safety.limits.upper_rad
        for _ in range(20000):
            q = rng.uniform(lo, hi)
            report = checker.check(q, with_distance=False)
            if report.in_collision and all("post" in pair for pair in report.colliding_pairs):
                break
        else:
            raise AssertionError("no configuration touches the post")
        _FILTERS[robot + "/obstacle"] = (q,)
    return _FILTERS[robot + "/obstacle"][0]


class Scenario:
    """Runs a stream of proposals through a fresh filter state, the robot tracking perfectly."""

    def __init__(self, robot: str, seed: int, humans: list[Human]) -> None:
        safety, model, checker = filter_for(robot)
        self.robot = robot
        self.safety, self.model = safety, model
        # fresh filter state on the shared, expensive-to-build model and checker
        type(safety).__init__(
            safety,
            model,
            safety.limits,
            safety.config,
            safety.gate._checker,
            link_point_radii_m=model.link_point_radii_m,
            reach_m=safety._reach,
            gripper_limits=safety.gripper_limits,
        )
        self.invariants = InvariantChecker(safety, model, checker)
        self.outputs = 0
        self.rng = np.random.default_rng(seed)
        self.names = model.joint_names
        self.limits = safety.limits
        self.now = 1000.0
        self.humans = humans
        home = model.named_state("home")
        self.q = np.clip(home, self.limits.lower_rad, self.limits.upper_rad)
        self._tick(0.0)

    def _tick(self, dt: float) -> None:
        self.now += dt
        reference = self.safety.reference_at(self.now)
        if reference is not None:
            self.q = reference[0]
        self.safety.update_joint_state(JointStateSample(self.names, self.q, None, self.now))
        self.safety.note_heartbeat(self.now)
        moved = [
            Human(
                tuple(np.asarray(h.position_m) + np.asarray(h.velocity_m_s) * dt),
                h.velocity_m_s,
                h.position_uncertainty_m,
            )
            for h in self.humans
        ]
        self.humans = moved
        self.safety.update_humans(moved)

    def proposal(self, kind: str) -> tuple[JointCommand, bool]:
        rng, n = self.rng, len(self.names)
        lo, hi = self.limits.hard_lower_rad, self.limits.hard_upper_rad
        names = self.names
        stamp = self.now - rng.uniform(0.0, 0.004)  # sent a moment ago
        points = int(rng.integers(1, 12))
        times = 0.02 * np.arange(1, points + 1) * rng.uniform(0.5, 3.0)
        steps = rng.normal(0.0, 0.04, (points, n))
        positions = self.q + np.cumsum(steps, axis=0)
        valid = True
        if kind == "target":
            positions, times = (self.q + rng.normal(0, 0.2, n))[None, :], np.array([0.1])
        elif kind == "stream":
            positions, times = (self.q + rng.normal(0, 0.01, n))[None, :], np.array([0.01])
        elif kind == "jump":
            positions = rng.uniform(lo, hi, (points, n))
        elif kind == "out_of_limits":
            positions = positions + rng.choice([-1, 1], n) * rng.uniform(3.0, 10.0, n)
        elif kind == "boundary":
            positions = np.where(rng.random((points, n)) < 0.5, lo, hi)
        elif kind == "toward_obstacle":
            # aim the arm at the post: a straight line through it in joint space
            target = self.obstacle_state()
            positions = self.q + (target - self.q) * np.linspace(0.3, 1.5, points)[:, None]
        elif kind in ("nan", "inf"):
            positions = positions.copy()
            positions[rng.integers(points), rng.integers(n)] = (
                math.nan if kind == "nan" else math.inf
            )
            valid = False
        elif kind == "stale":
            stamp = self.now - rng.uniform(0.6, 100.0)
            valid = False
        elif kind == "future":
            stamp = self.now + rng.uniform(0.06, 100.0)
            valid = False
        elif kind == "unstamped":
            stamp = 0.0
            valid = False
        elif kind == "unknown_joint":
            names = (*names[:-1], "not_a_joint")
            valid = False
        elif kind == "missing_joint":
            names, positions = names[:-1], positions[:, :-1]
            valid = False
        elif kind == "wrong_size":
            positions = (
                positions[:, : n - 1]
                if rng.random() < 0.5
                else np.hstack([positions, positions[:, :1]])
            )
            valid = False
        elif kind == "bad_times":
            times = times[::-1].copy() if points > 1 else np.array([-0.1])
            valid = False
        gripper_kind = kind in ("gripper_nan", "gripper_inf")
        if gripper_kind or rng.random() < 0.5:
            names, positions = self.with_gripper(names, positions)
            if gripper_kind:
                positions = positions.copy()
                positions[rng.integers(len(positions)), -1] = (
                    math.nan if kind == "gripper_nan" else -math.inf
                )
                valid = False
        return JointCommand(tuple(names), times, positions, stamp), valid

    def with_gripper(self, names, positions: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
        """The proposal plus the gripper joint's column: inside, at or far beyond its limits."""
        rng, grip = self.rng, self.model.gripper_limits
        lo, hi = float(grip.lower_rad[0]), float(grip.upper_rad[0])
        rows = len(positions)
        style = rng.integers(3)
        if style == 0:
            column = rng.uniform(lo, hi, rows)
        elif style == 1:
            column = rng.choice([lo, hi], rows)
        else:
            column = rng.uniform(lo - 10.0, hi + 10.0, rows)
        return (*names, grip.names[0]), np.hstack([positions, column[:, None]])

    def check_gripper(self, command: JointCommand, result) -> None:
        """Gripper output: only with an accepted arm command while moving is allowed, finite,
        inside the limits, the proposal's gripper points (those ahead, in order) clamped, and
        each point timed no earlier than proposed and no earlier than the filtered arm has come
        within one output period of the arm posture of the same point."""
        gripper = result.gripper
        grip = self.model.gripper_limits
        name = grip.names[0]
        if gripper is None:
            moving = result.accepted and result.status.state <= SafetyState.SLOWED
            TOTALS["gripper_held_back"] += moving and name in command.joint_names
            return
        TOTALS["gripper_sent"] += 1
        assert result.accepted and result.trajectory is not None
        assert result.status.state <= SafetyState.SLOWED
        assert gripper.joint_names == (name,)
        values = gripper.positions[:, 0]
        assert np.all(np.isfinite(values))
        assert np.all(values >= grip.lower_rad[0]) and np.all(values <= grip.upper_rad[0])
        names = list(command.joint_names)
        positions = np.asarray(command.positions)
        proposed_times = np.asarray(command.times_s, dtype=float)
        ahead = proposed_times > self.now - command.stamp_s + 1e-9  # the points still to come
        count = len(values)
        proposed = positions[ahead, names.index(name)][:count]
        assert len(proposed) == count, "gripper points that the proposal does not have ahead"
        assert np.array_equal(values, np.clip(proposed, grip.lower_rad[0], grip.upper_rad[0]))
        times = np.asarray(gripper.times_s)
        assert np.all(np.diff(times) > 0.0)
        assert np.all(times >= proposed_times[ahead][:count] - 1e-12)
        assert gripper.stamp_s == command.stamp_s
        # the arm, as filtered, has reached each point's posture by the point's time
        arm = positions[ahead][:count][:, [names.index(j) for j in self.names]]
        arm = np.clip(arm, self.limits.lower_rad, self.limits.upper_rad)
        traj = result.trajectory
        sample_times = np.concatenate(([traj.stamp_s], traj.stamp_s + traj.times_s))
        samples = np.vstack((traj.start_positions[None, :], traj.positions))
        rates = self.limits.velocity_rad_s
        period = self.safety.config.output_period_s
        for k in range(count):
            due = gripper.stamp_s + times[k]
            seen = samples[sample_times <= due + 1e-9]
            gap = (np.abs(seen - arm[k]) / rates).max(axis=1).min()
            assert gap <= period * (1.0 + 1e-6) + 1e-9, ("gripper ahead of the arm", k, gap)
        TOTALS["gripper_points_delayed"] += int(
            np.sum(times > proposed_times[ahead][:count] + period)
        )
        assert self.safety.gripper_hold == {name: values[-1]}
        TOTALS["gripper_clamped"] += not np.array_equal(values, proposed)

    def obstacle_state(self) -> np.ndarray:
        return obstacle_state(self.robot)

    def run(self, kinds: list[str], dts: list[float], attacks: list[str]) -> None:
        per_tick = len(attacks) // len(kinds)
        for tick, (kind, dt) in enumerate(zip(kinds, dts, strict=True)):
            self._tick(dt)
            cycle = self.safety.cycle(self.now)
            assert cycle.gripper is None  # watchdog cycles never move the gripper
            if cycle.trajectory is not None:
                self.check(cycle.trajectory, cycle.status)
            # adversarial proposals in between: each rejected whole, nothing sent
            for attack in attacks[tick * per_tick : (tick + 1) * per_tick]:
                bad, valid = self.proposal(attack)
                assert not valid
                result = self.safety.filter_command(bad, self.now)
                TOTALS["commands"] += 1
                TOTALS["rejected"] += 1
                assert not result.accepted and result.trajectory is None, attack
                assert result.gripper is None, attack
                assert result.error, attack
            command, valid = self.proposal(kind)
            result = self.safety.filter_command(command, self.now)
            TOTALS["commands"] += 1
            self.check_gripper(command, result)
            if not valid:
                assert not result.accepted, (kind, result.status.reasons)
                assert result.error
            if result.accepted:
                TOTALS["accepted"] += 1
                TOTALS["modified"] += "clamped_to_joint_limits" in result.status.reasons
                assert result.trajectory is not None
                assert result.status.state < SafetyState.STOPPED
            else:
                TOTALS["rejected"] += 1
                key = result.error.split(":")[0] if valid else "adversarial"
                REJECTIONS[key] = REJECTIONS.get(key, 0) + 1
            if result.trajectory is not None:
                self.check(result.trajectory, result.status)
        TOTALS["states_checked"] += self.invariants.states_checked
        self.invariants.states_checked = 0

    def check(self, trajectory, status) -> None:
        reasons = status.reasons
        allowed = status.allowed_robot_speed_m_s if self.humans else math.inf
        self.outputs += 1
        self.invariants.check(
            trajectory,
            allowed_speed_m_s=allowed,
            hard_stop="stopped_short_harder_than_limits" in reasons,
            ssm_horizon_s=math.inf if self.outputs % 10 == 0 else 0.1,
        )


human_strategy = st.lists(
    st.tuples(
        st.floats(0.3, 5.0),  # distance from the base [m]
        st.floats(-math.pi, math.pi),  # bearing
        st.floats(0.0, 0.8),  # approach speed [m/s]
        st.floats(0.0, 0.2),  # uncertainty [m]
    ),
    max_size=2,
)


def build_humans(spec) -> list[Human]:
    out = []
    for distance, bearing, speed, sigma in spec:
        direction = np.array([math.cos(bearing), math.sin(bearing), 0.0])
        position = direction * distance + np.array([0.0, 0.0, 0.9])
        out.append(Human(tuple(position), tuple(-direction * speed), sigma))
    return out


def fast_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
        # shrinking 150-step streams can take minutes; the failing example is printed as is
        phases=[Phase.explicit, Phase.generate],
    )


@pytest.mark.parametrize(("robot", "examples"), [("vla_arm6", 130), ("arm7", 40)])
def test_streams_of_clean_and_adversarial_proposals(robot, examples):
    """Mixed streams at 50-500 Hz: every output keeps every promise."""

    @fast_settings(examples)
    @given(
        seed=st.integers(0, 2**31),
        kinds=st.lists(st.sampled_from(WEIGHTED_KINDS), min_size=150, max_size=150),
        dts=st.lists(
            st.sampled_from([0.002, 0.005, 0.01, 0.02, 0.05]), min_size=150, max_size=150
        ),
        attacks=st.lists(st.sampled_from(ADVERSARIAL), min_size=450, max_size=450),
        humans=human_strategy,
    )
    def run(seed, kinds, dts, attacks, humans):
        Scenario(robot, seed, build_humans(humans)).run(kinds, dts, attacks)

    run()
