"""The demo's scenario: which task, said how, with whom walking in, run by which policy."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vla_ros.core.sim.tasks import FAMILIES, PLACE_TARGETS, PUSH_DIRECTIONS, TaskSpec
from vla_ros.core.sim.tasks import parse_instruction as parse_task

POLICY_BACKENDS = ("embedded", "remote", "lerobot", "scripted")
CHECKPOINT_FILES = ("config.json", "model.safetensors")  # an embedded-VLA checkpoint


def resolve_instruction(task: str, seed: int, colours: Sequence[str]) -> str:
    """The canonical instruction of the demo's episode.

    `task` is a family ("pick", ...) or a full instruction; a family gets cube colours drawn
    with `seed` from `colours` (those both the simulator and the command language know, so
    the sentence can be spoken). ValueError for anything else.
    """
    text = task.strip().lower()
    if text in FAMILIES:
        if len(colours) < 2:
            raise ValueError("need at least two cube colours the command language knows")
        rng = np.random.default_rng(seed)
        first, second = (str(c) for c in rng.permutation(np.array(list(colours)))[:2])
        spec = {
            "pick": TaskSpec("pick", first),
            "place": TaskSpec("place", first, target=str(rng.choice(PLACE_TARGETS))),
            "push": TaskSpec("push", first, direction=str(rng.choice(PUSH_DIRECTIONS))),
            "stack": TaskSpec("stack", first, base_colour=second),
        }[text]
        return spec.instruction
    spec = parse_task(text)
    unknown = [c for c in spec.colours_needed if c not in colours]
    if unknown:
        raise ValueError(f"colour(s) {unknown} not in the command language {list(colours)}")
    return spec.instruction


# The demo drives the shipped VLA only once its recorded closed-loop evaluation
# (<checkpoint>/evaluation.json, written from `vla-ros eval`) shows it does the demo's task:
# for the task's family, the lower end of the Wilson 95 % interval of its success on the
# training templates (the wording the command grammar speaks) must reach
# DEMO_MIN_FAMILY_WILSON_LOW; an evaluation without per-family figures needs an overall
# success rate of DEMO_MIN_SUCCESS_RATE.
DEMO_MIN_SUCCESS_RATE = 0.5
DEMO_MIN_FAMILY_WILSON_LOW = 0.8


def choose_backend(
    requested: str, checkpoint_dir: str | Path, family: str = ""
) -> tuple[str, str]:
    """(backend, why): `requested`; else the shipped VLA if it is evaluated good enough for
    the task `family` (or overall, without one); else the scripted expert as a stand-in."""
    from vla_ros.core.evaluation_stats import wilson_interval

    if requested:
        if requested not in POLICY_BACKENDS:
            raise ValueError(f"unknown backend '{requested}' (one of {POLICY_BACKENDS})")
        return requested, "requested"
    directory = Path(checkpoint_dir)
    stand_in = (
        "the simulator's scripted expert stands in for the VLA (served from the sim process "
        "over the policy protocol; --backend embedded forces the VLA)"
    )
    if not all((directory / name).is_file() for name in CHECKPOINT_FILES):
        return "scripted", f"no trained checkpoint at {directory}: {stand_in}"
    try:
        evaluation = json.loads((directory / "evaluation.json").read_text())
        rate = float(evaluation["success_rate"])
        by_family = evaluation.get("by_family", {}).get(family, {}).get("templates")
        counts = (int(by_family["successes"]), int(by_family["episodes"])) if by_family else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "scripted", f"checkpoint at {directory} has no evaluation.json: {stand_in}"
    if counts is not None and counts[1] > 0:
        low = wilson_interval(*counts)[0]
        text = f"{family} {counts[0]}/{counts[1]} (Wilson 95 % low {low:.2f})"
        if low < DEMO_MIN_FAMILY_WILSON_LOW:
            return (
                "scripted",
                f"the shipped VLA at {directory} succeeds in {text} of its evaluated episodes"
                f" (< {DEMO_MIN_FAMILY_WILSON_LOW:.2f}): {stand_in}",
            )
        return "embedded", f"checkpoint at {directory}, evaluated {text}"
    if rate < DEMO_MIN_SUCCESS_RATE:
        return (
            "scripted",
            f"the shipped VLA at {directory} succeeds in {rate:.0%} of evaluated episodes "
            f"(< {DEMO_MIN_SUCCESS_RATE:.0%}): {stand_in}",
        )
    return "embedded", f"checkpoint at {directory}, evaluated success {rate:.0%}"


@dataclass(frozen=True)
class WalkIn:
    """The person's walk past the cell (see core.sim.person.PersonSchedule)."""

    speed_m_s: float = 1.0  # [m/s]
    closest_approach_m: float = 1.0  # [m] from the robot base
    # [rad] direction of the closest point: behind-left of the robot, where the scene camera
    # sees the person (straight behind, pi, the arm hides them)
    bearing_rad: float = 0.75 * math.pi
    pause_s: float = 2.0  # [s] standing at the closest point
    # +1 / -1 along the walk line; -1 comes from behind the robot, in the scene camera's view
    # (+1 comes from behind the scene camera: only the room camera sees the approach; without
    # it the person is first seen about 0.7 m from the arm)
    walk_sign: float = -1.0
    delay_s: float = 0.0  # [s] simulated time after the instruction before the walk starts

    def __post_init__(self) -> None:
        if not (self.speed_m_s > 0.0 and self.closest_approach_m > 0.0):
            raise ValueError("speed_m_s and closest_approach_m must be > 0")
        if self.pause_s < 0.0 or self.delay_s < 0.0:
            raise ValueError("pause_s and delay_s must be >= 0")
        if self.walk_sign not in (-1.0, 1.0):
            raise ValueError("walk_sign must be +1 or -1")

    def sim_parameters(self) -> dict[str, float]:
        """The sim node's walk_in_* parameters."""
        return {
            "walk_in_speed_m_s": self.speed_m_s,
            "walk_in_closest_approach_m": self.closest_approach_m,
            "walk_in_bearing_rad": self.bearing_rad,
            "walk_in_pause_s": self.pause_s,
            "walk_in_walk_sign": self.walk_sign,
        }
