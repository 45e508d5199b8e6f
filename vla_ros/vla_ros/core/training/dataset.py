"""Training samples from time-aligned episode arrays (what the MCAP reader produces)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vla_ros.core.policy.interface import Observation, PolicySpec


@dataclass(frozen=True)
class Episode:
    """One demonstration: row t of every array belongs to the same instant."""

    images: Mapping[str, np.ndarray]  # camera -> (T, H, W, 3) uint8 RGB
    joint_positions: np.ndarray  # (T, J) [rad or m], in spec.joint_names order
    actions: np.ndarray  # (T, D) action taken at each step, in the spec's action space
    instruction: str  # the task, e.g. "pick up the red cube"
    depth: Mapping[str, np.ndarray] = field(default_factory=dict)  # camera -> (T, H, W) [m]
    # measured positions of the spec's extra_state_joints (T, E), e.g. the gripper
    extra_state: np.ndarray | None = None
    # training-only grounding targets (T, G), see core.training.grounding
    aux_targets: np.ndarray | None = None

    def __post_init__(self) -> None:
        steps = int(np.asarray(self.actions).shape[0])
        if steps < 1:
            raise ValueError("an episode needs at least one step")
        for name, array in {**self.images, **self.depth}.items():
            if np.asarray(array).shape[0] != steps:
                raise ValueError(f"'{name}' has {np.asarray(array).shape[0]} rows, not {steps}")
        if np.asarray(self.joint_positions).shape[0] != steps:
            raise ValueError("joint_positions and actions differ in length")
        for name, extra in (("extra_state", self.extra_state), ("aux_targets", self.aux_targets)):
            if extra is None:
                continue
            if np.asarray(extra).ndim != 2 or np.asarray(extra).shape[0] != steps:
                raise ValueError(f"{name} must be ({steps}, N), got {np.asarray(extra).shape}")
            if not np.all(np.isfinite(extra)):
                raise ValueError(f"{name} contains NaN or inf")
        if not self.instruction.strip():
            raise ValueError("an episode needs an instruction")
        if not np.all(np.isfinite(self.actions)) or not np.all(np.isfinite(self.joint_positions)):
            raise ValueError("episode arrays contain NaN or inf")

    @property
    def observed_positions(self) -> np.ndarray:
        """(T, J + E) joint_positions then extra_state: PolicySpec.observed_joints' order."""
        joints = np.asarray(self.joint_positions, dtype=np.float64)
        if self.extra_state is None:
            return joints
        return np.concatenate([joints, np.asarray(self.extra_state, dtype=np.float64)], axis=1)

    @property
    def length(self) -> int:
        """Number of steps T."""
        return int(np.asarray(self.actions).shape[0])


class ChunkDataset:
    """Sample i = (observation at step t, the next H actions from t, padded by repetition).

    Padding past the end repeats the final action (the robot is meant to stay put), as LeRobot
    and openpi do; `valid` marks real rows.
    """

    def __init__(self, episodes: Sequence[Episode], spec: PolicySpec) -> None:
        if not episodes:
            raise ValueError("no episodes")
        for k, episode in enumerate(episodes):
            if np.asarray(episode.actions).shape[1] != spec.action_dim:
                raise ValueError(
                    f"episode {k}: actions have {np.asarray(episode.actions).shape[1]} elements,"
                    f" the spec has {spec.action_dim}"
                )
            if np.asarray(episode.joint_positions).shape[1] != len(spec.joint_names):
                raise ValueError(f"episode {k}: joint_positions do not match spec.joint_names")
            if episode.observed_positions.shape[1] != len(spec.observed_joints):
                raise ValueError(
                    f"episode {k}: extra_state does not match {spec.extra_state_joints}"
                )
            missing = [key for key in spec.image_keys if key not in episode.images]
            if missing or (
                spec.use_depth and any(k not in episode.depth for k in spec.image_keys)
            ):
                raise ValueError(f"episode {k}: missing cameras {missing} (or depth)")
        self.episodes = list(episodes)
        self.spec = spec
        self._index = [(e, t) for e, ep in enumerate(self.episodes) for t in range(ep.length)]

    def __len__(self) -> int:
        return len(self._index)

    def sample_position(self, i: int) -> tuple[int, int]:
        """(episode index, step) of sample i."""
        return self._index[i]

    def instructions(self) -> list[str]:
        """Distinct instructions of the dataset."""
        return sorted({episode.instruction for episode in self.episodes})

    def observation(self, i: int, stamp_s: float = 0.0) -> Observation:
        """Sample i as an Observation (for inference on recorded data)."""
        e, t = self._index[i]
        episode = self.episodes[e]
        return Observation(
            images={k: np.asarray(episode.images[k][t]) for k in self.spec.image_keys},
            depth={k: np.asarray(episode.depth[k][t]) for k in episode.depth},
            joint_names=self.spec.observed_joints,
            joint_positions=episode.observed_positions[t],
            instruction=episode.instruction,
            stamp_s=stamp_s,
        )

    def target(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, D) actions from sample i's step and (H,) bool mask of real (unpadded) rows."""
        e, t = self._index[i]
        return chunk_rows(self.episodes[e].actions, t, self.spec.chunk_length)

    def statistics(self) -> dict[str, np.ndarray]:
        """Mean and std (floored) of states and actions over all steps, for normalisation."""
        states = np.concatenate([np.asarray(ep.joint_positions) for ep in self.episodes])
        actions = np.concatenate([np.asarray(ep.actions) for ep in self.episodes])
        return {
            "state_mean": states.mean(axis=0),
            "state_std": np.maximum(states.std(axis=0), 1e-3),
            "action_mean": actions.mean(axis=0),
            "action_std": np.maximum(actions.std(axis=0), 1e-3),
        }


def chunk_rows(values: np.ndarray, t: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(horizon, D) rows t.. of `values`, the last row repeated past the end, and the (horizon,)
    bool mask of real rows."""
    array = np.asarray(values, dtype=np.float64)
    rows = np.arange(t, t + horizon)
    valid = rows < len(array)
    return array[np.minimum(rows, len(array) - 1)], valid


def mean_std(arrays: Sequence[np.ndarray], floor: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std (floored) over the rows of all arrays."""
    values = np.concatenate([np.asarray(a, dtype=np.float64) for a in arrays])
    return values.mean(axis=0), np.maximum(values.std(axis=0), floor)
