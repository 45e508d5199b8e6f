"""Both channels together: a person the RGB detector misses is still seen in depth; fusion."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import perception_scene as ps
import pytest

from vla_ros.core.perception.depth_monitor import DepthMonitorConfig
from vla_ros.core.perception.detectors import HogPersonDetector, PersonBox
from vla_ros.core.perception.geometry import Box3, MonitoredVolume, RobotShapes
from vla_ros.core.perception.pipeline import (
    SOURCE_DEPTH,
    SOURCE_FUSED,
    SOURCE_RGB,
    HumanPerception,
    PerceptionConfig,
    PerceptionFrame,
    draw_debug_image,
)

VOLUME = MonitoredVolume(
    shape="cylinder", center_m=(0.0, 0.0, 0.2), size_m=(3, 3, 2.4), radius_m=1.6
)


class KnownBoxes:
    """A detector whose output the test chooses: fusion is tested with known RGB boxes."""

    name = "known"

    def __init__(self, boxes: list[PersonBox]) -> None:
        self.boxes = boxes

    def detect(self, rgb: np.ndarray) -> list[PersonBox]:
        return list(self.boxes)


def person_pixels(intrinsics, pose, robot):
    with_person = ps.Scene(boxes=[*ps.static_scene(), ps.PERSON], robot=robot).render(
        intrinsics, pose
    )
    without = ps.Scene(boxes=ps.static_scene(), robot=robot).render(intrinsics, pose)
    diff = np.abs(np.nan_to_num(with_person, nan=99) - np.nan_to_num(without, nan=99)) > 0.01
    v, u = np.nonzero(diff)
    return (
        with_person,
        without,
        PersonBox(u.min() - 10.0, v.min(), u.max() + 10.0, v.max() + 5.0, 0.8),
    )


def frames(perception, depth, intrinsics, pose, robot, stamps, rgb=None):
    rgb = np.full((*depth.shape, 3), 128, np.uint8) if rgb is None else rgb
    out = None
    for stamp in stamps:
        out = perception.process(PerceptionFrame(stamp, rgb, depth, intrinsics, pose, robot))
    return out


def test_depth_catches_the_person_hog_misses():
    """A box-shaped 'person' has no human appearance: HOG sees nobody, depth must."""
    intrinsics, pose = ps.camera()
    robot = ps.robot_pose("reach")
    depth, empty, _ = person_pixels(intrinsics, pose, robot)
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=VOLUME, background_frames=3))
    perception = HumanPerception(HogPersonDetector(), config)
    learning = frames(perception, empty, intrinsics, pose, robot, [0.0, 0.1, 0.2])
    assert learning.background_ready and learning.humans == ()
    assert learning.min_distance_to_robot_m == math.inf
    result = frames(perception, depth, intrinsics, pose, robot, [0.3])
    assert result.rgb_boxes == ()
    assert len(result.humans) == 1
    human = result.humans[0]
    assert human.source == SOURCE_DEPTH and human.box is None
    expected = ps.box_distance_to_robot(ps.PERSON, robot)
    assert human.distance_to_robot_m == pytest.approx(expected, abs=0.05)
    assert result.min_distance_to_robot_m == human.distance_to_robot_m
    assert set(result.timings_ms) >= {"rgb_detector_ms", "depth_channel_ms", "total_ms"}


def test_rgb_and_depth_fuse_into_one_person_with_a_stable_id():
    intrinsics, pose = ps.camera()
    robot = ps.robot_pose("home")
    depth, empty, box = person_pixels(intrinsics, pose, robot)
    detector = KnownBoxes([])
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=VOLUME, background_frames=2))
    perception = HumanPerception(detector, config)
    frames(perception, empty, intrinsics, pose, robot, [0.0, 0.1])
    detector.boxes = [box]
    first = frames(perception, depth, intrinsics, pose, robot, [0.2])
    second = frames(perception, depth, intrinsics, pose, robot, [0.3])
    assert len(second.humans) == 1
    human = second.humans[0]
    assert human.source == SOURCE_FUSED and human.box == box
    assert human.track_id == first.humans[0].track_id
    np.testing.assert_allclose(human.velocity_m_s, 0.0, atol=0.2)  # standing still
    assert human.distance_to_robot_m == pytest.approx(
        ps.box_distance_to_robot(ps.PERSON, robot), abs=0.05
    )
    debug = draw_debug_image(np.zeros((*depth.shape, 3), np.uint8), second)
    assert debug.shape == (*depth.shape, 3) and debug.any()


def test_rgb_only_person_outside_the_volume_and_box_without_depth():
    """The RGB channel reports people the depth volume does not cover; no depth: counted."""
    intrinsics, pose = ps.camera()
    robot = ps.robot_pose("home")
    depth, _, box = person_pixels(intrinsics, pose, robot)
    tiny_volume = MonitoredVolume(shape="box", center_m=(0, 0, 0.3), size_m=(0.5, 0.5, 0.5))
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=tiny_volume, background_frames=0))
    holes = depth.copy()
    holes[140:, 260:] = np.nan  # a box over a depth hole cannot be placed
    no_depth_box = PersonBox(262, 150, 318, 238, 0.9)
    perception = HumanPerception(KnownBoxes([box, no_depth_box]), config)
    result = frames(perception, holes, intrinsics, pose, robot, [0.0])
    assert len(result.humans) == 1
    rgb_only = result.humans[0]
    assert rgb_only.source == SOURCE_RGB and rgb_only.box == box
    assert rgb_only.position_uncertainty_m >= config.rgb_only_uncertainty_m
    assert ps.PERSON.contains(rgb_only.position_m[None], padding_m=0.05)[0]
    assert result.rgb_without_depth == 1


def test_frame_size_mismatch_is_a_value_error():
    intrinsics, pose = ps.camera()
    perception = HumanPerception(None, PerceptionConfig())
    with pytest.raises(ValueError, match="registered"):
        perception.process(
            PerceptionFrame(
                0.0,
                np.zeros((10, 10, 3), np.uint8),
                np.zeros((240, 320), np.float32),
                intrinsics,
                pose,
                ps.robot_pose("home"),
            )
        )


# --------------------------------------------------------------------------- several cameras

# beside the first camera, out of its view; the second camera (left of the arm) sees it
HIDDEN = Box3(center_m=(1.1, 1.0, 0.1), size_m=(0.3, 0.3, 1.8))


def two_cameras():
    from vla_ros.core.perception.camera import look_at_extrinsics

    intrinsics, first = ps.camera()
    return intrinsics, first, look_at_extrinsics((0.0, 2.4, 1.6), (0.7, 0.0, -0.2))


def pixels_changed(intrinsics, pose, robot, box) -> int:
    with_box = ps.Scene(boxes=[*ps.static_scene(), box], robot=robot).render(intrinsics, pose)
    without = ps.Scene(boxes=ps.static_scene(), robot=robot).render(intrinsics, pose)
    return int(
        (np.abs(np.nan_to_num(with_box, nan=99) - np.nan_to_num(without, nan=99)) > 0.01).sum()
    )


def process_both(perception, boxes, intrinsics, poses, robot, stamp):
    rgb = np.full((intrinsics.height_px, intrinsics.width_px, 3), 128, np.uint8)
    frames = [
        PerceptionFrame(
            stamp,
            rgb,
            ps.Scene(boxes=[*ps.static_scene(), *boxes], robot=robot).render(intrinsics, pose),
            intrinsics,
            pose,
            robot,
        )
        for pose in poses
    ]
    return perception.process_frames(frames)


def test_a_second_camera_covers_what_the_first_cannot_see():
    intrinsics, first, second = two_cameras()
    robot = ps.robot_pose("home")
    assert pixels_changed(intrinsics, first, robot, HIDDEN) == 0
    assert pixels_changed(intrinsics, second, robot, HIDDEN) > 1000
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=VOLUME, background_frames=2))
    both = HumanPerception(None, config, cameras=("scene", "room"))
    alone = HumanPerception(None, config)
    assert both.camera_names == ("scene", "room")
    for stamp in (0.0, 0.1):
        learning = process_both(both, [], intrinsics, (first, second), robot, stamp)
        process_both(alone, [], intrinsics, (first,), robot, stamp)
    assert learning.background_ready and both.background_ready
    assert [c.camera for c in learning.cameras] == ["scene", "room"]
    assert process_both(alone, [HIDDEN], intrinsics, (first,), robot, 0.2).humans == ()
    result = process_both(both, [HIDDEN], intrinsics, (first, second), robot, 0.2)
    assert len(result.humans) == 1
    human = result.humans[0]
    assert human.source == SOURCE_DEPTH
    assert human.distance_to_robot_m == pytest.approx(
        ps.box_distance_to_robot(HIDDEN, robot), abs=0.05
    )
    assert HIDDEN.contains(human.position_m[None], padding_m=0.05)[0]
    assert result.cameras[0].intrusions == () and len(result.cameras[1].intrusions) == 1


def test_one_body_seen_by_two_cameras_is_one_tracked_person():
    intrinsics, first, second = two_cameras()
    robot = ps.robot_pose("reach")
    assert pixels_changed(intrinsics, first, robot, ps.PERSON) > 1000
    assert pixels_changed(intrinsics, second, robot, ps.PERSON) > 1000
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=VOLUME, background_frames=1))
    perception = HumanPerception(None, config, cameras=("scene", "room"))
    process_both(perception, [], intrinsics, (first, second), robot, 0.0)
    ids = set()
    for stamp in (0.1, 0.2, 0.3):
        result = process_both(perception, [ps.PERSON], intrinsics, (first, second), robot, stamp)
        assert all(len(c.candidates) == 1 for c in result.cameras)  # each camera saw it
        assert len(result.humans) == 1  # merged
        ids.add(result.humans[0].track_id)
        assert result.humans[0].distance_to_robot_m == pytest.approx(
            ps.box_distance_to_robot(ps.PERSON, robot), abs=0.05
        )
    assert len(ids) == 1
    assert set(result.timings_ms) >= {"rgb_detector_ms", "depth_channel_ms", "total_ms"}


def test_two_people_seen_by_different_cameras_stay_two():
    intrinsics, first, second = two_cameras()
    robot = ps.robot_pose("home")
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=VOLUME, background_frames=1))
    perception = HumanPerception(None, config, cameras=("scene", "room"))
    process_both(perception, [], intrinsics, (first, second), robot, 0.0)
    result = process_both(perception, [ps.PERSON, HIDDEN], intrinsics, (first, second), robot, 0.1)
    assert len(result.humans) == 2
    assert len({h.track_id for h in result.humans}) == 2


def test_rgb_detector_runs_only_on_the_cameras_named():
    intrinsics, first, second = two_cameras()
    robot = ps.robot_pose("home")
    box = PersonBox(10.0, 10.0, 60.0, 200.0, 0.9)
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=VOLUME, background_frames=0))
    perception = HumanPerception(
        KnownBoxes([box]), config, cameras=("scene", "room"), rgb_cameras=("scene",)
    )
    result = process_both(perception, [], intrinsics, (first, second), robot, 0.0)
    assert result.cameras[0].rgb_boxes == (box,) and result.cameras[1].rgb_boxes == ()
    assert result.rgb_boxes == (box,)


def test_every_camera_must_contribute_to_a_set():
    intrinsics, first, _ = two_cameras()
    robot = ps.robot_pose("home")
    perception = HumanPerception(None, PerceptionConfig(), cameras=("scene", "room"))
    depth = ps.Scene(boxes=ps.static_scene(), robot=robot).render(intrinsics, first)
    frame = PerceptionFrame(
        0.0, np.zeros((240, 320, 3), np.uint8), depth, intrinsics, first, robot
    )
    observation = perception.observe("scene", frame)
    with pytest.raises(ValueError, match="one observation per camera"):
        perception.fuse_and_track([observation])
    with pytest.raises(ValueError, match="one observation per camera"):
        perception.fuse_and_track([observation, observation])
    with pytest.raises(ValueError, match="one per camera"):
        perception.process_frames([frame])
    with pytest.raises(ValueError, match="unknown camera"):
        perception.observe("wrist", frame)
    with pytest.raises(ValueError, match="distinct"):
        HumanPerception(None, cameras=("a", "a"))
    with pytest.raises(ValueError, match="rgb_cameras"):
        HumanPerception(None, cameras=("a",), rgb_cameras=("b",))


def arm_box(intrinsics, pose, robot) -> PersonBox:
    """A detector box tight around the arm's pixels (what HOG reports when it fires on it)."""
    with_arm = ps.Scene(boxes=ps.static_scene(), robot=robot).render(intrinsics, pose)
    without = ps.Scene(boxes=ps.static_scene()).render(intrinsics, pose)
    diff = np.abs(np.nan_to_num(with_arm, nan=99) - np.nan_to_num(without, nan=99)) > 0.01
    v, u = np.nonzero(diff)
    return PersonBox(u.min(), v.min(), u.max() + 1.0, v.max() + 1.0, 0.6)


def test_a_detector_box_on_the_arm_is_the_arm_not_a_person():
    """HOG fires on the moving arm: the box's depth lies on the robot and no depth cluster
    confirms it, so it is dropped and counted (it stopped the arm in graph evaluations)."""
    intrinsics, pose = ps.camera()
    home, reach = ps.robot_pose("home"), ps.robot_pose("reach")
    box = arm_box(intrinsics, pose, reach)
    empty_home = ps.Scene(boxes=ps.static_scene(), robot=home).render(intrinsics, pose)
    reaching = ps.Scene(boxes=ps.static_scene(), robot=reach).render(intrinsics, pose)
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=VOLUME, background_frames=2))
    detector = KnownBoxes([])
    perception = HumanPerception(detector, config)
    frames(perception, empty_home, intrinsics, pose, home, [0.0, 0.1])
    detector.boxes = [box]
    result = frames(perception, reaching, intrinsics, pose, reach, [0.2])
    assert result.rgb_boxes == (box,)
    assert result.humans == () and result.rgb_on_robot == 1
    # the robot unknown (no joint state): nothing explains the box, it stays a person
    unknown = HumanPerception(KnownBoxes([box]), config)
    frames(unknown, empty_home, intrinsics, pose, ps.robot_pose("home"), [0.0, 0.1])
    blind = frames(unknown, reaching, intrinsics, pose, RobotShapes(), [0.2])
    assert blind.humans and blind.rgb_on_robot == 0


def test_a_person_beside_the_arm_in_the_same_box_is_kept():
    """The same box with a person standing at the reaching arm: the person's depth points
    are unexplained (a cluster confirms the box), so nothing is dropped."""
    intrinsics, pose = ps.camera()
    home, reach = ps.robot_pose("home"), ps.robot_pose("reach")
    person = Box3(center_m=(0.45, -0.55, 0.1), size_m=(0.3, 0.3, 1.8))
    scene = ps.Scene(boxes=[*ps.static_scene(), person], robot=reach).render(intrinsics, pose)
    empty_home = ps.Scene(boxes=ps.static_scene(), robot=home).render(intrinsics, pose)
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=VOLUME, background_frames=2))
    detector = KnownBoxes([])
    perception = HumanPerception(detector, config)
    frames(perception, empty_home, intrinsics, pose, home, [0.0, 0.1])
    detector.boxes = [arm_box(intrinsics, pose, reach)]
    result = frames(perception, scene, intrinsics, pose, reach, [0.2])
    assert result.rgb_on_robot == 0
    assert len(result.humans) >= 1
    nearest = result.humans[0]
    assert nearest.source == SOURCE_FUSED and nearest.box is not None
    # never farther than the person really is (the box's arm points may make it nearer)
    assert nearest.distance_to_robot_m <= ps.box_distance_to_robot(person, reach) + 0.05


def test_an_unconfirmed_box_with_the_arm_and_new_depth_is_kept():
    """No cluster confirms the box (the person stands outside the depth channel's volume),
    but beside the arm's depth the box holds depth that is neither arm nor learned scene: a
    person, kept."""
    intrinsics, pose = ps.camera()
    home, reach = ps.robot_pose("home"), ps.robot_pose("reach")
    person = Box3(center_m=(0.45, -0.55, 0.1), size_m=(0.3, 0.3, 1.8))
    scene = ps.Scene(boxes=[*ps.static_scene(), person], robot=reach).render(intrinsics, pose)
    empty_home = ps.Scene(boxes=ps.static_scene(), robot=home).render(intrinsics, pose)
    far_volume = MonitoredVolume(shape="box", center_m=(0, 2.0, 0.3), size_m=(0.5, 0.5, 0.5))
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=far_volume, background_frames=2))
    detector = KnownBoxes([])
    perception = HumanPerception(detector, config)
    frames(perception, empty_home, intrinsics, pose, home, [0.0, 0.1])
    arm = arm_box(intrinsics, pose, reach)
    _, _, body = person_pixels(intrinsics, pose, reach)
    both = PersonBox(
        min(arm.x_min_px, body.x_min_px),
        min(arm.y_min_px, body.y_min_px),
        max(arm.x_max_px, body.x_max_px),
        max(arm.y_max_px, body.y_max_px),
        0.7,
    )
    detector.boxes = [both]
    result = frames(perception, scene, intrinsics, pose, reach, [0.2])
    assert result.intrusions == ()
    assert result.rgb_on_robot == 0 and len(result.humans) == 1
    assert result.humans[0].source == SOURCE_RGB


def test_a_detector_box_on_the_static_scene_is_dropped_unless_depth_could_hide_a_person():
    """HOG fires where nobody stands (the table's edge with the arm in it, push seed 11 in the
    graph evaluation): no cluster confirms the box, its depth is valid almost everywhere and
    all of it is the learned scene, so it is dropped and counted. The same box over a person
    whose body gives no depth (dark clothes) has valid depth on only a quarter of it: kept, a
    person (fail closed). And a person there outside the depth channel's volume is new depth:
    kept."""
    intrinsics, pose = ps.camera()
    home = ps.robot_pose("home")
    with_person, empty, box = person_pixels(intrinsics, pose, home)
    body = np.abs(np.nan_to_num(with_person, nan=99) - np.nan_to_num(empty, nan=99)) > 0.01
    holes = with_person.copy()
    holes[body] = np.nan  # the person's pixels without depth
    far_volume = MonitoredVolume(shape="box", center_m=(0, 2.0, 0.3), size_m=(0.5, 0.5, 0.5))
    config = PerceptionConfig(depth=DepthMonitorConfig(volume=far_volume, background_frames=2))
    outcomes = {}
    for name, depth in (("scene", empty), ("no_depth_person", holes), ("person", with_person)):
        detector = KnownBoxes([])
        perception = HumanPerception(detector, config)
        frames(perception, empty, intrinsics, pose, home, [0.0, 0.1])
        detector.boxes = [box]
        outcomes[name] = frames(perception, depth, intrinsics, pose, home, [0.2])
    scene = outcomes["scene"]
    assert scene.rgb_boxes == (box,) and scene.intrusions == ()
    assert scene.humans == () and scene.rgb_on_scene == 1 and scene.rgb_on_robot == 0
    for name in ("no_depth_person", "person"):
        result = outcomes[name]
        assert result.rgb_on_scene == 0 and len(result.humans) == 1, name
        assert result.humans[0].source == SOURCE_RGB, name
    # a stricter setting keeps the scene box too (the valid share is 0.94 here)
    strict = HumanPerception(KnownBoxes([]), replace(config, scene_box_min_valid_fraction=0.99))
    frames(strict, empty, intrinsics, pose, home, [0.0, 0.1])
    strict.detector.boxes = [box]
    kept = frames(strict, empty, intrinsics, pose, home, [0.2])
    assert kept.rgb_on_scene == 0 and len(kept.humans) == 1
    with pytest.raises(ValueError, match="scene_box_min_valid_fraction"):
        PerceptionConfig(scene_box_min_valid_fraction=0.0)
