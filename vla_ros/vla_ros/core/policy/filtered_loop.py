"""The core closed loop with the safety filter in it, as the graph drives the arm.

`ChunkedSimPolicy` with `core.sim.rollout.run_episode` sends each action straight to the
simulated trajectory controller: the arm follows the policy's timing exactly. Through the
graph, the policy node streams the current action and the next few at `control_rate_hz`
(`core.policy.session.trajectory_rows`), the safety filter (`core.safety.SafetyFilter`)
parameterises them under the robot's velocity, acceleration and jerk limits, the collision
gate and the SSM speed cap, and the controllers follow the filtered trajectory. Wherever the
filter slows the arm, the arm lags the policy's clock.

`run_filtered_episode` reproduces that chain without ROS, in simulated time. It uses the same
scheduler and proposal rows as the node, and the same filter, built from config/safety.yaml
and the robot config as the safety_filter node builds it (`SimSafety`, with the node's
`--param` overrides). Filtered arm and gripper trajectories go to the simulator's
joint_trajectory_controller semantics. Nobody is in the cell: the filter is told so, and its
perception heartbeat is fed. An episode takes seconds, where the graph takes about a minute.
Graph-only effects (DDS, a starved process, perception false positives) are not reproduced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vla_ros.core.policy.closed_loop import ChunkedSimPolicy

__all__ = [
    "ArmLimitsCheck",
    "ArmTrace",
    "FilteredEpisodeResult",
    "SimSafety",
    "check_arm_at_limits",
    "drive_to_target",
    "parse_safety_overrides",
    "run_filtered_episode",
]


_FILTER_CLOCK_OFFSET_S = 1000.0


def parse_safety_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`NAME:=VALUE` items (the safety_filter node's parameter names, YAML values), as
    `vla-ros eval --param safety_filter:NAME:=VALUE` gives them to the node."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name.strip():
            raise ValueError(f"safety override needs NAME:=VALUE, got {item!r}")
        out[name.strip()] = yaml.safe_load(value)
    return out


class SimSafety:
    """Builds the simulated cell's safety filter as the safety_filter node does: the shipped
    config/safety.yaml (or `config_file`), with `overrides` applied to its parameters; the
    robot from its `robot_config`. `make()` gives a fresh filter (one per episode)."""

    def __init__(self, overrides: Mapping[str, Any] | None = None, config_file: str = "") -> None:
        from vla_ros.core.params import flatten_parameters, unflatten_parameters
        from vla_ros.core.resources import resource_path, share_dir
        from vla_ros.core.robot_config import RobotConfig
        from vla_ros.core.safety.build import read_parameters, split_parameters

        path = config_file or str(resource_path("config", "safety.yaml"))
        # dotted names, as ROS names the nested parameters (ssm.max_robot_speed_m_s)
        flat = flatten_parameters(read_parameters(path))
        unknown = sorted(set(overrides or {}) - set(flat))
        if unknown:
            raise ValueError(f"unknown safety_filter parameters: {unknown}")
        flat.update(overrides or {})
        # ValueError here: as the node refuses to start
        self.settings = split_parameters(unflatten_parameters(flat))
        robot_config = RobotConfig.from_yaml(share_dir() / self.settings.node["robot_config"])
        self.robot = robot_config.load_model()
        if self.settings.node.get("output_mode", "joint_trajectory") != "joint_trajectory":
            raise ValueError("the simulated loop drives joint trajectories (output_mode)")

    def make(self) -> Any:
        """A fresh SafetyFilter (no reference, no gripper hold, no latch)."""
        from vla_ros.core.safety.build import build_filter

        return build_filter(
            self.robot,
            self.settings.config,
            scene=self.settings.scene,
            allowed_scene_contacts=self.settings.allowed_scene_contacts,
        )


@dataclass(frozen=True)
class FilteredEpisodeResult:
    """One episode through the filter (the fields `evaluate` reads, and the filter's share)."""

    info: Any  # core.sim.env.EpisodeInfo
    success: bool
    duration_s: float  # [s] simulated
    steps: int  # control ticks
    slowed_s: float  # [s] simulated with the filter's speed scale below 1
    stopped_s: float  # [s] ... in STOPPED or ESTOP
    rejected: int  # proposals the filter rejected
    rejections: tuple[str, ...] = ()  # why, per distinct reason (the filter's error text)


def _feed_guard(env: Any, guard: Any, humans: Sequence[Any]) -> tuple[float, Any]:
    """Give the filter the simulated arm's joint state, `humans` and a perception heartbeat;
    returns the filter's clock (simulated time, offset so that no stamp is 0, "unstamped")
    and the joint state."""
    from vla_ros.core.safety import JointStateSample
    from vla_ros.core.sim.scene import ARM_JOINTS

    now = float(env.time_s) + _FILTER_CLOCK_OFFSET_S
    joints = env.joint_state()
    n = len(ARM_JOINTS)
    guard.update_joint_state(
        JointStateSample(ARM_JOINTS, joints.positions[:n], joints.velocities[:n], now)
    )
    guard.update_humans(tuple(humans))
    guard.note_heartbeat(now)
    return now, joints


def _command_arm(env: Any, result: Any) -> None:
    """Send the filter's arm trajectory (if any) to the simulated trajectory controller."""
    if result.trajectory is not None:
        traj = result.trajectory
        env.command_arm_trajectory(
            traj.times_s,
            traj.positions,
            traj.velocities,
            start_time_s=traj.stamp_s - _FILTER_CLOCK_OFFSET_S,
        )


def run_filtered_episode(
    env: Any,
    sim_policy: ChunkedSimPolicy,
    safety: SimSafety,
    *,
    seed: int,
    task: Any = "",
    control_rate_hz: float = 50.0,
    trajectory_points: int = 5,
) -> FilteredEpisodeResult:
    """Reset, then every 1 / control_rate_hz: tick the policy's scheduler, propose the current
    and next actions (as the policy node does), filter them, command the filtered arm and
    gripper trajectories, step the simulator; until success or the time limit."""
    from vla_ros.core.safety import JointCommand, SafetyState
    from vla_ros.core.sim.scene import ARM_JOINTS, GRIPPER_JOINT

    if control_rate_hz <= 0.0 or trajectory_points < 1:
        raise ValueError("control_rate_hz must be > 0 and trajectory_points >= 1")
    info = env.reset(seed, task)
    sim_policy.reset(info.task)
    guard = safety.make()
    period_s = 1.0 / control_rate_hz
    substeps = max(1, round(period_s / env.config.control_period_s))
    steps, slowed_s, stopped_s, rejected = 0, 0.0, 0.0, 0
    rejections: dict[str, None] = {}
    while True:
        now, joints = _feed_guard(env, guard, ())  # nobody in the cell
        proposal = sim_policy.propose(joints.positions, trajectory_points, period_s)
        if proposal is None:
            result = guard.cycle(now)
        else:
            times, rows = proposal
            names = (*ARM_JOINTS, GRIPPER_JOINT)[: rows.shape[1]]  # the gripper column if any
            result = guard.filter_command(JointCommand(names, times, rows, now), now)
            if not result.accepted:
                rejected += 1
                rejections[result.error] = None
        _command_arm(env, result)
        if result.gripper is not None:
            grip = result.gripper
            env.command_gripper_trajectory(
                grip.times_s, grip.positions, start_time_s=grip.stamp_s - _FILTER_CLOCK_OFFSET_S
            )
        state = result.status.state
        if state >= SafetyState.STOPPED:
            stopped_s += period_s
        elif result.status.speed_scale < 1.0 - 1e-6:
            slowed_s += period_s
        for _ in range(substeps):
            env.step()
        steps += 1
        success, done = env.task_status()
        if done:
            break
    return FilteredEpisodeResult(
        info=info,
        success=bool(success),
        duration_s=float(env.episode_time_s),
        steps=steps,
        slowed_s=slowed_s,
        stopped_s=stopped_s,
        rejected=rejected,
        rejections=tuple(rejections),
    )


# ------------------------------------------------------------- the arm at the filter's limits
# a wide motion of every joint of the simulated arm from its home posture, clear of the table
WIDE_MOVE_RAD = (1.2, -0.35, 0.35, 1.2, 0.9, 2.5)


@dataclass(frozen=True)
class ArmTrace:
    """Per physics step of `drive_to_target`: what the filter commanded and what the arm did."""

    times_s: Any  # (N,) simulated time
    set_points: Any  # (N, 6) the trajectory controller's set-point (the filtered motion)
    set_point_velocities: Any  # (N, 6)
    positions: Any  # (N, 6) measured
    velocities: Any  # (N, 6) measured
    states: tuple[Any, ...]  # (N,) the filter's SafetyState for the step


def drive_to_target(
    env: Any,
    guard: Any,
    target: Any,
    seconds: float,
    humans: Sequence[Any] = (),
    period_s: float = 0.02,
) -> ArmTrace:
    """Propose `target` (joint_1..joint_6) every `period_s`, as the policy node streams, for
    `seconds` of simulated time; the simulated controller follows the filter's output. The
    filter is told `humans` are in the cell (and its perception heartbeat is fed)."""
    import numpy as np

    from vla_ros.core.safety import JointCommand
    from vla_ros.core.sim.scene import ARM_JOINTS

    n = len(ARM_JOINTS)
    goal = np.asarray(target, dtype=np.float64).reshape(1, n)
    substeps = max(1, round(period_s / env.config.control_period_s))
    rows: list[tuple[Any, ...]] = []
    for _ in range(round(seconds / period_s)):
        now, _ = _feed_guard(env, guard, humans)
        result = guard.filter_command(JointCommand(ARM_JOINTS, np.array([0.1]), goal, now), now)
        _command_arm(env, result)
        for _ in range(substeps):
            env.step()
            joints = env.joint_state()
            rows.append(
                (
                    float(env.time_s),
                    env.arm.reference,
                    env.arm.reference_velocity,
                    joints.positions[:n].copy(),
                    joints.velocities[:n].copy(),
                    result.status.state,
                )
            )
    return ArmTrace(
        times_s=np.array([r[0] for r in rows]),
        set_points=np.array([r[1] for r in rows]),
        set_point_velocities=np.array([r[2] for r in rows]),
        positions=np.array([r[3] for r in rows]),
        velocities=np.array([r[4] for r in rows]),
        states=tuple(r[5] for r in rows),
    )


@dataclass(frozen=True)
class ArmLimitsCheck:
    """How the simulated arm does at the filter's limits (`check_arm_at_limits`)."""

    moving: ArmTrace  # full speed toward a far target, nobody in the cell
    braking: ArmTrace  # then a person right beside the arm: the filter stops it
    tracking_error_rad: Any  # (6,) largest |set-point - measured| per joint, both phases
    stop_s: float  # [s] from the first braking step to standstill (inf: never)
    stopping_time_s: float  # [s] the stopping time the filter's SSM assumes
    speed_cap_m_s: float  # the SSM's no-person speed cap
    peak_speed_bound_m_s: float  # largest reach-bound point speed of the measured arm
    peak_set_point_speed_bound_m_s: float  # ... of the set-point


def check_arm_at_limits(
    env: Any, safety: SimSafety, *, seed: int = 0, still_rad_s: float = 0.02
) -> ArmLimitsCheck:
    """Drive the simulated arm as fast as the filter lets it (WIDE_MOVE_RAD from the home
    posture, 1 s), then brake for a person 0.35 m from the base (1 s)."""
    import numpy as np

    from vla_ros.core.safety.reach import joint_reach_bounds, max_point_speed_bound
    from vla_ros.core.safety.ssm import Human
    from vla_ros.core.sim.scene import ARM_JOINTS

    guard = safety.make()
    env.reset(seed=seed, task="pick")
    start = env.joint_state().positions[: len(ARM_JOINTS)].copy()
    target = start + np.asarray(WIDE_MOVE_RAD)
    moving = drive_to_target(env, guard, target, 1.0)
    braking = drive_to_target(env, guard, target, 1.0, humans=(Human((0.35, 0.0, 0.3)),))
    errors = np.vstack([np.abs(t.set_points - t.positions) for t in (moving, braking)]).max(axis=0)
    still = np.flatnonzero(np.max(np.abs(braking.velocities), axis=1) < still_rad_s)
    stop_s = float(braking.times_s[still[0]] - braking.times_s[0]) if still.size else np.inf
    reach = joint_reach_bounds(safety.robot)
    return ArmLimitsCheck(
        moving=moving,
        braking=braking,
        tracking_error_rad=errors,
        stop_s=stop_s,
        stopping_time_s=float(guard.stopping_time_s),
        speed_cap_m_s=float(safety.settings.config.ssm.max_robot_speed_m_s),
        peak_speed_bound_m_s=float(max_point_speed_bound(moving.velocities, reach).max()),
        peak_set_point_speed_bound_m_s=float(
            max_point_speed_bound(moving.set_point_velocities, reach).max()
        ),
    )
