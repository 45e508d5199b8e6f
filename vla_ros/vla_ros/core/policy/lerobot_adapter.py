"""The `lerobot` backend: a local LeRobot checkpoint behind the Policy interface.

LeRobot needs torchvision, which has no CPU wheel matching this project's torch: where the
package is missing, construction fails with BackendUnavailableError saying so. The loading
and batching code follows LeRobot's own `PreTrainedPolicy.from_pretrained` +
`make_pre_post_processors` + `predict_action_chunk` path (lerobot >= 0.4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vla_ros.core.policy.backends import BackendUnavailableError, LerobotConfig
from vla_ros.core.policy.interface import ActionChunk, ActionSpace, Observation, PolicySpec


def _import_lerobot() -> tuple[Any, Any, Any]:
    try:
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies.factory import get_policy_class, make_pre_post_processors
    except ImportError as exc:
        raise BackendUnavailableError(
            "the 'lerobot' backend needs the lerobot package (pip install lerobot; it requires "
            f"torchvision, which has no CPU build for this torch): {exc}"
        ) from exc
    return PreTrainedConfig, get_policy_class, make_pre_post_processors


class LerobotPolicy:
    """A LeRobot policy (ACT, diffusion, pi0, smolvla, ...) loaded from a local directory."""

    def __init__(self, config: LerobotConfig) -> None:
        pretrained_config, get_policy_class, make_pre_post_processors = _import_lerobot()
        import torch

        self.config = config
        self._torch = torch
        policy_config = pretrained_config.from_pretrained(config.checkpoint_dir)
        policy_config.device = config.device
        policy_class = get_policy_class(policy_config.type)
        self._policy = policy_class.from_pretrained(config.checkpoint_dir, config=policy_config)
        self._policy.eval()
        self._pre, self._post = make_pre_post_processors(
            policy_config, pretrained_path=config.checkpoint_dir
        )
        chunk_length = int(
            getattr(policy_config, "n_action_steps", getattr(policy_config, "chunk_size", 1))
        )
        self._spec = PolicySpec(
            action_space=ActionSpace(config.action_space),
            joint_names=config.joint_names,
            chunk_length=chunk_length,
            step_duration_s=config.step_duration_s,
            image_keys=tuple(config.image_keys),
            image_size=(int(config.image_size[0]), int(config.image_size[1])),
            has_gripper=config.has_gripper,
        )

    @property
    def spec(self) -> PolicySpec:
        """What the checkpoint consumes and produces."""
        return self._spec

    def infer(self, observation: Observation) -> ActionChunk:
        """One chunk via LeRobot's predict_action_chunk."""
        torch = self._torch
        from vla_ros.core.policy.vla_model import _resize

        height, width = self._spec.image_size
        batch: dict[str, Any] = {
            self.config.state_key: torch.from_numpy(
                observation.state_for(self._spec.joint_names).astype(np.float32)
            )[None],
            "task": [observation.instruction],
        }
        for camera, feature in self.config.image_keys.items():
            rgb = _resize(np.asarray(observation.images[camera]), height, width)
            tensor = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)
            batch[feature] = tensor[None]
        with torch.inference_mode():
            actions = self._policy.predict_action_chunk(self._pre(batch))
            actions = self._post(actions)
        rows = np.asarray(actions.detach().cpu().numpy(), dtype=np.float64).reshape(
            -1, self._spec.action_dim
        )
        return ActionChunk(
            actions=rows[: self._spec.chunk_length],
            action_space=self._spec.action_space,
            step_duration_s=self._spec.step_duration_s,
            observation_stamp_s=observation.stamp_s,
        )

    def reset(self) -> None:
        """Clear LeRobot's internal action queue."""
        self._policy.reset()
