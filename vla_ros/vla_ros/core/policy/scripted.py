"""The `scripted` backend: the simulator's scripted expert behind the Policy interface.

The expert reads privileged simulator state (object poses), so this backend only exists in
the process that runs the simulator (rollouts, data collection, a sim-side policy server):
it needs `state_fn` (e.g. SimEnv.state_view) and a RobotModel. A chunk is H consecutive
expert steps from the observed joint positions; the expert's task comes from the
observation's instruction (core.sim.tasks.parse_instruction) and restarts with a new
instruction or a new simulator episode. The expert advances one step per
`step_duration_s` of observation time; the rest of a chunk is its open-loop continuation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from vla_ros.core.policy.backends import BackendUnavailableError, ScriptedConfig
from vla_ros.core.policy.interface import ActionChunk, ActionSpace, Observation, PolicySpec


class ScriptedPolicy:
    """Chunks of scripted-expert actions: 6 arm joint targets [rad] + finger_joint target [m]."""

    def __init__(
        self,
        config: ScriptedConfig,
        expert: Any,
        state_fn: Callable[[], Any],
        image_keys: tuple[str, ...] = ("front",),
    ) -> None:
        from vla_ros.core.sim.scene import ARM_JOINTS

        self.config = config
        self.expert = expert
        self._state_fn = state_fn
        self._instruction: str | None = None
        self._last_stamp_s: float | None = None
        self._episode_time_s: float | None = None  # the sim's episode clock at the last chunk
        self._spec = PolicySpec(
            action_space=ActionSpace.JOINT_POSITION,
            joint_names=tuple(ARM_JOINTS),
            chunk_length=config.chunk_length,
            step_duration_s=config.step_duration_s,
            image_keys=image_keys,
            image_size=(64, 64),
            has_gripper=True,
        )

    @property
    def spec(self) -> PolicySpec:
        """Arm joints + gripper, absolute positions."""
        return self._spec

    def infer(self, observation: Observation) -> ActionChunk:
        """H expert steps from the observed state (the expert's task follows the instruction)."""
        from vla_ros.core.sim.tasks import parse_instruction

        state = self._state_fn()
        # A new simulator episode restarts the expert even with the same instruction: served
        # over openpi's protocol (no reset message) the client's reset() never reaches here,
        # and the sim's episode clock going back is the only sign of the new episode.
        episode_time_s = float(state.time_s)
        new_episode = (
            self._episode_time_s is not None and episode_time_s + 1e-9 < self._episode_time_s
        )
        self._episode_time_s = episode_time_s
        if observation.instruction != self._instruction or new_episode:
            self.expert.reset(parse_instruction(observation.instruction))
            self._instruction = observation.instruction
            self._last_stamp_s = None
        q = observation.state_for(self._spec.joint_names)
        step = self._spec.step_duration_s
        # The expert's own timeline advances one act() per step of time elapsed since the
        # last chunk (not per row handed out), so chunking does not make it run ahead.
        elapsed = 1
        if self._last_stamp_s is not None:
            elapsed = max(1, round((observation.stamp_s - self._last_stamp_s) / step))
        self._last_stamp_s = observation.stamp_s
        for _ in range(elapsed):
            arm, gripper_m = self.expert.act(q, state)
        rows = [np.append(arm, gripper_m)]
        # The rest of the chunk is the expert's open-loop continuation, from a copy.
        lookahead = copy.deepcopy(self.expert, memo={id(self.expert.robot): self.expert.robot})
        for _ in range(self._spec.chunk_length - 1):
            arm, gripper_m = lookahead.act(q, state)
            rows.append(np.append(arm, gripper_m))
        return ActionChunk(
            actions=np.stack(rows),
            action_space=ActionSpace.JOINT_POSITION,
            step_duration_s=self._spec.step_duration_s,
            observation_stamp_s=observation.stamp_s,
        )

    def reset(self) -> None:
        """The next chunk restarts the expert on the observation's instruction."""
        self._instruction = None


def make_scripted(
    config: ScriptedConfig,
    state_fn: Callable[[], Any] | None = None,
    robot: Any = None,
    image_keys: tuple[str, ...] = ("front",),
) -> ScriptedPolicy:
    """The scripted backend; needs the in-process simulator's state_fn and robot model."""
    if state_fn is None or robot is None:
        raise BackendUnavailableError(
            "the 'scripted' backend drives the simulator's scripted expert, which reads the "
            "simulator's privileged state: build it in the simulator's process with "
            "make_policy('scripted', options, state_fn=env.state_view, robot=robot_model)"
        )
    from vla_ros.core.sim.expert import ExpertConfig, ScriptedExpert

    expert = ScriptedExpert(robot, ExpertConfig(act_period_s=config.step_duration_s))
    return ScriptedPolicy(config, expert, state_fn, image_keys=image_keys)
