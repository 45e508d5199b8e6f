"""Descriptions that differ from the two shipped ones: a base frame that is not the URDF root
(mounted, rotated) and a continuous joint. Results must equal the plain arm7's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from robot_descriptions import robot_model, srdf_path, urdf_path

from vla_ros.core.collision import EmbeddedCollisionChecker, FclCollisionChecker, SceneObject
from vla_ros.core.robot_model import RobotModel

MOUNT = """  <link name="world"/>
  <joint name="world_joint" type="fixed">
    <parent link="world"/>
    <child link="base_link"/>
    <origin xyz="0.5 0.2 0.8" rpy="0.3 -0.2 1.2"/>
  </joint>
</robot>"""


@pytest.fixture(scope="module")
def mounted(tmp_path_factory) -> RobotModel:
    text = urdf_path("arm7").read_text().replace("</robot>", MOUNT)
    path = tmp_path_factory.mktemp("mounted") / "arm7_mounted.urdf"
    path.write_text(text)
    return RobotModel.from_urdf(path, srdf_path("arm7"))


def test_mounted_arm_works_in_its_base_frame(mounted):
    plain = robot_model("arm7")
    assert mounted.base_frame == "base_link"
    assert not np.allclose(mounted.base_pose_in_root(), np.eye(4))
    rng = np.random.default_rng(2)
    for _ in range(10):
        q = plain.random_configuration(rng)
        np.testing.assert_allclose(mounted.fk(q), plain.fk(q), atol=1e-12)
        np.testing.assert_allclose(mounted.fk(q, "link_4"), plain.fk(q, "link_4"), atol=1e-12)
        np.testing.assert_allclose(mounted.jacobian(q), plain.jacobian(q), atol=1e-12)
        np.testing.assert_allclose(mounted.link_points(q), plain.link_points(q), atol=1e-12)
    target = plain.fk(plain.named_state("home") + 0.2)
    solution, ok = mounted.ik(target, plain.named_state("home"))
    assert ok
    np.testing.assert_allclose(plain.fk(solution)[:3, 3], target[:3, 3], atol=1e-3)


@pytest.mark.parametrize("checker_cls", [EmbeddedCollisionChecker, FclCollisionChecker])
def test_scene_objects_are_placed_in_the_base_frame(mounted, checker_cls):
    plain = robot_model("arm7")
    scene = [
        SceneObject("ball", "sphere", (0.05,), (0.3, 0.0, 0.43)),
        SceneObject("crate", "box", (0.2, 0.2, 0.2), (-0.2, 0.3, 0.8), (0.1, 0.2, 0.3, 0.9)),
    ]
    a, b = checker_cls(mounted), checker_cls(plain)
    a.set_scene(scene)
    b.set_scene(scene)
    rng = np.random.default_rng(4)
    for _ in range(30):
        q = plain.random_configuration(rng)
        ra, rb = a.check(q), b.check(q)
        assert ra.colliding_pairs == rb.colliding_pairs
        assert ra.min_distance_m == pytest.approx(rb.min_distance_m, abs=1e-4)  # GJK tolerance


def test_continuous_joint(tmp_path):
    text = urdf_path("arm7").read_text()
    start = text.index('<joint name="joint_7" type="revolute">')
    end = text.index("</joint>", start)
    joint = text[start:end].replace('type="revolute"', 'type="continuous"')
    joint = joint.replace('lower="-2.90" upper="2.90" ', "")
    path = tmp_path / "arm7_continuous.urdf"
    path.write_text(text[:start] + joint + text[end:])
    model = RobotModel.from_urdf(path, srdf_path("arm7"))
    plain = robot_model("arm7")
    assert model.joint_names == plain.joint_names
    assert model.limits.lower_rad[6] == -math.inf and model.limits.upper_rad[6] == math.inf
    assert model.limits.velocity_rad_s[6] == 3.0
    rng = np.random.default_rng(8)
    for _ in range(10):
        q = plain.random_configuration(rng)
        np.testing.assert_allclose(model.fk(q), plain.fk(q), atol=1e-12)
        np.testing.assert_allclose(model.jacobian(q), plain.jacobian(q), atol=1e-12)
    q = plain.named_state("home")
    q[6] = 4.0  # beyond the revolute range: fine for a continuous joint
    wrapped = q.copy()
    wrapped[6] -= 2 * math.pi
    np.testing.assert_allclose(model.fk(q), model.fk(wrapped), atol=1e-12)
    solution, ok = model.ik(model.fk(q), plain.named_state("home"))
    assert ok
    np.testing.assert_allclose(model.fk(solution), model.fk(q), atol=2e-2)
    assert not EmbeddedCollisionChecker(model).check(plain.named_state("home")).in_collision
