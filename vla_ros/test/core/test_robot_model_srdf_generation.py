"""SRDF generation (MoveIt setup-assistant rules), the committed SRDFs, and SRDF I/O."""

from __future__ import annotations

import numpy as np
import pytest
from robot_descriptions import ROBOTS, robot_model, srdf_path, urdf_path

from vla_ros.core.collision import EmbeddedCollisionChecker
from vla_ros.core.robot_model import RobotModel
from vla_ros.core.srdf import parse_srdf, parse_srdf_string, srdf_to_string
from vla_ros.core.srdf_generation import SrdfGenerationConfig, generate_srdf
from vla_ros.tools.generate_srdf import main as generate_srdf_main

# base_link -> (revolute) link_a [no geometry] -> (revolute) link_b -> (fixed) link_c
# -> (revolute) link_d; link_e hangs from link_b inside the base box at the default state.
SYNTHETIC_URDF = """<?xml version="1.0"?>
<robot name="synthetic">
  <link name="base_link">
    <collision><origin xyz="0 0 0.1"/><geometry><box size="0.2 0.2 0.2"/></geometry></collision>
  </link>
  <link name="link_a"/>
  <link name="link_b">
    <collision><origin xyz="0 0 0.15"/>
      <geometry><cylinder radius="0.03" length="0.3"/></geometry></collision>
  </link>
  <link name="link_c">
    <collision><geometry><sphere radius="0.05"/></geometry></collision>
  </link>
  <link name="link_d">
    <collision><origin xyz="0 0 0.1"/><geometry><box size="0.04 0.04 0.2"/></geometry></collision>
  </link>
  <link name="link_e">
    <collision><geometry><sphere radius="0.03"/></geometry></collision>
  </link>
  <link name="tool0"/>
  <joint name="joint_a" type="revolute"><parent link="base_link"/><child link="link_a"/>
    <origin xyz="0 0 0.2"/><axis xyz="0 0 1"/>
    <limit lower="-3" upper="3" velocity="1" effort="1"/></joint>
  <joint name="joint_b" type="revolute"><parent link="link_a"/><child link="link_b"/>
    <axis xyz="0 1 0"/>
    <limit lower="-0.5" upper="0.5" velocity="1" effort="1"/></joint>
  <joint name="joint_c" type="fixed"><parent link="link_b"/><child link="link_c"/>
    <origin xyz="0 0 0.3"/></joint>
  <joint name="joint_d" type="revolute"><parent link="link_c"/><child link="link_d"/>
    <origin xyz="0 0 0.05"/><axis xyz="0 1 0"/>
    <limit lower="-1" upper="1" velocity="1" effort="1"/></joint>
  <joint name="joint_e" type="revolute"><parent link="link_b"/><child link="link_e"/>
    <origin xyz="0 0 -0.15"/><axis xyz="0 0 1"/>
    <limit lower="-1" upper="1" velocity="1" effort="1"/></joint>
  <joint name="tool_joint" type="fixed"><parent link="link_d"/><child link="tool0"/>
    <origin xyz="0 0 0.2"/></joint>
</robot>
"""


def _reasons(srdf) -> dict[frozenset[str], str]:
    return {p.key(): p.reason for p in srdf.disabled_collisions}


def test_setup_assistant_rules_on_a_synthetic_robot(tmp_path):
    urdf = tmp_path / "synthetic.urdf"
    urdf.write_text(SYNTHETIC_URDF)
    result = generate_srdf(urdf, SrdfGenerationConfig(tip_link="tool0", num_samples=500))
    reasons = _reasons(result.srdf)
    assert (
        reasons[frozenset(("base_link", "link_b"))] == "Adjacent"
    )  # through geometry-less link_a
    assert reasons[frozenset(("link_b", "link_c"))] == "Adjacent"  # fixed joint
    assert reasons[frozenset(("link_c", "link_d"))] == "Adjacent"  # joint
    assert reasons[frozenset(("link_b", "link_e"))] == "Adjacent"
    assert reasons[frozenset(("base_link", "link_e"))] == "Default"  # inside the base at 0
    assert reasons[frozenset(("base_link", "link_d"))] == "Never"  # joint_b within +-0.5 rad
    assert "link_a" not in {n for key in reasons for n in key}  # no geometry, nothing to skip
    # the arm chain, the rest as gripper group ("joint_e" hangs off the chain)
    arm = result.srdf.group("arm")
    assert arm.chains == (("base_link", "tool0"),)
    assert result.srdf.group("gripper").joints == ("joint_e",)
    assert result.srdf.group_states["arm"]["home"] == {
        "joint_a": 0.0,
        "joint_b": 0.0,
        "joint_d": 0.0,
    }
    assert result.counts()["Adjacent"] == 4
    # link_e stays inside the base box at home, but that pair is disabled (Default)
    assert result.home_in_collision == ()


@pytest.mark.parametrize("name", ROBOTS)
def test_committed_srdf_matches_a_fresh_generation(name):
    """Fails when a URDF changed without regenerating its SRDF (see the SRDF's header)."""
    committed = parse_srdf(srdf_path(name))
    fresh = generate_srdf(urdf_path(name), SrdfGenerationConfig(num_samples=10000, seed=0))
    assert _reasons(fresh.srdf) == _reasons(committed)
    assert committed.group("arm").chains == (("base_link", "tool0"),)
    assert robot_model(name).gripper_joint_names  # the gripper group resolves


@pytest.mark.parametrize("name", ROBOTS)
def test_never_pairs_do_not_collide_on_fresh_samples(name):
    """The 'Never' verdict is statistical; a fresh seed must not find a counter-example."""
    bare = RobotModel.from_urdf(urdf_path(name))
    never = {
        p.key() for p in parse_srdf(srdf_path(name)).disabled_collisions if p.reason == "Never"
    }
    checker = EmbeddedCollisionChecker(bare)
    rng = np.random.default_rng(12345)
    for _ in range(2000):
        report = checker.check(
            bare.random_configuration(rng), gripper=bare.random_gripper(rng), with_distance=False
        )
        assert not {frozenset(p) for p in report.colliding_pairs} & never


def test_cli_writes_groups_states_and_reports_a_colliding_home(tmp_path, capsys):
    out = tmp_path / "arm7.srdf"
    status = generate_srdf_main(
        [
            str(urdf_path("arm7")),
            "-o",
            str(out),
            "--samples",
            "300",
            "--home",
            "joint_4=-1.5",
            "--gripper-state",
            "open:gripper_finger_joint=0.04",
        ]
    )
    assert status == 0
    srdf = parse_srdf(out)
    assert srdf.robot_name == "arm7"
    assert srdf.group("gripper").joints == ("gripper_finger_joint", "gripper_finger_joint_mirror")
    assert srdf.group_states["arm"]["home"]["joint_4"] == -1.5
    assert srdf.group_states["gripper"]["open"] == {"gripper_finger_joint": 0.04}
    assert srdf.end_effectors[0].parent_link == "tool0"
    assert "home joint_4=-1.5" in out.read_text()
    assert "300 samples" in capsys.readouterr().err

    folded = ["--home", "joint_2=1.76", "--home", "joint_4=2.6", "--samples", "3000"]
    assert generate_srdf_main([str(urdf_path("arm7")), "-o", str(out), *folded]) == 1
    with pytest.raises(ValueError, match="outside"):
        generate_srdf_main([str(urdf_path("arm7")), "--home", "joint_2=3.0", "--samples", "10"])
    with pytest.raises(ValueError, match="outside the arm chain"):
        generate_srdf_main([str(urdf_path("arm7")), "--home", "joint_9=0", "--samples", "10"])
    with pytest.raises(ValueError, match="ancestor"):
        generate_srdf_main(
            [
                str(urdf_path("arm7")),
                "--base-link",
                "hand",
                "--tip-link",
                "link_3",
                "--samples",
                "10",
            ]
        )


@pytest.mark.parametrize("name", ROBOTS)
def test_srdf_text_round_trip(name):
    srdf = parse_srdf(srdf_path(name))
    assert parse_srdf_string(srdf_to_string(srdf)) == srdf
    with pytest.raises(ValueError):
        srdf_to_string(srdf, header_comment="made with --samples")
    with pytest.raises(ValueError):
        parse_srdf_string("<robot><group/></robot>")  # group without a name
    with pytest.raises(ValueError):
        parse_srdf_string("<robot name='x'")
