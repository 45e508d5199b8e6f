"""What the policy node does between messages, ROS-free: observation assembly and status."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

from vla_ros.core.chunking import ChunkSchedulerConfig, RunnerStatus, UnderrunMode
from vla_ros.core.policy.interface import ActionSpace, Observation, PolicySpec
from vla_ros.core.policy.language import normalise_instruction


class PolicyState(IntEnum):
    """PolicyStatus.state values."""

    IDLE = 0  # no instruction
    RUNNING = 1  # streaming actions
    HOLDING = 2  # waiting: no observation, no chunk yet, or an underrun
    ERROR = 3  # backend unavailable; retrying


@dataclass(frozen=True)
class AssemblyConfig:
    """Rules for turning the latest sensor messages into one Observation."""

    camera_key: str = "front"  # the policy's name of the (first) colour camera
    use_depth: bool = False  # whether a depth image (of the first camera) is required
    max_skew_s: float = 0.1  # [s] largest |camera stamp - joint state stamp|, every camera
    staleness_limit_s: float = 0.5  # [s] largest age of any camera image at request time
    extra_camera_keys: tuple[str, ...] = ()  # further colour cameras, e.g. ("wrist",)

    def __post_init__(self) -> None:
        if not (self.max_skew_s > 0.0 and self.staleness_limit_s > 0.0):
            raise ValueError("max_skew_s and staleness_limit_s must be > 0")
        object.__setattr__(self, "extra_camera_keys", tuple(self.extra_camera_keys))
        if len(set(self.camera_keys)) != len(self.camera_keys):
            raise ValueError(f"camera keys must be unique: {self.camera_keys}")

    @property
    def camera_keys(self) -> tuple[str, ...]:
        """Every colour camera an Observation needs, the first one first."""
        return (self.camera_key, *self.extra_camera_keys)


class ObservationAssembler:
    """Latest image, depth, joint state and instruction -> Observation, or a counted drop."""

    def __init__(self, config: AssemblyConfig, joint_names: tuple[str, ...]) -> None:
        self.config = config
        self.joint_names = joint_names
        self._lock = threading.Lock()
        self._images: dict[str, tuple[np.ndarray, float]] = {}
        self._depth: tuple[np.ndarray, float] | None = None
        self._joints: tuple[np.ndarray, float] | None = None
        self.instruction = ""
        self.instruction_id = ""
        self.dropped: dict[str, int] = {}
        self.last_drop = ""

    def set_image(self, rgb: np.ndarray, stamp_s: float, key: str = "") -> None:
        """Newest colour image (H, W, 3) uint8 of camera `key` (default: the first camera);
        ValueError for a camera the policy does not use."""
        key = key or self.config.camera_key
        if key not in self.config.camera_keys:
            raise ValueError(
                f"camera '{key}' is not one of the policy's {self.config.camera_keys}"
            )
        with self._lock:
            self._images[key] = (rgb, stamp_s)

    def set_depth(self, depth_m: np.ndarray, stamp_s: float) -> None:
        """Newest depth image (H, W) float32 metres."""
        with self._lock:
            self._depth = (depth_m, stamp_s)

    def set_joints(self, positions: np.ndarray, stamp_s: float) -> None:
        """Newest joint positions in `joint_names` order."""
        with self._lock:
            self._joints = (positions, stamp_s)

    def latest_joints(self) -> np.ndarray | None:
        """Newest joint positions, if any."""
        with self._lock:
            return None if self._joints is None else self._joints[0]

    def set_instruction(self, text: str, instruction_id: str) -> bool:
        """Store the instruction; True when it differs from the current one (replan)."""
        text = text.strip()
        with self._lock:
            changed = (text, instruction_id) != (self.instruction, self.instruction_id)
            self.instruction, self.instruction_id = text, instruction_id
            return changed

    @property
    def observations_dropped(self) -> int:
        """Requests that found no usable observation."""
        return sum(self.dropped.values())

    def _drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        self.last_drop = reason

    def assemble(self, now_s: float) -> Observation | None:
        """An Observation stamped with the camera's capture time, or None (drop counted)."""
        with self._lock:
            if not self.instruction:
                return None  # idle, not a drop
            keys = self.config.camera_keys
            missing = [key for key in keys if key not in self._images]
            if missing:
                self._drop(
                    "missing camera image" if len(keys) == 1 else f"missing {missing[0]} image"
                )
                return None
            if self._joints is None:
                self._drop("missing joint states")
                return None
            positions, joint_stamp = self._joints
            for key in keys:
                label = "camera" if len(keys) == 1 else key
                image_stamp = self._images[key][1]
                if now_s - image_stamp > self.config.staleness_limit_s:
                    self._drop(f"stale {label} image")
                    return None
                if abs(image_stamp - joint_stamp) > self.config.max_skew_s:
                    self._drop(f"{label}/joint state skew")
                    return None
            stamp = self._images[self.config.camera_key][1]
            depth = {}
            if self.config.use_depth:
                if self._depth is None or abs(self._depth[1] - stamp) > self.config.max_skew_s:
                    self._drop("missing or skewed depth image")
                    return None
                depth[self.config.camera_key] = self._depth[0]
            return Observation(
                images={key: self._images[key][0] for key in keys},
                depth=depth,
                joint_names=self.joint_names,
                joint_positions=positions,
                instruction=self.instruction,
                stamp_s=stamp,
            )


@dataclass(frozen=True)
class PolicyStatusReport:
    """Everything vla_ros_msgs/PolicyStatus carries (see the message for meanings)."""

    stamp_s: float
    state: PolicyState
    backend: str
    instruction_id: str
    instruction_text: str
    inference_latency_last_ms: float
    inference_latency_p50_ms: float
    inference_latency_p99_ms: float
    chunk_age_s: float
    chunk_length: int
    actions_remaining: int
    chunks_received: int
    underruns: int
    observations_dropped: int
    inference_errors: int
    control_rate_hz: float
    inference_rate_hz: float
    instruction_matched: str = ""  # the training wording acted on, when matching changed it


def matched_wording(match: Any, instruction: str) -> str:
    """The training wording a policy acts on for `instruction` when instruction matching
    replaced it (an InstructionMatch of the current instruction); "" otherwise."""
    if match is None or not getattr(match, "matched", False):
        return ""
    if match.instruction != normalise_instruction(instruction):
        return ""  # a match of the previous instruction: the new one has not been read yet
    return "" if match.wording == match.instruction else str(match.wording)


def policy_state(
    has_instruction: bool, has_runner: bool, status: RunnerStatus | None
) -> PolicyState:
    """The node's state from what it knows."""
    if not has_runner or status is None:
        return PolicyState.ERROR
    if not has_instruction:
        return PolicyState.IDLE
    if status.failing:
        return PolicyState.ERROR
    return PolicyState.RUNNING if status.actions_remaining > 0 else PolicyState.HOLDING


def trajectory_rows(
    current: np.ndarray,
    ahead: np.ndarray | None,
    spec: PolicySpec,
    *,
    with_gripper: bool,
    first_time_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(times_s (N,), positions (N, J[+1])) of a proposed trajectory: the current command at
    `first_time_s`, then the queued actions one chunk step apart; the gripper column only
    `with_gripper`."""
    rows = [np.asarray(current)] + ([] if ahead is None else list(ahead))
    columns = len(spec.joint_names) + (1 if with_gripper and spec.has_gripper else 0)
    times = first_time_s + spec.step_duration_s * np.arange(len(rows))
    return times, np.stack(rows)[:, :columns]


def twist_from_action(
    action: np.ndarray, space: ActionSpace, step_duration_s: float
) -> np.ndarray:
    """(6,) twist [m/s, rad/s] from an EE_TWIST or EE_DELTA action (gripper dropped)."""
    if space is ActionSpace.EE_TWIST:
        return np.asarray(action[:6], dtype=np.float64)
    if space is ActionSpace.EE_DELTA:
        return np.asarray(action[:6], dtype=np.float64) / step_duration_s
    raise ValueError(f"action space {space.value} is not an end-effector space")


def tool_path(fk: Callable[[np.ndarray], np.ndarray], joint_rows: np.ndarray) -> np.ndarray:
    """(N, 3) tool positions [m] of joint-position rows, via `fk(q) -> 4x4 pose`."""
    points = [np.asarray(fk(np.asarray(row)))[:3, 3] for row in joint_rows]
    return np.stack(points) if points else np.empty((0, 3))


def scheduler_config(params: Mapping[str, Any], spec: PolicySpec) -> ChunkSchedulerConfig:
    """ChunkSchedulerConfig from node parameters; velocity spaces ramp to zero on underrun."""
    names = (
        *("refill_fraction", "blend", "old_weight", "ensemble_decay", "jump_margin"),
        *("min_rate_per_s", "rate_memory", "max_chunk_age_s", "control_rate_hz"),
    )
    underrun = UnderrunMode.HOLD_LAST if spec.action_space.is_joint else UnderrunMode.ZERO
    return ChunkSchedulerConfig(**{n: params[n] for n in names}, underrun=underrun)


def status_report(
    *,
    stamp_s: float,
    backend: str,
    assembler: ObservationAssembler | None,
    runner_status: RunnerStatus | None,
    chunk_length: int,
    control_rate_hz: float,
    inference_rate_hz: float,
    instruction_matched: str = "",
) -> PolicyStatusReport:
    """The node's PolicyStatus content; NaN where nothing was measured yet."""
    s, nan = runner_status, math.nan
    instruction = assembler.instruction if assembler else ""
    return PolicyStatusReport(
        stamp_s=stamp_s,
        state=policy_state(bool(instruction), s is not None, s),
        backend=backend,
        instruction_id=assembler.instruction_id if assembler else "",
        instruction_text=instruction,
        inference_latency_last_ms=s.latency_last_ms if s else nan,
        inference_latency_p50_ms=s.latency_p50_ms if s else nan,
        inference_latency_p99_ms=s.latency_p99_ms if s else nan,
        chunk_age_s=s.chunk_age_s if s else nan,
        chunk_length=chunk_length,
        actions_remaining=s.actions_remaining if s else 0,
        chunks_received=s.chunks_received if s else 0,
        underruns=s.underruns if s else 0,
        observations_dropped=assembler.observations_dropped if assembler else 0,
        inference_errors=s.inference_errors if s else 0,
        control_rate_hz=control_rate_hz,
        inference_rate_hz=inference_rate_hz,
        instruction_matched=instruction_matched if instruction else "",
    )
