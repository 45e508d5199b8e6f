"""Auxiliary grounding targets for training: where the named object and the task's goal are.

A simulated recording carries the ground-truth object positions (core.recording's
/sim/object_poses). Regressing them from the network's context (VlaNet's aux head, training
only) makes the language-conditioned vision features find the cube the instruction names,
which plain behaviour cloning learns slowly from 3-6 pixel cubes. Inference never uses them.

Targets per frame, base frame, metres (GROUNDING_DIM = 6):
- the named cube's current position;
- the goal: pick, the cube's start position raised by the lift height; place, the bowl or
  plate; push, the cube's start position moved along y by the push distance; stack, the base
  cube's current position.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from vla_ros.core.sim.tasks import LIFT_HEIGHT_M, PUSH_DISTANCE_M, parse_instruction

GROUNDING_DIM = 6


def grounding_targets(instruction: str, objects_m: Mapping[str, np.ndarray]) -> np.ndarray:
    """(T, 6) targets for an episode with canonical `instruction` and object positions
    (name -> (T, 3), as EpisodeArrays.object_positions_m). Raises ValueError when the
    instruction is not a simulator task or an object it names was not recorded."""
    task = parse_instruction(instruction)

    def track(name: str) -> np.ndarray:
        if name not in objects_m:
            raise ValueError(f"the recording has no ground truth for '{name}'")
        return np.asarray(objects_m[name], dtype=np.float64)

    cube = track(f"cube_{task.colour}")
    start = np.broadcast_to(cube[0], cube.shape)
    if task.family == "pick":
        goal = start + np.array([0.0, 0.0, LIFT_HEIGHT_M])
    elif task.family == "place":
        goal = track(task.target)
    elif task.family == "push":
        side = 1.0 if task.direction == "left" else -1.0  # the robot's left is +y
        goal = start + np.array([0.0, side * PUSH_DISTANCE_M, 0.0])
    else:
        goal = track(f"cube_{task.base_colour}")
    return np.concatenate([cube, goal], axis=1)
