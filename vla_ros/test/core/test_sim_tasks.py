"""Task instructions and success predicates on hand-built simulator states."""

from __future__ import annotations

import numpy as np
import pytest

from vla_ros.core.sim.person import PersonSchedule
from vla_ros.core.sim.tasks import (
    FAMILIES,
    SimStateView,
    TaskSpec,
    parse_instruction,
    sample_task,
    task_success,
)

HALF = 0.02


def state(
    cubes: dict[str, tuple],
    start: dict[str, tuple] | None = None,
    speeds=None,
    touching=(),
    bowl=(0.5, -0.2, 0.0),
    plate=(0.5, 0.2, 0.0),
) -> SimStateView:
    positions = {k: np.array(v, dtype=float) for k, v in cubes.items()}
    starts = {k: np.array(v, dtype=float) for k, v in (start or cubes).items()}
    return SimStateView(
        time_s=1.0,
        cube_positions_m=positions,
        cube_yaws_rad=dict.fromkeys(cubes, 0.0),
        cube_start_positions_m=starts,
        cube_speeds_m_s=speeds or dict.fromkeys(cubes, 0.0),
        cubes_touching_fingers=frozenset(touching),
        bowl_position_m=np.array(bowl),
        plate_position_m=np.array(plate),
    )


@pytest.mark.parametrize(
    "text",
    [
        "pick up the red cube",
        "put the blue cube in the bowl",
        "put the green cube on the plate",
        "push the yellow cube to the left",
        "push the red cube to the right",
        "stack the red cube on the blue cube",
    ],
)
def test_instruction_round_trip(text):
    task = parse_instruction(text)
    assert task.instruction == text
    assert parse_instruction(text.upper() + ".") == task


def test_bad_instructions_and_tasks_are_rejected():
    for text in ("pick the red cube", "stack the red cube on the red cube", "", "dance"):
        with pytest.raises(ValueError):
            parse_instruction(text)
    with pytest.raises(ValueError):
        TaskSpec("fly", "red")
    with pytest.raises(ValueError):
        TaskSpec("place", "red", target="box")


def test_sample_task_uses_scene_colours():
    rng = np.random.default_rng(0)
    for family in FAMILIES:
        task = sample_task(rng, family, ("red", "blue", "green"))
        assert set(task.colours_needed) <= {"red", "blue", "green"}
        assert task.time_limit_s > 0


def test_pick_success_needs_lift():
    task = TaskSpec("pick", "red")
    assert not task_success(task, state({"red": (0.4, 0.0, HALF)}))
    assert not task_success(task, state({"red": (0.4, 0.0, HALF + 0.04)}))
    assert task_success(task, state({"red": (0.4, 0.0, HALF + 0.06)}, touching={"red"}))


def test_place_in_bowl_and_on_plate():
    bowl = TaskSpec("place", "red", target="bowl")
    plate = TaskSpec("place", "red", target="plate")
    in_bowl = {"red": (0.5, -0.2, 0.008 + HALF)}
    assert task_success(bowl, state(in_bowl))
    assert not task_success(plate, state(in_bowl))
    assert not task_success(bowl, state(in_bowl, touching={"red"}))  # still held
    assert not task_success(bowl, state(in_bowl, speeds={"red": 0.3}))  # still falling
    assert not task_success(bowl, state({"red": (0.5, -0.2, 0.2)}))  # above the bowl
    assert not task_success(bowl, state({"red": (0.62, -0.2, HALF)}))  # beside it
    on_plate = {"red": (0.53, 0.22, 0.012 + HALF)}
    assert task_success(plate, state(on_plate))


def test_push_needs_displacement_to_the_named_side():
    left = TaskSpec("push", "red", direction="left")
    right = TaskSpec("push", "red", direction="right")
    start = {"red": (0.4, 0.0, HALF)}
    moved_left = state({"red": (0.41, 0.12, HALF)}, start=start)
    assert task_success(left, moved_left)
    assert not task_success(right, moved_left)
    assert not task_success(left, state({"red": (0.4, 0.05, HALF)}, start=start))
    assert not task_success(left, state({"red": (0.4, 0.12, HALF + 0.05)}, start=start))


def test_stack_needs_alignment_contact_and_release():
    task = TaskSpec("stack", "red", base_colour="blue")
    base = (0.45, 0.1, HALF)
    stacked = {"red": (0.455, 0.1, 3 * HALF), "blue": base}
    assert task_success(task, state(stacked))
    assert not task_success(task, state(stacked, touching={"red"}))
    assert not task_success(task, state({"red": (0.5, 0.1, 3 * HALF), "blue": base}))
    assert not task_success(task, state({"red": (0.45, 0.1, HALF + 0.1), "blue": base}))
    inverted = TaskSpec("stack", "blue", base_colour="red")
    assert not task_success(inverted, state(stacked))


def test_person_walk_reaches_closest_approach_and_leaves():
    walk = PersonSchedule(
        start_time_s=2.0, speed_m_s=1.0, closest_approach_m=0.9, bearing_rad=np.pi / 2, pause_s=1.0
    )
    assert walk.pose_at(1.9) is None
    distances = []
    for t in np.arange(2.0, 2.0 + walk.walk_duration_s, 0.05):
        pose = walk.pose_at(t)
        assert pose is not None
        distances.append(np.linalg.norm(pose[0][:2]))
    assert min(distances) == pytest.approx(0.9, abs=1e-6)
    assert distances[0] > 3.0 and distances[-1] > 3.0
    closest = walk.pose_at(walk.closest_time_s + 0.5)  # pausing
    assert closest is not None
    np.testing.assert_allclose(closest[0][:2], [0.0, 0.9], atol=1e-9)
    assert walk.pose_at(2.0 + walk.walk_duration_s + 0.1) is None
    with pytest.raises(ValueError):
        PersonSchedule(0.0, 0.0, 1.0, 0.0)


def test_sampled_walks_reach_their_closest_point_in_time_and_keep_off_the_table():
    from vla_ros.core.sim.person import sample_person
    from vla_ros.core.sim.scene import TABLE_X_RANGE_M, TABLE_Y_RANGE_M

    rng = np.random.default_rng(0)
    body_m = 0.15
    for _ in range(200):
        walk = sample_person(rng, 20.0, -0.75)
        assert walk.start_time_s >= 0.0 and walk.closest_time_s <= 20.0
        end = walk.start_time_s + walk.walk_duration_s * 0.999
        for t in np.linspace(walk.start_time_s, end, 80):
            pose = walk.pose_at(t)
            assert pose is not None
            x, y = pose[0][:2]
            inside_x = TABLE_X_RANGE_M[0] - body_m < x < TABLE_X_RANGE_M[1] + body_m
            inside_y = TABLE_Y_RANGE_M[0] - body_m < y < TABLE_Y_RANGE_M[1] + body_m
            assert not (inside_x and inside_y), (walk, x, y)
