"""vla_arm6.urdf: one description that pinocchio and MuJoCo load and agree on."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np

from vla_ros.core.robot_model import RobotModel
from vla_ros.core.sim.env import HOME_Q, SimConfig, SimEnv, default_urdf_path
from vla_ros.core.sim.scene import ARM_JOINTS


def test_urdf_loads_in_pinocchio_with_mimic_and_has_the_contract_frames():
    import pinocchio as pin

    model = pin.buildModelFromUrdf(str(default_urdf_path()), mimic=True)
    names = list(model.names)[1:]
    assert names == [*ARM_JOINTS, "finger_joint", "finger_joint_mirror"]
    for frame in ("base_link", "tool0", "camera_link", "camera_optical_frame"):
        assert model.existFrame(frame), frame
    assert np.all(np.isfinite(model.lowerPositionLimit))
    assert np.all(model.velocityLimit > 0) and np.all(model.effortLimit > 0)
    assert all(inertia.mass > 0 for inertia in list(model.inertias)[1:])


def test_mujoco_and_pinocchio_agree_on_the_tool_pose():
    robot = RobotModel.from_urdf(default_urdf_path())
    env = SimEnv(SimConfig(image_width_px=32, image_height_px=32))
    rng = np.random.default_rng(0)
    import mujoco

    for k in range(20):
        q = HOME_Q if k == 0 else robot.random_configuration(rng)
        env.data.qpos[env.ids.arm_qpos] = q
        mujoco.mj_kinematics(env.model, env.data)
        np.testing.assert_allclose(env.tool_pose(), robot.fk(q), atol=1e-9)
    # the reach covers the table's workspace from above (top-down grasps at table height)
    assert np.linalg.norm(robot.fk(HOME_Q)[:3, 3] - [0.4, 0.0, 0.25]) < 0.01
    env.close()
