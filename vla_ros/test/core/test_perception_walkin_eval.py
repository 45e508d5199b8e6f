"""Seeded walk-ins past the simulated cell while the arm works: seen in time, nothing when empty.

The same episode runner as bench/bench_perception_walkin.py (real MuJoCo RGB-D rendering,
the scripted expert moving the arm, the HOG detector and the depth channel), on the first
walk-in seeds and two empty episodes. A single fixed camera cannot see someone who approaches
from beside or behind it, so with the scene camera alone the in-time guarantee is asserted for
every walk-in that came into the camera's view before the alarm distance; the others must
really have been out of view (ground-truth visibility against the rendered depth), and must be
seen once in view. With the room camera as well (the sim's default), walk-ins that were such
coverage gaps must be reported before the alarm distance.
"""

from __future__ import annotations

import numpy as np
import pytest

from vla_ros.core.perception.evaluation import WalkinEvalConfig, run_episode

pytestmark = pytest.mark.slow

WALKIN_SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def sim():
    env_mod = pytest.importorskip("vla_ros.core.sim.env")
    from vla_ros.core.robot_model import RobotModel

    try:
        # the room camera changes nothing for the scene camera; the gap test needs it
        env = env_mod.SimEnv(env_mod.SimConfig(room_camera=True))
        env.render()
    except Exception as exc:  # no GL backend on this machine
        pytest.skip(f"MuJoCo rendering unavailable: {exc}")
    yield env, RobotModel.from_urdf(env_mod.default_urdf_path())
    env.close()


def test_walk_ins_in_view_are_detected_before_the_alarm_distance(sim):
    env, robot = sim
    config = WalkinEvalConfig()
    outcomes = [run_episode(env, robot, s, config, with_person=True) for s in WALKIN_SEEDS]
    for out in outcomes:
        print(
            f"\nseed {out.seed}: min dist {out.min_distance_m:.2f} m, in view at "
            f"{out.first_in_view_distance_m:.2f} m, first detection at "
            f"{out.first_detection_distance_m:.2f} m ({out.first_detection_source}), "
            f"in time {out.detected_in_time} (in view before: {out.in_view_before_alarm}), "
            f"{out.false_positive_frames}/{out.empty_frames} "
            "false alarms with nobody in view (before and after the walk)"
        )
        assert out.alarm_reached, "every sampled walk passes within the alarm distance"
        assert out.empty_frames >= 10 and out.false_positive_frames == 0
        if out.in_view_before_alarm:
            assert out.detected_in_time, f"seed {out.seed}: in view, yet not detected in time"
        else:
            # a coverage gap (out of view until inside the alarm distance): seen once in view
            assert out.first_detection_source, f"seed {out.seed}: never detected once in view"
            latency_s = out.first_detection_time_s - out.first_in_view_time_s
            assert latency_s <= 0.5, f"seed {out.seed}: detected {latency_s:.1f} s after in view"
        errors = np.asarray(out.position_errors_m)
        assert errors.size >= 5
        assert float(np.median(errors)) < 0.1, f"seed {out.seed}: nearest point off"
        distance_errors = np.abs(out.distance_errors_m)
        assert float(np.median(distance_errors)) < 0.1, f"seed {out.seed}: distance off"
    # the guarantee must have been exercised, not only excused by coverage gaps
    assert sum(o.in_view_before_alarm for o in outcomes) >= 2


# 1001: a 'stack' episode where the held cube used to be reported as an intrusion before the
# self-filter covered the tool frame (held_object_radius_m)
@pytest.mark.parametrize("seed", [1000, 1001])
def test_nobody_present_gives_no_detection_while_the_arm_works(sim, seed):
    env, robot = sim
    out = run_episode(env, robot, seed, WalkinEvalConfig(), with_person=False)
    assert out.person is None and out.person_frames == 0
    assert out.empty_frames >= 90
    assert out.false_positive_frames == 0, f"seed {seed} ({out.task})"


def test_ground_truth_body_samples_cover_the_rendered_person(sim):
    from vla_ros.core.perception.evaluation import person_surface_points, visible_fraction
    from vla_ros.core.sim.person import PersonSchedule
    from vla_ros.core.sim.scene import PERSON_HEIGHT_M

    env, _ = sim
    body = person_surface_points(env, 200)
    assert body[:, 2].min() == pytest.approx(0.07 - 0.065, abs=0.01)  # soles of the legs
    assert body[:, 2].max() == pytest.approx(PERSON_HEIGHT_M, abs=0.01)  # top of the head
    assert np.abs(body[:, :2]).max() < 0.35
    # standing beyond the table, off the arm: the upper body is visible (the table edge hides
    # the legs, and no more than the camera-facing half can be); moved away, nothing is
    schedule = PersonSchedule(
        start_time_s=0.0,
        speed_m_s=1.0,
        closest_approach_m=1.2,
        bearing_rad=np.pi - 0.7,
        pause_s=30.0,
    )
    env.reset(seed=0, person=schedule)
    camera = env.camera_pose()
    while env.episode_time_s < schedule.closest_time_s + 0.1:
        env.step()
    feet, yaw = env.person_pose()
    _, depth = env.render()
    c, s = np.cos(yaw), np.sin(yaw)
    world = body @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T + feet
    seen = visible_fraction(world, depth, env.intrinsics(), camera, 0.03)
    assert 0.08 < seen < 0.5
    away = np.add(world, [0.0, 40.0, 0.0])
    assert visible_fraction(away, depth, env.intrinsics(), camera, 0.03) == 0.0


# With the scene camera alone these walk-ins come into view only 0.7-1.0 m from the arm
# (bench_perception_walkin.py --cameras scene: coverage GAP): they come past the camera's side.
GAP_SEEDS = (4, 16, 29)


@pytest.mark.parametrize("seed", GAP_SEEDS)
def test_walk_ins_the_scene_camera_cannot_see_are_reported_in_time_with_the_room_camera(sim, seed):
    from vla_ros.core.sim.scene import CAMERA_NAME, ROOM_CAMERA_NAME

    env, robot = sim
    # the scene camera alone (depth channel only: visibility does not depend on the detector)
    single = WalkinEvalConfig(use_rgb_detector=False)
    alone = run_episode(env, robot, seed, single, with_person=True)
    assert alone.alarm_reached and not alone.in_view_before_alarm, "not a coverage gap"
    assert alone.first_in_view_distance_m < 1.2
    both = WalkinEvalConfig(cameras=(CAMERA_NAME, ROOM_CAMERA_NAME), rgb_cameras=(CAMERA_NAME,))
    out = run_episode(env, robot, seed, both, with_person=True)
    print(
        f"\nseed {seed}: scene camera alone first in view at "
        f"{alone.first_in_view_distance_m:.2f} m; with the room camera in view at "
        f"{out.first_in_view_distance_m:.2f} m, first detection at "
        f"{out.first_detection_distance_m:.2f} m ({out.first_detection_source})"
    )
    assert out.in_view_before_alarm and out.detected_in_time, f"seed {seed}"
    assert out.first_detection_distance_m >= 1.5 + 0.2  # with a margin, not just in time
    assert out.empty_frames >= 10 and out.false_positive_frames == 0
    assert out.detected_frames >= 10
    errors = np.asarray(out.position_errors_m)
    assert float(np.median(errors)) < 0.1, f"seed {seed}: nearest point off"
    assert float(np.median(np.abs(out.distance_errors_m))) < 0.1, f"seed {seed}: distance off"
