"""The simulated arm's declared acceleration limits against its physics.

.venv/bin/python bench/bench_arm_limits.py [--postures 2000] [--expert-episodes 3]

1. What the URDF's effort limits allow: RobotModel.acceleration_capability (one joint
   accelerating from rest, gravity held) over random postures in the joint range, against the
   accelerations config/robots/vla_arm6.yaml declares.
2. What the scripted expert (the training data's source) asks of the arm: joint accelerations
   and actuator torques per physics step over its episodes, no filter in between.
3. The arm at the safety filter's limits (core.policy.filtered_loop.check_arm_at_limits, the
   shipped config/safety.yaml): servo tracking error, stopping time after a person appears,
   peak point-speed bound against the SSM's no-person cap.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from machine import describe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postures", type=int, default=2000, help="random postures")
    parser.add_argument("--expert-episodes", type=int, default=3, help="seeds per family")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")

    import mujoco

    from vla_ros.core.policy.filtered_loop import SimSafety, check_arm_at_limits
    from vla_ros.core.resources import resource_path
    from vla_ros.core.robot_config import RobotConfig
    from vla_ros.core.sim.env import SimConfig, SimEnv
    from vla_ros.core.sim.expert import ScriptedExpert
    from vla_ros.core.sim.rollout import run_episode
    from vla_ros.core.sim.scene import ARM_JOINTS

    print(describe())
    robot = RobotConfig.from_yaml(resource_path("config", "robots", "vla_arm6.yaml")).load_model()
    rng = np.random.default_rng(0)
    capability = np.array(
        [
            robot.acceleration_capability(robot.random_configuration(rng))
            for _ in range(args.postures)
        ]
    )
    declared = robot.limits.acceleration_rad_s2
    np.set_printoptions(precision=1, suppress=True, linewidth=120)
    print(f"joints: {', '.join(robot.joint_names)}")
    print(f"1. effort-limited acceleration over {args.postures} postures [rad/s²]")
    print(f"   worst   {capability.min(axis=0)}")
    print(f"   5th pct {np.percentile(capability, 5, axis=0)}")
    share = np.round(declared / capability.min(axis=0), 3)
    print(f"   declared {declared} (share of the worst: {share})")
    print(f"   declared jerk [rad/s³] {robot.limits.jerk_rad_s3}")

    env = SimEnv(SimConfig(image_width_px=64, image_height_px=48))
    dofs = [
        env.model.jnt_dofadr[mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_JOINT, name)]
        for name in ARM_JOINTS
    ]
    torques, accelerations = [], []
    step = env.step

    def logged_step() -> None:
        step()
        torques.append(env.data.qfrc_actuator[dofs].copy())
        accelerations.append(env.data.qacc[dofs].copy())

    env.step = logged_step  # type: ignore[method-assign]
    successes = 0
    families = ("pick", "place", "push", "stack")
    for family in families:
        for seed in range(args.expert_episodes):
            successes += run_episode(env, ScriptedExpert(robot), seed=seed, task=family).success
    env.step = step  # type: ignore[method-assign]
    acc, tau = np.abs(np.array(accelerations)), np.abs(np.array(torques))
    print(
        f"2. scripted expert, {args.expert_episodes} seeds x {len(families)} families "
        f"({successes} successes), per physics step"
    )
    print(f"   |joint acceleration| p99 {np.percentile(acc, 99, axis=0)} rad/s²")
    print(f"   |actuator torque| max    {tau.max(axis=0)} N m")
    print(f"   URDF effort              {robot.limits.effort_nm} N m")

    check = check_arm_at_limits(env, SimSafety())
    env.close()
    print("3. the arm at the safety filter's limits (config/safety.yaml)")
    print(f"   tracking error max {check.tracking_error_rad * 1000.0} mrad")
    print(
        f"   stop after a person appears: {check.stop_s:.2f} s "
        f"(the SSM assumes {check.stopping_time_s:.2f} s)"
    )
    print(
        f"   peak point-speed bound: measured {check.peak_speed_bound_m_s:.3f} m/s, "
        f"set-point {check.peak_set_point_speed_bound_m_s:.3f} m/s "
        f"(no-person cap {check.speed_cap_m_s:.2f} m/s)"
    )


if __name__ == "__main__":
    main()
