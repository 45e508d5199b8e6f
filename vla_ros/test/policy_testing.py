"""Shared helpers of the policy tests: tiny specs, random-weight checkpoints, observations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vla_ros.core.policy import ActionSpace, Observation, PolicySpec
from vla_ros.core.policy.vla_model import VlaConfig, build_net, save_checkpoint
from vla_ros.core.training.dataset import Episode

JOINTS = ("joint_1", "joint_2", "joint_3")


def tiny_spec(
    chunk_length: int = 8,
    step_duration_s: float = 0.1,
    depth: bool = False,
    action_space: ActionSpace = ActionSpace.JOINT_POSITION,
    image_keys: tuple[str, ...] = ("front",),
):
    return PolicySpec(
        action_space=action_space,
        joint_names=JOINTS,
        chunk_length=chunk_length,
        step_duration_s=step_duration_s,
        image_keys=image_keys,
        image_size=(32, 32),
        use_depth=depth,
        has_gripper=True,
    )


def tiny_config(spec: PolicySpec, head: str = "flow") -> VlaConfig:
    return VlaConfig(spec=spec, head=head, hidden_dim=64, cnn_channels=(8, 16), flow_steps=4)


def random_checkpoint(directory: Path, head: str = "flow", **spec_kwargs) -> VlaConfig:
    """A checkpoint with randomly initialised weights (a real model, untrained)."""
    import torch

    torch.manual_seed(0)
    config = tiny_config(tiny_spec(**spec_kwargs), head)
    save_checkpoint(build_net(config), config, directory)
    return config


def observation(
    spec: PolicySpec,
    stamp_s: float = 0.0,
    instruction: str = "pick up the red cube",
    seed: int = 0,
    size: tuple[int, int] = (48, 64),
) -> Observation:
    rng = np.random.default_rng(seed)
    return Observation(
        images={k: rng.integers(0, 255, (*size, 3), dtype=np.uint8) for k in spec.image_keys},
        depth={k: rng.uniform(0.3, 1.5, size).astype(np.float32) for k in spec.image_keys}
        if spec.use_depth
        else {},
        joint_names=spec.joint_names,
        joint_positions=rng.normal(0.0, 0.3, len(spec.joint_names)),
        instruction=instruction,
        stamp_s=stamp_s,
    )


def synthetic_episodes(spec: PolicySpec, steps: int = 24, seed: int = 0) -> list[Episode]:
    """Two tasks told apart by image colour and instruction; actions lead the state."""
    rng = np.random.default_rng(seed)
    episodes = []
    for k, text in enumerate(["pick up the red cube", "push the blue cube left"]):
        images = np.zeros((steps, 32, 32, 3), dtype=np.uint8)
        images[..., 0 if k == 0 else 2] = 200
        start = rng.normal(0.0, 0.2, len(spec.joint_names))
        direction = 1.0 if k == 0 else -1.0
        ramp = np.linspace(0.0, direction, steps)[:, None]
        states = start + ramp
        arm = states + direction * 0.05
        gripper = np.full((steps, 1), 0.04 * k)
        episodes.append(
            Episode(
                images={"front": images},
                joint_positions=states,
                actions=np.concatenate([arm, gripper], axis=1),
                instruction=text,
            )
        )
    return episodes
