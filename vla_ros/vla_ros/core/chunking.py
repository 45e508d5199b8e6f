"""Action-chunk scheduling, separate from policies: asynchronous (worker thread) and synchronous.

The asynchronous scheduler turns chunks (H actions at step_duration_s, stamped with the
observation they answer) into a stream of actions sampled at the control rate:

- it asks for a new chunk when the remaining horizon falls below `refill_fraction` of a chunk;
- a chunk that arrives late is aligned by time: actions meant for instants already past are
  skipped (latency compensation);
- overlapping chunks are blended (latest only, weighted average, ACT temporal ensembling, or
  prefix-conditioned real-time chunking where the policy itself continues the committed prefix);
- the output moves at most as fast as the chunks imply (`jump_margin` times the steepest step
  of the last `rate_memory` chunks, never less than `min_rate_per_s`), so chunk seams never
  jump, while a chunk that stops can still be caught up with at the speed just used;
- when the queue runs dry it holds (positions) or ramps to zero (velocities) and counts an
  underrun.

`ChunkRunner` adds the worker thread: the control loop calls `tick()`; inference never runs
on the control thread. `SyncChunkBroker` is openpi's ActionChunkBroker behaviour (infer only
when the chunk is used up, blocking the caller), kept for comparison.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from vla_ros.core.policy.interface import (
    ActionChunk,
    ActionSpace,
    Observation,
    Policy,
    PolicySpec,
    PrefixConditionedPolicy,
)

_EPS = 1e-9


class BlendMode(str, Enum):
    """How a new chunk is merged with the actions still queued from earlier chunks."""

    LATEST_ONLY = "latest_only"  # the new chunk replaces the queue
    WEIGHTED_AVERAGE = "weighted_average"  # old_weight * old + (1 - old_weight) * new
    TEMPORAL_ENSEMBLE = "temporal_ensemble"  # ACT: weights exp(-decay * i), i = 0 the oldest
    PREFIX_CONDITIONED = "prefix_conditioned"  # the policy continues the committed prefix (RTC)


class UnderrunMode(str, Enum):
    """What the output does when no queued action covers the current instant."""

    HOLD_LAST = "hold_last"  # positions: stay where the last command was
    ZERO = "zero"  # velocities: ramp to zero at the allowed rate


@dataclass(frozen=True)
class ChunkSchedulerConfig:
    """Settings of the asynchronous chunk scheduler."""

    control_rate_hz: float = 50.0  # [Hz] rate at which the control loop ticks the scheduler
    refill_fraction: float = 0.5  # request a chunk when remaining horizon < this * chunk duration
    blend: BlendMode = BlendMode.WEIGHTED_AVERAGE  # how overlapping chunks merge
    old_weight: float = 0.3  # weight of the queued actions in WEIGHTED_AVERAGE (LeRobot: 0.3)
    ensemble_decay: float = 0.01  # ACT temporal-ensembling decay per prediction
    jump_margin: float = 1.5  # output step <= this * steepest step the chunk implies
    min_rate_per_s: float = 0.1  # [action units / s] floor of the rate limit (H = 1 moves at it)
    rate_memory: int = 2  # chunks whose steepest steps set the rate limit (the newest ones)
    max_tick_gap_s: float = 0.1  # [s] a longer gap between ticks allows no larger step
    max_chunk_age_s: float = 2.0  # [s] chunks answering older observations are discarded
    underrun: UnderrunMode = UnderrunMode.HOLD_LAST  # output when the queue is dry

    def __post_init__(self) -> None:
        object.__setattr__(self, "blend", BlendMode(self.blend))
        object.__setattr__(self, "underrun", UnderrunMode(self.underrun))
        if not (math.isfinite(self.control_rate_hz) and self.control_rate_hz > 0.0):
            raise ValueError(f"control_rate_hz must be > 0, got {self.control_rate_hz}")
        if not 0.0 <= self.refill_fraction <= 1.0:
            raise ValueError(f"refill_fraction must be in [0, 1], got {self.refill_fraction}")
        if not 0.0 <= self.old_weight < 1.0:
            raise ValueError(f"old_weight must be in [0, 1), got {self.old_weight}")
        if not (math.isfinite(self.ensemble_decay) and self.ensemble_decay >= 0.0):
            raise ValueError(f"ensemble_decay must be >= 0, got {self.ensemble_decay}")
        if not (math.isfinite(self.jump_margin) and self.jump_margin >= 1.0):
            raise ValueError(f"jump_margin must be >= 1, got {self.jump_margin}")
        if not (math.isfinite(self.min_rate_per_s) and self.min_rate_per_s > 0.0):
            raise ValueError(f"min_rate_per_s must be > 0, got {self.min_rate_per_s}")
        if self.rate_memory < 1:
            raise ValueError(f"rate_memory must be >= 1, got {self.rate_memory}")
        if not self.max_tick_gap_s >= 1.0 / self.control_rate_hz:
            raise ValueError(
                f"max_tick_gap_s ({self.max_tick_gap_s}) must be >= the control period "
                f"({1.0 / self.control_rate_hz} s)"
            )
        if not self.max_chunk_age_s > 0.0:
            raise ValueError(f"max_chunk_age_s must be > 0, got {self.max_chunk_age_s}")

    @property
    def control_period_s(self) -> float:
        """[s] nominal time between ticks."""
        return 1.0 / self.control_rate_hz


@dataclass(frozen=True)
class TickOutput:
    """One control tick's result."""

    action: np.ndarray  # (D,) the command to send
    underrun: bool  # True when no queued action covered this instant
    step_limit: np.ndarray  # (D,) largest per-element change allowed at this tick
    remaining_s: float  # [s] horizon still queued after this tick


def chunk_index_at(stamp_s: float, step_duration_s: float, now_s: float) -> int:
    """Index of the chunk action whose interval [t_i, t_i + step) contains `now_s`."""
    return max(0, math.floor((now_s - stamp_s) / step_duration_s + _EPS))


def _interp_rows(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation of each column of `values` at `at` (clamped at the ends)."""
    return np.stack([np.interp(at, times, values[:, d]) for d in range(values.shape[1])], axis=1)


class AsyncChunkScheduler:
    """Time-aligned queue of blended chunk actions, sampled and rate-limited at each tick.

    Not thread-safe by itself; `ChunkRunner` serialises access with a lock. Times are seconds
    on whatever clock stamps the observations (the control loop must tick on the same clock).
    """

    def __init__(
        self, config: ChunkSchedulerConfig, action_dim: int, unlimited: tuple[int, ...] = ()
    ) -> None:
        if action_dim < 1:
            raise ValueError(f"action_dim must be >= 1, got {action_dim}")
        if any(not 0 <= i < action_dim for i in unlimited):
            raise ValueError(f"unlimited indices {unlimited} out of range for {action_dim}")
        self.config = config
        self.action_dim = action_dim
        # Elements exempt from the jump limit: a gripper command is a set point for the
        # gripper's own controller, and ramping it would loosen grasps.
        self._unlimited = np.zeros(action_dim, dtype=bool)
        self._unlimited[list(unlimited)] = True
        self._times = np.empty(0)
        self._values = np.empty((0, action_dim))
        self._weights = np.empty(0)  # ensembling: sum of weights behind each queued value
        self._counts = np.empty(0)  # ensembling: predictions averaged into each queued value
        self._rate_per_s = np.full(action_dim, config.min_rate_per_s)
        self._recent_rates: deque[np.ndarray] = deque(maxlen=config.rate_memory)
        self._chunk_duration_s = 0.0
        self._last_output: np.ndarray | None = None
        self._last_tick_s: float | None = None
        self._awaiting_chunk = True  # no chunk yet in this episode: nothing to emit
        self.underruns = 0
        self.chunks_accepted = 0
        self.chunks_discarded = 0
        self.last_chunk_stamp_s: float | None = None

    # ------------------------------------------------------------------ queue state

    @property
    def has_output(self) -> bool:
        """Whether any action has been emitted since the last full reset."""
        return self._last_output is not None

    @property
    def last_output(self) -> np.ndarray | None:
        """The last emitted action."""
        return None if self._last_output is None else self._last_output.copy()

    def remaining_s(self, now_s: float) -> float:
        """[s] how much queued horizon lies after `now_s`."""
        if self._times.size == 0:
            return 0.0
        return max(0.0, float(self._times[-1]) - now_s)

    def actions_remaining(self, now_s: float) -> int:
        """Queued actions meant for instants after `now_s`."""
        return int(np.count_nonzero(self._times > now_s + _EPS))

    def needs_chunk(self, now_s: float) -> bool:
        """Whether the remaining horizon fell below the refill threshold."""
        if self._times.size == 0:
            return True
        return self.remaining_s(now_s) < self.config.refill_fraction * self._chunk_duration_s

    def committed(self, start_s: float, step_s: float, count: int) -> np.ndarray | None:
        """Queued actions sampled at start_s + i * step_s, i < count, while they lie in the queue.

        This is the prefix a real-time-chunking policy must continue. None when the queue is
        empty; fewer than `count` rows when it ends earlier.
        """
        if self._times.size == 0 or count <= 0:
            return None
        at = start_s + np.arange(count) * step_s
        at = at[at <= self._times[-1] + _EPS]
        if at.size == 0:
            return None
        return _interp_rows(self._times, self._values, at)

    def clear(self, *, keep_output: bool = True) -> None:
        """Drop the queue (new instruction). With keep_output the next output starts where the
        last one was, so a replan cannot jump either."""
        self._times = np.empty(0)
        self._values = np.empty((0, self.action_dim))
        self._weights = np.empty(0)
        self._counts = np.empty(0)
        self._chunk_duration_s = 0.0
        self._awaiting_chunk = True
        if not keep_output:
            self._last_output = None
            self._last_tick_s = None

    def set_initial_output(self, action: np.ndarray) -> None:
        """Start the rate limiter from `action` (e.g. the robot's measured joint positions).

        NaN elements are unknown (e.g. a gripper command): they take the first target as is.
        """
        vec = np.asarray(action, dtype=np.float64).reshape(-1)
        if vec.size != self.action_dim or np.any(np.isinf(vec)):
            raise ValueError(f"initial output must be {self.action_dim} values (NaN = unknown)")
        self._last_output = vec.copy()

    # ------------------------------------------------------------------ chunks in

    def add_chunk(self, chunk: ActionChunk, now_s: float) -> bool:
        """Merge `chunk` into the queue; returns False when it was discarded as stale."""
        actions = np.asarray(chunk.actions, dtype=np.float64)
        if actions.shape[1] != self.action_dim:
            raise ValueError(
                f"chunk has {actions.shape[1]} elements per action, expected {self.action_dim}"
            )
        step = chunk.step_duration_s
        age_s = now_s - chunk.observation_stamp_s
        first = chunk_index_at(chunk.observation_stamp_s, step, now_s)
        # Actions are interpolated between their instants: a chunk whose last instant is already
        # past has nothing left to give (it would only ever underrun).
        past_end = now_s > float(chunk.times_s[-1]) + _EPS
        if age_s > self.config.max_chunk_age_s or first >= chunk.length or past_end:
            self.chunks_discarded += 1
            return False
        # Latency compensation: actions for instants already past are skipped; the one whose
        # interval contains `now` stays as the left end of the interpolation.
        times = chunk.times_s[first:]
        new = actions[first:]
        merged, weights, counts = self._blend(times, new)
        self._times, self._values, self._weights, self._counts = times, merged, weights, counts
        self._chunk_duration_s = chunk.length * step
        self._recent_rates.append(self.chunk_rate_limit(actions, step))
        self._rate_per_s = np.max(np.stack(self._recent_rates), axis=0)
        self.chunks_accepted += 1
        self._awaiting_chunk = False
        self.last_chunk_stamp_s = chunk.observation_stamp_s
        return True

    def _blend(
        self, times: np.ndarray, new: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ones = np.ones(times.size)
        blend = self.config.blend
        if self._times.size == 0 or blend in (BlendMode.LATEST_ONLY, BlendMode.PREFIX_CONDITIONED):
            return new, ones, ones
        overlap = (times >= self._times[0] - _EPS) & (times <= self._times[-1] + _EPS)
        if not np.any(overlap):
            return new, ones, ones
        old = _interp_rows(self._times, self._values, times)
        merged = new.copy()
        weights, counts = ones.copy(), ones.copy()
        if blend is BlendMode.WEIGHTED_AVERAGE:
            w_old = self.config.old_weight
            merged[overlap] = w_old * old[overlap] + (1.0 - w_old) * new[overlap]
        else:
            # ACT: prediction i (0 = oldest) for an instant has weight exp(-decay * i).
            old_w = np.interp(times, self._times, self._weights)[overlap]
            old_n = np.rint(np.interp(times, self._times, self._counts))[overlap]
            w_new = np.exp(-self.config.ensemble_decay * old_n)
            merged[overlap] = (old_w[:, None] * old[overlap] + w_new[:, None] * new[overlap]) / (
                old_w + w_new
            )[:, None]
            weights[overlap] = old_w + w_new
            counts[overlap] = old_n + 1
        return merged, weights, counts

    def chunk_rate_limit(self, actions: np.ndarray, step_s: float) -> np.ndarray:
        """[units/s] per element: jump_margin x the steepest slope of the raw chunk, with a floor.

        Blending seams are deliberately not part of it: the limiter smooths them out.
        """
        slopes = np.zeros(self.action_dim)
        if actions.shape[0] > 1:
            slopes = np.max(np.abs(np.diff(actions, axis=0)), axis=0) / step_s
        return np.maximum(self.config.jump_margin * slopes, self.config.min_rate_per_s)

    # ------------------------------------------------------------------ actions out

    def tick(self, now_s: float) -> TickOutput | None:
        """The action for instant `now_s`; None until the episode's first chunk arrives."""
        if self._awaiting_chunk:
            return None
        covered = self._times.size > 0 and now_s <= self._times[-1] + _EPS
        if covered:
            target = _interp_rows(self._times, self._values, np.array([now_s]))[0]
        elif self._last_output is None:
            return None
        elif self.config.underrun is UnderrunMode.ZERO:
            target = np.zeros(self.action_dim)
        else:
            target = self._last_output
        underrun = not covered
        if underrun:
            self.underruns += 1
        if self._last_tick_s is None:
            elapsed = self.config.control_period_s
        else:
            elapsed = min(max(now_s - self._last_tick_s, 0.0), self.config.max_tick_gap_s)
        limit = np.where(self._unlimited, np.inf, self._rate_per_s * elapsed)
        if self._last_output is None:
            output = target.copy()
        else:
            output = self._last_output + np.clip(target - self._last_output, -limit, limit)
            unknown = np.isnan(self._last_output)
            output[unknown] = target[unknown]
        if np.any(np.isnan(output)):  # underrun right after a seed with unknown elements
            output = np.nan_to_num(output, nan=0.0)
        self._last_output = output
        self._last_tick_s = now_s
        self._prune(now_s)
        return TickOutput(
            action=output.copy(),
            underrun=underrun,
            step_limit=limit,
            remaining_s=self.remaining_s(now_s),
        )

    def _prune(self, now_s: float) -> None:
        """Forget queued actions that can no longer be interpolated to (keep one before now)."""
        keep_from = int(np.searchsorted(self._times, now_s, side="right")) - 1
        if keep_from > 0:
            self._times = self._times[keep_from:]
            self._values = self._values[keep_from:]
            self._weights = self._weights[keep_from:]
            self._counts = self._counts[keep_from:]


# ---------------------------------------------------------------------------- statistics


class LatencyWindow:
    """Percentiles of the most recent latencies (thread-safe)."""

    def __init__(self, size: int = 200) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        """Record one sample."""
        with self._lock:
            self._values.append(value)

    def percentile(self, q: float) -> float:
        """q-th percentile (0..100) of the window; NaN when empty."""
        with self._lock:
            if not self._values:
                return math.nan
            return float(np.percentile(np.fromiter(self._values, float), q))

    @property
    def last(self) -> float:
        """Most recent sample; NaN when empty."""
        with self._lock:
            return self._values[-1] if self._values else math.nan


class RateMeter:
    """Events per second over a sliding time window (thread-safe)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self._window_s = window_s
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def mark(self, now_s: float) -> None:
        """Record one event at `now_s`."""
        with self._lock:
            self._stamps.append(now_s)
            while self._stamps and self._stamps[0] < now_s - self._window_s:
                self._stamps.popleft()

    def rate_hz(self, now_s: float) -> float:
        """[Hz] events in the window ending at `now_s`, per second."""
        with self._lock:
            while self._stamps and self._stamps[0] < now_s - self._window_s:
                self._stamps.popleft()
            if len(self._stamps) < 2:
                return 0.0
            span = max(now_s - self._stamps[0], _EPS)
            return (len(self._stamps) - 1) / span if span > 0 else 0.0


# ---------------------------------------------------------------------------- runners


@dataclass(frozen=True)
class RunnerStatus:
    """Counters and timings of a ChunkRunner."""

    underruns: int
    chunks_received: int
    chunks_discarded: int
    inference_errors: int
    last_error: str
    latency_last_ms: float
    latency_p50_ms: float
    latency_p99_ms: float
    chunk_age_s: float
    actions_remaining: int
    inference_busy: bool
    failing: bool  # the latest inference attempt failed


def gripper_index(spec: PolicySpec) -> tuple[int, ...]:
    """Index of the gripper element (exempt from the jump limit), if the spec has one."""
    return (spec.action_dim - 1,) if spec.has_gripper else ()


def prepare_chunk(chunk: ActionChunk, observation: Observation, spec: PolicySpec) -> ActionChunk:
    """Chunk in the scheduler's space: JOINT_DELTA becomes absolute, other spaces pass through."""
    if chunk.actions.shape[1] != spec.action_dim:
        raise ValueError(
            f"policy returned {chunk.actions.shape[1]} elements per action, spec says "
            f"{spec.action_dim}"
        )
    return chunk.to_absolute(observation, spec)


class ChunkRunner:
    """Asynchronous chunking: the control loop ticks; a worker thread runs the policy.

    `observation_fn()` returns the newest observation (or None when there is none to use);
    `clock_s()` is the clock observations are stamped with. `reset()` starts a new episode:
    queued actions and in-flight results of the old one are dropped; the output continues from
    its last value under the rate limit.
    """

    def __init__(
        self,
        policy: Policy,
        config: ChunkSchedulerConfig,
        observation_fn: Callable[[], Observation | None],
        clock_s: Callable[[], float] = time.monotonic,
        retry_interval_s: float = 0.5,
    ) -> None:
        self.policy = policy
        self.spec = policy.spec
        self.config = config
        self.scheduler = AsyncChunkScheduler(
            config, self.spec.action_dim, gripper_index(self.spec)
        )
        self._observation_fn = observation_fn
        self._clock_s = clock_s
        self._retry_interval_s = retry_interval_s
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: Observation | None = None
        self._busy = False
        self._generation = 0
        self._next_request_s = -math.inf
        self._stop = False
        self.latency_ms = LatencyWindow()
        self.inference_errors = 0
        self.last_error = ""
        self._failing = False
        self._use_prefix = config.blend is BlendMode.PREFIX_CONDITIONED and isinstance(
            policy, PrefixConditionedPolicy
        )
        self._thread = threading.Thread(target=self._work, name="policy-inference", daemon=True)
        self._thread.start()

    def tick(self) -> TickOutput | None:
        """One control tick: the action for now, and a chunk request if the horizon is short."""
        now = self._clock_s()
        with self._lock:
            output = self.scheduler.tick(now)
            if not self._busy and now >= self._next_request_s and self.scheduler.needs_chunk(now):
                observation = self._observation_fn()
                if observation is not None:
                    if not self.scheduler.has_output and self.spec.action_space.is_joint:
                        self._seed_output(observation)
                    self._pending = observation
                    self._busy = True
                    self._wake.notify()
        return output

    def _seed_output(self, observation: Observation) -> None:
        """Start the rate limiter at the measured joint positions, so the first chunk ramps in."""
        state = observation.state_for(self.spec.joint_names)
        initial = np.full(self.spec.action_dim, np.nan)  # NaN: the gripper command is unknown
        initial[: state.size] = state
        self.scheduler.set_initial_output(initial)

    def reset(self) -> None:
        """New episode or instruction: drop queued and in-flight actions, reset the policy."""
        with self._lock:
            self._generation += 1
            self.scheduler.clear(keep_output=True)
            self._next_request_s = -math.inf
        self.policy.reset()

    def status(self) -> RunnerStatus:
        """Counters and timings for /policy/status."""
        now = self._clock_s()
        with self._lock:
            stamp = self.scheduler.last_chunk_stamp_s
            return RunnerStatus(
                underruns=self.scheduler.underruns,
                chunks_received=self.scheduler.chunks_accepted,
                chunks_discarded=self.scheduler.chunks_discarded,
                inference_errors=self.inference_errors,
                last_error=self.last_error,
                latency_last_ms=self.latency_ms.last,
                latency_p50_ms=self.latency_ms.percentile(50),
                latency_p99_ms=self.latency_ms.percentile(99),
                chunk_age_s=math.nan if stamp is None else now - stamp,
                actions_remaining=self.scheduler.actions_remaining(now),
                inference_busy=self._busy,
                failing=self._failing,
            )

    def preview(self, count: int) -> np.ndarray | None:
        """Up to `count` queued actions at the chunk step after now (the next few commands)."""
        now = self._clock_s()
        step = self.spec.step_duration_s
        with self._lock:
            return self.scheduler.committed(now + step, step, count)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the worker thread (an inference in progress finishes first)."""
        with self._lock:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=timeout_s)

    def _work(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                observation = self._pending
                self._pending = None
                generation = self._generation
                prefix = self._prefix_for(observation) if self._use_prefix else None
            assert observation is not None
            start = time.perf_counter()
            try:
                if prefix is not None and isinstance(self.policy, PrefixConditionedPolicy):
                    chunk = self.policy.infer_with_prefix(observation, prefix)
                else:
                    chunk = self.policy.infer(observation)
                chunk = prepare_chunk(chunk, observation, self.spec)
                error = ""
            except Exception as exc:  # a failed backend call must never kill the worker
                chunk, error = None, f"{type(exc).__name__}: {exc}"
            self.latency_ms.add((time.perf_counter() - start) * 1000.0)
            with self._lock:
                self._busy = False
                self._failing = chunk is None
                if chunk is None:
                    self.inference_errors += 1
                    self.last_error = error
                    self._next_request_s = self._clock_s() + self._retry_interval_s
                elif generation == self._generation:
                    self.scheduler.add_chunk(chunk, self._clock_s())

    def _prefix_for(self, observation: Observation | None) -> np.ndarray | None:
        """Actions the robot will execute while this inference runs (in the policy's space)."""
        if observation is None:
            return None
        delay_s = self.latency_ms.percentile(90) / 1000.0
        if not math.isfinite(delay_s):
            return None
        step = self.spec.step_duration_s
        count = min(self.spec.chunk_length - 1, math.ceil(delay_s / step) + 1)
        prefix = self.scheduler.committed(observation.stamp_s, step, count)
        if prefix is not None and self.spec.action_space is ActionSpace.JOINT_DELTA:
            state = observation.state_for(self.spec.joint_names)
            prefix = prefix.copy()
            prefix[:, : state.size] -= state
        return prefix


class SyncChunkBroker:
    """openpi's ActionChunkBroker: one action per call; infers (blocking) when the chunk is used.

    The caller waits for the whole inference whenever a chunk runs out: the robot idles while
    the model thinks. Kept to measure what the asynchronous runner buys.
    """

    def __init__(self, policy: Policy, action_horizon: int | None = None) -> None:
        self.policy = policy
        self.spec = policy.spec
        self.action_horizon = action_horizon or self.spec.chunk_length
        if not 1 <= self.action_horizon <= self.spec.chunk_length:
            raise ValueError(
                f"action_horizon must be in [1, {self.spec.chunk_length}], "
                f"got {self.action_horizon}"
            )
        self._queue: deque[np.ndarray] = deque()

    def step(self, observation: Observation) -> np.ndarray:
        """The next action; runs inference first when the queue is empty."""
        if not self._queue:
            chunk = prepare_chunk(self.policy.infer(observation), observation, self.spec)
            self._queue.extend(np.array(row) for row in chunk.actions[: self.action_horizon])
        return self._queue.popleft()

    def reset(self) -> None:
        """Drop queued actions and reset the policy."""
        self._queue.clear()
        self.policy.reset()
