"""What the demo observes, as time-stamped samples (simulated time, seconds).

The observer node converts messages and appends here; the report and the plot read it.
Thread-safe: ROS callbacks append while the orchestrator reads snapshots.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# SafetyStatus.STATE_* (vla_ros_msgs), kept here so the core needs no message package
SAFETY_STATE_NAMES = ("OK", "SLOWED", "HOLD", "STOPPED", "ESTOP")


def safety_state_name(state: int) -> str:
    """Name of a SafetyStatus state number ("UNKNOWN(n)" outside the range)."""
    return (
        SAFETY_STATE_NAMES[state] if 0 <= state < len(SAFETY_STATE_NAMES) else f"UNKNOWN({state})"
    )


@dataclass(frozen=True)
class SafetySample:
    """One /safety/status."""

    time_s: float  # [s] simulated time the observer received it
    state: int  # SafetyStatus.STATE_*
    speed_scale: float  # [0..1]
    min_separation_m: float  # [m] perceived; inf when nobody is seen
    protective_separation_m: float  # [m] S_p at that moment
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class TaskSample:
    """One /sim/task_state."""

    time_s: float  # [s] simulated
    episode_id: int
    instruction: str
    success: bool
    done: bool
    elapsed_s: float  # [s] episode time
    time_limit_s: float  # [s]


@dataclass(frozen=True)
class PersonSample:
    """Ground truth of the simulated person (evaluation only) and the true separation."""

    time_s: float  # [s] simulated
    position_m: tuple[float, float, float]  # feet, base frame
    separation_m: float  # [m] person body to the nearest robot link; <= 0 is a contact


@dataclass(frozen=True)
class HumansSample:
    """One /humans array: what perception reported."""

    time_s: float  # [s] simulated (the frame's stamp)
    count: int
    min_distance_m: float  # [m] inf when nobody


@dataclass(frozen=True)
class MotionSample:
    """Measured arm motion from /joint_states."""

    time_s: float  # [s] simulated
    max_joint_speed_rad_s: float  # [rad/s] fastest arm joint


@dataclass(frozen=True)
class PolicySample:
    """One /policy/status."""

    time_s: float  # [s] simulated
    state: int  # PolicyStatus.STATE_*
    backend: str
    latency_last_ms: float
    latency_p50_ms: float
    latency_p99_ms: float
    chunks_received: int
    chunk_age_s: float = float("nan")  # [s] age of the observation behind the chunk in use
    underruns: int = 0  # control ticks with an empty queue (cumulative)
    observations_dropped: int = 0  # (cumulative)


@dataclass(frozen=True)
class InstructionEvent:
    """One /instruction as it reached the observer."""

    time_s: float  # [s] simulated time of receipt
    text: str
    source: str  # "voice" or "text"
    confidence: float
    recognition_latency_s: float  # [s] wall: message stamp (end of utterance) -> receipt


Sample = (
    SafetySample
    | TaskSample
    | PersonSample
    | HumansSample
    | MotionSample
    | PolicySample
    | InstructionEvent
)


@dataclass
class DemoTimeline:
    """Append-only record of the run; `snapshot()` gives a consistent copy."""

    safety: list[SafetySample] = field(default_factory=list)
    task: list[TaskSample] = field(default_factory=list)
    person: list[PersonSample] = field(default_factory=list)
    humans: list[HumansSample] = field(default_factory=list)
    motion: list[MotionSample] = field(default_factory=list)
    policy: list[PolicySample] = field(default_factory=list)
    instructions: list[InstructionEvent] = field(default_factory=list)
    commands_s: list[float] = field(default_factory=list)  # controller command receipt times
    proposals_s: list[float] = field(default_factory=list)  # policy proposal receipt times
    feedback: list[tuple[float, str]] = field(default_factory=list)  # spoken feedback
    marks: dict[str, float] = field(default_factory=dict)  # scenario moments, e.g. "walk_in"
    now_s: float = 0.0  # [s] latest simulated time seen
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, item: Sample) -> None:
        """Append one sample to the list of its type."""
        lists: dict[type, list[Any]] = {
            SafetySample: self.safety,
            TaskSample: self.task,
            PersonSample: self.person,
            HumansSample: self.humans,
            MotionSample: self.motion,
            PolicySample: self.policy,
            InstructionEvent: self.instructions,
        }
        target = lists.get(type(item))
        if target is None:
            raise TypeError(f"not a timeline sample: {type(item).__name__}")
        time_s = float(item.time_s)
        if not math.isfinite(time_s):
            raise ValueError(f"sample time must be finite, got {time_s}")
        with self._lock:
            target.append(item)
            self.now_s = max(self.now_s, time_s)

    def add_command(self, time_s: float, *, proposal: bool = False) -> None:
        """A controller command (or, with `proposal`, a policy proposal) was seen."""
        with self._lock:
            (self.proposals_s if proposal else self.commands_s).append(float(time_s))
            self.now_s = max(self.now_s, float(time_s))

    def add_feedback(self, time_s: float, text: str) -> None:
        """A /speech/feedback line."""
        with self._lock:
            self.feedback.append((float(time_s), text))

    def mark(self, name: str, time_s: float) -> None:
        """Remember a scenario moment (first occurrence wins)."""
        with self._lock:
            self.marks.setdefault(name, float(time_s))

    def clear(self) -> None:
        """Forget every sample and mark (a new episode); the clock (now_s) stays."""
        with self._lock:
            for samples in (
                self.safety,
                self.task,
                self.person,
                self.humans,
                self.motion,
                self.policy,
                self.instructions,
                self.commands_s,
                self.proposals_s,
                self.feedback,
            ):
                samples.clear()
            self.marks.clear()

    def advance(self, time_s: float) -> None:
        """The simulated clock moved (from /clock)."""
        with self._lock:
            self.now_s = max(self.now_s, float(time_s))

    def snapshot(self) -> DemoTimeline:
        """A copy that later appends do not change."""
        with self._lock:
            return DemoTimeline(
                safety=list(self.safety),
                task=list(self.task),
                person=list(self.person),
                humans=list(self.humans),
                motion=list(self.motion),
                policy=list(self.policy),
                instructions=list(self.instructions),
                commands_s=list(self.commands_s),
                proposals_s=list(self.proposals_s),
                feedback=list(self.feedback),
                marks=dict(self.marks),
                now_s=self.now_s,
            )

    def latest_safety(self) -> SafetySample | None:
        """The newest safety status, if any."""
        with self._lock:
            return self.safety[-1] if self.safety else None

    def latest_task(self) -> TaskSample | None:
        """The newest task state, if any."""
        with self._lock:
            return self.task[-1] if self.task else None


def person_separation_m(
    feet_m: np.ndarray,
    link_points_m: np.ndarray,
    link_radii_m: np.ndarray,
    *,
    body_radius_m: float,
    height_m: float,
) -> float:
    """Distance between a person (a vertical cylinder standing on the feet point) and the robot
    (spheres around its link points); <= 0 means they touch.

    Ground truth for the report: the simulated person has no collision geometry (a bystander
    must not be pushed by MuJoCo), so contacts are judged geometrically.
    """
    feet = np.asarray(feet_m, dtype=np.float64).reshape(3)
    points = np.asarray(link_points_m, dtype=np.float64).reshape(-1, 3)
    radii = np.asarray(link_radii_m, dtype=np.float64).reshape(-1)
    if points.shape[0] != radii.shape[0] or points.shape[0] == 0:
        raise ValueError("need one radius per link point and at least one point")
    horizontal = np.linalg.norm(points[:, :2] - feet[:2], axis=1) - body_radius_m
    below = feet[2] - points[:, 2]  # > 0: point below the feet
    above = points[:, 2] - (feet[2] + height_m)  # > 0: point above the head
    vertical = np.maximum(np.maximum(below, above), 0.0)
    outside = np.hypot(np.maximum(horizontal, 0.0), vertical)
    # inside the cylinder's footprint and height: negative, by how deep the point is inside
    gap = np.where((horizontal < 0.0) & (vertical == 0.0), horizontal, outside)
    return float(np.min(gap - radii))
