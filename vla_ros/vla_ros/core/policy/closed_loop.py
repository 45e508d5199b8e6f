"""Closed-loop evaluation of any Policy in the simulated cell, chunked in simulated time.

`ChunkedSimPolicy` adapts a Policy (embedded VLA, remote, scripted) to the simulator's
`act(joint_positions, state)` loop (core.sim.rollout). Chunks are scheduled by the same
AsyncChunkScheduler the robot uses, on the simulator's clock: a chunk requested at t reaches
the scheduler at t + latency, where latency is the measured inference time (or a fixed
`simulated_latency_s`), so latency compensation, blending and the jump limit are exercised
exactly as on the robot, while the physics waits for the model. `evaluate` runs episodes and
reports success with a Wilson confidence interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_ros.core.chunking import (
    AsyncChunkScheduler,
    ChunkSchedulerConfig,
    gripper_index,
    prepare_chunk,
)
from vla_ros.core.evaluation_stats import wilson_interval
from vla_ros.core.policy.interface import WRIST_IMAGE_KEY, ActionChunk, Observation, Policy
from vla_ros.core.policy.session import trajectory_rows
from vla_ros.core.policy.tool_pose import ToolPoseIkError

__all__ = [
    "ChunkedSimPolicy",
    "EvaluationSummary",
    "evaluate",
    "sim_images",
    "wilson_interval",
]


def sim_images(
    env: Any, image_keys: tuple[str, ...], scene_rgb: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The simulator's images for a policy's image keys: WRIST_IMAGE_KEY is the wrist camera,
    any other the scene camera (`scene_rgb` when already rendered)."""
    from vla_ros.core.sim.scene import WRIST_CAMERA_NAME

    images = {}
    for key in image_keys:
        if key == WRIST_IMAGE_KEY:
            images[key] = env.render(camera=WRIST_CAMERA_NAME, with_depth=False)[0]
        else:
            if scene_rgb is None:
                scene_rgb = env.render(with_depth=False)[0]
            images[key] = scene_rgb
    return images


class ChunkedSimPolicy:
    """A Policy as a core.sim SimPolicy: renders, infers, schedules chunks in simulated time."""

    def __init__(
        self,
        policy: Policy,
        env: Any,
        scheduler_config: ChunkSchedulerConfig | None = None,
        simulated_latency_s: float | None = None,
        with_depth: bool = False,
        instruction_fn: Callable[[Any], str] | None = None,
    ) -> None:
        self.policy = policy
        self.spec = policy.spec
        self.env = env
        self.config = scheduler_config or ChunkSchedulerConfig(control_rate_hz=10.0)
        self.simulated_latency_s = simulated_latency_s
        self.with_depth = with_depth or self.spec.use_depth
        # task -> the sentence the policy hears (default: the canonical one); evaluation of
        # unseen paraphrases swaps the wording here, the success predicate stays the task's
        self.instruction_fn = instruction_fn
        self.scheduler = AsyncChunkScheduler(
            self.config, self.spec.action_dim, gripper_index(self.spec)
        )
        self._pending: tuple[float, ActionChunk] | None = None
        self._instruction = ""
        self.latencies_s: list[float] = []
        self.refused_chunks = 0  # inferences that gave no chunk (ToolPoseIkError)

    def reset(self, task: Any) -> None:
        """New episode: fresh queue, the task's instruction (see instruction_fn)."""
        self.policy.reset()
        self.scheduler = AsyncChunkScheduler(
            self.config, self.spec.action_dim, gripper_index(self.spec)
        )
        self._pending = None
        self._instruction = (
            str(task.instruction) if self.instruction_fn is None else self.instruction_fn(task)
        )

    def _observe(self, joint_positions: np.ndarray, now_s: float) -> Observation:
        from vla_ros.core.sim.scene import ARM_JOINTS, GRIPPER_JOINT

        rgb, depth = self.env.render(with_depth=self.with_depth)
        camera = self.spec.image_keys[0]
        return Observation(
            images=sim_images(self.env, self.spec.image_keys, rgb),
            depth={camera: depth} if depth is not None and self.with_depth else {},
            joint_names=(*ARM_JOINTS, GRIPPER_JOINT)[: len(joint_positions)],
            joint_positions=joint_positions,
            instruction=self._instruction,
            stamp_s=now_s,
        )

    def act(self, joint_positions: np.ndarray, state: Any) -> tuple[np.ndarray, float]:
        """(arm joint targets, gripper target [m]) for this simulator step."""
        q = np.asarray(joint_positions, dtype=np.float64)
        out = self._tick(q, float(self.env.time_s))
        n_arm = len(self.spec.joint_names)
        if out is None:  # first chunk still "in flight": hold the measured posture
            return q[:n_arm].copy(), float(q[n_arm]) if q.size > n_arm else 0.0
        gripper = float(out.action[n_arm]) if self.spec.has_gripper else float(q[n_arm])
        return out.action[:n_arm].copy(), gripper

    def propose(
        self, joint_positions: np.ndarray, points: int, first_time_s: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """What the policy node publishes at this tick: (times_s, rows) of the current action
        at `first_time_s` and up to `points` - 1 queued ones a chunk step apart, arm joints
        plus the gripper column (core.policy.session.trajectory_rows); None before the first
        chunk (the node publishes nothing then)."""
        now = float(self.env.time_s)
        out = self._tick(np.asarray(joint_positions, dtype=np.float64), now)
        if out is None:
            return None
        step = self.spec.step_duration_s
        ahead = self.scheduler.committed(now + step, step, points - 1) if points > 1 else None
        return trajectory_rows(
            out.action, ahead, self.spec, with_gripper=True, first_time_s=first_time_s
        )

    def _tick(self, q: np.ndarray, now: float) -> Any:
        """Deliver a chunk whose latency has passed, request one when due, tick the
        scheduler: its TickOutput, or None while the first chunk is in flight."""
        if self._pending is not None and self._pending[0] <= now + 1e-9:
            self.scheduler.add_chunk(self._pending[1], now)
            self._pending = None
        if self._pending is None and self.scheduler.needs_chunk(now):
            observation = self._observe(q, now)
            start = time.perf_counter()
            try:
                chunk = prepare_chunk(self.policy.infer(observation), observation, self.spec)
            except ToolPoseIkError:
                # The policy refused this chunk (no IK solution near the measured joints). As
                # the node does: add nothing, play out the queue (hold when it runs dry) and
                # ask again at the next tick.
                self.refused_chunks += 1
                chunk = None
            measured = time.perf_counter() - start
            self.latencies_s.append(measured)
            latency = measured if self.simulated_latency_s is None else self.simulated_latency_s
            if chunk is not None:
                if not self.scheduler.has_output:
                    arm = observation.state_for(self.spec.joint_names)
                    seed = np.full(self.spec.action_dim, np.nan)
                    seed[: arm.size] = arm
                    self.scheduler.set_initial_output(seed)
                if latency <= 0.0:
                    self.scheduler.add_chunk(chunk, now)
                else:
                    self._pending = (now + latency, chunk)
        return self.scheduler.tick(now)


@dataclass(frozen=True)
class EvaluationSummary:
    """Success over a set of episodes."""

    episodes: int
    successes: int
    success_rate: float
    ci_low: float  # Wilson interval, `confidence` level
    ci_high: float
    confidence: float
    mean_duration_s: float  # [s] simulated, over all episodes
    per_task: dict[str, tuple[int, int]]  # task family -> (successes, episodes)
    outcomes: tuple[tuple[str, int, bool], ...] = ()  # (task family, seed, success) each


def evaluate(
    env: Any,
    sim_policy: Any,
    seeds: Sequence[int],
    tasks: Sequence[str],
    *,
    act_period_s: float = 0.1,
    confidence: float = 0.95,
    episode_fn: Callable[..., Any] | None = None,
) -> EvaluationSummary:
    """Run every (seed, task) episode with core.sim.rollout.run_episode (or `episode_fn(env,
    sim_policy, seed=, task=)`, e.g. the safety filter's loop); summarise success."""
    from vla_ros.core.sim.rollout import run_episode

    per_task: dict[str, list[int]] = {}
    durations = []
    outcomes = []
    for task in tasks:
        for seed in seeds:
            if episode_fn is not None:
                result = episode_fn(env, sim_policy, seed=seed, task=task)
            else:
                result = run_episode(
                    env, sim_policy, seed=seed, task=task, act_period_s=act_period_s
                )
            counts = per_task.setdefault(result.info.task.family, [0, 0])
            counts[0] += int(result.success)
            counts[1] += 1
            durations.append(result.duration_s)
            outcomes.append((result.info.task.family, int(seed), bool(result.success)))
    successes = sum(c[0] for c in per_task.values())
    n = sum(c[1] for c in per_task.values())
    low, high = wilson_interval(successes, n, confidence)
    return EvaluationSummary(
        episodes=n,
        successes=successes,
        success_rate=successes / n if n else 0.0,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        mean_duration_s=float(np.mean(durations)) if durations else 0.0,
        per_task={k: (v[0], v[1]) for k, v in per_task.items()},
        outcomes=tuple(outcomes),
    )
