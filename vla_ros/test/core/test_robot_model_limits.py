"""Joint limits (URDF values, YAML overrides where the stricter wins), named states, groups
without an SRDF, and the per-robot YAML configs."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from robot_descriptions import ROBOTS, robot_config, robot_model, srdf_path, urdf_path

from vla_ros.core.robot_config import RobotConfig, load_robot
from vla_ros.core.robot_model import JointLimits, RobotModel


def _urdf_limits(name: str) -> dict[str, dict[str, float]]:
    root = ET.parse(urdf_path(name)).getroot()
    out = {}
    for joint in root.findall("joint"):
        limit = joint.find("limit")
        if limit is not None and joint.find("mimic") is None:
            out[joint.get("name")] = {k: float(v) for k, v in limit.attrib.items()}
    return out


@pytest.mark.parametrize("name", ROBOTS)
def test_limits_come_from_the_urdf_and_yaml(name):
    model, config = robot_model(name), robot_config(name)
    urdf = _urdf_limits(name)
    assert model.limits.names == model.joint_names
    for i, joint in enumerate(model.joint_names):
        override = config.joint_limits.get(joint, {})
        assert model.limits.lower_rad[i] == urdf[joint]["lower"]
        assert model.limits.upper_rad[i] == urdf[joint]["upper"]
        assert model.limits.velocity_rad_s[i] == min(
            urdf[joint]["velocity"], override.get("velocity_rad_s", math.inf)
        )
        assert model.limits.effort_nm[i] == urdf[joint]["effort"]
        # URDF has no acceleration/jerk: exactly the YAML values, inf where absent
        assert model.limits.acceleration_rad_s2[i] == override.get("acceleration_rad_s2", math.inf)
        assert model.limits.jerk_rad_s3[i] == override.get("jerk_rad_s3", math.inf)
    gripper = config.gripper_joint
    assert model.gripper_limits.upper_rad[0] == urdf[gripper]["upper"]
    assert (
        model.gripper_limits.acceleration_rad_s2[0]
        == config.joint_limits[gripper]["acceleration_rad_s2"]
    )


def test_override_can_tighten_but_never_widen():
    model = RobotModel.from_urdf(
        urdf_path("arm7"),
        srdf_path("arm7"),
        limits_override={
            "joint_1": {"lower_rad": -1.0, "upper_rad": 5.0, "velocity_rad_s": 9.0},
            "joint_2": {"lower_rad": -9.0, "upper_rad": 1.0, "velocity_rad_s": 0.5},
            "joint_3": {"jerk_rad_s3": 30.0},
        },
    )
    lim = model.limits
    assert (lim.lower_rad[0], lim.upper_rad[0], lim.velocity_rad_s[0]) == (-1.0, 2.9, 2.0)
    assert (lim.lower_rad[1], lim.upper_rad[1], lim.velocity_rad_s[1]) == (-1.76, 1.0, 0.5)
    assert lim.jerk_rad_s3[2] == 30.0
    assert np.isinf(lim.jerk_rad_s3[[0, 1, 3, 4, 5, 6]]).all()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    urdf=st.floats(0.1, 10.0),
    yaml_value=st.floats(0.1, 10.0),
    field=st.sampled_from(["velocity_rad_s", "effort_nm", "acceleration_rad_s2", "jerk_rad_s3"]),
)
def test_merge_takes_the_stricter_value(urdf, yaml_value, field):
    base = JointLimits(
        ("a",), [-1.0], [1.0], [urdf], [urdf], [urdf], [urdf]
    )  # every rate field equal to the URDF value
    merged = base.merged({"a": {field: yaml_value}})
    assert getattr(merged, field)[0] == min(urdf, yaml_value)
    assert merged.lower_rad[0] == -1.0 and merged.upper_rad[0] == 1.0


def test_bad_overrides_and_limits_are_rejected():
    base = robot_model("arm7").limits
    with pytest.raises(ValueError, match="unknown joint"):
        base.merged({"joint_99": {"velocity_rad_s": 1.0}})
    with pytest.raises(ValueError, match="unknown limit field"):
        base.merged({"joint_1": {"max_velocity": 1.0}})
    with pytest.raises(ValueError):
        base.merged({"joint_1": {"lower_rad": 2.95}})  # above the URDF upper bound
    with pytest.raises(ValueError):
        JointLimits(("a",), [0.0], [1.0], [0.0], [1.0], [1.0], [1.0])  # zero velocity
    with pytest.raises(ValueError):
        JointLimits(("a", "b"), [0.0], [1.0], [1.0], [1.0], [1.0], [1.0])  # wrong length
    with pytest.raises(ValueError, match="not in the groups"):
        RobotModel.from_urdf(urdf_path("arm7"), limits_override={"joint_9": {"jerk_rad_s3": 1}})


def test_limit_arrays_are_read_only():
    limits = robot_model("arm7").limits
    with pytest.raises(ValueError):
        limits.upper_rad[0] = 10.0


@pytest.mark.parametrize("name", ROBOTS)
def test_acceleration_capability_is_what_the_efforts_allow(name):
    import pinocchio as pin

    model = robot_model(name)
    rng = np.random.default_rng(3)
    data = model.pin_model.createData()
    arm_v = [
        model.pin_model.joints[model.pin_model.getJointId(j)].idx_v for j in model.joint_names
    ]
    for _ in range(20):
        q = model.random_configuration(rng)
        capability = model.acceleration_capability(q)
        assert np.all(np.isfinite(capability)) and np.all(capability > 0)
        qf = model.full_configuration(q)
        gravity = pin.computeGeneralizedGravity(model.pin_model, data, qf)[arm_v]
        for i, a in enumerate(capability):
            # inverse dynamics (independent of the crba formula): torques to accelerate joint
            # i alone by a from rest, gravity included
            acc = np.zeros(model.pin_model.nv)
            acc[arm_v[i]] = a
            tau = pin.rnea(model.pin_model, data, qf, np.zeros(model.pin_model.nv), acc)[arm_v]
            assert np.all(np.abs(tau) <= model.limits.effort_nm + 1e-6)
            # tight: one joint's effort is used up (gravity and inertia counted apart)
            inertial = np.abs(tau - gravity)
            used = (np.abs(gravity) + inertial) / model.limits.effort_nm
            assert used.max() == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("name", ROBOTS)
def test_declared_accelerations_leave_a_margin_below_what_the_efforts_allow(name):
    # the robot's YAML declares acceleration limits for the safety filter; the arm must be
    # able to follow them everywhere in its range, with a payload and model error to spare
    model = robot_model(name)
    rng = np.random.default_rng(0)
    worst = np.min(
        [model.acceleration_capability(model.random_configuration(rng)) for _ in range(300)],
        axis=0,
    )
    declared = model.limits.acceleration_rad_s2
    assert np.all(np.isfinite(declared))
    assert np.all(declared <= 0.3 * worst), (declared, worst)


@pytest.mark.parametrize("name", ROBOTS)
def test_named_states_come_from_the_srdf(name):
    model = robot_model(name)
    srdf = ET.parse(srdf_path(name)).getroot()
    state = next(s for s in srdf.findall("group_state") if s.get("name") == "home")
    values = {j.get("name"): float(j.get("value")) for j in state.findall("joint")}
    np.testing.assert_array_equal(
        model.named_state("home"), [values[j] for j in model.joint_names]
    )
    assert "home" in model.named_states()
    config = robot_config(name)
    np.testing.assert_array_equal(
        model.named_state("open", group="gripper"), [config.gripper_open_position]
    )
    np.testing.assert_array_equal(model.default_gripper, [config.gripper_open_position])
    with pytest.raises(KeyError):
        model.named_state("nowhere")


@pytest.mark.parametrize("name", ROBOTS)
def test_group_without_srdf_is_the_base_to_tool_chain(name):
    with_srdf = robot_model(name)
    bare = RobotModel.from_urdf(urdf_path(name), tool_frame="tool0")
    assert bare.joint_names == with_srdf.joint_names
    assert bare.gripper_joint_names == with_srdf.gripper_joint_names
    assert bare.base_frame == "base_link"
    with pytest.raises(KeyError):
        bare.named_state("home")
    # a shorter chain: only the first three joints
    short = RobotModel.from_urdf(urdf_path(name), tool_frame="link_3")
    assert short.joint_names == ("joint_1", "joint_2", "joint_3")
    with pytest.raises(ValueError):
        RobotModel.from_urdf(urdf_path(name), base_frame="link_3", tool_frame="link_1")


def test_config_files_load_and_validate(tmp_path):
    for name in ROBOTS:
        config, model = load_robot(robot_config(name).resolve(f"config/robots/{name}.yaml"))
        assert config.name == name
        assert model.tool_frame == config.tool_frame
        assert config.gripper_joint in model.gripper_joint_names

    plain = dict(robot_config("arm7").__dict__)
    plain["joint_limits"] = {k: dict(v) for k, v in plain["joint_limits"].items()}
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump({"robot": plain}))
    assert RobotConfig.from_yaml(path).joint_limits == robot_config("arm7").joint_limits

    with pytest.raises(ValueError, match="unknown robot config keys"):
        RobotConfig.from_dict({**plain, "max_speed": 3})
    with pytest.raises(ValueError):
        RobotConfig.from_dict({**plain, "joint_limits": {"joint_1": {"jerk_rad_s3": -1.0}}})
    with pytest.raises(ValueError, match="outside"):
        RobotConfig.from_dict({**plain, "gripper_open_position": 0.5}).load_model()
    with pytest.raises(ValueError, match="not an actuated gripper joint"):
        RobotConfig.from_dict(
            {**plain, "gripper_joint": "gripper_finger_joint_mirror"}
        ).load_model()
    with pytest.raises(KeyError):
        RobotConfig.from_dict({**plain, "home_state": "nowhere"}).load_model()
    with pytest.raises(ValueError, match="no 'robot' section"):
        bad = tmp_path / "bad.yaml"
        bad.write_text("a: {ros__parameters: {x: 1}}\n")
        RobotConfig.from_yaml(bad)
