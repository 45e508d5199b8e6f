"""The policy interface: observations in, chunks of actions out (after openpi's BasePolicy)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import numpy as np

EE_AXES = ("vx", "vy", "vz", "wx", "wy", "wz")
GRIPPER = "gripper"


class ActionSpace(str, Enum):
    """What one action vector means; the gripper, when present, is always the last element."""

    JOINT_POSITION = "joint_position"  # absolute joint positions [rad or m]
    JOINT_DELTA = "joint_delta"  # joint positions relative to the observation's [rad or m]
    EE_DELTA = "ee_delta"  # end-effector displacement per step [m, rad] in the base frame
    EE_TWIST = "ee_twist"  # end-effector twist [m/s, rad/s] in the base frame

    @property
    def is_joint(self) -> bool:
        """Whether actions are joint positions (absolute or relative)."""
        return self in (ActionSpace.JOINT_POSITION, ActionSpace.JOINT_DELTA)


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view, so that a frozen dataclass cannot be changed through its arrays."""
    view = array.view()
    view.flags.writeable = False
    return view


# The image key of a camera on the gripper (the simulator's wrist camera; a recording's
# /wrist_camera/color/image_raw). Any other key is a fixed scene camera.
WRIST_IMAGE_KEY = "wrist"


@dataclass(frozen=True)
class PolicySpec:
    """What a policy consumes and produces (sent as metadata by the policy server)."""

    action_space: ActionSpace  # meaning of each action vector
    joint_names: tuple[str, ...]  # joints of the proprioceptive state, in order
    chunk_length: int  # actions per chunk (H)
    step_duration_s: float  # [s] time between consecutive actions of a chunk
    image_keys: tuple[str, ...]  # camera names the policy needs, e.g. ("front",)
    image_size: tuple[int, int]  # (height, width) [px] the policy resizes images to
    use_depth: bool = False  # whether depth images are consumed
    has_gripper: bool = True  # whether the last action element is the gripper joint target
    # measured joints observed besides joint_names but not commanded (e.g. the gripper's
    # finger_joint, so the policy knows whether it holds something)
    extra_state_joints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.chunk_length < 1:
            raise ValueError(f"chunk_length must be >= 1, got {self.chunk_length}")
        if not (math.isfinite(self.step_duration_s) and self.step_duration_s > 0.0):
            raise ValueError(f"step_duration_s must be > 0, got {self.step_duration_s}")
        if not self.joint_names or len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"joint_names must be unique and non-empty: {self.joint_names}")
        if not self.image_keys or len(set(self.image_keys)) != len(self.image_keys):
            raise ValueError(f"image_keys must be unique and non-empty: {self.image_keys}")
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            raise ValueError(f"image_size must be (height, width) >= 8 px, got {self.image_size}")
        object.__setattr__(self, "action_space", ActionSpace(self.action_space))
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "extra_state_joints", tuple(self.extra_state_joints))
        if len(set(self.observed_joints)) != len(self.observed_joints):
            raise ValueError(
                f"extra_state_joints must be distinct from joint_names: {self.observed_joints}"
            )
        object.__setattr__(self, "image_keys", tuple(self.image_keys))
        object.__setattr__(self, "image_size", (int(self.image_size[0]), int(self.image_size[1])))

    @property
    def observed_joints(self) -> tuple[str, ...]:
        """Joints whose measured positions an observation must carry: joint_names, then
        extra_state_joints."""
        return (*self.joint_names, *self.extra_state_joints)

    @property
    def action_names(self) -> tuple[str, ...]:
        """Name of each action element."""
        arm = self.joint_names if self.action_space.is_joint else EE_AXES
        return (*arm, GRIPPER) if self.has_gripper else tuple(arm)

    @property
    def action_dim(self) -> int:
        """Elements per action vector."""
        return len(self.action_names)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (msgpack / JSON)."""
        return {
            "action_space": self.action_space.value,
            "joint_names": list(self.joint_names),
            "chunk_length": self.chunk_length,
            "step_duration_s": self.step_duration_s,
            "image_keys": list(self.image_keys),
            "image_size": list(self.image_size),
            "use_depth": self.use_depth,
            "has_gripper": self.has_gripper,
            "extra_state_joints": list(self.extra_state_joints),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicySpec:
        """Inverse of to_dict; unknown keys are ignored, missing keys are errors."""
        try:
            return cls(
                action_space=ActionSpace(data["action_space"]),
                joint_names=tuple(data["joint_names"]),
                chunk_length=int(data["chunk_length"]),
                step_duration_s=float(data["step_duration_s"]),
                image_keys=tuple(data["image_keys"]),
                image_size=(int(data["image_size"][0]), int(data["image_size"][1])),
                use_depth=bool(data.get("use_depth", False)),
                has_gripper=bool(data.get("has_gripper", True)),
                extra_state_joints=tuple(data.get("extra_state_joints", ())),
            )
        except KeyError as exc:
            raise ValueError(f"policy spec is missing {exc}") from exc


@dataclass(frozen=True)
class Observation:
    """What the robot sees and feels at one instant, with the instruction being executed."""

    images: Mapping[str, np.ndarray]  # camera name -> (H, W, 3) uint8 RGB
    joint_names: tuple[str, ...]  # order of joint_positions
    joint_positions: np.ndarray  # (J,) [rad or m]
    instruction: str  # natural-language task, e.g. "pick up the red cube"
    stamp_s: float  # [s] capture time (camera stamp) on the clock the control loop uses
    depth: Mapping[str, np.ndarray] = field(default_factory=dict)  # name -> (H, W) float32 [m]

    def __post_init__(self) -> None:
        if not math.isfinite(self.stamp_s):
            raise ValueError(f"observation stamp must be finite, got {self.stamp_s}")
        images = {}
        for name, image in self.images.items():
            arr = np.asarray(image)
            if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
                raise ValueError(
                    f"image '{name}' must be (H, W, 3) uint8, got {arr.dtype} {arr.shape}"
                )
            images[name] = _readonly(arr)
        depth = {}
        for name, image in self.depth.items():
            arr = np.asarray(image, dtype=np.float32)
            if arr.ndim != 2:
                raise ValueError(f"depth '{name}' must be (H, W), got {arr.shape}")
            depth[name] = _readonly(arr)
        positions = np.asarray(self.joint_positions, dtype=np.float64).reshape(-1)
        if positions.size != len(self.joint_names):
            raise ValueError(
                f"{positions.size} joint positions for {len(self.joint_names)} joint names"
            )
        if not np.all(np.isfinite(positions)):
            raise ValueError(f"joint positions contain NaN or inf: {positions.tolist()}")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "depth", depth)
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "joint_positions", _readonly(positions))

    def state_for(self, joint_names: tuple[str, ...]) -> np.ndarray:
        """Joint positions ordered as `joint_names`; missing joints are errors."""
        index = {name: i for i, name in enumerate(self.joint_names)}
        missing = [name for name in joint_names if name not in index]
        if missing:
            raise ValueError(f"observation lacks joints {missing} (has {list(self.joint_names)})")
        return np.asarray(self.joint_positions[[index[n] for n in joint_names]])


@dataclass(frozen=True)
class ActionChunk:
    """H consecutive actions answering one observation."""

    actions: np.ndarray  # (H, D) in action_space units
    action_space: ActionSpace  # meaning of each row
    step_duration_s: float  # [s] between rows; row i is meant for observation_stamp_s + i * step
    observation_stamp_s: float  # [s] stamp of the observation this chunk answers

    def __post_init__(self) -> None:
        actions = np.asarray(self.actions, dtype=np.float64)
        if actions.ndim != 2 or actions.shape[0] < 1 or actions.shape[1] < 1:
            raise ValueError(f"actions must have shape (H, D) with H, D >= 1, got {actions.shape}")
        if not np.all(np.isfinite(actions)):
            raise ValueError("action chunk contains NaN or inf")
        if not (math.isfinite(self.step_duration_s) and self.step_duration_s > 0.0):
            raise ValueError(f"step_duration_s must be > 0, got {self.step_duration_s}")
        if not math.isfinite(self.observation_stamp_s):
            raise ValueError("observation_stamp_s must be finite")
        object.__setattr__(self, "actions", _readonly(actions))
        object.__setattr__(self, "action_space", ActionSpace(self.action_space))

    @property
    def length(self) -> int:
        """Number of actions (H)."""
        return int(self.actions.shape[0])

    @property
    def times_s(self) -> np.ndarray:
        """(H,) [s] time each action is meant for."""
        return self.observation_stamp_s + np.arange(self.length) * self.step_duration_s

    def to_absolute(self, observation: Observation, spec: PolicySpec) -> ActionChunk:
        """A JOINT_DELTA chunk as JOINT_POSITION (deltas are relative to the observation)."""
        if self.action_space is not ActionSpace.JOINT_DELTA:
            return self
        state = observation.state_for(spec.joint_names)
        absolute = np.array(self.actions)
        absolute[:, : state.size] += state
        return ActionChunk(
            actions=absolute,
            action_space=ActionSpace.JOINT_POSITION,
            step_duration_s=self.step_duration_s,
            observation_stamp_s=self.observation_stamp_s,
        )


@runtime_checkable
class Policy(Protocol):
    """Anything that maps an observation to a chunk of actions."""

    @property
    def spec(self) -> PolicySpec:
        """What the policy consumes and produces."""
        ...

    def infer(self, observation: Observation) -> ActionChunk:
        """One chunk for `observation`; raises on failure (the caller retries)."""
        ...

    def reset(self) -> None:
        """Forget any episode state (new instruction, new episode)."""
        ...


@runtime_checkable
class PrefixConditionedPolicy(Policy, Protocol):
    """A policy that can continue a committed prefix (real-time chunking, flow matching)."""

    def infer_with_prefix(self, observation: Observation, prefix: np.ndarray) -> ActionChunk:
        """A chunk whose first len(prefix) rows follow `prefix` (rows in the policy's space)."""
        ...
