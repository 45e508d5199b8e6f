"""Collision checking: hand-built scenes with known distances, self-collision of folded poses,
SRDF pairs honoured, padding, meshes, and pinocchio+coal vs python-fcl agreement."""

from __future__ import annotations

import math

import numpy as np
import pinocchio as pin
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from robot_descriptions import ROBOTS, robot_model, srdf_path, urdf_path
from safety_helpers import cold_gjk

from vla_ros.core.collision import (
    EmbeddedCollisionChecker,
    FclCollisionChecker,
    SceneObject,
    scene_from_list,
)
from vla_ros.core.robot_model import RobotModel
from vla_ros.core.srdf import parse_srdf

CHECKERS = (EmbeddedCollisionChecker, FclCollisionChecker)
# arm7 at q = 0 is a vertical column; link_2 is a cylinder r 0.055 over z 0.33..0.53.
LINK_2_RADIUS, LINK_2_Z = 0.055, 0.43


def _cube_obj(path, half):
    """A closed cube mesh as OBJ text (12 triangles)."""
    corners = [(x, y, z) for x in (-half, half) for y in (-half, half) for z in (-half, half)]
    faces = [
        (1, 3, 4), (1, 4, 2), (5, 6, 8), (5, 8, 7), (1, 2, 6), (1, 6, 5),
        (3, 7, 8), (3, 8, 4), (1, 5, 7), (1, 7, 3), (2, 4, 8), (2, 8, 6),
    ]  # fmt: skip
    lines = [f"v {x} {y} {z}" for x, y, z in corners] + [f"f {a} {b} {c}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("checker_cls", CHECKERS)
def test_sphere_next_to_link_has_the_hand_computed_distance(checker_cls):
    model = robot_model("arm7")
    checker = checker_cls(model)
    q = np.zeros(7)
    checker.set_scene([SceneObject("ball", "sphere", (0.05,), (0.3, 0.0, LINK_2_Z))])
    report = checker.check(q)
    expected = 0.3 - 0.05 - LINK_2_RADIUS
    assert not report.in_collision
    assert report.min_distance_m == pytest.approx(expected, abs=1e-6)
    assert report.min_scene_distance_m == pytest.approx(expected, abs=1e-6)
    assert report.closest_pair == ("ball", "link_2")
    assert report.colliding_pairs == ()
    assert report.min_self_distance_m > 0.0

    checker.set_scene([SceneObject("ball", "sphere", (0.05,), (0.1, 0.0, LINK_2_Z))])
    report = checker.check(q)
    assert report.in_collision
    assert report.min_distance_m == pytest.approx(0.1 - 0.05 - LINK_2_RADIUS, abs=1e-5)
    assert ("ball", "link_2") in report.colliding_pairs
    fast = checker.check(q, with_distance=False)
    assert fast.in_collision and fast.colliding_pairs == report.colliding_pairs
    assert fast.min_distance_m == 0.0


@pytest.mark.parametrize("checker_cls", CHECKERS)
def test_padding_counts_near_misses_as_collisions(checker_cls):
    model = robot_model("arm7")
    ball = SceneObject("ball", "sphere", (0.05,), (0.3, 0.0, LINK_2_Z))
    for padding, hit in ((0.0, False), (0.19, False), (0.2, True)):
        checker = checker_cls(model, padding_m=padding)
        checker.set_scene([ball])
        for with_distance in (True, False):
            report = checker.check(np.zeros(7), with_distance=with_distance)
            assert report.in_collision is hit, (padding, with_distance)
        # reported distances are the true ones, not reduced by the padding
        assert checker.check(np.zeros(7)).min_distance_m == pytest.approx(0.195, abs=1e-6)
    with pytest.raises(ValueError):
        checker_cls(model, padding_m=-0.01)


@pytest.mark.parametrize("checker_cls", CHECKERS)
def test_box_cylinder_and_orientation(checker_cls):
    model = robot_model("arm7")
    checker = checker_cls(model)
    q = np.zeros(7)
    # A 1 m long, thin bar centred 0.4 m away along x: along y it misses (0.4 - 0.01 -
    # 0.055 at link_2), turned 90 deg about z it reaches through the column.
    bar = {"name": "bar", "shape": "box", "dimensions": [0.02, 1.0, 0.02]}
    bar["position_m"] = [0.4, 0.0, LINK_2_Z]
    checker.set_scene(scene_from_list([bar]))
    assert checker.check(q).min_distance_m == pytest.approx(0.4 - 0.01 - LINK_2_RADIUS, abs=1e-6)
    turned = {**bar, "orientation_xyzw": [0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]}
    checker.set_scene(scene_from_list([turned]))
    assert ("bar", "link_2") in checker.check(q).colliding_pairs
    # A cylinder standing 0.5 m away (radius 0.1): 0.5 - 0.1 - 0.08 from the base (r 0.08)
    post = SceneObject("post", "cylinder", (0.1, 1.0), (0.0, 0.5, 0.5))
    checker.set_scene([post])
    report = checker.check(q)
    assert report.closest_pair == ("base_link", "post")
    assert report.min_distance_m == pytest.approx(0.5 - 0.1 - 0.08, abs=1e-6)


@pytest.mark.parametrize("checker_cls", CHECKERS)
def test_allowed_scene_contacts(checker_cls):
    model = robot_model("arm7")
    table = SceneObject("table", "box", (1.0, 1.0, 0.1), (0.0, 0.0, -0.049))
    strict = checker_cls(model)
    strict.set_scene([table])
    assert strict.check(np.zeros(7)).colliding_pairs == (("base_link", "table"),)
    lenient = checker_cls(model, allowed_scene_contacts=[("base_link", "table")])
    lenient.set_scene([table])
    report = lenient.check(np.zeros(7))
    assert not report.in_collision
    assert report.closest_pair == ("link_1", "table")  # base_link is no longer checked
    # the arm bent down through the table top still collides
    folded = lenient.check(np.array([0, 1.76, 0, 1.0, 0, 0, 0]))
    assert any("table" in pair for pair in folded.colliding_pairs)


@pytest.mark.parametrize("checker_cls", CHECKERS)
def test_mesh_objects(checker_cls, tmp_path):
    cube = _cube_obj(tmp_path / "cube.obj", 0.05)
    model = robot_model("arm7")
    checker = checker_cls(model)
    near = SceneObject("cube", "mesh", (), (0.0, 0.3, LINK_2_Z), mesh_path=str(cube))
    checker.set_scene([near])
    report = checker.check(np.zeros(7))
    assert not report.in_collision
    assert report.min_distance_m == pytest.approx(0.3 - 0.05 - LINK_2_RADIUS, abs=1e-4)
    scaled = SceneObject(
        "cube", "mesh", (6.0, 6.0, 6.0), (0.0, 0.3, LINK_2_Z), mesh_path=str(cube)
    )
    checker.set_scene([scaled])  # 0.6 m cube centred 0.3 m away: reaches the column
    assert ("cube", "link_2") in checker.check(np.zeros(7)).colliding_pairs
    # Regression: a mesh face through the link's axis (coal alone misses this contact).
    for y in (0.3, 0.3 + 1e-6, 0.31):
        through = SceneObject(
            "cube", "mesh", (6.0, 6.0, 6.0), (0.0, y, LINK_2_Z), mesh_path=str(cube)
        )
        checker.set_scene([through])
        for with_distance in (True, False):
            pairs = checker.check(np.zeros(7), with_distance=with_distance).colliding_pairs
            assert {("cube", f"link_{i}") for i in (1, 2, 3, 4)} <= set(pairs), (y, pairs)
    with pytest.raises(FileNotFoundError):
        checker.set_scene([SceneObject("m", "mesh", (), mesh_path=str(tmp_path / "no.stl"))])


@pytest.mark.parametrize("name", ROBOTS)
def test_folded_pose_self_collides_and_home_is_free(name):
    model = robot_model(name)
    folded = {
        "vla_arm6": np.array([0.0, 1.9, 2.6, 0.0, 2.1, 0.0]),
        "arm7": np.array([0.0, 1.76, 0.0, 2.6, 0.0, 0.0, 0.0]),
    }[name]
    disabled = parse_srdf(srdf_path(name)).disabled_link_pairs()
    for checker_cls in CHECKERS:
        checker = checker_cls(model)
        home = checker.check(model.named_state("home"))
        assert not home.in_collision
        assert home.min_self_distance_m > 0.05
        report = checker.check(folded)
        assert report.in_collision
        assert report.min_self_distance_m < 0.0
        assert any("base_link" in pair for pair in report.colliding_pairs)
        assert not {frozenset(p) for p in report.colliding_pairs} & disabled


@pytest.mark.parametrize("name", ROBOTS)
def test_srdf_disabled_pairs_are_honoured(name):
    """Adjacent links touch at their joints: without the SRDF that is a collision at home,
    with it the pairs are skipped. The pair set equals pinocchio's own SRDF filter."""
    bare = RobotModel.from_urdf(urdf_path(name))
    home = robot_model(name).named_state("home")
    touching = EmbeddedCollisionChecker(bare).check(home).colliding_pairs
    disabled = parse_srdf(srdf_path(name)).disabled_link_pairs()
    assert touching and all(frozenset(p) in disabled for p in touching)
    assert not EmbeddedCollisionChecker(robot_model(name)).check(home).in_collision

    reference = pin.buildGeomFromUrdf(
        bare.pin_model, str(urdf_path(name)), pin.COLLISION, package_dirs=[]
    )
    reference.addAllCollisionPairs()
    pin.removeCollisionPairs(bare.pin_model, reference, str(srdf_path(name)))
    ours = {(p.first, p.second) for p in robot_model(name).collision_model.collisionPairs}
    assert ours == {(p.first, p.second) for p in reference.collisionPairs}
    assert len(ours) < len(bare.collision_model.collisionPairs)


@pytest.mark.parametrize("name", ROBOTS)
def test_embedded_and_fcl_agree_on_random_states(name):
    """Property: same in_collision, same colliding pairs, distances within 1e-4 m, with a
    table, a box and a ball in the scene and the gripper anywhere in its range."""
    model = robot_model(name)
    scene = [
        SceneObject("table", "box", (1.2, 1.2, 0.04), (0.3, 0.0, -0.03)),
        SceneObject("crate", "box", (0.2, 0.3, 0.25), (0.45, 0.25, 0.125), (0, 0, 0.38, 0.92)),
        SceneObject("ball", "sphere", (0.08,), (0.35, -0.3, 0.5)),
        SceneObject("post", "cylinder", (0.05, 0.8), (-0.4, 0.2, 0.4)),
    ]
    embedded, fcl_checker = EmbeddedCollisionChecker(model), FclCollisionChecker(model)
    for checker in (embedded, fcl_checker):
        checker.set_scene(scene)
    lo, hi = model.limits.lower_rad, model.limits.upper_rad

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(
        fractions=st.lists(st.floats(0.0, 1.0), min_size=model.dof, max_size=model.dof),
        grip=st.floats(0.0, 1.0),
    )
    def run(fractions, grip):
        q = lo + np.array(fractions) * (hi - lo)
        gripper = model.gripper_limits.lower_rad + grip * (
            model.gripper_limits.upper_rad - model.gripper_limits.lower_rad
        )
        a = embedded.check(q, gripper=gripper)
        b = fcl_checker.check(q, gripper=gripper)
        if abs(a.min_distance_m) < 1e-6:
            return  # touching: the two libraries may legitimately round differently
        assert a.in_collision == b.in_collision
        assert a.colliding_pairs == b.colliding_pairs
        assert a.min_distance_m == pytest.approx(b.min_distance_m, abs=1e-3)
        if a.min_distance_m > 1e-3:
            assert a.closest_pair == b.closest_pair
        fast_a = embedded.check(q, gripper=gripper, with_distance=False)
        fast_b = fcl_checker.check(q, gripper=gripper, with_distance=False)
        assert fast_a.in_collision == fast_b.in_collision == a.in_collision

    run()


def test_scene_object_validation_and_round_trip():
    obj = SceneObject("crate", "box", (0.2, 0.3, 0.4), (1, 2, 3), (0, 0, 2, 0))
    assert obj.orientation_xyzw == (0.0, 0.0, 1.0, 0.0)  # normalised
    assert SceneObject.from_dict(obj.to_dict()) == obj
    np.testing.assert_allclose(obj.pose_matrix()[:3, :3], np.diag([-1.0, -1.0, 1.0]), atol=1e-12)
    bad = [
        {"name": "", "shape": "box", "dimensions": [1, 1, 1]},
        {"name": "a", "shape": "cone", "dimensions": [1]},
        {"name": "a", "shape": "box", "dimensions": [1, 1]},
        {"name": "a", "shape": "sphere", "dimensions": [-1]},
        {"name": "a", "shape": "sphere", "dimensions": [math.nan]},
        {"name": "a", "shape": "sphere", "dimensions": [1], "position_m": [0, math.inf, 0]},
        {"name": "a", "shape": "sphere", "dimensions": [1], "orientation_xyzw": [0, 0, 0, 0]},
        {"name": "a", "shape": "mesh"},
        {"name": "a", "shape": "sphere", "dimensions": [1], "colour": "red"},
        {"shape": "sphere", "dimensions": [1]},
    ]
    for entry in bad:
        with pytest.raises(ValueError):
            SceneObject.from_dict(entry)


@pytest.mark.parametrize("checker_cls", CHECKERS)
def test_checker_rejects_bad_input(checker_cls):
    model = robot_model("vla_arm6")
    checker = checker_cls(model)
    with pytest.raises(ValueError):
        checker.check(np.full(model.dof, np.nan))
    with pytest.raises(ValueError):
        checker.check(np.zeros(model.dof + 1))
    ball = SceneObject("ball", "sphere", (0.1,), (1, 1, 1))
    with pytest.raises(ValueError, match="duplicate"):
        checker.set_scene([ball, ball])
    with pytest.raises(ValueError, match="named like robot links"):
        checker.set_scene([SceneObject("link_2", "sphere", (0.1,), (1, 1, 1))])


PATH_SCENE = [
    SceneObject("table", "box", (1.2, 1.2, 0.04), (0.3, 0.0, -0.03)),
    SceneObject("crate", "box", (0.2, 0.3, 0.25), (0.45, 0.25, 0.125), (0, 0, 0.38, 0.92)),
    SceneObject("ball", "sphere", (0.08,), (0.35, -0.3, 0.5)),
    SceneObject("post", "cylinder", (0.05, 0.8), (-0.4, 0.2, 0.4)),
]


@pytest.mark.parametrize("padding", [0.0, 0.02])
@pytest.mark.parametrize("name", ROBOTS)
def test_path_query_agrees_with_state_distances(name, padding):
    """The path query's bounds are lower bounds of coal's distances (or <= 0 for pairs in
    contact); per state it finds check()'s collision pairs and every minimum within the
    limits; over states the exact smallest distance; frames as state_distances."""
    model = robot_model(name)
    checker = EmbeddedCollisionChecker(
        model, padding_m=padding, allowed_scene_contacts=[("base_link", "table")]
    )
    checker.set_scene(PATH_SCENE)
    cold_gjk(checker)
    frames = (model.tool_frame,)
    lo, hi = model.limits.lower_rad, model.limits.upper_rad
    rng = np.random.default_rng(11)
    n_self = len(checker._layout.self_pairs)
    seen = {"contact": 0, "near": 0, "far": 0}
    for _ in range(60):
        start = rng.uniform(lo, hi)
        states = np.clip(start + np.cumsum(rng.uniform(-0.08, 0.08, (8, model.dof)), 0), lo, hi)
        query = checker.path_query(states, frames)
        assert query is not None
        exact = []
        for index, q in enumerate(states):
            expected = checker.state_distances(q, frames)
            # every pair's distance, from the (independent) full report path
            checker._update_placements(model.full_configuration(q))
            checker._distance_passes()
            distances = np.array(
                [
                    (checker._self_data if i < n_self else checker._scene_data)
                    .distanceResults[i]
                    .min_distance
                    for i in range(len(checker._pairs))
                ]
            )
            bounds = query._bounds[index]
            assert (bounds[distances > 0] <= distances[distances > 0]).all()
            assert (bounds[distances <= 0] <= 0).all()
            self_min, scene_min, pairs = query.minima(index, 0.03, 0.1)
            self_limit, scene_limit = max(0.03, padding), max(0.1, padding)
            s, c = expected.min_self_distance_m, expected.min_scene_distance_m
            assert self_min == (s if s <= self_limit else math.inf)
            assert scene_min == (c if c <= scene_limit else math.inf)
            assert pairs == expected.colliding_pairs
            assert query.frame_positions(index) == expected.frame_positions
            exact.append(min(s, c))
            seen["contact" if pairs else "near" if min(s, c) <= 0.1 else "far"] += 1
        count = int(rng.integers(1, 9))
        assert query.min_distance(count) == min(exact[:count])
    assert min(seen.values()) > 0, seen  # the paths covered contact, near and free states


def test_path_query_needs_supported_kinematics(monkeypatch):
    """Without batched kinematics for the model the checker offers no path query (the gate
    then checks state by state)."""
    import vla_ros.core.collision as collision

    def unsupported(self, robot):
        raise ValueError("not a 1-DoF R or P joint")

    monkeypatch.setattr(collision._ArmKinematics, "__init__", unsupported)
    checker = EmbeddedCollisionChecker(robot_model("arm7"))
    checker.set_scene(PATH_SCENE)
    assert checker.path_query(np.zeros((3, 7))) is None


@pytest.mark.parametrize("name", ROBOTS)
def test_full_configurations_match_one_by_one(name):
    model = robot_model(name)
    rng = np.random.default_rng(3)
    qs = np.array([model.random_configuration(rng) for _ in range(5)])
    batch = model.full_configurations(qs)
    for q, row in zip(qs, batch, strict=True):
        assert np.array_equal(row, model.full_configuration(q))
    with pytest.raises(ValueError):
        model.full_configurations(np.zeros(model.dof))
    with pytest.raises(ValueError):
        model.full_configurations(np.full((2, model.dof), np.nan))
