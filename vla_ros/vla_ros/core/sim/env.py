"""The simulated cell: MuJoCo physics, per-episode randomisation, servos, RGB-D cameras, person.

`SimEnv` is what the sim node wraps. Time is simulated: `time_s` grows by `control_period_s`
per `step()` and never goes back (it drives /clock); `episode_time_s` restarts at each reset.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vla_ros.core.perception.camera import CameraIntrinsics, quaternion_to_matrix
from vla_ros.core.sim.person import PersonSchedule, sample_person
from vla_ros.core.sim.scene import (
    ARM_JOINTS,
    BOWL_RADIUS_M,
    CAMERA_NAME,
    COLOURS,
    CUBE_SIZE_M,
    GRIPPER_JOINT,
    GRIPPER_OPEN_M,
    PLATE_RADIUS_M,
    ROOM_CAMERA_NAME,
    SCENE_CAMERA_HOUSING_GROUP,
    TABLE_HEIGHT_M,
    WRIST_CAMERA_NAME,
    RoomCamera,
    SceneIds,
    build_spec,
    optical_to_mujoco_camera,
    rotation_to_quat,
    scene_ids,
)
from vla_ros.core.sim.tasks import FAMILIES, SimStateView, TaskSpec, parse_instruction, sample_task
from vla_ros.core.sim.tasks import task_success as _task_success
from vla_ros.core.sim.trajectory import INTERPOLATIONS, TrajectoryExecutor

HOME_Q = np.array([0.0, 0.27, 1.88, 0.0, 1.0, 0.0])  # tool 0.25 m above (0.4, 0), pointing down
WORKSPACE_X_M = (0.3, 0.6)
WORKSPACE_Y_M = (-0.3, 0.3)
_PARKED_PERSON = np.array([0.0, 40.0, -20.0])


@dataclass(frozen=True)
class SimConfig:
    """Simulator settings (the sim node's parameters map onto these)."""

    urdf_path: str = ""  # robot URDF; "" = the packaged vla_arm6
    image_width_px: int = 320  # camera image width
    image_height_px: int = 240  # camera image height
    camera_fovy_deg: float = 58.0  # [deg] vertical field of view (a RealSense D435's depth)
    physics_timestep_s: float = 0.002  # [s] MuJoCo integration step
    control_period_s: float = 0.01  # [s] controller update period (100 Hz, ros2_control-like)
    n_cubes: int = 4  # cubes on the table each episode, distinct colours
    interpolation: str = "cubic"  # trajectory interpolation: "linear" or "cubic"
    camera_jitter_m: float = 0.01  # [m] std of the per-episode camera position jitter
    camera_jitter_rad: float = 0.015  # [rad] std of the per-episode camera rotation jitter
    depth_max_m: float = 5.0  # [m] depth beyond this is reported invalid (NaN)
    # A second fixed RGB-D camera high in a corner of the cell (calibrated extrinsics, base
    # frame, optical convention z forward / y down), same image size; never jittered.
    room_camera: bool = False  # add and allow rendering it (off: the model has no such camera)
    # 2.75 m above the floor in the corner behind-right of the robot, looking at the floor
    # ahead-left of the base (0.6, 0.6, -0.75): anyone within 2.5 m of the base is in its view
    room_camera_position_m: tuple[float, ...] = (-2.0, -2.0, 2.0)  # [m]
    room_camera_orientation_xyzw: tuple[float, ...] = (0.826065, -0.342167, 0.171371, -0.413727)
    room_camera_fovy_deg: float = 75.0  # [deg] vertical field of view (wide)
    room_camera_depth_max_m: float = 8.0  # [m] its depth range (it looks across the cell)

    def __post_init__(self) -> None:
        if self.image_width_px < 16 or self.image_height_px < 16:
            raise ValueError("images must be at least 16x16 pixels")
        if not 10.0 <= self.camera_fovy_deg <= 120.0:
            raise ValueError("camera_fovy_deg must be in [10, 120]")
        if self.physics_timestep_s <= 0.0 or self.control_period_s < self.physics_timestep_s:
            raise ValueError("need 0 < physics_timestep_s <= control_period_s")
        ratio = self.control_period_s / self.physics_timestep_s
        if abs(ratio - round(ratio)) > 1e-6:
            raise ValueError("control_period_s must be a multiple of physics_timestep_s")
        if not 2 <= self.n_cubes <= len(COLOURS):
            raise ValueError(f"n_cubes must be in [2, {len(COLOURS)}]")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}")
        if self.camera_jitter_m < 0.0 or self.camera_jitter_rad < 0.0 or self.depth_max_m <= 0:
            raise ValueError("jitters must be >= 0 and depth_max_m > 0")
        if not 10.0 <= self.room_camera_fovy_deg <= 150.0:
            raise ValueError("room_camera_fovy_deg must be in [10, 150]")
        if self.room_camera_depth_max_m <= 0.0:
            raise ValueError("room_camera_depth_max_m must be > 0")
        position = np.asarray(self.room_camera_position_m, dtype=np.float64)
        if position.shape != (3,) or not np.all(np.isfinite(position)):
            raise ValueError("room_camera_position_m needs 3 finite values")
        quaternion_to_matrix(self.room_camera_orientation_xyzw)  # ValueError if malformed


@dataclass(frozen=True)
class EpisodeInfo:
    """What a reset produced."""

    episode_id: int
    seed: int
    task: TaskSpec
    colours: tuple[str, ...]  # cube colours in the scene, cube index order
    person: PersonSchedule | None


@dataclass(frozen=True)
class JointStateSample:
    """Measured joint state of the arm and the gripper."""

    names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray
    efforts: np.ndarray


@dataclass
class _Layout:
    cube_xy: np.ndarray
    cube_yaw: np.ndarray
    bowl_xy: np.ndarray
    plate_xy: np.ndarray


def default_urdf_path() -> Path:
    """The packaged vla_arm6 URDF."""
    from vla_ros.core.resources import resource_path

    return resource_path("urdf", "vla_arm6", "vla_arm6.urdf")


def _urdf_facts(urdf_path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """camera_optical_frame in base_link (position, rotation) and joint velocity limits."""
    import pinocchio as pin

    model = pin.buildModelFromUrdf(str(urdf_path), mimic=True)
    data = model.createData()
    pin.framesForwardKinematics(model, data, pin.neutral(model))
    pose = data.oMf[model.getFrameId("camera_optical_frame")]
    velocity = {
        name: float(model.velocityLimit[model.joints[model.getJointId(name)].idx_v])
        for name in (*ARM_JOINTS, GRIPPER_JOINT)
    }
    return np.array(pose.translation), np.array(pose.rotation), velocity


def nominal_scene_camera_pose(urdf_path: Path | None = None) -> np.ndarray:
    """4x4 pose of the scene camera's optical frame in the base frame as the URDF places it
    (SimEnv jitters it per episode by camera_jitter_m / camera_jitter_rad)."""
    position, rotation, _ = _urdf_facts(urdf_path or default_urdf_path())
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = position
    return pose


def _small_rotation(rng: np.random.Generator, std_rad: float) -> np.ndarray:
    axis_angle = rng.normal(0.0, std_rad, size=3)
    angle = float(np.linalg.norm(axis_angle))
    if angle < 1e-12:
        return np.eye(3)
    k = axis_angle / angle
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * skew + (1 - math.cos(angle)) * skew @ skew


NEAR_CLIP_M = 0.005  # [m] rendering near clip plane (every camera)
FAR_CLIP_M = 40.0  # [m] rendering far clip plane


class SimEnv:
    """The cell: reset an episode, command the servos, step, render, read the state."""

    def __init__(self, config: SimConfig | None = None) -> None:
        # MuJoCo picks its GL backend when first imported; headless machines need EGL (or
        # OSMesa, chosen by setting MUJOCO_GL=osmesa before starting).
        os.environ.setdefault("MUJOCO_GL", "egl")
        import mujoco

        self.config = config or SimConfig()
        urdf = Path(self.config.urdf_path) if self.config.urdf_path else default_urdf_path()
        self._cam_pos, self._cam_rot, velocity_limits = _urdf_facts(urdf)
        room = None
        if self.config.room_camera:
            room = RoomCamera(
                position_m=np.asarray(self.config.room_camera_position_m, dtype=np.float64),
                rotation_optical=quaternion_to_matrix(self.config.room_camera_orientation_xyzw),
                fovy_deg=self.config.room_camera_fovy_deg,
            )
        spec = build_spec(
            urdf,
            self._cam_pos,
            self._cam_rot,
            self.config.camera_fovy_deg,
            self.config.n_cubes,
            self.config.physics_timestep_s,
            (self.config.image_width_px, self.config.image_height_px),
            room,
        )
        self.model = spec.compile()
        # Clip planes are fractions of the model's extent (~7.7 m with the floor): the default
        # near plane (0.01) clips everything within 8 cm of a camera, half of what the wrist
        # camera sees of a cube between the fingers. Near 5 mm, far 40 m (depth reaches 8 m);
        # the scene camera does not render its own housing (SCENE_CAMERA_HOUSING_GROUP).
        self.model.vis.map.znear = NEAR_CLIP_M / self.model.stat.extent
        self.model.vis.map.zfar = FAR_CLIP_M / self.model.stat.extent
        self.data = mujoco.MjData(self.model)
        self.ids: SceneIds = scene_ids(self.model, self.config.n_cubes)
        self._substeps = round(self.config.control_period_s / self.config.physics_timestep_s)
        self._nominal_light_pos = self.model.light_pos[list(self.ids.lights)].copy()
        self._nominal_light_diffuse = self.model.light_diffuse[list(self.ids.lights)].copy()
        self._nominal_table_rgba = self.model.geom_rgba[self.ids.table_geom].copy()
        self._geom_to_cube = {g: i for i, g in enumerate(self.ids.cube_geoms)}
        self._finger_geoms = frozenset(self.ids.finger_geoms)
        jnt = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in ARM_JOINTS]
        arm_range = self.model.jnt_range[jnt]
        arm_velocity = np.array([velocity_limits[name] for name in ARM_JOINTS])
        self.arm = TrajectoryExecutor(
            ARM_JOINTS,
            arm_range[:, 0],
            arm_range[:, 1],
            arm_velocity,
            HOME_Q,
            self.config.interpolation,
        )
        self.gripper = TrajectoryExecutor(
            (GRIPPER_JOINT,),
            np.array([0.0]),
            np.array([GRIPPER_OPEN_M]),
            np.array([velocity_limits[GRIPPER_JOINT]]),
            np.array([GRIPPER_OPEN_M]),
            self.config.interpolation,
        )
        self._renderer: mujoco.Renderer | None = None
        self._renderer_thread = 0
        self._own_housing_hidden: mujoco.MjvOption | None = None
        self.time_s = 0.0
        self._episode_start_s = 0.0
        self._episode_id = 0
        self._colours: tuple[str, ...] = ()
        self._cube_start: dict[str, np.ndarray] = {}
        self._info: EpisodeInfo | None = None
        self.reset(seed=0)

    # ------------------------------------------------------------------ episodes

    @property
    def episode(self) -> EpisodeInfo:
        """The current episode."""
        assert self._info is not None
        return self._info

    @property
    def episode_time_s(self) -> float:
        """[s] simulated time since the current episode started."""
        return self.time_s - self._episode_start_s

    def reset(
        self,
        seed: int,
        task: str | TaskSpec = "",
        *,
        with_person: bool = False,
        person: PersonSchedule | None = None,
    ) -> EpisodeInfo:
        """Start an episode; `task` is a family, a full instruction, a TaskSpec or "" (random).

        With `with_person` a random walk is scheduled; `person` gives one explicitly.

        ValueError for an unknown family or an instruction that fits no template or names
        a colour the cell does not have.
        """
        import mujoco

        rng = np.random.default_rng(seed)
        spec_task: TaskSpec | None = None
        family = ""
        if isinstance(task, TaskSpec):
            spec_task = task
        elif task.strip() == "":
            family = str(rng.choice(FAMILIES))
        elif task.strip() in FAMILIES:
            family = task.strip()
        else:
            spec_task = parse_instruction(task)
        if spec_task is not None:
            unknown = [c for c in spec_task.colours_needed if c not in COLOURS]
            if unknown:
                raise ValueError(f"unknown cube colour(s) {unknown}; known: {list(COLOURS)}")
            others = [
                c for c in rng.permutation(list(COLOURS)) if c not in spec_task.colours_needed
            ]
            colours = list(spec_task.colours_needed) + others
            colours = colours[: self.config.n_cubes]
            order = rng.permutation(len(colours))
            self._colours = tuple(str(colours[i]) for i in order)
        else:
            picked = rng.choice(list(COLOURS), size=self.config.n_cubes, replace=False)
            self._colours = tuple(str(c) for c in picked)
            spec_task = sample_task(rng, family, self._colours)
        layout = self._sample_layout(rng, spec_task)

        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self.ids.arm_qpos] = HOME_Q
        self.data.qpos[self.ids.gripper_qpos] = GRIPPER_OPEN_M
        self.data.qpos[self.ids.gripper_mirror_qpos] = GRIPPER_OPEN_M
        half = CUBE_SIZE_M / 2
        self._cube_start = {}
        for i, colour in enumerate(self._colours):
            adr = self.ids.cube_qpos[i]
            yaw = layout.cube_yaw[i]
            position = np.array([layout.cube_xy[i, 0], layout.cube_xy[i, 1], half + 0.0005])
            self.data.qpos[adr : adr + 3] = position
            self.data.qpos[adr + 3 : adr + 7] = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]
            self.model.geom_rgba[self.ids.cube_geoms[i]] = COLOURS[colour]
            self._cube_start[colour] = position
        self.data.mocap_pos[self.ids.bowl_mocap] = [*layout.bowl_xy, 0.0]
        self.data.mocap_pos[self.ids.plate_mocap] = [*layout.plate_xy, 0.0]
        self._randomise_appearance(rng)
        if person is None and with_person:
            person = sample_person(rng, spec_task.time_limit_s, -TABLE_HEIGHT_M)
        self.data.ctrl[self.ids.arm_actuators] = HOME_Q
        self.data.ctrl[self.ids.arm_velocity_actuators] = 0.0
        self.data.ctrl[self.ids.gripper_actuator] = GRIPPER_OPEN_M
        self.arm.reset(HOME_Q)
        self.gripper.reset(np.array([GRIPPER_OPEN_M]))
        self._episode_id += 1
        self._episode_start_s = self.time_s
        self._info = EpisodeInfo(self._episode_id, int(seed), spec_task, self._colours, person)
        self._place_person()
        mujoco.mj_forward(self.model, self.data)
        for colour in self._colours:
            self._cube_start[colour] = self.cube_position(colour)
        return self._info

    def _sample_layout(self, rng: np.random.Generator, task: TaskSpec) -> _Layout:
        """Non-overlapping object positions; a push task gets a free corridor to its side."""
        n = self.config.n_cubes
        pushed = self._colours.index(task.colour) if task.family == "push" else -1
        push_sign = 1.0 if task.direction == "left" else -1.0
        for _ in range(5000):
            bowl = rng.uniform([0.35, -0.3], [0.6, 0.3])
            plate = rng.uniform([0.35, -0.3], [0.6, 0.3])
            if np.linalg.norm(bowl - plate) < BOWL_RADIUS_M + PLATE_RADIUS_M + 0.05:
                continue
            cubes = rng.uniform(
                [WORKSPACE_X_M[0], WORKSPACE_Y_M[0]],
                [WORKSPACE_X_M[1], WORKSPACE_Y_M[1]],
                size=(n, 2),
            )
            if pushed >= 0:
                # room on the named side: the cube starts on the opposite half
                cubes[pushed, 1] = push_sign * rng.uniform(-WORKSPACE_Y_M[1], 0.08)
            gaps = np.linalg.norm(cubes[:, None] - cubes[None], axis=2) + np.eye(n)
            if np.min(gaps) < 0.085:
                continue
            if np.min(np.linalg.norm(cubes - bowl, axis=1)) < BOWL_RADIUS_M + 0.06:
                continue
            if np.min(np.linalg.norm(cubes - plate, axis=1)) < PLATE_RADIUS_M + 0.05:
                continue
            if task.family == "push" and not self._push_corridor_free(task, cubes, bowl, plate):
                continue
            return _Layout(cubes, rng.uniform(0, math.pi / 2, size=n), bowl, plate)
        raise RuntimeError("could not place the objects without overlap; fewer cubes?")

    def _push_corridor_free(
        self, task: TaskSpec, cubes: np.ndarray, bowl: np.ndarray, plate: np.ndarray
    ) -> bool:
        i = self._colours.index(task.colour)
        sign = 1.0 if task.direction == "left" else -1.0
        start = cubes[i]
        end = start + np.array([0.0, sign * 0.2])
        if abs(end[1]) > 0.42:
            return False
        # the pusher starts 7 cm behind the cube: that spot must be free as well
        behind = start - np.array([0.0, sign * 0.08])
        samples = np.linspace(behind, end, 12)
        others = [c for j, c in enumerate(cubes) if j != i]
        for point in samples:
            if any(np.linalg.norm(point - c) < 0.07 for c in others):
                return False
            if np.linalg.norm(point - bowl) < BOWL_RADIUS_M + 0.05:
                return False
            if np.linalg.norm(point - plate) < PLATE_RADIUS_M + 0.03:
                return False
        return True

    def _randomise_appearance(self, rng: np.random.Generator) -> None:
        lights = list(self.ids.lights)
        self.model.light_pos[lights] = self._nominal_light_pos + rng.uniform(-0.3, 0.3, (2, 3))
        self.model.light_diffuse[lights] = self._nominal_light_diffuse * rng.uniform(0.6, 1.3)
        table = self._nominal_table_rgba.copy()
        table[:3] = np.clip(table[:3] * rng.uniform(0.8, 1.2, 3), 0, 1)
        self.model.geom_rgba[self.ids.table_geom] = table
        position = self._cam_pos + rng.normal(0.0, self.config.camera_jitter_m, 3)
        rotation = _small_rotation(rng, self.config.camera_jitter_rad) @ self._cam_rot
        self.model.cam_pos[self.ids.camera] = position
        self.model.cam_quat[self.ids.camera] = rotation_to_quat(optical_to_mujoco_camera(rotation))

    # ------------------------------------------------------------------ commands

    def command_arm_trajectory(
        self,
        times_s: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray | None = None,
        start_time_s: float = 0.0,
    ) -> None:
        """joint_trajectory_controller goal for joint_1..joint_6 (stamp 0 = now)."""
        self.arm.set_trajectory(
            times_s, positions, velocities, start_time_s=start_time_s, now_s=self.time_s
        )

    def command_arm_positions(self, positions: np.ndarray) -> None:
        """forward_position_controller command for joint_1..joint_6."""
        self.arm.set_positions(positions)

    def command_gripper_trajectory(
        self, times_s: np.ndarray, positions: np.ndarray, start_time_s: float = 0.0
    ) -> None:
        """Gripper trajectory on finger_joint [m]."""
        self.gripper.set_trajectory(
            times_s, positions, None, start_time_s=start_time_s, now_s=self.time_s
        )

    def command_gripper(self, opening_m: float) -> None:
        """Direct finger_joint position command [m], 0 = closed."""
        self.gripper.set_positions(np.array([opening_m]))

    # ------------------------------------------------------------------ stepping

    def step(self) -> None:
        """One controller period: update the set-points, integrate the physics, move the person."""
        import mujoco

        dt = self.config.control_period_s
        now = self.time_s + dt
        arm_before = self.data.ctrl[self.ids.arm_actuators].copy()
        arm_after = self.arm.update(now, dt)
        self.data.ctrl[self.ids.arm_velocity_actuators] = self.arm.reference_velocity
        self.data.ctrl[self.ids.gripper_actuator] = self.gripper.update(now, dt)[0]
        # Ramp the set-point across the physics substeps: a stiff servo chasing a step every
        # period would spike its velocity above the limit the executor enforces on average.
        for k in range(1, self._substeps + 1):
            fraction = k / self._substeps
            self.data.ctrl[self.ids.arm_actuators] = arm_before + fraction * (
                arm_after - arm_before
            )
            mujoco.mj_step(self.model, self.data)
        self.time_s = now
        self._place_person()

    def start_person_walk(self, schedule: PersonSchedule) -> None:
        """Send the person on `schedule` in the current episode (start time in episode time).

        Replaces any walk the reset scheduled: a scenario (the demo) makes someone walk in at a
        moment it chooses, e.g. mid-task, which a schedule fixed at reset cannot time.
        """
        self._info = replace(self.episode, person=schedule)
        self._place_person()

    def _place_person(self) -> None:
        pose = self.person_pose()
        mocap = self.ids.person_mocap
        if pose is None:
            self.data.mocap_pos[mocap] = _PARKED_PERSON
            return
        position, yaw = pose
        self.data.mocap_pos[mocap] = position
        self.data.mocap_quat[mocap] = [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]

    # ------------------------------------------------------------------ observation

    def person_pose(self) -> tuple[np.ndarray, float] | None:
        """Ground truth ((x, y, z) of the feet, yaw) of the person, None when away (eval only)."""
        person = self.episode.person
        return None if person is None else person.pose_at(self.episode_time_s)

    def joint_state(self) -> JointStateSample:
        """Measured positions, velocities and actuator efforts of joint_1..6 and finger_joint."""
        qpos = np.append(self.data.qpos[self.ids.arm_qpos], self.data.qpos[self.ids.gripper_qpos])
        dofs = np.append(self.ids.arm_dof, self.ids.gripper_dof)
        return JointStateSample(
            names=(*ARM_JOINTS, GRIPPER_JOINT),
            positions=qpos.copy(),
            velocities=self.data.qvel[dofs].copy(),
            efforts=self.data.qfrc_actuator[dofs].copy(),
        )

    def cube_position(self, colour: str) -> np.ndarray:
        """(3,) centre of the cube of `colour`."""
        body = self.ids.cube_bodies[self._colours.index(colour)]
        return self.data.xpos[body].copy()

    def tool_pose(self) -> np.ndarray:
        """4x4 pose of tool0 in the base frame."""
        pose = np.eye(4)
        pose[:3, :3] = self.data.xmat[self.ids.tool_body].reshape(3, 3)
        pose[:3, 3] = self.data.xpos[self.ids.tool_body]
        return pose

    def state_view(self) -> SimStateView:
        """The state that success predicates and the scripted expert read."""
        touching: set[str] = set()
        for contact in self.data.contact[: self.data.ncon]:
            g1, g2 = int(contact.geom1), int(contact.geom2)
            for a, b in ((g1, g2), (g2, g1)):
                if a in self._finger_geoms and b in self._geom_to_cube:
                    touching.add(self._colours[self._geom_to_cube[b]])
        positions, yaws, speeds = {}, {}, {}
        for i, colour in enumerate(self._colours):
            body = self.ids.cube_bodies[i]
            positions[colour] = self.data.xpos[body].copy()
            rot = self.data.xmat[body].reshape(3, 3)
            yaws[colour] = math.atan2(rot[1, 0], rot[0, 0])
            dof = self.ids.cube_dof[i]
            speeds[colour] = float(np.linalg.norm(self.data.qvel[dof : dof + 3]))
        return SimStateView(
            time_s=self.episode_time_s,
            cube_positions_m=positions,
            cube_yaws_rad=yaws,
            cube_start_positions_m=dict(self._cube_start),
            cube_speeds_m_s=speeds,
            cubes_touching_fingers=frozenset(touching),
            bowl_position_m=self.data.mocap_pos[self.ids.bowl_mocap].copy(),
            plate_position_m=self.data.mocap_pos[self.ids.plate_mocap].copy(),
            gripper_opening_m=float(self.data.qpos[self.ids.gripper_qpos]),
        )

    def task_status(self) -> tuple[bool, bool]:
        """(success, done): done = success or the episode's time limit reached."""
        success = _task_success(self.episode.task, self.state_view())
        return success, success or self.episode_time_s >= self.episode.task.time_limit_s

    # ------------------------------------------------------------------ camera

    @property
    def cameras(self) -> tuple[str, ...]:
        """Names of the cameras `render` accepts: the scene camera, the wrist camera (on the
        gripper; when the URDF has one), the room camera (with room_camera)."""
        ids = {WRIST_CAMERA_NAME: self.ids.wrist_camera, ROOM_CAMERA_NAME: self.ids.room_camera}
        return (CAMERA_NAME, *(name for name, cam in ids.items() if cam >= 0))

    def _camera_id(self, camera: str) -> int:
        ids = {
            CAMERA_NAME: self.ids.camera,
            WRIST_CAMERA_NAME: self.ids.wrist_camera,
            ROOM_CAMERA_NAME: self.ids.room_camera,
        }
        if ids.get(camera, -1) < 0:
            raise ValueError(f"unknown camera {camera!r}; this cell has {list(self.cameras)}")
        return ids[camera]

    def intrinsics(self, camera: str = CAMERA_NAME) -> CameraIntrinsics:
        """Pinhole intrinsics of the rendered images of `camera`."""
        fovy = self.model.cam_fovy[self._camera_id(camera)]
        return CameraIntrinsics.from_fov(
            self.config.image_width_px, self.config.image_height_px, math.radians(float(fovy))
        )

    def camera_pose(self, camera: str = CAMERA_NAME) -> np.ndarray:
        """4x4 pose of `camera`'s optical frame in the base frame (the scene camera's jittered;
        the wrist camera's where the gripper is now)."""
        import mujoco

        cam = self._camera_id(camera)
        if cam == self.ids.wrist_camera:  # attached to a moving body: its pose after forward
            pose = np.eye(4)  # kinematics (the base frame is MuJoCo's world frame)
            mat = self.data.cam_xmat[cam].reshape(3, 3)
            pose[:3, :3] = optical_to_mujoco_camera(mat)
            pose[:3, 3] = self.data.cam_xpos[cam]
            return pose
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, self.model.cam_quat[cam])
        pose = np.eye(4)
        pose[:3, :3] = optical_to_mujoco_camera(rot.reshape(3, 3))  # the map is an involution
        pose[:3, 3] = self.model.cam_pos[cam]
        return pose

    def render(
        self, *, with_depth: bool = True, camera: str = CAMERA_NAME
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(RGB (H, W, 3) uint8, depth (H, W) float32 metres along the optical axis or None).

        Depth beyond `depth_max_m` (the room camera: `room_camera_depth_max_m`) is NaN. All
        cameras render through one renderer (same image size): the wrist and room cameras cost
        nothing unless they are rendered.
        """
        import mujoco

        cam = self._camera_id(camera)
        if self._renderer is None:
            self._renderer = mujoco.Renderer(
                self.model, self.config.image_height_px, self.config.image_width_px
            )
            self._renderer_thread = threading.get_ident()
            flags = self._renderer.scene.flags
            for flag in (
                mujoco.mjtRndFlag.mjRND_SHADOW,
                mujoco.mjtRndFlag.mjRND_REFLECTION,
                mujoco.mjtRndFlag.mjRND_SKYBOX,
            ):
                flags[flag] = 0  # speed: none of them shows in this scene anyway
        elif threading.get_ident() != self._renderer_thread:
            raise RuntimeError("render() must be called from the thread that rendered first")
        renderer = self._renderer
        if self._own_housing_hidden is None:
            self._own_housing_hidden = mujoco.MjvOption()
            self._own_housing_hidden.geomgroup[SCENE_CAMERA_HOUSING_GROUP] = 0
        option = self._own_housing_hidden if cam == self.ids.camera else None
        renderer.update_scene(self.data, camera=cam, scene_option=option)
        rgb = renderer.render().copy()
        depth = None
        if with_depth:
            renderer.enable_depth_rendering()
            depth = renderer.render().astype(np.float32, copy=True)
            renderer.disable_depth_rendering()
            far = self.config.depth_max_m
            if cam == self.ids.room_camera:
                far = self.config.room_camera_depth_max_m
            depth[(depth <= 0.0) | (depth > far)] = np.nan
        return rgb, depth

    def close(self) -> None:
        """Free the renderer's GL context (from the thread that rendered)."""
        if self._renderer is not None and threading.get_ident() == self._renderer_thread:
            self._renderer.close()
        # from another thread the context cannot be made current; the process frees it
        self._renderer = None
