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

__all__ = ["FilteredEpisodeResult", "SimSafety", "parse_safety_overrides", "run_filtered_episode"]


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
    from vla_ros.core.safety import JointCommand, JointStateSample, SafetyState
    from vla_ros.core.sim.scene import ARM_JOINTS, GRIPPER_JOINT

    if control_rate_hz <= 0.0 or trajectory_points < 1:
        raise ValueError("control_rate_hz must be > 0 and trajectory_points >= 1")
    info = env.reset(seed, task)
    sim_policy.reset(info.task)
    guard = safety.make()
    period_s = 1.0 / control_rate_hz
    substeps = max(1, round(period_s / env.config.control_period_s))
    n_arm = len(ARM_JOINTS)
    steps, slowed_s, stopped_s, rejected = 0, 0.0, 0.0, 0
    rejections: dict[str, None] = {}
    while True:
        # the filter's clock: simulated time, offset so that no stamp is 0 ("unstamped")
        now = float(env.time_s) + _FILTER_CLOCK_OFFSET_S
        joints = env.joint_state()
        guard.update_joint_state(
            JointStateSample(ARM_JOINTS, joints.positions[:n_arm], joints.velocities[:n_arm], now)
        )
        guard.update_humans(())  # nobody in the cell
        guard.note_heartbeat(now)
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
        if result.trajectory is not None:
            traj = result.trajectory
            env.command_arm_trajectory(
                traj.times_s,
                traj.positions,
                traj.velocities,
                start_time_s=traj.stamp_s - _FILTER_CLOCK_OFFSET_S,
            )
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
