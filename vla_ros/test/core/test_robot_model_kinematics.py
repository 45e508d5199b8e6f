"""RobotModel: FK against hand-computed and independently computed poses, Jacobians against
finite differences, IK round trips, mimic fingers and link points, on both descriptions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from robot_descriptions import ROBOTS, robot_model, urdf_fk, urdf_path

from vla_ros.core.robot_model import RobotModel


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _log3(rotation: np.ndarray) -> np.ndarray:
    angle = math.acos(max(-1.0, min(1.0, (np.trace(rotation) - 1) / 2)))
    if angle < 1e-12:
        return np.zeros(3)
    vee = np.array(
        [
            rotation[2, 1] - rotation[1, 2],
            rotation[0, 2] - rotation[2, 0],
            rotation[1, 0] - rotation[0, 1],
        ]
    )
    return vee * angle / (2 * math.sin(angle))


def q_strategy(model: RobotModel) -> st.SearchStrategy[np.ndarray]:
    lo, hi = model.limits.lower_rad, model.limits.upper_rad
    return st.tuples(
        *[st.floats(float(a), float(b), allow_nan=False) for a, b in zip(lo, hi, strict=True)]
    ).map(np.array)


def test_arm7_fk_matches_hand_computed_poses():
    """arm7 joint offsets: 0.15 + 0.18 to joint_2, then 0.2 + 0.2 + 0.2 + 0.18 + 0.1 + 0.05
    + 0.095 to tool0 (1.025 m above joint_2)."""
    model = robot_model("arm7")
    straight = model.fk(np.zeros(7))
    np.testing.assert_allclose(straight[:3, 3], [0, 0, 1.355], atol=1e-12)
    np.testing.assert_allclose(straight[:3, :3], np.eye(3), atol=1e-12)

    # joint_2 at +90 deg tips the arm about y onto +x, tool pointing along +x.
    bent = model.fk(np.array([0, math.pi / 2, 0, 0, 0, 0, 0]))
    np.testing.assert_allclose(bent[:3, 3], [1.025, 0, 0.33], atol=1e-12)
    np.testing.assert_allclose(bent[:3, :3], _rot_y(math.pi / 2), atol=1e-12)

    # joint_1 at +90 deg turns that onto +y; after 0.4 m (link_2 + link_3) joint_4 at -90 deg
    # points the remaining 0.625 m (joint_4 to tool0) straight back up.
    q = np.array([math.pi / 2, math.pi / 2, 0, -math.pi / 2, 0, 0, 0])
    pose = model.fk(q)
    np.testing.assert_allclose(pose[:3, 3], [0, 0.4, 0.33 + 0.625], atol=1e-12)
    np.testing.assert_allclose(pose[:3, :3], _rot_z(math.pi / 2), atol=1e-12)

    # link frames: link_3 sits 0.2 above joint_2 along the tipped arm
    np.testing.assert_allclose(
        model.fk(np.array([0, math.pi / 2, 0, 0, 0, 0, 0]), "link_3")[:3, 3],
        [0.2, 0, 0.33],
        atol=1e-12,
    )


@pytest.mark.parametrize("name", ROBOTS)
def test_fk_matches_independent_urdf_chain(name):
    """Every link of both descriptions, random states: pinocchio vs the numpy URDF walker."""
    model = robot_model(name)
    rng = np.random.default_rng(7)
    links = [f.name for f in model.pin_model.frames if f.type.name == "BODY"]
    for _ in range(20):
        q = model.random_configuration(rng)
        gripper = model.random_gripper(rng)
        positions = dict(zip(model.joint_names, q, strict=True))
        positions.update(zip(model.gripper_joint_names, gripper, strict=True))
        for link in links:
            expected = urdf_fk(urdf_path(name), positions, link)
            np.testing.assert_allclose(
                model.fk(q, link, gripper=gripper), expected, atol=1e-9, err_msg=link
            )


@pytest.mark.parametrize("name", ROBOTS)
def test_mimic_finger_mirrors_the_actuated_finger(name):
    model = robot_model(name)
    assert len(model.gripper_joint_names) == 1, "mimic joints must not count as actuated"
    leader = model.pin_model.frames[model.pin_model.getFrameId(model.gripper_joint_names[0])]
    frames = [f.name for f in model.pin_model.frames if f.parentJoint == leader.parentJoint]
    child_link = next(f for f in frames if f != model.gripper_joint_names[0])
    mirror = next(
        f.name
        for f in model.pin_model.frames
        if f.type.name == "BODY"
        and f.name != child_link
        and "finger" in f.name
        and f.parentJoint != 0
    )
    q = model.named_state("home")
    closed = model.fk(q, child_link, gripper=[0.0])[:3, 3]
    open_ = model.fk(q, child_link, gripper=[0.03])[:3, 3]
    mirror_closed = model.fk(q, mirror, gripper=[0.0])[:3, 3]
    mirror_open = model.fk(q, mirror, gripper=[0.03])[:3, 3]
    np.testing.assert_allclose(np.linalg.norm(open_ - closed), 0.03, atol=1e-12)
    np.testing.assert_allclose(mirror_open - mirror_closed, -(open_ - closed), atol=1e-12)


@pytest.mark.parametrize("name", ROBOTS)
def test_jacobian_matches_finite_differences(name):
    model = robot_model(name)
    rng = np.random.default_rng(3)
    step = 1e-6
    for frame in (None, "link_3"):
        for _ in range(10):
            q = model.random_configuration(rng)
            jac = model.jacobian(q, frame)
            assert jac.shape == (6, model.dof)
            numeric = np.zeros_like(jac)
            for i in range(model.dof):
                dq = np.zeros(model.dof)
                dq[i] = step
                plus, minus = model.fk(q + dq, frame), model.fk(q - dq, frame)
                numeric[:3, i] = (plus[:3, 3] - minus[:3, 3]) / (2 * step)
                numeric[3:, i] = _log3(plus[:3, :3] @ minus[:3, :3].T) / (2 * step)
            np.testing.assert_allclose(jac, numeric, atol=1e-6)


@pytest.mark.parametrize("name", ROBOTS)
def test_ik_round_trip_from_nearby_seed(name):
    """Property: for any state within limits, IK from a seed up to 0.3 rad away reaches the
    pose it produced, within tolerance, and stays within the joint bounds."""
    model = robot_model(name)

    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(q=q_strategy(model), noise=st.lists(st.floats(-0.3, 0.3), min_size=7, max_size=7))
    def run(q, noise):
        target = model.fk(q)
        seed = model.limits.clip(q + np.array(noise[: model.dof]))
        solution, ok = model.ik(target, seed, restarts=4, rng=np.random.default_rng(0))
        assert ok
        assert model.limits.contains(solution)
        reached = model.fk(solution)
        assert np.linalg.norm(reached[:3, 3] - target[:3, 3]) <= 1e-3
        assert np.linalg.norm(_log3(reached[:3, :3] @ target[:3, :3].T)) <= 1e-2

    run()


@pytest.mark.parametrize("name", ROBOTS)
def test_ik_with_restarts_solves_random_reachable_poses(name):
    model = robot_model(name)
    rng = np.random.default_rng(11)
    solved = 0
    for _ in range(20):
        target = model.fk(model.random_configuration(rng))
        solution, ok = model.ik(target, model.named_state("home"), restarts=10, rng=rng)
        if ok:
            solved += 1
            np.testing.assert_allclose(model.fk(solution)[:3, 3], target[:3, 3], atol=1e-3)
    assert solved >= 19


@pytest.mark.parametrize("name", ROBOTS)
def test_ik_reports_failure_for_unreachable_pose(name):
    model = robot_model(name)
    target = np.eye(4)
    target[:3, 3] = [3.0, 0.0, 0.5]  # beyond either arm's reach
    home = model.named_state("home")
    solution, ok = model.ik(target, home, restarts=2, max_iterations=50)
    assert not ok
    assert model.limits.contains(solution)
    with pytest.raises(ValueError):
        model.ik(np.full((4, 4), np.nan), home)
    with pytest.raises(ValueError):
        model.ik(np.diag([2.0, 1.0, 1.0, 1.0]), home)


@pytest.mark.parametrize("name", ROBOTS)
def test_malformed_states_raise_value_error(name):
    model = robot_model(name)
    good = model.named_state("home")
    for bad in (
        good[:-1],
        np.append(good, 0.0),
        np.where(np.arange(model.dof) == 1, np.nan, good),
    ):
        with pytest.raises(ValueError):
            model.fk(bad)
    with pytest.raises(ValueError):
        model.fk(good, gripper=[np.inf])
    with pytest.raises(ValueError):
        model.fk(good, "no_such_frame")


@pytest.mark.parametrize("name", ROBOTS)
def test_link_points_move_rigidly_with_their_links(name):
    model = robot_model(name)
    rng = np.random.default_rng(5)
    zero = np.zeros(model.dof)
    points0 = model.link_points(zero)
    assert points0.shape == (len(model.link_point_links), 3)
    assert model.link_point_radii_m.shape == (points0.shape[0],)
    assert set(model.link_point_links) >= {"base_link", "link_1", "link_2", "link_3"}
    for _ in range(5):
        q = model.random_configuration(rng)
        points = model.link_points(q)
        for link in set(model.link_point_links):
            mask = np.array([owner == link for owner in model.link_point_links])
            moved = model.fk(q, link) @ np.linalg.inv(model.fk(zero, link))
            expected = points0[mask] @ moved[:3, :3].T + moved[:3, 3]
            np.testing.assert_allclose(points[mask], expected, atol=1e-9, err_msg=link)


def test_link_point_spheres_cover_the_collision_shapes():
    """arm7 at zero: sampled surface points of link_2's cylinder (r 0.055, z 0.33..0.53) and
    of the hand box lie inside a covering sphere of their own link."""
    model = robot_model("arm7")
    points, radii = model.link_points(np.zeros(7)), model.link_point_radii_m
    links = np.array(model.link_point_links)
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * math.pi, 500)
    cylinder = np.column_stack(
        (0.055 * np.cos(angle), 0.055 * np.sin(angle), rng.uniform(0.33, 0.53, 500))
    )
    hand_z0 = 1.355 - 0.095  # tool0 is 0.095 above the hand frame
    box = rng.uniform([-0.03, -0.08, hand_z0], [0.03, 0.08, hand_z0 + 0.05], (500, 3))
    for link, surface in (("link_2", cylinder), ("hand", box)):
        own, own_r = points[links == link], radii[links == link]
        gaps = np.linalg.norm(surface[:, None, :] - own[None, :, :], axis=2) - own_r[None, :]
        assert (gaps.min(axis=1) <= 1e-9).all(), link


def test_clone_has_independent_data():
    model = robot_model("arm7")
    twin = model.clone()
    q = np.array([0.3, -0.4, 0.2, -1.2, 0.1, 0.9, 0.0])
    np.testing.assert_array_equal(twin.fk(q), model.fk(q))
    assert twin._data is not model._data
    assert twin.joint_names == model.joint_names
    with pytest.raises(ValueError):
        model.default_gripper[0] = 1.0  # shared defaults are read-only
