"""Task families of the simulated cell: instructions, sampling and success predicates.

Success predicates are pure functions of a `SimStateView`, so tests can build states by hand.
Positions are in the robot base frame (= world; the table top is z = 0), metres.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from vla_ros.core.sim.scene import (
    BOWL_BOTTOM_M,
    BOWL_RADIUS_M,
    BOWL_WALL_HEIGHT_M,
    CUBE_SIZE_M,
    PLATE_RADIUS_M,
    PLATE_THICKNESS_M,
)

FAMILIES = ("pick", "place", "push", "stack")
PLACE_TARGETS = ("bowl", "plate")
PUSH_DIRECTIONS = ("left", "right")  # the robot's left is +y
TIME_LIMITS_S = {"pick": 20.0, "place": 30.0, "push": 25.0, "stack": 30.0}

LIFT_HEIGHT_M = 0.05  # pick: cube bottom at least this far above the table
PUSH_DISTANCE_M = 0.10  # push: displacement along y towards the named side
PUSH_MAX_LIFT_M = 0.01  # push: the cube stays on the table
REST_SPEED_M_S = 0.05  # place/stack: the cube must have come to rest

_TEMPLATES = {
    "pick": re.compile(r"^pick up the (\w+) cube$"),
    "place": re.compile(r"^put the (\w+) cube (in the bowl|on the plate)$"),
    "push": re.compile(r"^push the (\w+) cube to the (left|right)$"),
    "stack": re.compile(r"^stack the (\w+) cube on the (\w+) cube$"),
}


@dataclass(frozen=True)
class TaskSpec:
    """One episode's task in structured form; `instruction` is its canonical sentence."""

    family: str  # "pick", "place", "push" or "stack"
    colour: str  # the cube to act on
    target: str = ""  # place: "bowl" or "plate"
    direction: str = ""  # push: "left" or "right"
    base_colour: str = ""  # stack: the cube to stack on
    time_limit_s: float = 0.0  # [s] 0 = the family's default

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown task family '{self.family}' (one of {FAMILIES})")
        if self.family == "place" and self.target not in PLACE_TARGETS:
            raise ValueError(f"place needs target in {PLACE_TARGETS}, got '{self.target}'")
        if self.family == "push" and self.direction not in PUSH_DIRECTIONS:
            raise ValueError(f"push needs direction in {PUSH_DIRECTIONS}, got '{self.direction}'")
        if self.family == "stack" and (not self.base_colour or self.base_colour == self.colour):
            raise ValueError("stack needs a base colour different from the cube's colour")
        if self.time_limit_s < 0.0:
            raise ValueError("time_limit_s must be >= 0")
        if self.time_limit_s == 0.0:
            object.__setattr__(self, "time_limit_s", TIME_LIMITS_S[self.family])

    @property
    def instruction(self) -> str:
        """Canonical instruction text of the task."""
        if self.family == "pick":
            return f"pick up the {self.colour} cube"
        if self.family == "place":
            where = "in the bowl" if self.target == "bowl" else "on the plate"
            return f"put the {self.colour} cube {where}"
        if self.family == "push":
            return f"push the {self.colour} cube to the {self.direction}"
        return f"stack the {self.colour} cube on the {self.base_colour} cube"

    @property
    def colours_needed(self) -> tuple[str, ...]:
        """Cube colours that must be in the scene for this task."""
        return (self.colour, self.base_colour) if self.family == "stack" else (self.colour,)


def parse_instruction(text: str) -> TaskSpec:
    """Canonical instruction sentence -> TaskSpec (ValueError when it fits no template)."""
    normalised = " ".join(text.lower().strip().rstrip(".").split())
    for family, pattern in _TEMPLATES.items():
        match = pattern.match(normalised)
        if not match:
            continue
        if family == "pick":
            return TaskSpec("pick", match.group(1))
        if family == "place":
            target = "bowl" if "bowl" in match.group(2) else "plate"
            return TaskSpec("place", match.group(1), target=target)
        if family == "push":
            return TaskSpec("push", match.group(1), direction=match.group(2))
        return TaskSpec("stack", match.group(1), base_colour=match.group(2))
    raise ValueError(f"instruction '{text}' fits none of the task templates")


def sample_task(rng: np.random.Generator, family: str, colours: tuple[str, ...]) -> TaskSpec:
    """A random task of `family` over the cube colours present in the scene."""
    picked = [str(c) for c in rng.permutation(np.array(colours))]
    if family == "pick":
        return TaskSpec("pick", picked[0])
    if family == "place":
        return TaskSpec("place", picked[0], target=str(rng.choice(PLACE_TARGETS)))
    if family == "push":
        return TaskSpec("push", picked[0], direction=str(rng.choice(PUSH_DIRECTIONS)))
    if family == "stack":
        return TaskSpec("stack", picked[0], base_colour=picked[1])
    raise ValueError(f"unknown task family '{family}' (one of {FAMILIES})")


@dataclass(frozen=True)
class SimStateView:
    """What the success predicates and the scripted expert may see of the simulator."""

    time_s: float  # [s] since the episode started
    cube_positions_m: dict[str, np.ndarray]  # colour -> (3,) centre
    cube_yaws_rad: dict[str, float]  # colour -> yaw about z (cubes are symmetric mod pi/2)
    cube_start_positions_m: dict[str, np.ndarray]  # colour -> (3,) centre at episode start
    cube_speeds_m_s: dict[str, float]  # colour -> linear speed
    cubes_touching_fingers: frozenset[str]  # colours of cubes in contact with a finger
    bowl_position_m: np.ndarray  # (3,) centre of the bowl's bottom (on the table)
    plate_position_m: np.ndarray  # (3,) centre of the plate's bottom
    gripper_opening_m: float = 0.0  # finger_joint position


def task_success(task: TaskSpec, state: SimStateView) -> bool:
    """The family's success predicate on the simulator state."""
    half = CUBE_SIZE_M / 2
    cube = state.cube_positions_m[task.colour]
    if task.family == "pick":
        return bool(cube[2] - half >= LIFT_HEIGHT_M)
    at_rest = (
        state.cube_speeds_m_s[task.colour] < REST_SPEED_M_S
        and task.colour not in state.cubes_touching_fingers
    )
    if task.family == "place":
        if task.target == "bowl":
            centre, radius = state.bowl_position_m, BOWL_RADIUS_M - half * 0.5
            top = BOWL_BOTTOM_M + BOWL_WALL_HEIGHT_M
        else:
            centre, radius = state.plate_position_m, PLATE_RADIUS_M
            top = PLATE_THICKNESS_M + 0.02
        inside = np.linalg.norm(cube[:2] - centre[:2]) <= radius
        low = cube[2] - half <= centre[2] + top
        return bool(at_rest and inside and low)
    if task.family == "push":
        start = state.cube_start_positions_m[task.colour]
        sign = 1.0 if task.direction == "left" else -1.0
        moved = sign * (cube[1] - start[1])
        on_table = cube[2] - half <= PUSH_MAX_LIFT_M
        return bool(moved >= PUSH_DISTANCE_M and on_table)
    base = state.cube_positions_m[task.base_colour]
    aligned = np.linalg.norm(cube[:2] - base[:2]) <= half
    on_top = abs((cube[2] - base[2]) - CUBE_SIZE_M) <= 0.01
    return bool(at_rest and aligned and on_top)


@dataclass(frozen=True)
class EpisodeStatus:
    """Task and episode state of the simulated cell, as published on /sim/task_state."""

    episode_id: int
    seed: int
    task_family: str  # "pick", "place", "push" or "stack"
    instruction: str
    success: bool
    done: bool  # success, or the time limit was reached
    elapsed_s: float  # [s] simulated time since the episode started
    time_limit_s: float  # [s]
