"""MuJoCo scene of the simulated cell: the arm's URDF, table, cubes, bowl, plate, camera, person.

The robot's base_link sits at the world origin on the table top, so world frame == robot base
frame and the table surface is the plane z = 0. Everything that changes per episode (object
poses, colours, lights, camera jitter, the person) is a model or data field written at reset,
so one compiled model and one renderer serve every episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import mujoco

ARM_JOINTS = ("joint_1", "joint_2", "joint_3", "joint_4", "joint_5", "joint_6")
GRIPPER_JOINT = "finger_joint"
GRIPPER_MIRROR_JOINT = "finger_joint_mirror"
FINGER_BODIES = ("left_finger", "right_finger")
GRIPPER_OPEN_M = 0.04  # finger_joint upper limit: 8 cm between the fingers
GRIPPER_CLOSED_M = 0.0

CUBE_SIZE_M = 0.04
CUBE_MASS_KG = 0.05
TABLE_HEIGHT_M = 0.75  # floor at z = -TABLE_HEIGHT_M
TABLE_X_RANGE_M = (-0.3, 1.0)
TABLE_Y_RANGE_M = (-0.7, 0.7)
BOWL_RADIUS_M = 0.075  # inner radius of the bowl's wall ring
BOWL_WALL_HEIGHT_M = 0.045
BOWL_BOTTOM_M = 0.008
PLATE_RADIUS_M = 0.085
PLATE_THICKNESS_M = 0.012
PERSON_HEIGHT_M = 1.75

# name -> RGBA; the instruction vocabulary of colours
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.12, 0.12, 1.0),
    "green": (0.15, 0.7, 0.2, 1.0),
    "blue": (0.15, 0.3, 0.9, 1.0),
    "yellow": (0.95, 0.85, 0.1, 1.0),
    "orange": (1.0, 0.5, 0.05, 1.0),
    "purple": (0.55, 0.2, 0.75, 1.0),
}

# Position servo gains per arm joint [N m / rad]; gravity is compensated by the bodies'
# gravcomp, so the servos only fight inertia and contacts (as a torque-controlled arm would).
ARM_KP = (900.0, 900.0, 600.0, 200.0, 200.0, 100.0)
# Velocity servo gains [N m s / rad], stiff enough that a joint stopping does not kick its
# neighbours past their velocity limits. They act on the velocity error (the executor feeds
# the set-point's velocity forward), like a joint_trajectory_controller driving position +
# velocity command interfaces.
ARM_KV = (200.0, 250.0, 120.0, 15.0, 15.0, 8.0)
GRIPPER_KP = 1500.0  # N/m: ~30 N squeeze at 2 cm of position error, cubes stay in the grasp
CAMERA_NAME = "scene_camera"
ROOM_CAMERA_NAME = "room_camera"
# geom group of the scene camera's housing (camera_link's box): rendered by every camera but
# the scene camera itself, which sits inside it
SCENE_CAMERA_HOUSING_GROUP = 2  # (MuJoCo renders groups 0-2 by default)
WRIST_CAMERA_NAME = "wrist_camera"
WRIST_CAMERA_FRAME = "wrist_camera_optical_frame"  # the URDF link the wrist camera sits on
WRIST_CAMERA_FOVY_DEG = 58.0  # [deg] vertical field of view (a RealSense D405's is 58)


@dataclass(frozen=True)
class RoomCamera:
    """A second fixed RGB-D camera bolted to the cell (not part of the arm's URDF).

    Its extrinsics are a calibration result given in the robot base frame; it renders at the
    scene camera's image size, with its own field of view.
    """

    position_m: np.ndarray  # (3,) optical frame origin in the base frame
    rotation_optical: np.ndarray  # (3, 3) optical frame (z forward, y down) in the base frame
    fovy_deg: float  # vertical field of view


@dataclass(frozen=True)
class SceneIds:
    """Indices into the compiled model for the things the simulator reads and writes."""

    arm_qpos: np.ndarray  # (6,) qpos addresses of joint_1..joint_6
    arm_dof: np.ndarray  # (6,) dof addresses
    gripper_qpos: int
    gripper_mirror_qpos: int
    gripper_dof: int
    arm_actuators: np.ndarray  # (6,) position servos
    arm_velocity_actuators: np.ndarray  # (6,) velocity servos (set-point velocity fed forward)
    gripper_actuator: int
    cube_bodies: tuple[int, ...]
    cube_geoms: tuple[int, ...]
    cube_qpos: tuple[int, ...]  # first qpos address of each cube's free joint
    cube_dof: tuple[int, ...]
    bowl_mocap: int
    plate_mocap: int
    person_mocap: int
    person_geoms: tuple[int, ...]
    finger_bodies: tuple[int, ...]
    finger_geoms: tuple[int, ...]
    tool_body: int
    table_geom: int
    camera: int
    lights: tuple[int, ...]
    room_camera: int = -1  # -1: the scene has no room camera
    wrist_camera: int = -1  # -1: the URDF has no wrist_camera_optical_frame


def _add_box(
    body: mujoco.MjsBody,
    half: tuple[float, float, float],
    pos: tuple,
    rgba: tuple,
    **kwargs: object,
) -> mujoco.MjsGeom:
    import mujoco

    return body.add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX, size=list(half), pos=list(pos), rgba=list(rgba), **kwargs
    )


def rotation_to_quat(rot: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix -> unit quaternion (w, x, y, z)."""
    import mujoco

    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rot, dtype=np.float64).reshape(9))
    return quat


def optical_to_mujoco_camera(rot_optical: np.ndarray) -> np.ndarray:
    """Rotation of an optical frame (z forward, y down) -> MuJoCo camera frame (-z fwd, y up)."""
    return rot_optical @ np.diag([1.0, -1.0, -1.0])


def build_spec(
    urdf_path: Path,
    camera_position_m: np.ndarray,
    camera_rotation_optical: np.ndarray,
    camera_fovy_deg: float,
    n_cubes: int,
    physics_timestep_s: float,
    image_size_px: tuple[int, int] = (640, 480),
    room_camera: RoomCamera | None = None,
) -> mujoco.MjSpec:
    """The scene as an MjSpec: the URDF's robot with servos and the cell around it.

    The camera pose is the URDF's camera_optical_frame in the base frame; the simulator
    jitters it per episode by writing model.cam_pos / cam_quat. An optional room camera is
    added after the scene camera (the scene camera keeps camera id 0 and its rendering).
    """
    import mujoco

    spec = mujoco.MjSpec.from_file(str(urdf_path))
    spec.option.timestep = physics_timestep_s
    # implicit in the velocity terms: the stiff velocity servos stay stable at 2 ms steps
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    # Elliptic cones with a high impratio keep cubes from creeping out of a parallel grasp.
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    # the offscreen buffer is cleared every frame: keep it the size of the images
    spec.visual.global_.offwidth = image_size_px[0]
    spec.visual.global_.offheight = image_size_px[1]
    spec.visual.quality.shadowsize = 0
    world = spec.worldbody

    # The URDF carries every shape twice (visual, collision); render the collision copy only.
    for geom in list(spec.geoms):
        if geom.contype == 0 and geom.conaffinity == 0:
            if geom.parent.name == "camera_link":
                geom.group = SCENE_CAMERA_HOUSING_GROUP  # seen by others, not by itself
            else:
                spec.delete(geom)
    for body in spec.bodies:
        if body.name and body.name != "world":
            body.gravcomp = 1.0
    for joint_name in (*ARM_JOINTS, GRIPPER_JOINT, GRIPPER_MIRROR_JOINT):
        spec.joint(joint_name).armature = 0.02
    for finger in FINGER_BODIES:
        for geom in spec.body(finger).geoms:
            geom.friction = [1.5, 0.02, 0.002]
            geom.condim = 4

    # floor and table (table top is z = 0)
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[6.0, 6.0, 0.1],
        pos=[0.0, 0.0, -TABLE_HEIGHT_M],
        rgba=[0.45, 0.42, 0.4, 1.0],
    )
    x0, x1 = TABLE_X_RANGE_M
    y0, y1 = TABLE_Y_RANGE_M
    _add_box(
        world,
        ((x1 - x0) / 2, (y1 - y0) / 2, 0.02),
        ((x0 + x1) / 2, (y0 + y1) / 2, -0.02),
        (0.6, 0.45, 0.3, 1.0),
        name="table_top",
    )
    for sx in (x0 + 0.05, x1 - 0.05):
        for sy in (y0 + 0.05, y1 - 0.05):
            _add_box(
                world,
                (0.03, 0.03, (TABLE_HEIGHT_M - 0.04) / 2),
                (sx, sy, -0.04 - (TABLE_HEIGHT_M - 0.04) / 2),
                (0.35, 0.25, 0.18, 1.0),
            )

    # cubes: free bodies parked off the table until an episode places them
    for i in range(n_cubes):
        body = world.add_body(name=f"cube_{i}", pos=[2.0 + 0.1 * i, 3.0, 0.5])
        body.add_freejoint(name=f"cube_{i}_free")
        half = CUBE_SIZE_M / 2
        _add_box(
            body,
            (half, half, half),
            (0.0, 0.0, 0.0),
            (1.0, 1.0, 1.0, 1.0),
            name=f"cube_{i}_geom",
            mass=CUBE_MASS_KG,
            friction=[1.2, 0.02, 0.002],
            condim=4,
        )

    # bowl: a bottom disc and a ring of wall boxes on a mocap body
    bowl = world.add_body(name="bowl", mocap=True, pos=[2.0, 2.0, 0.0])
    bowl_rgba = (0.9, 0.9, 0.85, 1.0)
    bowl.add_geom(
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[BOWL_RADIUS_M + 0.01, BOWL_BOTTOM_M / 2, 0],
        pos=[0, 0, BOWL_BOTTOM_M / 2],
        rgba=list(bowl_rgba),
    )
    n_walls = 16
    wall_half_len = (BOWL_RADIUS_M + 0.01) * np.tan(np.pi / n_walls) + 0.002
    for k in range(n_walls):
        angle = 2 * np.pi * k / n_walls
        radius = BOWL_RADIUS_M + 0.005
        _add_box(
            bowl,
            (0.005, wall_half_len, BOWL_WALL_HEIGHT_M / 2),
            (radius * np.cos(angle), radius * np.sin(angle), BOWL_WALL_HEIGHT_M / 2),
            bowl_rgba,
            euler=[0.0, 0.0, angle],
        )

    plate = world.add_body(name="plate", mocap=True, pos=[2.0, -2.0, 0.0])
    plate.add_geom(
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[PLATE_RADIUS_M, PLATE_THICKNESS_M / 2, 0],
        pos=[0, 0, PLATE_THICKNESS_M / 2],
        rgba=[0.95, 0.95, 0.98, 1.0],
    )

    # A person: capsule limbs and a box torso on a mocap body at the feet, facing +x.
    # Mocap bodies do not collide with the robot in MuJoCo's sense of pushing it; the
    # person exists for the camera and for ground truth, as a real bystander would.
    person = world.add_body(name="person", mocap=True, pos=[0.0, 5.0, -TABLE_HEIGHT_M])
    skin = [0.85, 0.66, 0.55, 1.0]
    shirt = [0.2, 0.35, 0.55, 1.0]
    trousers = [0.15, 0.15, 0.2, 1.0]
    capsule = mujoco.mjtGeom.mjGEOM_CAPSULE
    no_contact = {"contype": 0, "conaffinity": 0}
    for side in (-1.0, 1.0):
        person.add_geom(
            type=capsule,
            size=[0.065, 0.0, 0.0],
            fromto=[0, side * 0.1, 0.07, 0, side * 0.1, 0.86],
            rgba=trousers,
            **no_contact,
        )
        person.add_geom(
            type=capsule,
            size=[0.045, 0.0, 0.0],
            fromto=[0, side * 0.24, 1.42, 0.05, side * 0.27, 0.85],
            rgba=shirt,
            **no_contact,
        )
    person.add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.11, 0.19, 0.29],
        pos=[0, 0, 1.18],
        rgba=shirt,
        **no_contact,
    )
    person.add_geom(
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
        size=[0.1, 0, 0],
        pos=[0, 0, PERSON_HEIGHT_M - 0.1],
        rgba=skin,
        **no_contact,
    )
    person.add_geom(
        type=capsule, size=[0.045, 0, 0], fromto=[0, 0, 1.47, 0, 0, 1.56], rgba=skin, **no_contact
    )

    # scene camera (pose written per episode) and lights (no shadows: rendering speed)
    world.add_camera(
        name=CAMERA_NAME,
        pos=list(camera_position_m),
        quat=list(rotation_to_quat(optical_to_mujoco_camera(camera_rotation_optical))),
        fovy=camera_fovy_deg,
    )
    if any(body.name == WRIST_CAMERA_FRAME for body in spec.bodies):
        # rides on the URDF's optical frame (z forward, y down), so it moves with the gripper
        spec.body(WRIST_CAMERA_FRAME).add_camera(
            name=WRIST_CAMERA_NAME,
            quat=list(rotation_to_quat(optical_to_mujoco_camera(np.eye(3)))),
            fovy=WRIST_CAMERA_FOVY_DEG,
        )
    if room_camera is not None:
        world.add_camera(
            name=ROOM_CAMERA_NAME,
            pos=list(room_camera.position_m),
            quat=list(rotation_to_quat(optical_to_mujoco_camera(room_camera.rotation_optical))),
            fovy=room_camera.fovy_deg,
        )
    world.add_light(
        name="key_light",
        pos=[0.3, 0.6, 2.0],
        dir=[0.0, -0.3, -1.0],
        diffuse=[0.7, 0.7, 0.7],
        castshadow=False,
    )
    world.add_light(
        name="fill_light",
        pos=[1.2, -0.8, 1.5],
        dir=[-0.6, 0.5, -1.0],
        diffuse=[0.3, 0.3, 0.3],
        castshadow=False,
    )
    spec.visual.headlight.ambient = [0.3, 0.3, 0.3]
    spec.visual.headlight.diffuse = [0.2, 0.2, 0.2]

    for joint_name, kp in zip(ARM_JOINTS, ARM_KP, strict=True):
        act = spec.add_actuator(
            name=f"{joint_name}_servo", target=joint_name, trntype=mujoco.mjtTrn.mjTRN_JOINT
        )
        act.set_to_position(kp=kp, kv=0.0)
        joint = spec.joint(joint_name)
        act.ctrlrange = list(joint.range)
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    for joint_name, kv in zip(ARM_JOINTS, ARM_KV, strict=True):
        damper = spec.add_actuator(
            name=f"{joint_name}_velocity", target=joint_name, trntype=mujoco.mjtTrn.mjTRN_JOINT
        )
        damper.set_to_velocity(kv=kv)
    grip = spec.add_actuator(
        name="gripper_servo", target=GRIPPER_JOINT, trntype=mujoco.mjtTrn.mjTRN_JOINT
    )
    grip.set_to_position(kp=GRIPPER_KP, kv=40.0)
    grip.ctrlrange = [GRIPPER_CLOSED_M, GRIPPER_OPEN_M]
    grip.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    grip.forcerange = [-60.0, 60.0]
    grip.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    return spec


def scene_ids(model: mujoco.MjModel, n_cubes: int) -> SceneIds:
    """Look up the indices the simulator needs in a model compiled from `build_spec`."""
    import mujoco

    def jid(name: str) -> int:
        return int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name))

    def bid(name: str) -> int:
        return int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name))

    def aid(name: str) -> int:
        return int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, name))

    def geoms_of(body: int) -> tuple[int, ...]:
        start, count = int(model.body_geomadr[body]), int(model.body_geomnum[body])
        return tuple(range(start, start + count))

    cube_bodies = tuple(bid(f"cube_{i}") for i in range(n_cubes))
    cube_joints = [jid(f"cube_{i}_free") for i in range(n_cubes)]
    fingers = tuple(bid(name) for name in FINGER_BODIES)
    person = bid("person")
    return SceneIds(
        arm_qpos=np.array([model.jnt_qposadr[jid(n)] for n in ARM_JOINTS]),
        arm_dof=np.array([model.jnt_dofadr[jid(n)] for n in ARM_JOINTS]),
        gripper_qpos=int(model.jnt_qposadr[jid(GRIPPER_JOINT)]),
        gripper_mirror_qpos=int(model.jnt_qposadr[jid(GRIPPER_MIRROR_JOINT)]),
        gripper_dof=int(model.jnt_dofadr[jid(GRIPPER_JOINT)]),
        arm_actuators=np.array([aid(f"{n}_servo") for n in ARM_JOINTS]),
        arm_velocity_actuators=np.array([aid(f"{n}_velocity") for n in ARM_JOINTS]),
        gripper_actuator=aid("gripper_servo"),
        cube_bodies=cube_bodies,
        cube_geoms=tuple(geoms_of(b)[0] for b in cube_bodies),
        cube_qpos=tuple(int(model.jnt_qposadr[j]) for j in cube_joints),
        cube_dof=tuple(int(model.jnt_dofadr[j]) for j in cube_joints),
        bowl_mocap=int(model.body_mocapid[bid("bowl")]),
        plate_mocap=int(model.body_mocapid[bid("plate")]),
        person_mocap=int(model.body_mocapid[person]),
        person_geoms=geoms_of(person),
        finger_bodies=fingers,
        finger_geoms=tuple(g for b in fingers for g in geoms_of(b)),
        tool_body=bid("tool0"),
        table_geom=int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "table_top")),
        camera=int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, CAMERA_NAME)),
        lights=tuple(
            int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_LIGHT, n))
            for n in ("key_light", "fill_light")
        ),
        room_camera=int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, ROOM_CAMERA_NAME)),
        wrist_camera=int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, WRIST_CAMERA_NAME)),
    )
