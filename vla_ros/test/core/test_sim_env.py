"""The simulated cell with real MuJoCo: rendering, depth geometry, person, servos, expert."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import math

import numpy as np
import pytest

from vla_ros.core.robot_model import RobotModel
from vla_ros.core.sim.env import HOME_Q, SimConfig, SimEnv, default_urdf_path
from vla_ros.core.sim.expert import ScriptedExpert
from vla_ros.core.sim.person import PersonSchedule
from vla_ros.core.sim.rollout import run_episode
from vla_ros.core.sim.scene import COLOURS, CUBE_SIZE_M
from vla_ros.core.sim.tasks import FAMILIES


@pytest.fixture(scope="module")
def env():
    sim = SimEnv(SimConfig(image_width_px=160, image_height_px=120))
    yield sim
    sim.close()


def project(env: SimEnv, point: np.ndarray) -> tuple[float, float, float]:
    """(u, v, depth along the optical axis) of a base-frame point."""
    pose = env.camera_pose()
    p_cam = pose[:3, :3].T @ (point - pose[:3, 3])
    k = env.intrinsics()
    return (
        k.fx_px * p_cam[0] / p_cam[2] + k.cx_px,
        k.fy_px * p_cam[1] / p_cam[2] + k.cy_px,
        p_cam[2],
    )


def test_images_are_not_blank(env):
    env.reset(1, "pick")
    rgb, depth = env.render()
    assert rgb.shape == (120, 160, 3) and rgb.dtype == np.uint8
    assert depth is not None and depth.shape == (120, 160) and depth.dtype == np.float32
    assert rgb.std() > 20.0
    assert len(np.unique(rgb.reshape(-1, 3) // 32, axis=0)) > 10
    assert np.isfinite(depth).mean() > 0.6  # the rest is beyond depth_max_m
    assert 0.3 < np.nanmin(depth) < np.nanmax(depth) <= env.config.depth_max_m


def test_depth_matches_the_table_plane(env):
    env.reset(2, "pick")
    _, depth = env.render()
    pose, k = env.camera_pose(), env.intrinsics()
    v, u = np.mgrid[0 : k.height_px, 0 : k.width_px]
    rays = np.stack([(u - k.cx_px) / k.fx_px, (v - k.cy_px) / k.fy_px, np.ones_like(u, float)])
    world = np.einsum("ij,jhw->ihw", pose[:3, :3], rays)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -pose[2, 3] / world[2]  # ray parameter = depth along the optical axis (z = 1)
    hit_x = pose[0, 3] + t * world[0]
    hit_y = pose[1, 3] + t * world[1]
    # the table's sides: no object is placed there and nothing can hide them from the camera
    table = (t > 0) & (hit_x > -0.2) & (hit_x < 0.9) & (np.abs(hit_y) > 0.42)
    table &= np.abs(hit_y) < 0.65
    assert table.sum() > 200
    error = np.abs(depth[table] - t[table])
    assert np.nanmax(error) < 0.01, np.nanmax(error)


def test_cubes_appear_where_the_camera_model_projects_them(env):
    checked = 0
    for seed in range(3):
        info = env.reset(seed, "pick")
        for _ in range(5):
            env.step()
        rgb, depth = env.render()
        state = env.state_view()
        for colour in info.colours:
            centre = state.cube_positions_m[colour] + np.array([0, 0, CUBE_SIZE_M / 2])
            u, v, z = project(env, centre)
            ui, vi = round(u), round(v)
            if depth[vi, ui] < z - 0.05:  # hidden behind the arm
                continue
            assert abs(depth[vi, ui] - z) < 0.03
            expected = np.array(COLOURS[colour][:3])
            seen = rgb[vi, ui] / 255.0
            # same dominant channel ordering: the pixel shows this cube's colour
            assert np.argmax(seen) == np.argmax(expected), (colour, seen)
            checked += 1
    assert checked >= 6


def test_randomisation_is_seeded(env):
    a = env.reset(7, "")
    rgb_a, _ = env.render()
    pos_a = env.state_view().cube_positions_m
    b = env.reset(7, "")
    rgb_b, _ = env.render()
    pos_b = env.state_view().cube_positions_m
    assert a.task == b.task and a.colours == b.colours
    np.testing.assert_array_equal(rgb_a, rgb_b)
    for colour in a.colours:
        np.testing.assert_allclose(pos_a[colour], pos_b[colour])
    c = env.reset(8, "")
    rgb_c, _ = env.render()
    assert c.colours != a.colours or not np.array_equal(rgb_a, rgb_c)
    assert b.episode_id == a.episode_id + 1


def test_person_appears_in_rgb_and_depth_when_scheduled(env):
    walk = PersonSchedule(
        start_time_s=1.0, speed_m_s=1.4, closest_approach_m=1.0, bearing_rad=2.5, pause_s=2.0
    )
    env.reset(3, "pick", person=walk)
    rgb_before, depth_before = env.render()
    assert env.person_pose() is None
    while env.episode_time_s < walk.closest_time_s + 0.5:
        env.step()
    pose = env.person_pose()
    assert pose is not None
    np.testing.assert_allclose(np.linalg.norm(pose[0][:2]), 1.0, atol=1e-6)
    rgb, depth = env.render()
    torso = pose[0] + np.array([0.0, 0.0, 1.1])
    u, v, z = project(env, torso)
    k = env.intrinsics()
    assert 0 <= u < k.width_px and 0 <= v < k.height_px
    window = (slice(max(0, round(v) - 2), round(v) + 3), slice(max(0, round(u) - 2), round(u) + 3))
    # the torso is a 22 cm box: its front face is a little nearer than its centre
    assert np.nanmedian(depth[window]) == pytest.approx(z, abs=0.2)
    assert not np.nanmin(depth_before[window], initial=np.inf) < z + 0.5
    changed = np.abs(rgb.astype(int) - rgb_before.astype(int)).sum(axis=2) > 60
    assert changed.sum() > 50
    # once the walk is over the person is gone again
    while env.episode_time_s < walk.start_time_s + walk.walk_duration_s + 0.1:
        env.step()
    assert env.person_pose() is None
    _, depth_after = env.render()
    assert not np.nanmin(depth_after[window], initial=np.inf) < z + 0.5


def test_arm_follows_a_trajectory_with_real_servos(env):
    env.reset(4, "pick")
    goal = HOME_Q + np.array([0.4, -0.2, 0.3, 0.5, -0.3, 0.8])
    middle = 0.5 * (HOME_Q + goal)
    env.command_arm_trajectory(np.array([1.0, 2.0]), np.vstack([middle, goal]))
    while env.episode_time_s < 1.0 - 1e-9:
        env.step()
    q = env.joint_state().positions[:6]
    np.testing.assert_allclose(q, middle, atol=0.03)  # on schedule, small servo lag
    while env.episode_time_s < 2.5 - 1e-9:
        env.step()
    state = env.joint_state()
    np.testing.assert_allclose(state.positions[:6], goal, atol=0.005)
    assert np.all(np.abs(state.velocities[:6]) < 0.05)
    assert state.names[-1] == "finger_joint"


def test_servo_velocity_stays_within_limits(env):
    """A goal demanding ~25 rad/s moves every joint at (not above) its URDF velocity limit."""
    env.reset(5, "pick")
    far = np.array([2.5, -1.5, 0.0, -2.5, 1.5, 3.0])
    env.command_arm_trajectory(np.array([0.1]), far[None, :])
    limits = np.array([2.0, 2.0, 2.5, 3.0, 3.0, 3.5])
    positions = []
    for _ in range(200):
        env.step()
        positions.append(env.joint_state().positions[:6])
        assert np.all(np.abs(env.arm.reference_velocity) <= limits + 1e-9)
    # measured speed over 50 ms windows (abrupt stops of the set-point excite brief transients)
    window = 5
    speeds = np.abs(np.diff(np.array(positions)[::window], axis=0)) / (window * 0.01)
    assert np.all(speeds.max(axis=0) <= limits * 1.05), speeds.max(axis=0)
    assert np.all(speeds.max(axis=0) >= limits * 0.9)  # and it does move at the limit
    np.testing.assert_allclose(positions[-1], far, atol=0.01)


@pytest.mark.parametrize("family", FAMILIES)
def test_scripted_expert_solves_each_family(env, family):
    expert = ScriptedExpert(RobotModel.from_urdf(default_urdf_path()))
    result = run_episode(env, expert, seed=11, task=family)
    assert result.success, (family, result.info.task.instruction, expert.phase)
    assert result.duration_s < result.info.task.time_limit_s
    assert math.isfinite(result.duration_s)


def test_expert_judges_the_grasp_where_the_tool_is_not_where_it_was_sent(env):
    """A safety filter slowing the arm lets the commanded tool pose run ahead of the measured
    one. Carrying a cube in the fingers is not a lost grasp (it restarted, place looped);
    the cube left behind at the commanded pose is."""
    import dataclasses

    info = env.reset(11, "place")
    colour = info.task.colour
    robot = RobotModel.from_urdf(default_urdf_path())
    q = env.joint_state().positions[: robot.dof]
    tool = robot.fk(q)[:3, 3]
    ahead = tool + np.array([0.0, 0.0, 0.10])  # the command, 10 cm above the measured tool

    def carrying(cube_m: np.ndarray) -> ScriptedExpert:
        expert = ScriptedExpert(robot)
        expert.reset(info.task)
        expert.act(q, env.state_view())  # the first act anchors the commanded pose
        expert._phase_index = expert._phase_names().index("above_target")
        expert._cmd_pose[:3, 3] = ahead
        state = env.state_view()
        cubes = {**state.cube_positions_m, colour: cube_m}
        expert.act(q, dataclasses.replace(state, cube_positions_m=cubes))
        return expert

    held = carrying(tool.copy())  # between the fingers, the command 10 cm ahead
    assert held.restarts == 0 and held.phase == "above_target"
    lost = carrying(ahead.copy())  # at the commanded pose, 10 cm from the fingers
    assert lost.restarts == 1 and lost.phase == "above_cube"


def test_reset_rejects_unknown_tasks(env):
    with pytest.raises(ValueError):
        env.reset(0, "dance")
    with pytest.raises(ValueError):
        env.reset(0, "pick up the golden cube")
    info = env.reset(0, "stack the red cube on the blue cube")
    assert {"red", "blue"} <= set(info.colours)


def test_room_camera_leaves_the_scene_camera_and_seeded_episodes_unchanged(env):
    """A VLA is trained on the scene camera: adding the room camera must not change a pixel."""
    room = SimEnv(SimConfig(image_width_px=160, image_height_px=120, room_camera=True))
    try:
        assert env.cameras == ("scene_camera", "wrist_camera")
        assert room.cameras == ("scene_camera", "wrist_camera", "room_camera")
        for seed in (0, 5):
            a = env.reset(seed, "", with_person=True)
            b = room.reset(seed, "", with_person=True)
            assert a.task == b.task and a.colours == b.colours and a.person == b.person
            for _ in range(20):
                env.step()
                room.step()
            np.testing.assert_array_equal(env.camera_pose(), room.camera_pose())
            rgb_a, depth_a = env.render()
            rgb_b, depth_b = room.render()
            np.testing.assert_array_equal(rgb_a, rgb_b)
            np.testing.assert_array_equal(depth_a, depth_b)
        with pytest.raises(ValueError, match="room_camera"):
            env.render(camera="room_camera")
    finally:
        room.close()


def test_room_camera_renders_the_cell_from_its_configured_pose():
    from vla_ros.core.perception.camera import extrinsics_from_xyz_quaternion
    from vla_ros.core.sim.scene import TABLE_X_RANGE_M, TABLE_Y_RANGE_M

    config = SimConfig(image_width_px=160, image_height_px=120, room_camera=True)
    room = SimEnv(config)
    try:
        room.reset(4, "pick")
        pose = room.camera_pose("room_camera")
        expected = extrinsics_from_xyz_quaternion(
            config.room_camera_position_m, config.room_camera_orientation_xyzw
        )
        np.testing.assert_allclose(pose, expected, atol=1e-6)
        room.reset(5, "pick")  # never jittered
        np.testing.assert_allclose(room.camera_pose("room_camera"), expected, atol=1e-6)
        k = room.intrinsics("room_camera")
        assert k.fy_px == pytest.approx(
            60 / math.tan(math.radians(config.room_camera_fovy_deg) / 2)
        )
        rgb, depth = room.render(camera="room_camera")
        assert rgb.shape == (120, 160, 3) and rgb.std() > 10
        v, u = np.nonzero(np.isfinite(depth))
        points = k.backproject(u, v, depth[v, u]) @ pose[:3, :3].T + pose[:3, 3]
        assert np.nanmax(depth) <= config.room_camera_depth_max_m
        # the floor and the table top: planes at z = -0.75 and z = 0 where the model puts them
        floor = np.abs(points[:, 2] + 0.75) < 0.01
        on_table = (points[:, 0] > TABLE_X_RANGE_M[0] + 0.1) & (points[:, 0] < 0.2)
        on_table &= (np.abs(points[:, 1]) < TABLE_Y_RANGE_M[1] - 0.1) & (points[:, 2] > -0.5)
        assert floor.mean() > 0.5
        assert on_table.sum() > 20 and np.median(np.abs(points[on_table, 2])) < 0.01
    finally:
        room.close()


def test_wrist_camera_rides_on_the_urdf_frame_and_sees_the_cube_it_grasps(env):
    """The wrist camera is where pinocchio puts wrist_camera_optical_frame for the measured
    joints, and it sees what is in front of it: the named cube between the fingers at the
    grasp, projected where its camera model says."""
    import pinocchio as pin

    from vla_ros.core.sim.scene import WRIST_CAMERA_NAME

    model = pin.buildModelFromUrdf(str(default_urdf_path()), mimic=True)
    data = model.createData()
    frame = model.getFrameId("wrist_camera_optical_frame")
    expert = ScriptedExpert(RobotModel.from_urdf(default_urdf_path()))
    seen = []

    def check(step) -> None:
        q = np.zeros(model.nq)
        q[: len(step.joint_positions)] = step.joint_positions  # arm joints + finger joint
        q[-1] = q[-2]  # the mimic finger
        pin.framesForwardKinematics(model, data, q)
        pose = env.camera_pose(WRIST_CAMERA_NAME)
        np.testing.assert_allclose(pose[:3, 3], data.oMf[frame].translation, atol=2e-3)
        np.testing.assert_allclose(pose[:3, :3], data.oMf[frame].rotation, atol=2e-3)
        if step.gripper_action_m < 0.01 and not seen:  # the expert closes on the cube
            seen.append(step.wrist_rgb)
            colour_name = env.episode.task.colour
            cube = step.state.cube_positions_m[colour_name]  # its centre
            p = pose[:3, :3].T @ (cube - pose[:3, 3])
            k = env.intrinsics(WRIST_CAMERA_NAME)
            u, v = k.fx_px * p[0] / p[2] + k.cx_px, k.fy_px * p[1] / p[2] + k.cy_px
            assert 0 < u < env.config.image_width_px and 0 < v < env.config.image_height_px
            pixel = step.wrist_rgb[round(v), round(u)] / 255.0
            colour = np.array(COLOURS[colour_name][:3])
            assert np.argmax(pixel) == np.argmax(colour), (pixel, colour)

    result = run_episode(env, expert, seed=3, task="pick", render_wrist=True, on_step=check)
    assert result.success and seen
    rgb, depth = env.render(camera=WRIST_CAMERA_NAME, with_depth=True)
    assert rgb.shape == (120, 160, 3) and np.isfinite(depth).mean() > 0.9
    assert not np.array_equal(rgb, env.render(with_depth=False)[0])
