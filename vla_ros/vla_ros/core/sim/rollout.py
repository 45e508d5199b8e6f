"""Run a policy in the simulated cell without ROS: the loop of the bench, tests and recording."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vla_ros.core.sim.env import EpisodeInfo, SimConfig, SimEnv
from vla_ros.core.sim.scene import WRIST_CAMERA_FRAME as WRIST_FRAME
from vla_ros.core.sim.scene import WRIST_CAMERA_NAME
from vla_ros.core.sim.tasks import SimStateView, TaskSpec

if TYPE_CHECKING:
    from vla_ros.core.sim.expert import ScriptedExpert

# step-to-step correlation of run_episode's action noise: ~1 s time constant at 10 Hz
ACTION_NOISE_CORRELATION = 0.9


class SimPolicy(Protocol):
    """What the rollout needs of a policy (the scripted expert fits)."""

    def reset(self, task: TaskSpec) -> None:
        """Start on a new task."""

    def act(self, joint_positions: np.ndarray, state: SimStateView) -> tuple[np.ndarray, float]:
        """(arm joint targets, gripper finger_joint target [m])."""


class HandoverPolicy:
    """A learned policy acts until `handover_s` of simulated time, then the expert takes over.

    Recording only the expert's part (`record_episode(..., keep_step=lambda _: p.handed_over)`)
    gives demonstrations that start in the states the learner drives the cell into (a knocked
    base cube, a cube set down beside the goal, a grasp a few centimetres off) and show how to
    recover from them: one round of DAgger (Ross et al. 2011) with the expert's own trajectory
    as the label, so every recorded action chunk is consistent.
    """

    def __init__(self, learner: SimPolicy, expert: ScriptedExpert, handover_s: float) -> None:
        if not np.isfinite(handover_s) or handover_s < 0.0:
            raise ValueError("handover_s must be finite and >= 0")
        self.learner = learner
        self.expert = expert
        self.handover_s = handover_s
        self.handed_over = False
        self._task: TaskSpec | None = None

    def reset(self, task: TaskSpec) -> None:
        """New episode: the learner starts."""
        self._task = task
        self.handed_over = False
        self.learner.reset(task)

    def act(self, joint_positions: np.ndarray, state: SimStateView) -> tuple[np.ndarray, float]:
        """The learner's action before `handover_s`, the expert's from then on."""
        if self._task is None:
            raise ValueError("reset(task) before act()")
        if not self.handed_over and state.time_s + 1e-6 >= self.handover_s:  # float clock
            self.expert.resume(self._task, joint_positions, state)
            self.handed_over = True
        if self.handed_over:
            return self.expert.act(joint_positions, state)
        return self.learner.act(joint_positions, state)


@dataclass(frozen=True)
class StepRecord:
    """One policy step as seen by a recorder."""

    time_s: float  # [s] simulation time (the /clock of the step)
    rgb: np.ndarray | None
    depth_m: np.ndarray | None
    joint_names: tuple[str, ...]
    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    arm_action: np.ndarray
    gripper_action_m: float
    state: SimStateView | None = None  # ground truth the policy acted on (recording only)
    wrist_rgb: np.ndarray | None = None  # the wrist camera's frame (render_wrist only)


@dataclass(frozen=True)
class EpisodeResult:
    """Outcome of one rollout."""

    info: EpisodeInfo
    success: bool
    duration_s: float  # [s] simulated
    steps: int


def run_episode(
    env: SimEnv,
    policy: SimPolicy,
    *,
    seed: int,
    task: str | TaskSpec = "",
    with_person: bool = False,
    act_period_s: float = 0.1,
    render: bool = False,
    on_step: Callable[[StepRecord], None] | None = None,
    action_noise_rad: float = 0.0,
    render_depth: bool = True,
    render_wrist: bool = False,
) -> EpisodeResult:
    """Reset, then act every `act_period_s` until success or the time limit.

    With `render` each step carries the scene camera's RGB (and depth with `render_depth`),
    with `render_wrist` also the wrist camera's RGB.

    Actions are sent as one-point trajectories reaching the target after `act_period_s`, as
    a VLA client would send them to joint_trajectory_controller.

    `action_noise_rad` > 0 perturbs the *executed* arm targets with a slowly varying noise of
    that standard deviation per joint (DART, Laskey et al. 2017): the recorded action stays the
    policy's own, so a demonstration also shows how the expert recovers from being off its path,
    the states a learned policy drifts into. The noise is seeded by `seed`.
    """
    if action_noise_rad < 0.0 or not np.isfinite(action_noise_rad):
        raise ValueError("action_noise_rad must be finite and >= 0")
    info = env.reset(seed, task, with_person=with_person)
    policy.reset(info.task)
    periods = max(1, round(act_period_s / env.config.control_period_s))
    noise_rng = np.random.default_rng([seed, 7])
    noise = np.zeros(0)
    steps, success = 0, False
    while True:
        state = env.state_view()
        joints = env.joint_state()
        arm, gripper = policy.act(joints.positions, state)
        executed = np.asarray(arm, dtype=np.float64)
        if action_noise_rad > 0.0:
            # AR(1) with stationary std action_noise_rad
            rho = ACTION_NOISE_CORRELATION
            if noise.shape != executed.shape:
                noise = noise_rng.normal(0.0, action_noise_rad, executed.shape)
            innovation = noise_rng.normal(0.0, action_noise_rad * np.sqrt(1 - rho**2), noise.shape)
            noise = rho * noise + innovation
            executed = executed + noise
        rgb = depth = wrist = None
        if render:
            rgb, depth = env.render(with_depth=render_depth)
        if render_wrist:
            wrist, _ = env.render(camera=WRIST_CAMERA_NAME, with_depth=False)
        if on_step is not None:
            on_step(
                StepRecord(
                    env.time_s,
                    rgb,
                    depth,
                    joints.names,
                    joints.positions,
                    joints.velocities,
                    np.asarray(arm),
                    float(gripper),
                    state,
                    wrist,
                )
            )
        env.command_arm_trajectory(np.array([act_period_s]), executed[None, :])
        env.command_gripper(float(gripper))
        for _ in range(periods):
            env.step()
        steps += 1
        success, done = env.task_status()
        if done:
            break
    return EpisodeResult(info, success, env.episode_time_s, steps)


def record_episode(
    env: SimEnv,
    policy: SimPolicy,
    path: str | Path,
    *,
    seed: int,
    task: str | TaskSpec = "",
    with_person: bool = False,
    act_period_s: float = 0.1,
    with_depth: bool = True,
    action_noise_rad: float = 0.0,
    wrist_camera: bool = False,
    keep_step: Callable[[StepRecord], bool] | None = None,
    metadata: dict[str, str] | None = None,
) -> EpisodeResult:
    """Run one episode and record it as MCAP: frames, joint states, commands, instruction and
    the ground-truth object positions (see run_episode for `action_noise_rad`); with
    `wrist_camera` the wrist camera's frames too (TOPIC_WRIST_RGB, same stamps). With
    `keep_step` only the steps it accepts are written (HandoverPolicy: the expert's part);
    `metadata` is added to the file's metadata."""
    from vla_ros.core.recording import TOPIC_WRIST_RGB, EpisodeWriter
    from vla_ros.core.sim.scene import ARM_JOINTS, GRIPPER_JOINT

    frame = "camera_optical_frame"
    instruction = env.reset(seed, task, with_person=with_person).task.instruction
    with EpisodeWriter(path, instruction=instruction) as writer:

        def on_step(step: StepRecord) -> None:
            assert step.rgb is not None
            if keep_step is not None and not keep_step(step):
                return
            writer.write_rgb(step.time_s, step.rgb, frame)
            if step.wrist_rgb is not None:
                writer.write_rgb(step.time_s, step.wrist_rgb, WRIST_FRAME, topic=TOPIC_WRIST_RGB)
            if with_depth and step.depth_m is not None:
                writer.write_depth(step.time_s, step.depth_m, frame)
            writer.write_joint_state(
                step.time_s, step.joint_names, step.joint_positions, step.joint_velocities
            )
            if step.state is not None:
                writer.write_object_poses(step.time_s, object_positions(step.state))
            # the commands leave right after the frame they answer
            sent = step.time_s + 1e-3
            writer.write_arm_command(sent, ARM_JOINTS, step.arm_action, act_period_s)
            writer.write_gripper_command(sent, GRIPPER_JOINT, step.gripper_action_m, act_period_s)

        result = run_episode(
            env,
            policy,
            seed=seed,
            task=task,
            with_person=with_person,
            act_period_s=act_period_s,
            render=True,
            on_step=on_step,
            action_noise_rad=action_noise_rad,
            render_depth=with_depth,
            render_wrist=wrist_camera,
        )
        writer.set_metadata(
            seed=str(seed),
            action_noise_rad=f"{action_noise_rad:g}",
            task_family=result.info.task.family,
            success=str(result.success),
            duration_s=f"{result.duration_s:.3f}",
            **(metadata or {}),
        )
    return result


def object_positions(state: SimStateView) -> dict[str, np.ndarray]:
    """Object name -> (3,) position [m]: "cube_<colour>" for each cube, "bowl", "plate"."""
    positions = {f"cube_{c}": np.asarray(p) for c, p in state.cube_positions_m.items()}
    positions["bowl"] = np.asarray(state.bowl_position_m)
    positions["plate"] = np.asarray(state.plate_position_m)
    return positions


def record_expert_dataset(
    out_dir: str | Path,
    *,
    episodes_per_family: int,
    families: tuple[str, ...] = ("pick", "place", "push", "stack"),
    first_seed: int = 0,
    config: SimConfig | None = None,
    keep_failures: bool = False,
) -> list[tuple[Path, EpisodeResult]]:
    """Record scripted-expert demonstrations, one MCAP per episode (<family>_<seed>.mcap).

    Failed episodes are deleted unless `keep_failures`; the list has every attempt.
    """
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import default_urdf_path
    from vla_ros.core.sim.expert import ScriptedExpert

    if episodes_per_family < 1:
        raise ValueError("episodes_per_family must be >= 1")
    out = Path(out_dir)
    env = SimEnv(config)
    urdf = Path(env.config.urdf_path) if env.config.urdf_path else default_urdf_path()
    expert = ScriptedExpert(RobotModel.from_urdf(urdf))
    results = []
    try:
        for family in families:
            for seed in range(first_seed, first_seed + episodes_per_family):
                path = out / f"{family}_{seed:05d}.mcap"
                result = record_episode(env, expert, path, seed=seed, task=family)
                if not result.success and not keep_failures:
                    path.unlink()
                results.append((path, result))
    finally:
        env.close()
    return results
