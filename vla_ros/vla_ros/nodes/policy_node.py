"""VLA policy node: camera, joint states and instruction in; proposed commands to safety.

Inference runs on a worker thread; a control timer emits the scheduled action at
control_rate_hz whatever the model's latency (core.chunking.ChunkRunner).

Subscribes:
  /camera/color/image_raw  sensor_msgs/Image         colour camera (the policy's first camera)
  /camera/depth/image_raw  sensor_msgs/Image         depth (used when the policy wants depth)
  /wrist_camera/color/image_raw sensor_msgs/Image    the policy's "wrist" camera (and any
                                                     other camera in extra_camera_topics)
  /joint_states            sensor_msgs/JointState
  /instruction             vla_ros_msgs/Instruction  new text: reset and replan; empty: idle
Publishes:
  /vla/proposed_trajectory trajectory_msgs/JointTrajectory  current + next actions (joint spaces)
  /vla/proposed_twist      geometry_msgs/TwistStamped       end-effector spaces
  /policy/status           vla_ros_msgs/PolicyStatus        at status_rate_hz
  /policy/markers          visualization_msgs/Marker        predicted tool path (urdf_path set)
Parameters (all read-only but trajectory_points; defaults and descriptions in PARAMETERS):
  backend, backend_options (a YAML mapping of the backend's config fields, in a string: on the
  command line quote it, -p 'backend_options:="{checkpoint_dir: models/vla, runtime: onnx}"');
  control_rate_hz, refill_fraction, blend, old_weight, ensemble_decay, jump_margin,
  min_rate_per_s, rate_memory, max_chunk_age_s (chunk scheduling, core.chunking);
  max_skew_s, staleness_limit_s, extra_camera_topics (observation assembly; a YAML mapping
  of the policy's further image keys to topics); trajectory_points, gripper_joint,
  base_frame, urdf_path, status_rate_hz, retry_interval_s.
"""

from __future__ import annotations

import time
from typing import Any

import yaml
from geometry_msgs.msg import TwistStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker
from vla_ros_msgs.msg import Instruction, PolicyStatus

from vla_ros import conversions as conv
from vla_ros.core.chunking import ChunkRunner, RateMeter
from vla_ros.core.policy.backends import make_policy
from vla_ros.core.policy.session import (
    AssemblyConfig,
    ObservationAssembler,
    matched_wording,
    scheduler_config,
    status_report,
    tool_path,
    trajectory_rows,
    twist_from_action,
)
from vla_ros.nodes.common import COMMAND_QOS, SENSOR_QOS, ErrorCounter, run_node

# name: (default, description, read_only)
PARAMETERS = {
    "backend": ("embedded", "policy backend: embedded, remote, lerobot", True),
    "backend_options": ("{}", "backend options as a YAML mapping", True),
    "control_rate_hz": (50.0, "[Hz] command output rate", True),
    "refill_fraction": (0.5, "request a chunk below this fraction of horizon left", True),
    "blend": (
        "weighted_average",
        "latest_only, weighted_average, temporal_ensemble or prefix_conditioned",
        True,
    ),
    "old_weight": (0.3, "weight of queued actions in weighted_average", True),
    "ensemble_decay": (0.01, "ACT temporal-ensembling decay", True),
    "jump_margin": (1.5, "output step <= this x the steepest chunk step", True),
    "min_rate_per_s": (0.1, "[action units/s] floor of the output rate limit", True),
    "rate_memory": (2, "newest chunks whose steepest steps set the rate limit", True),
    "max_chunk_age_s": (2.0, "[s] discard chunks answering older observations", True),
    "max_skew_s": (0.1, "[s] largest camera/joint-state stamp difference", True),
    "staleness_limit_s": (0.5, "[s] largest camera image age at request time", True),
    "extra_camera_topics": (
        "{wrist: /wrist_camera/color/image_raw}",
        "YAML mapping: the policy's image keys after the first -> sensor_msgs/Image topics",
        True,
    ),
    "trajectory_points": (5, "points per proposed trajectory (current + next actions)", False),
    "gripper_joint": ("", "joint receiving the gripper action ('' drops it)", True),
    "base_frame": ("base_link", "frame of twists and markers", True),
    "urdf_path": ("", "robot URDF for the tool-path markers ('' = no markers)", True),
    "status_rate_hz": (2.0, "[Hz] /policy/status rate", True),
    "retry_interval_s": (1.0, "[s] wait before retrying a failed backend", True),
}


def parse_camera_topics(text: str) -> dict[str, str]:
    """extra_camera_topics (a YAML mapping in a string) -> {image key: topic}; ValueError when
    it is not a mapping of names to absolute topic names."""
    try:
        value = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"extra_camera_topics is not YAML: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.startswith("/") for k, v in value.items()
    ):
        raise ValueError(f"extra_camera_topics must map image keys to /topics, got {text!r}")
    return dict(value)


class PolicyNode(Node):
    """Messages -> ObservationAssembler / ChunkRunner -> proposed commands and status."""

    def __init__(self, **node_kwargs) -> None:
        super().__init__("policy_node", **node_kwargs)
        for name, (default, text, read_only) in PARAMETERS.items():
            descriptor = ParameterDescriptor(description=text, read_only=read_only)
            self.declare_parameter(name, default, descriptor)
        self.p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.errors = ErrorCounter(self)
        self.runner: ChunkRunner | None = None
        self.policy: Any = None  # the backend (its last_match, if any, goes into the status)
        self.reported_match: tuple[str, str] = ("", "")  # (instruction id, wording) logged
        self.assembler: ObservationAssembler | None = None
        self.instruction = ("", "")  # latest (text, id), kept until a backend is ready
        self.robot = None
        self.control_rate = RateMeter()
        self.last_rate = (time.monotonic(), 0)
        self.traj_pub = self.create_publisher(
            JointTrajectory, "/vla/proposed_trajectory", COMMAND_QOS
        )
        self.twist_pub = self.create_publisher(TwistStamped, "/vla/proposed_twist", COMMAND_QOS)
        self.status_pub = self.create_publisher(PolicyStatus, "/policy/status", COMMAND_QOS)
        self.marker_pub = self.create_publisher(Marker, "/policy/markers", COMMAND_QOS)
        self.create_subscription(Image, "/camera/color/image_raw", self.on_image, SENSOR_QOS)
        self.create_subscription(Image, "/camera/depth/image_raw", self.on_depth, SENSOR_QOS)
        self.extra_camera_topics = parse_camera_topics(self.p["extra_camera_topics"])
        for key, topic in self.extra_camera_topics.items():
            self.create_subscription(
                Image, topic, lambda msg, key=key: self.on_image(msg, key), SENSOR_QOS
            )
        self.create_subscription(JointState, "/joint_states", self.on_joints, SENSOR_QOS)
        self.create_subscription(Instruction, "/instruction", self.on_instruction, COMMAND_QOS)
        # The control timer gets its own group: sensor callbacks never delay a command.
        period_s = 1.0 / self.p["control_rate_hz"]
        self.create_timer(period_s, self.on_control, MutuallyExclusiveCallbackGroup())
        self.create_timer(1.0 / self.p["status_rate_hz"], self.on_status)
        self.start_timer = self.create_timer(self.p["retry_interval_s"], self.start_policy)
        self.start_policy()

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def start_policy(self) -> None:
        """Build the backend; on failure report ERROR and retry every retry_interval_s."""
        p = self.p
        try:
            policy = make_policy(p["backend"], yaml.safe_load(p["backend_options"]) or {})
            spec = policy.spec
            self.policy = policy
            if hasattr(policy, "warm_up"):  # no multi-second outlier on the first instruction
                policy.warm_up()
            unmapped = [k for k in spec.image_keys[1:] if k not in self.extra_camera_topics]
            if unmapped:
                raise ValueError(
                    f"the policy needs cameras {unmapped}: give their topics in"
                    f" extra_camera_topics (now {self.extra_camera_topics})"
                )
            assembly = AssemblyConfig(
                spec.image_keys[0],
                spec.use_depth,
                p["max_skew_s"],
                p["staleness_limit_s"],
                extra_camera_keys=spec.image_keys[1:],
            )
            if p["urdf_path"] and spec.action_space.is_joint:
                from vla_ros.core.robot_model import RobotModel  # lazy: pinocchio

                self.robot = RobotModel.from_urdf(p["urdf_path"])
            self.assembler = ObservationAssembler(assembly, spec.observed_joints)
            self.runner = ChunkRunner(
                policy,
                scheduler_config(p, spec),
                self.observation,
                clock_s=self.now_s,
                retry_interval_s=p["retry_interval_s"],
            )
        except Exception as exc:  # any backend failure: report, publish nothing, retry
            self.errors.report("backend", f"{type(exc).__name__}: {exc}")
            return
        self.start_timer.cancel()
        self.apply_instruction()  # one that arrived while the backend was starting
        self.get_logger().info(f"policy backend '{p['backend']}' ready: {spec.to_dict()}")

    def observation(self):
        return self.assembler.assemble(self.now_s())

    # ------------------------------------------------------------------ inputs

    def on_image(self, msg: Image, key: str = "") -> None:
        """A colour image of the first camera (key "") or of extra camera `key`."""
        assembler = self.assembler
        if assembler is None or (key and key not in assembler.config.extra_camera_keys):
            return  # not started, or a camera this policy does not use
        try:
            rgb = conv.rgb_from_msg(msg)
        except ValueError as exc:
            self.errors.report(f"{key} image" if key else "image", exc)
            return
        assembler.set_image(rgb, conv.stamp_to_seconds(msg.header.stamp), key)

    def on_depth(self, msg: Image) -> None:
        if self.assembler is not None and self.assembler.config.use_depth:
            try:
                depth = conv.depth_from_msg(msg)
            except ValueError as exc:
                self.errors.report("depth", exc)
                return
            self.assembler.set_depth(depth, conv.stamp_to_seconds(msg.header.stamp))

    def on_joints(self, msg: JointState) -> None:
        if self.assembler is not None:
            try:
                q = conv.joint_positions_from_msg(msg, self.assembler.joint_names)
            except ValueError as exc:
                self.errors.report("joint_states", exc)
                return
            self.assembler.set_joints(q, conv.stamp_to_seconds(msg.header.stamp))

    def on_instruction(self, msg: Instruction) -> None:
        try:
            text, instruction_id, _ = conv.instruction_from_msg(msg)
        except ValueError as exc:
            self.errors.report("instruction", exc)
            return
        self.instruction = (text, instruction_id)
        if self.runner is not None and self.assembler is not None:
            self.apply_instruction()

    def apply_instruction(self) -> None:
        text, instruction_id = self.instruction
        if self.assembler.set_instruction(text, instruction_id):
            self.runner.reset()  # new task or cancel: drop queued actions, replan
            self.get_logger().info(f"instruction '{text}' ({instruction_id or 'no id'})")

    # ------------------------------------------------------------------ outputs

    def on_control(self) -> None:
        if self.runner is None or self.assembler is None or not self.assembler.instruction:
            return
        out = self.runner.tick()
        if out is None:
            return
        spec, stamp = self.runner.spec, self.now_s()
        if spec.action_space.is_joint:
            gripper = self.p["gripper_joint"] if spec.has_gripper else ""
            ahead = self.runner.preview(self.p["trajectory_points"] - 1)
            times, positions = trajectory_rows(
                out.action,
                ahead,
                spec,
                with_gripper=bool(gripper),
                first_time_s=1.0 / self.p["control_rate_hz"],
            )
            names = [*spec.joint_names, *([gripper] if gripper else [])]
            self.traj_pub.publish(conv.trajectory_to_msg(names, times, positions, stamp_s=stamp))
        else:
            twist = twist_from_action(out.action, spec.action_space, spec.step_duration_s)
            self.twist_pub.publish(conv.twist_stamped_to_msg(twist, stamp, self.p["base_frame"]))
        self.control_rate.mark(time.monotonic())

    def on_status(self) -> None:
        now, runner = time.monotonic(), self.runner
        status = runner.status() if runner is not None else None
        chunks = status.chunks_received if status else 0
        last_t, last_chunks = self.last_rate
        self.last_rate = (now, chunks)
        report = status_report(
            stamp_s=self.now_s(),
            backend=self.p["backend"],
            assembler=self.assembler,
            runner_status=status,
            chunk_length=runner.spec.chunk_length if runner else 0,
            control_rate_hz=self.control_rate.rate_hz(now),
            inference_rate_hz=(chunks - last_chunks) / max(now - last_t, 1e-6),
            instruction_matched=matched_wording(
                getattr(self.policy, "last_match", None),
                self.assembler.instruction if self.assembler else "",
            ),
        )
        self.status_pub.publish(conv.policy_status_to_msg(report))
        reading = (report.instruction_id, report.instruction_matched)
        if report.instruction_matched and reading != self.reported_match:
            self.get_logger().info(
                f"instruction '{report.instruction_text}' is read as the training wording"
                f" '{report.instruction_matched}' (instruction matching)"
            )
        self.reported_match = reading
        if self.robot is not None and runner is not None and self.assembler.instruction:
            ahead = runner.preview(runner.spec.chunk_length)
            if ahead is not None and len(ahead) > 1:
                path = tool_path(self.robot.fk, ahead[:, : self.robot.dof])
                self.marker_pub.publish(
                    conv.path_marker_to_msg(path, report.stamp_s, self.p["base_frame"])
                )

    def destroy_node(self) -> None:
        if self.runner is not None:
            self.runner.close()
        super().destroy_node()


def main(args=None):
    run_node(PolicyNode, args)


if __name__ == "__main__":
    main()
