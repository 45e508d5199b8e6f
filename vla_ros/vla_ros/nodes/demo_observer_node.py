"""Demo observer node: watches the whole graph and feeds the ROS-free demo recorder.

Runs inside the `vla-ros demo` and `vla-ros eval` processes (use_sim_time: its clock is the
simulator's /clock). Publishes nothing. Subscribes:
  /clock (rosgraph_msgs/Clock), /camera/color/image_raw (sensor_msgs/Image) and
  /camera/color/camera_info (sensor_msgs/CameraInfo) (only when recording a video),
  /joint_states (sensor_msgs/JointState),
  /sim/task_state (vla_ros_msgs/TaskState, latched), /sim/person/pose (geometry_msgs/PoseStamped,
  ground truth, evaluation only), /safety/status (vla_ros_msgs/SafetyStatus),
  /humans (vla_ros_msgs/HumanDetectionArray), /policy/status (vla_ros_msgs/PolicyStatus),
  /policy/markers (visualization_msgs/Marker, predicted tool path), /instruction
  (vla_ros_msgs/Instruction), /vla/proposed_trajectory and /arm_controller/joint_trajectory
  (trajectory_msgs/JointTrajectory: proposals and the filtered command stream),
  /speech/feedback (std_msgs/String), /perception/heartbeat (vla_ros_msgs/Heartbeat).
Parameters (standalone only; `vla-ros demo` constructs it with its recorder): output_dir
(demo.mp4 and timeline.png are written there; "" = runs/observer), video_fps [Hz],
robot_config (relative to the package share directory). Standalone, it records whatever graph
is running until Ctrl-C:
  python -m vla_ros.nodes.demo_observer_node --ros-args -p use_sim_time:=true
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker
from vla_ros_msgs.msg import (
    Heartbeat,
    HumanDetectionArray,
    Instruction,
    PolicyStatus,
    SafetyStatus,
    TaskState,
)

from vla_ros import conversions as conv
from vla_ros.core.demo.overlay import PersonBoxOverlay
from vla_ros.core.demo.recorder import DemoRecorder, VideoWriter
from vla_ros.core.demo.report import plot_timeline
from vla_ros.core.demo.timeline import (
    DemoTimeline,
    HumansSample,
    InstructionEvent,
    MotionSample,
    PersonSample,
    PolicySample,
    SafetySample,
    TaskSample,
    person_separation_m,
)
from vla_ros.core.resources import resource_path
from vla_ros.core.robot_config import load_robot
from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS, ErrorCounter, run_node

# The simulated person (core.sim.scene): arms reach ~0.32 m from the feet axis, 1.75 m tall.
PERSON_BODY_RADIUS_M = 0.32
PERSON_HEIGHT_M = 1.75


class DemoObserverNode(Node):
    """Converts what the graph publishes into recorder samples; one callback per topic."""

    def __init__(
        self,
        recorder: DemoRecorder | None = None,
        robot=None,
        camera_frame: str = "",
        **kwargs,
    ) -> None:
        super().__init__("demo_observer", **kwargs)
        self.output_dir: Path | None = None
        if recorder is None:  # standalone: our own recorder, from parameters
            recorder, robot, camera_frame = self._standalone_recorder()
        self.recorder = recorder
        self.timeline = recorder.timeline
        self.robot = robot
        self.camera_frame = camera_frame
        self.errors = ErrorCounter(self)
        self.joint_positions: np.ndarray | None = None
        self.gripper_positions: np.ndarray | None = None
        self.episode_id = 0
        self.heartbeat: tuple[int, str] | None = None  # newest perception (status, message)
        subscriptions = (
            (Clock, "/clock", self.on_clock, 10),
            (Image, "/camera/color/image_raw", self.on_image, SENSOR_QOS),
            (CameraInfo, "/camera/color/camera_info", self.on_camera_info, SENSOR_QOS),
            (JointState, "/joint_states", self.on_joints, COMMAND_QOS),
            (TaskState, "/sim/task_state", self.on_task, LATCHED_QOS),
            (PoseStamped, "/sim/person/pose", self.on_person, 10),
            (SafetyStatus, "/safety/status", self.on_safety, COMMAND_QOS),
            (HumanDetectionArray, "/humans", self.on_humans, COMMAND_QOS),
            (PolicyStatus, "/policy/status", self.on_policy, COMMAND_QOS),
            (Marker, "/policy/markers", self.on_marker, COMMAND_QOS),
            (Instruction, "/instruction", self.on_instruction, COMMAND_QOS),
            (JointTrajectory, "/vla/proposed_trajectory", self.on_proposal, COMMAND_QOS),
            (JointTrajectory, "/arm_controller/joint_trajectory", self.on_command, COMMAND_QOS),
            (String, "/speech/feedback", self.on_feedback, COMMAND_QOS),
            (Heartbeat, "/perception/heartbeat", self.on_heartbeat, COMMAND_QOS),
        )
        if self.recorder.video is None:  # no video (vla-ros eval): images are not needed
            subscriptions = tuple(s for s in subscriptions if s[0] not in (Image, CameraInfo))
        self._subs = [self.create_subscription(t, n, cb, q) for t, n, cb, q in subscriptions]

    def _standalone_recorder(self):
        read_only = {"read_only": True}
        out = self.declare_parameter(
            "output_dir", "runs/observer", ParameterDescriptor(description="output", **read_only)
        ).value
        fps = self.declare_parameter(
            "video_fps", 15.0, ParameterDescriptor(description="video rate [Hz]", **read_only)
        ).value
        robot_path = self.declare_parameter(
            "robot_config",
            "config/robots/vla_arm6.yaml",
            ParameterDescriptor(description="robot config", **read_only),
        ).value
        path = robot_path if robot_path.startswith("/") else resource_path(robot_path)
        config, robot = load_robot(path)
        self.output_dir = Path(out)
        recorder = DemoRecorder(DemoTimeline(), VideoWriter(self.output_dir / "demo.mp4", fps))
        self.get_logger().info(f"recording to {self.output_dir} until Ctrl-C")
        return recorder, robot, config.camera_frame

    def destroy_node(self) -> None:
        if self.output_dir is not None:  # standalone: finish our files (once)
            out, self.output_dir = self.output_dir, None
            self.recorder.close()
            plot_timeline(self.timeline, out / "timeline.png")
            self.get_logger().info(f"wrote {out}")
        super().destroy_node()

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def on_clock(self, msg: Clock) -> None:
        self.timeline.advance(conv.clock_from_msg(msg))

    def on_image(self, msg: Image) -> None:
        try:
            rgb = conv.rgb_from_msg(msg)
        except ValueError as exc:
            self.errors.report("image", exc)
            return
        self.recorder.on_frame(conv.stamp_to_seconds(msg.header.stamp), rgb)

    def on_camera_info(self, msg: CameraInfo) -> None:
        if self.joint_positions is None:
            return
        try:
            intrinsics = conv.camera_info_from_msg(msg)
        except ValueError as exc:
            self.errors.report("camera_info", exc)
            return
        pose = self.robot.fk(self.joint_positions, frame=self.camera_frame)
        self.recorder.set_camera(intrinsics, pose)

    def on_joints(self, msg: JointState) -> None:
        try:
            q = conv.joint_positions_from_msg(msg, self.robot.joint_names)
            v = conv.joint_velocities_from_msg(msg, self.robot.joint_names)
            grip = None
            if set(msg.name).issuperset(self.robot.gripper_joint_names):
                grip = conv.joint_positions_from_msg(msg, self.robot.gripper_joint_names)
        except ValueError as exc:
            self.errors.report("joint_states", exc)
            return
        self.joint_positions, self.gripper_positions = q, grip
        if v is not None:
            stamp = conv.stamp_to_seconds(msg.header.stamp)
            self.timeline.add(MotionSample(stamp, float(np.max(np.abs(v)))))

    def on_task(self, msg: TaskState) -> None:
        try:
            s = conv.task_state_from_msg(msg)
        except ValueError as exc:
            self.errors.report("task_state", exc)
            return
        self.episode_id = s.episode_id
        self.timeline.add(
            TaskSample(
                conv.stamp_to_seconds(msg.header.stamp),
                s.episode_id,
                s.instruction,
                s.success,
                s.done,
                s.elapsed_s,
                s.time_limit_s,
            )
        )

    def on_person(self, msg: PoseStamped) -> None:
        if self.joint_positions is None:
            return
        try:
            position, _, stamp, _ = conv.pose_stamped_from_msg(msg)
        except ValueError as exc:
            self.errors.report("person_pose", exc)
            return
        points = self.robot.link_points(self.joint_positions, gripper=self.gripper_positions)
        separation = person_separation_m(
            position,
            points,
            self.robot.link_point_radii_m,
            body_radius_m=PERSON_BODY_RADIUS_M,
            height_m=PERSON_HEIGHT_M,
        )
        xyz = (float(position[0]), float(position[1]), float(position[2]))
        self.timeline.add(PersonSample(stamp, xyz, separation))

    def on_safety(self, msg: SafetyStatus) -> None:
        try:
            s = conv.safety_status_from_msg(msg)
        except ValueError as exc:
            self.errors.report("safety_status", exc)
            return
        self.timeline.add(
            SafetySample(
                self.now_s(),
                int(s.state),
                float(s.speed_scale),
                float(s.min_separation_m),
                float(s.protective_separation_m),
                tuple(s.reasons),
            )
        )

    def on_humans(self, msg: HumanDetectionArray) -> None:
        try:
            humans = conv.human_detections_from_msg(msg)
        except ValueError as exc:
            self.errors.report("humans", exc)
            return
        stamp = conv.stamp_to_seconds(msg.header.stamp)
        self.timeline.add(HumansSample(stamp, len(humans), float(msg.min_distance_to_robot_m)))
        boxes = []
        for h in humans:
            if h.box is None:
                continue
            distance = (
                f" {h.distance_to_robot_m:.2f} m" if np.isfinite(h.distance_to_robot_m) else ""
            )
            b = h.box
            label = f"#{h.track_id}{distance}"
            boxes.append(PersonBoxOverlay(b.x_min_px, b.y_min_px, b.x_max_px, b.y_max_px, label))
        self.recorder.set_people(tuple(boxes))

    def on_policy(self, msg: PolicyStatus) -> None:
        try:
            s = conv.policy_status_from_msg(msg)
        except ValueError as exc:
            self.errors.report("policy_status", exc)
            return
        self.timeline.add(
            PolicySample(
                self.now_s(),
                int(s.state),
                s.backend,
                s.inference_latency_last_ms,
                s.inference_latency_p50_ms,
                s.inference_latency_p99_ms,
                int(s.chunks_received),
                float(s.chunk_age_s),
                int(s.underruns),
                int(s.observations_dropped),
            )
        )

    def on_marker(self, msg: Marker) -> None:
        try:
            self.recorder.set_tool_path(conv.path_marker_from_msg(msg))
        except ValueError as exc:
            self.errors.report("policy_marker", exc)

    def on_instruction(self, msg: Instruction) -> None:
        try:
            text, _, stamp = conv.instruction_from_msg(msg)
        except ValueError as exc:
            self.errors.report("instruction", exc)
            return
        source = "voice" if msg.source == Instruction.SOURCE_VOICE else "text"
        # speech stamps are wall-clock (end of the utterance), like a live microphone's
        latency = time.time() - stamp if stamp > 0.0 else float("nan")
        self.timeline.add(
            InstructionEvent(self.now_s(), text, source, float(msg.confidence), latency)
        )
        self.recorder.set_instruction(text)

    def on_proposal(self, msg: JointTrajectory) -> None:
        del msg
        self.timeline.add_command(self.now_s(), proposal=True)

    def on_command(self, msg: JointTrajectory) -> None:
        now = self.now_s()
        self.timeline.add_command(now)
        if msg.points:
            target = " ".join(f"{v:+.2f}" for v in msg.points[-1].positions)
            horizon = conv.duration_to_seconds(msg.points[-1].time_from_start)
            self.recorder.note_command(f"{now:7.2f} s  cmd -> [{target}] in {horizon:.2f} s")

    def on_feedback(self, msg: String) -> None:
        self.timeline.add_feedback(self.now_s(), msg.data)
        self.recorder.set_feedback(msg.data)

    def on_heartbeat(self, msg: Heartbeat) -> None:
        try:
            _, _, _, status, message = conv.heartbeat_from_msg(msg)
        except ValueError as exc:
            self.errors.report("heartbeat", exc)
            return
        self.heartbeat = (status, message)


def main(args=None) -> None:
    """Standalone observer: `python -m vla_ros.nodes.demo_observer_node --ros-args ...`."""
    run_node(DemoObserverNode, args)


if __name__ == "__main__":
    main()
