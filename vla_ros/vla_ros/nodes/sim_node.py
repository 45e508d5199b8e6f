"""The simulated robot cell as a ROS 2 node: a MuJoCo arm that looks like a ros2_control arm.

Publishes:
  /clock (rosgraph_msgs/Clock): simulated time, every controller period; run every other
      node with use_sim_time:=true. This node itself runs on wall time (it is the clock).
  /joint_states (sensor_msgs/JointState): joint_1..joint_6, finger_joint (position, velocity,
      effort) at joint_state_rate_hz.
  /camera/color/image_raw (sensor_msgs/Image, rgb8), /camera/color/camera_info,
  /camera/depth/image_raw (sensor_msgs/Image, 32FC1 metres or 16UC1 millimetres),
  /camera/depth/camera_info: the fixed scene camera at camera_rate_hz (sensor-data QoS),
      frame camera_optical_frame.
  /wrist_camera/color/image_raw, /wrist_camera/color/camera_info: the gripper's wrist camera
      (RGB only; frame wrist_camera_optical_frame, moving with the gripper: its pose is in
      the URDF), same stamps, size and QoS, only with wrist_camera: true.
  /room_camera/color/image_raw, /room_camera/color/camera_info, /room_camera/depth/image_raw,
  /room_camera/depth/camera_info: the same for the fixed room camera high in a corner of the
      cell (frame room_camera_optical_frame, same stamps, encodings, size and QoS), only with
      room_camera: true. Its pose is not in the URDF: it is room_camera_position_m /
      room_camera_orientation_xyzw (optical frame in the base frame), never jittered.
  /sim/task_state (vla_ros_msgs/TaskState, latched): episode, instruction, success, done.
  /sim/person/pose (geometry_msgs/PoseStamped, frame base_link): ground truth of the
      simulated person's feet while present (evaluation only; the stack must not use it).
Subscribes:
  /arm_controller/joint_trajectory (trajectory_msgs/JointTrajectory): joint_trajectory_controller
      semantics (stamp 0 = now; a new goal replaces the old one from its start time).
  /forward_position_controller/commands (std_msgs/Float64MultiArray): 6 joint positions [rad].
  /gripper_controller/joint_trajectory (trajectory_msgs/JointTrajectory): finger_joint [m].
Services:
  /sim/reset_episode (vla_ros_msgs/srv/ResetEpisode), /sim/pause (std_srvs/SetBool),
  /sim/person/walk_in (std_srvs/Trigger): the person starts the walk_in_* walk now, in the
      current episode (scenario scripting, e.g. the demo's mid-task walk-in).
Parameters (defaults in config/sim.yaml):
  image_width_px, image_height_px, camera_fovy_deg, camera_rate_hz [Hz], depth_encoding
  ("32FC1" | "16UC1"), joint_state_rate_hz [Hz], control_period_s [s], real_time_factor
  (1.0 = real time, 0 = as fast as possible), interpolation ("linear" | "cubic"), urdf_path,
  seed, task, with_person, auto_reset (start the next episode, seed + 1, when one is done);
  walk_in_speed_m_s [m/s], walk_in_closest_approach_m [m] (from the base), walk_in_bearing_rad
  [rad] (direction of the closest point, 0 = +x, pi = behind the robot), walk_in_pause_s [s],
  walk_in_walk_sign (+1 / -1): the walk that /sim/person/walk_in starts; wrist_camera (off:
  nothing rendered or published for it); room_camera (off:
  no room camera in the model, nothing rendered or published for it), room_camera_position_m
  [m], room_camera_orientation_xyzw, room_camera_fovy_deg [deg].
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory
from vla_ros_msgs.msg import TaskState
from vla_ros_msgs.srv import ResetEpisode

from vla_ros import conversions as conv
from vla_ros.core.sim.env import SimConfig, SimEnv
from vla_ros.core.sim.person import PersonSchedule
from vla_ros.core.sim.scene import (
    ARM_JOINTS,
    GRIPPER_JOINT,
    ROOM_CAMERA_NAME,
    TABLE_HEIGHT_M,
    WRIST_CAMERA_FRAME,
    WRIST_CAMERA_NAME,
)
from vla_ros.core.sim.tasks import EpisodeStatus, SimStateView
from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS, ErrorCounter, run_node

_WALK_IN_FIELDS = ("speed_m_s", "closest_approach_m", "bearing_rad", "pause_s", "walk_sign")
_MAX_LAG_S = 0.2  # [s] wall time the sim may fall behind before it stops catching up


class SimNode(Node):
    """Steps the simulated cell in (scaled) real time and serves it like a real arm."""

    def __init__(self, **node_kwargs: object) -> None:
        super().__init__("sim", **node_kwargs)
        p = self._declare_parameters()
        self._config = SimConfig(
            urdf_path=p["urdf_path"],
            image_width_px=p["image_width_px"],
            image_height_px=p["image_height_px"],
            camera_fovy_deg=p["camera_fovy_deg"],
            control_period_s=p["control_period_s"],
            interpolation=p["interpolation"],
            room_camera=p["room_camera"],
            room_camera_position_m=tuple(p["room_camera_position_m"]),
            room_camera_orientation_xyzw=tuple(p["room_camera_orientation_xyzw"]),
            room_camera_fovy_deg=p["room_camera_fovy_deg"],
        )
        if p["depth_encoding"] not in ("32FC1", "16UC1"):
            raise ValueError("depth_encoding must be 32FC1 or 16UC1")
        if p["camera_rate_hz"] <= 0.0 or p["joint_state_rate_hz"] <= 0.0:
            raise ValueError("camera_rate_hz and joint_state_rate_hz must be > 0")
        self._depth_encoding = p["depth_encoding"]
        self._camera_period_s = 1.0 / p["camera_rate_hz"]
        self._joint_period_s = 1.0 / p["joint_state_rate_hz"]
        self._rtf = p["real_time_factor"]
        self._auto_reset = p["auto_reset"]
        self._walk_in = {k: p[f"walk_in_{k}"] for k in _WALK_IN_FIELDS}
        PersonSchedule(start_time_s=0.0, **self._walk_in)  # ValueError: refuse to start
        self.env = SimEnv(self._config)
        self._seed, self._with_person = p["seed"], p["with_person"]
        self.env.reset(self._seed, p["task"], with_person=self._with_person)
        self.errors = ErrorCounter(self)
        self.paused = False
        self._next_camera_s = self._next_joint_s = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()

        self._clock_pub = self.create_publisher(Clock, "/clock", 10)
        self._joint_pub = self.create_publisher(JointState, "/joint_states", COMMAND_QOS)
        self._rgb_pub = self.create_publisher(Image, "/camera/color/image_raw", SENSOR_QOS)
        self._rgb_info_pub = self.create_publisher(
            CameraInfo, "/camera/color/camera_info", SENSOR_QOS
        )
        self._depth_pub = self.create_publisher(Image, "/camera/depth/image_raw", SENSOR_QOS)
        self._depth_info_pub = self.create_publisher(
            CameraInfo, "/camera/depth/camera_info", SENSOR_QOS
        )
        self._wrist_pubs: tuple | None = None
        if p["wrist_camera"]:
            self._wrist_pubs = (
                self.create_publisher(Image, "/wrist_camera/color/image_raw", SENSOR_QOS),
                self.create_publisher(CameraInfo, "/wrist_camera/color/camera_info", SENSOR_QOS),
            )
        self._room_pubs: tuple | None = None
        if self._config.room_camera:
            self._room_pubs = (
                self.create_publisher(Image, "/room_camera/color/image_raw", SENSOR_QOS),
                self.create_publisher(CameraInfo, "/room_camera/color/camera_info", SENSOR_QOS),
                self.create_publisher(Image, "/room_camera/depth/image_raw", SENSOR_QOS),
                self.create_publisher(CameraInfo, "/room_camera/depth/camera_info", SENSOR_QOS),
            )
        self._task_pub = self.create_publisher(TaskState, "/sim/task_state", LATCHED_QOS)
        self._person_pub = self.create_publisher(PoseStamped, "/sim/person/pose", 10)
        self.create_subscription(
            JointTrajectory,
            "/arm_controller/joint_trajectory",
            self._on_arm_trajectory,
            COMMAND_QOS,
        )
        self.create_subscription(
            Float64MultiArray,
            "/forward_position_controller/commands",
            self._on_forward,
            COMMAND_QOS,
        )
        self.create_subscription(
            JointTrajectory,
            "/gripper_controller/joint_trajectory",
            self._on_gripper,
            COMMAND_QOS,
        )
        self.create_service(ResetEpisode, "/sim/reset_episode", self._on_reset)
        self.create_service(SetBool, "/sim/pause", self._on_pause)
        self.create_service(Trigger, "/sim/person/walk_in", self._on_walk_in)
        self._publish_task_state()
        self._thread = threading.Thread(target=self._run, name="sim", daemon=True)
        self._thread.start()

    def _declare_parameters(self) -> dict:
        specs = {
            "urdf_path": ("", "robot URDF; empty = packaged vla_arm6"),
            "image_width_px": (320, "camera image width [px]"),
            "image_height_px": (240, "camera image height [px]"),
            "camera_fovy_deg": (58.0, "vertical field of view [deg]"),
            "camera_rate_hz": (15.0, "camera frame rate in simulated time [Hz]"),
            "depth_encoding": ("32FC1", "depth image encoding: 32FC1 (m) or 16UC1 (mm)"),
            "joint_state_rate_hz": (100.0, "joint state rate in simulated time [Hz]"),
            "control_period_s": (0.01, "controller update period [s]"),
            "real_time_factor": (1.0, "simulated seconds per wall second; 0 = unthrottled"),
            "interpolation": ("cubic", "trajectory interpolation: linear or cubic"),
            "seed": (0, "seed of the first episode"),
            "task": ("", "first episode: family, instruction or empty for random"),
            "with_person": (False, "schedule a person walking past in each episode"),
            "auto_reset": (False, "start the next episode (seed + 1) when one is done"),
            "walk_in_speed_m_s": (1.0, "walk_in: walking speed [m/s]"),
            "walk_in_closest_approach_m": (1.0, "walk_in: closest distance to the base [m]"),
            "walk_in_bearing_rad": (0.75 * math.pi, "walk_in: bearing of the closest point [rad]"),
            "walk_in_pause_s": (2.0, "walk_in: standing still at the closest point [s]"),
            "walk_in_walk_sign": (-1.0, "walk_in: +1 / -1, direction along the walk line"),
            "wrist_camera": (True, "render and publish the wrist camera (/wrist_camera/*)"),
            "room_camera": (True, "render and publish the fixed room camera (/room_camera/*)"),
            "room_camera_position_m": (
                list(SimConfig.room_camera_position_m),
                "room camera optical frame position in the base frame [m]",
            ),
            "room_camera_orientation_xyzw": (
                list(SimConfig.room_camera_orientation_xyzw),
                "room camera optical frame orientation in the base frame (quaternion x y z w)",
            ),
            "room_camera_fovy_deg": (
                SimConfig.room_camera_fovy_deg,
                "room camera vertical FOV [deg]",
            ),
        }
        values = {}
        for name, (default, description) in specs.items():
            self.declare_parameter(name, default, _descriptor(description))
            values[name] = self.get_parameter(name).value
        return values

    # ------------------------------------------------------------------ commands

    def _on_arm_trajectory(self, msg: JointTrajectory) -> None:
        try:
            times, positions, velocities = conv.trajectory_from_msg(msg, ARM_JOINTS)
            stamp = conv.stamp_to_seconds(msg.header.stamp)
            with self._lock:
                self.env.command_arm_trajectory(times, positions, velocities, stamp)
        except ValueError as exc:
            self.errors.report("arm trajectory", exc)

    def _on_forward(self, msg: Float64MultiArray) -> None:
        try:
            with self._lock:
                self.env.command_arm_positions(conv.float_array_from_msg(msg, len(ARM_JOINTS)))
        except ValueError as exc:
            self.errors.report("forward command", exc)

    def _on_gripper(self, msg: JointTrajectory) -> None:
        try:
            times, positions, _ = conv.trajectory_from_msg(msg, (GRIPPER_JOINT,))
            stamp = conv.stamp_to_seconds(msg.header.stamp)
            with self._lock:
                self.env.command_gripper_trajectory(times, positions, stamp)
        except ValueError as exc:
            self.errors.report("gripper trajectory", exc)

    def _on_reset(self, request: ResetEpisode.Request, response: ResetEpisode.Response):
        seed, task, with_person = conv.reset_episode_request_from_msg(request)
        with self._lock:
            try:
                info = self.env.reset(seed, task, with_person=with_person)
            except ValueError as exc:
                response.success, response.message = False, str(exc)
                return response
            self._seed, self._with_person = seed, with_person
            self._next_camera_s = self._next_joint_s = self.env.time_s
            self._publish_task_state()
        response.success, response.episode_id = True, info.episode_id
        response.instruction = info.task.instruction
        return response

    def _on_walk_in(self, request: Trigger.Request, response: Trigger.Response):
        del request
        with self._lock:
            schedule = PersonSchedule(
                start_time_s=self.env.episode_time_s, floor_z_m=-TABLE_HEIGHT_M, **self._walk_in
            )
            self.env.start_person_walk(schedule)
        response.success = True
        response.message = (
            f"person walking in at episode time {schedule.start_time_s:.2f} s, closest "
            f"{schedule.closest_approach_m:.2f} m at {schedule.closest_time_s:.2f} s"
        )
        return response

    def state_view(self) -> SimStateView:
        """Privileged simulator state (for a sim-side scripted policy; never for the stack)."""
        with self._lock:
            return self.env.state_view()

    def _on_pause(self, request: SetBool.Request, response: SetBool.Response):
        self.paused = bool(request.data)
        response.success, response.message = True, "paused" if self.paused else "running"
        return response

    # ------------------------------------------------------------------ stepping

    def _run(self) -> None:
        """Sim thread: owns the renderer (a GL context is bound to one thread)."""
        period = self._config.control_period_s
        next_wall = time.monotonic()
        while not self._stop.is_set():
            if self.paused:
                self._stop.wait(0.01)
                next_wall = time.monotonic()
                continue
            try:
                with self._lock:
                    self._step_once()
            except Exception:
                if not self.context.ok():  # shut down under us (Ctrl-C): just stop
                    break
                raise
            if self._rtf <= 0.0:
                time.sleep(0)  # let the executor threads take the lock
                continue
            next_wall += period / self._rtf
            delay = next_wall - time.monotonic()
            if delay > 0.0:
                self._stop.wait(delay)
            elif delay < -_MAX_LAG_S:
                next_wall = time.monotonic()  # fell behind (slow renders): do not race to catch up
        self.env.close()

    def _step_once(self) -> None:
        env = self.env
        env.step()
        stamp = env.time_s
        self._clock_pub.publish(conv.clock_to_msg(stamp))
        if stamp + 1e-9 >= self._next_joint_s:
            self._next_joint_s += self._joint_period_s * math.ceil(
                (stamp + 1e-9 - self._next_joint_s) / self._joint_period_s + 1e-9
            )
            joints = env.joint_state()
            self._joint_pub.publish(
                conv.joint_state_to_msg(
                    joints.names, joints.positions, joints.velocities, joints.efforts, stamp
                )
            )
        if stamp + 1e-9 >= self._next_camera_s:
            self._next_camera_s += self._camera_period_s * math.ceil(
                (stamp + 1e-9 - self._next_camera_s) / self._camera_period_s + 1e-9
            )
            self._publish_camera(stamp)
            self._publish_task_state()
            self._publish_person(stamp)

    def _publish_camera(self, stamp: float) -> None:
        rgb, depth = self.env.render()
        frame = "camera_optical_frame"
        info = conv.camera_info_to_msg(self.env.intrinsics(), stamp, frame)
        self._rgb_pub.publish(conv.image_to_msg(rgb, "rgb8", stamp, frame))
        self._rgb_info_pub.publish(info)
        assert depth is not None
        self._depth_pub.publish(conv.depth_to_msg(depth, self._depth_encoding, stamp, frame))
        self._depth_info_pub.publish(info)
        if self._wrist_pubs is not None:
            rgb, _ = self.env.render(camera=WRIST_CAMERA_NAME, with_depth=False)
            frame = WRIST_CAMERA_FRAME
            info = conv.camera_info_to_msg(self.env.intrinsics(WRIST_CAMERA_NAME), stamp, frame)
            self._wrist_pubs[0].publish(conv.image_to_msg(rgb, "rgb8", stamp, frame))
            self._wrist_pubs[1].publish(info)
        if self._room_pubs is not None:
            rgb_pub, rgb_info_pub, depth_pub, depth_info_pub = self._room_pubs
            rgb, depth = self.env.render(camera=ROOM_CAMERA_NAME)
            frame = "room_camera_optical_frame"
            info = conv.camera_info_to_msg(self.env.intrinsics(ROOM_CAMERA_NAME), stamp, frame)
            rgb_pub.publish(conv.image_to_msg(rgb, "rgb8", stamp, frame))
            rgb_info_pub.publish(info)
            assert depth is not None
            depth_pub.publish(conv.depth_to_msg(depth, self._depth_encoding, stamp, frame))
            depth_info_pub.publish(info)

    def _publish_task_state(self) -> None:
        env = self.env
        success, done = env.task_status()
        episode = env.episode
        status = EpisodeStatus(
            episode.episode_id,
            episode.seed,
            episode.task.family,
            episode.task.instruction,
            success,
            done,
            env.episode_time_s,
            episode.task.time_limit_s,
        )
        self._task_pub.publish(conv.task_state_to_msg(status, env.time_s))
        if done and self._auto_reset:
            self._seed += 1
            env.reset(self._seed, "", with_person=self._with_person)

    def _publish_person(self, stamp: float) -> None:
        pose = self.env.person_pose()
        if pose is None:
            return
        position, yaw = pose
        quat = np.array([0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)])
        self._person_pub.publish(conv.pose_stamped_to_msg(position, quat, stamp, "base_link"))

    def destroy_node(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)
        super().destroy_node()


def _descriptor(description: str) -> ParameterDescriptor:
    return ParameterDescriptor(description=description, read_only=True)


def main(args=None) -> None:
    run_node(SimNode, args)


if __name__ == "__main__":
    main()
