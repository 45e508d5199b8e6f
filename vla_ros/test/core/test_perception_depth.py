"""Depth channel on synthetic depth images: table, a box-shaped person, robot spheres."""

from __future__ import annotations

import math

import numpy as np
import perception_scene as ps
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_ros.core.perception.camera import CameraIntrinsics
from vla_ros.core.perception.depth_monitor import (
    BackgroundModel,
    DepthIntrusionDetector,
    DepthMonitorConfig,
    cluster_points,
)
from vla_ros.core.perception.detectors import PersonBox
from vla_ros.core.perception.geometry import (
    Box3,
    MonitoredVolume,
    RobotShapes,
    distance_to_robot,
    nearest_point_to_robot,
    self_filter_mask,
    voxel_lower_bounds,
)
from vla_ros.core.perception.lifting import LiftConfig, lift_box

VOLUME = MonitoredVolume(
    shape="cylinder", center_m=(0.0, 0.0, 0.2), size_m=(3.0, 3.0, 2.4), radius_m=1.6
)


def learned_monitor(config: DepthMonitorConfig, robot: RobotShapes, noise_m: float = 0.0):
    intrinsics, pose = ps.camera()
    monitor = DepthIntrusionDetector(config)
    scene = ps.Scene(boxes=ps.static_scene(), robot=robot)
    for i in range(config.background_frames):
        assert (
            monitor.update(
                scene.render(intrinsics, pose, noise_m, seed=i), intrinsics, pose, robot
            )
            == []
            or i < config.background_frames
        )
    assert monitor.background.ready
    return monitor, intrinsics, pose


def test_empty_cell_with_moved_robot_has_no_intrusion():
    """The robot moves after the background was learned: the self-filter must explain it."""
    config = DepthMonitorConfig(volume=VOLUME, background_frames=5)
    monitor, intrinsics, pose = learned_monitor(config, ps.robot_pose("home"))
    moved = ps.robot_pose("reach")
    depth = ps.Scene(boxes=ps.static_scene(), robot=moved).render(intrinsics, pose)
    assert monitor.update(depth, intrinsics, pose, moved) == []
    # without the self-filter the moved arm itself is an intrusion: the filter is what removed it
    unfiltered = monitor.update(depth, intrinsics, pose, RobotShapes())
    assert len(unfiltered) == 1
    assert np.linalg.norm(unfiltered[0].centroid_m - moved.sphere_centers_m.mean(axis=0)) < 0.3


@pytest.mark.parametrize("noise_m", [0.0, 0.01])
def test_person_is_one_intrusion_at_the_right_distance(noise_m):
    config = DepthMonitorConfig(volume=VOLUME, background_frames=5)
    robot = ps.robot_pose("reach")
    monitor, intrinsics, pose = learned_monitor(config, robot, noise_m)
    depth = ps.Scene(boxes=[*ps.static_scene(), ps.PERSON], robot=robot).render(
        intrinsics, pose, noise_m, seed=99
    )
    found = monitor.update(depth, intrinsics, pose, robot)
    assert len(found) == 1
    person = found[0]
    expected = ps.box_distance_to_robot(ps.PERSON, robot)
    # the visible face toward the robot is sampled at 2 px stride: a few cm of slack
    assert person.distance_to_robot_m == pytest.approx(expected, abs=0.05)
    assert ps.PERSON.contains(person.nearest_point_m[None], padding_m=0.05)[0]
    assert person.num_points > 100
    u0, v0, u1, v1 = person.pixel_box
    assert 0 <= u0 < u1 <= intrinsics.width_px and 0 <= v0 < v1 <= intrinsics.height_px


def test_static_scene_from_config_replaces_learning():
    static = (
        Box3(center_m=ps.TABLE.center_m, size_m=ps.TABLE.size_m),
        Box3(center_m=ps.FLOOR.center_m, size_m=ps.FLOOR.size_m),
    )
    config = DepthMonitorConfig(volume=VOLUME, background_frames=0, static_boxes=static)
    robot = ps.robot_pose("home")
    monitor = DepthIntrusionDetector(config)
    intrinsics, pose = ps.camera()
    assert monitor.background.ready
    empty = ps.Scene(boxes=ps.static_scene(), robot=robot).render(intrinsics, pose)
    assert monitor.update(empty, intrinsics, pose, robot) == []
    with_person = ps.Scene(boxes=[*ps.static_scene(), ps.PERSON], robot=robot).render(
        intrinsics, pose
    )
    found = monitor.update(with_person, intrinsics, pose, robot)
    assert len(found) == 1
    assert found[0].distance_to_robot_m == pytest.approx(
        ps.box_distance_to_robot(ps.PERSON, robot), abs=0.05
    )


def test_person_outside_the_volume_is_ignored():
    far = Box3(center_m=(0.45, -2.5, 0.1), size_m=(0.3, 0.3, 1.8))
    config = DepthMonitorConfig(volume=VOLUME, background_frames=3)
    robot = ps.robot_pose("home")
    monitor, intrinsics, pose = learned_monitor(config, robot)
    depth = ps.Scene(boxes=[*ps.static_scene(), far], robot=robot).render(intrinsics, pose)
    assert monitor.update(depth, intrinsics, pose, robot) == []


def test_two_people_are_two_clusters_sorted_by_distance():
    other = Box3(center_m=(0.9, 0.8, 0.1), size_m=(0.3, 0.3, 1.8))
    config = DepthMonitorConfig(volume=VOLUME, background_frames=3)
    robot = ps.robot_pose("home")
    monitor, intrinsics, pose = learned_monitor(config, robot)
    depth = ps.Scene(boxes=[*ps.static_scene(), ps.PERSON, other], robot=robot).render(
        intrinsics, pose
    )
    found = monitor.update(depth, intrinsics, pose, robot)
    assert len(found) == 2
    assert found[0].distance_to_robot_m <= found[1].distance_to_robot_m
    expected = sorted(ps.box_distance_to_robot(b, robot) for b in (ps.PERSON, other))
    assert [f.distance_to_robot_m for f in found] == pytest.approx(expected, abs=0.06)


def test_background_ignores_pixels_valid_in_few_frames_and_learns_median():
    model = BackgroundModel(num_frames=4)
    frames = [np.full((2, 2), 2.0, np.float32) for _ in range(4)]
    frames[0][0, 0] = 1.0  # one outlier: the median ignores it
    for f in frames[1:]:
        f[1, 1] = np.nan  # valid in 1 of 4 frames: unknown background
    for f in frames:
        model.add(f)
    assert model.ready
    assert model.depth_m[0, 0] == pytest.approx(2.0)
    assert math.isinf(model.depth_m[1, 1])
    fg = model.foreground(np.array([[1.5, 1.99], [2.5, 3.0]], np.float32), 0.05, 0.0)
    assert fg.tolist() == [[True, False], [False, True]]


def test_cluster_points_separates_and_drops_small():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 0.3, (200, 3))
    b = rng.uniform(0, 0.3, (150, 3)) + np.array([1.0, 0, 0])
    noise = np.array([[3.0, 3.0, 3.0], [3.02, 3.0, 3.0]])
    clusters = cluster_points(np.vstack([a, b, noise]), voxel_size_m=0.05, min_points=10)
    sizes = sorted(len(c) for c in clusters)
    assert sizes == [150, 200]


# ----------------------------------------------------------------------------- geometry


finite = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False)
point = st.tuples(finite, finite, finite)


@settings(max_examples=200, deadline=None)
@given(p=point, a=point, b=point, radius=st.floats(min_value=0.0, max_value=0.5))
def test_capsule_distance_matches_dense_sampling(p, a, b, radius):
    shapes = RobotShapes(
        capsule_starts_m=np.array([a]),
        capsule_ends_m=np.array([b]),
        capsule_radii_m=np.array([radius]),
    )
    samples = np.linspace(np.asarray(a), np.asarray(b), 2001)
    brute = float(np.min(np.linalg.norm(samples - np.asarray(p), axis=1))) - radius
    seg = np.linalg.norm(np.subtract(b, a))
    assert distance_to_robot(np.array([p]), shapes)[0] == pytest.approx(
        brute, abs=seg / 2000 + 1e-9
    )


@settings(max_examples=200, deadline=None)
@given(
    p=point,
    c=point,
    radius=st.floats(min_value=0.01, max_value=0.5),
    padding=st.floats(min_value=0.0, max_value=0.2),
)
def test_self_filter_keeps_exactly_points_beyond_padding(p, c, radius, padding):
    """Safety property: a point is dropped as 'robot' only if it lies within radius + padding."""
    shapes = RobotShapes(sphere_centers_m=np.array([c]), sphere_radii_m=np.array([radius]))
    dropped = bool(self_filter_mask(np.array([p]), shapes, padding)[0])
    gap = float(np.linalg.norm(np.subtract(p, c))) - radius - padding
    if abs(gap) > 1e-9:
        assert dropped == (gap < 0)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_points=st.integers(1, 400),
    n_spheres=st.integers(1, 20),
    cell=st.floats(min_value=0.005, max_value=0.3),
)
def test_voxel_bounds_are_lower_bounds_and_nearest_point_is_exact(seed, n_points, n_spheres, cell):
    """Safety property: the fast path never overestimates a distance or misses the nearest one."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-1.0, 1.0, (n_points, 3)) * rng.uniform(0.05, 2.0, 3)
    shapes = RobotShapes(
        sphere_centers_m=rng.uniform(-1.0, 1.0, (n_spheres, 3)),
        sphere_radii_m=rng.uniform(0.0, 0.2, n_spheres),
    )
    exact = distance_to_robot(pts, shapes)
    assert np.all(voxel_lower_bounds(pts, shapes, cell) <= exact + 1e-12)
    index, distance = nearest_point_to_robot(pts, shapes, cell)
    assert distance == pytest.approx(exact.min(), abs=1e-12)
    assert exact[index] == pytest.approx(exact.min(), abs=1e-12)


def test_no_shapes_means_unknown_distance_and_nothing_filtered():
    pts = np.zeros((3, 3))
    assert np.all(np.isinf(distance_to_robot(pts, RobotShapes())))
    assert not self_filter_mask(pts, RobotShapes(), 0.1).any()


def test_monitored_volume_shapes_and_yaml():
    cyl = MonitoredVolume.from_dict(
        {"shape": "cylinder", "center_m": [0, 0, 1], "radius_m": 1.0, "size_m": [2, 2, 2]}
    )
    pts = np.array([[0.9, 0, 1], [0.8, 0.8, 1], [0, 0, 2.1], [0, 0, 0.01]])
    assert cyl.contains(pts).tolist() == [True, False, False, True]
    box = MonitoredVolume.from_dict({"shape": "box", "center_m": [0, 0, 1], "size_m": [2, 2, 2]})
    assert box.contains(pts).tolist() == [True, True, False, True]
    with pytest.raises(ValueError, match="unknown"):
        MonitoredVolume.from_dict({"shape": "box", "centre": [0, 0, 0]})
    with pytest.raises(ValueError, match="shape"):
        MonitoredVolume(shape="cone")


# ----------------------------------------------------------------------------- lifting


def test_lift_box_finds_the_person_front_surface_not_the_floor():
    intrinsics, pose = ps.camera()
    robot = ps.robot_pose("home")
    depth = ps.Scene(boxes=[*ps.static_scene(), ps.PERSON], robot=robot).render(intrinsics, pose)
    person_mask = ~np.isnan(depth)
    # the person's pixels: render once without, once with the person
    without = ps.Scene(boxes=ps.static_scene(), robot=robot).render(intrinsics, pose)
    diff = np.abs(np.nan_to_num(depth, nan=99) - np.nan_to_num(without, nan=99)) > 0.01
    v, u = np.nonzero(diff & person_mask)
    # a generous box, as a detector would draw it, with floor and background around the person
    box = PersonBox(u.min() - 15.0, v.min() - 5.0, u.max() + 15.0, v.max() + 10.0, 0.9)
    lifted = lift_box(box, depth, intrinsics, LiftConfig())
    assert lifted is not None
    true_front = float(np.percentile(depth[diff], 10))
    assert lifted.front_depth_m == pytest.approx(true_front, abs=0.05)
    base_pts = lifted.points_m @ pose[:3, :3].T + pose[:3, 3]
    assert ps.PERSON.contains(base_pts, padding_m=0.05).mean() > 0.9


def test_lift_box_without_valid_depth_is_none():
    intrinsics = CameraIntrinsics.from_fov(64, 48, 1.0)
    depth = np.full((48, 64), np.nan, np.float32)
    assert lift_box(PersonBox(10, 10, 30, 40, 0.5), depth, intrinsics, LiftConfig()) is None
    with pytest.raises(ValueError, match="does not match"):
        lift_box(
            PersonBox(10, 10, 30, 40, 0.5), np.ones((10, 10), np.float32), intrinsics, LiftConfig()
        )
