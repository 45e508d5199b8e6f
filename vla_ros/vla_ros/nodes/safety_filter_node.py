"""Safety filter node: nothing a policy proposes reaches a controller except through it.

Subscribes:
  /vla/proposed_trajectory  trajectory_msgs/JointTrajectory   proposed chunk or target (stamped)
  /vla/proposed_twist       geometry_msgs/TwistStamped        proposed end-effector/base twist
  /joint_states             sensor_msgs/JointState            measured state (watchdog)
  /humans                   vla_ros_msgs/HumanDetectionArray  people in the base frame (SSM)
  /perception/heartbeat     vla_ros_msgs/Heartbeat            perception liveness (watchdog)
  /safety/estop             std_msgs/Bool (latched QoS)       true latches the e-stop
Publishes:
  controller_topic          JointTrajectory (output_mode joint_trajectory, default
                            /arm_controller/joint_trajectory), Float64MultiArray
                            (forward_position, /forward_position_controller/commands) or
                            TwistStamped (twist, /servo_node/delta_twist_cmds)
  /gripper_controller/joint_trajectory  JointTrajectory: the gripper columns of a proposal
                            (robot's gripper joints, e.g. finger_joint), clamped to the gripper's
                            limits, forwarded only with an arm command that passed while OK or
                            SLOWED (a stop or e-stop holds the gripper too), each point timed
                            no earlier than the filtered arm reaches that point's posture; the
                            core SafetyFilter decides, this node only publishes its
                            GripperCommand
  /safety/status            vla_ros_msgs/SafetyStatus at status_rate_hz and on every change
  /diagnostics              diagnostic_msgs/DiagnosticArray
  /safety/markers           visualization_msgs/MarkerArray
Services:
  /safety/reset             std_srvs/Trigger: clears the e-stop latch; refused while faulted
Parameters (read-only):
  config_file (str, default <share>/config/safety.yaml): limits, zones, SSM, watchdogs, scene;
  every key in it is also a parameter (e.g. joint_limits.position_margin_rad), notably
  robot_config, collision_backend (embedded|moveit_py|moveit_service), output_mode,
  controller_topic, twist_target (end_effector|base), control_rate_hz, status_rate_hz,
  marker_rate_hz. Commands are checked on arrival, every one; watchdogs run every control cycle.
"""

from __future__ import annotations

import gc

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray
from vla_ros_msgs.msg import Heartbeat, HumanDetectionArray, SafetyStatus

from vla_ros import conversions as conv
from vla_ros.core.resources import resource_path, share_dir
from vla_ros.core.robot_config import RobotConfig
from vla_ros.core.safety import (
    FilterResult,
    Human,
    JointCommand,
    JointStateSample,
    TwistCommand,
)
from vla_ros.core.safety.build import build_filter, read_parameters, split_parameters
from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS, ErrorCounter, run_node
from vla_ros.nodes.safety_backends import make_checker
from vla_ros.nodes.safety_markers import safety_markers
from vla_ros.nodes.safety_params import declare_from_file

GRIPPER_TOPIC = "/gripper_controller/joint_trajectory"
OUTPUT_DEFAULT_TOPICS = {
    "joint_trajectory": "/arm_controller/joint_trajectory",
    "forward_position": "/forward_position_controller/commands",
    "twist": "/servo_node/delta_twist_cmds",
}


class SafetyFilterNode(Node):
    """Thin wrapper: convert, call vla_ros.core.safety.SafetyFilter, convert, publish."""

    def __init__(self, **kwargs) -> None:
        super().__init__("safety_filter", **kwargs)
        read_only = ParameterDescriptor(read_only=True, description="safety.yaml to load")
        path = self.declare_parameter(
            "config_file", str(resource_path("config", "safety.yaml")), read_only
        ).value
        params = declare_from_file(self, read_parameters(path))
        settings = split_parameters(params)  # ValueError here: refuse to start
        node = settings.node
        robot_config = RobotConfig.from_yaml(share_dir() / node["robot_config"])
        self.robot = robot_config.load_model()
        checker = make_checker(node["collision_backend"], self, self.robot, robot_config.group)
        # the moveit_service backend waits on a service response inside the command callback
        self.executor_threads = 2 if node["collision_backend"] == "moveit_service" else 1
        self.safety = build_filter(
            self.robot,
            settings.config,
            checker=checker,
            scene=settings.scene,
            allowed_scene_contacts=settings.allowed_scene_contacts,
        )
        self.mode = node["output_mode"]
        if self.mode not in OUTPUT_DEFAULT_TOPICS:
            raise ValueError(f"output_mode must be one of {sorted(OUTPUT_DEFAULT_TOPICS)}")
        self.twist_target = node.get("twist_target", "end_effector")
        topic = node.get("controller_topic") or OUTPUT_DEFAULT_TOPICS[self.mode]
        out_type = {"joint_trajectory": JointTrajectory, "forward_position": Float64MultiArray}
        self.out_pub = self.create_publisher(out_type.get(self.mode, TwistStamped), topic, 10)
        self.gripper_pub = self.create_publisher(JointTrajectory, GRIPPER_TOPIC, 10)
        self.status_pub = self.create_publisher(SafetyStatus, "/safety/status", COMMAND_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.marker_pub = self.create_publisher(MarkerArray, "/safety/markers", 1)
        self.errors = ErrorCounter(self)
        self.humans: tuple[Human, ...] = ()
        self.humans_valid = True
        self.last_state = None
        subs = (
            (JointTrajectory, "/vla/proposed_trajectory", self.on_trajectory, COMMAND_QOS),
            (TwistStamped, "/vla/proposed_twist", self.on_twist, COMMAND_QOS),
            (JointState, "/joint_states", self.on_joint_state, COMMAND_QOS),
            (HumanDetectionArray, "/humans", self.on_humans, COMMAND_QOS),
            (Heartbeat, "/perception/heartbeat", self.on_heartbeat, COMMAND_QOS),
            (Bool, "/safety/estop", self.on_estop, LATCHED_QOS),
        )
        self._subs = [self.create_subscription(t, n, cb, q) for t, n, cb, q in subs]
        self.create_service(Trigger, "/safety/reset", self.on_reset)
        self.period_s = 1.0 / float(node["control_rate_hz"])
        self.create_timer(self.period_s, self.on_cycle)
        self.create_timer(1.0 / float(node["status_rate_hz"]), self.publish_status)
        self.create_timer(1.0 / float(node["marker_rate_hz"]), self.publish_markers)
        self.get_logger().info(
            f"safety filter for {robot_config.name}: output {self.mode} on {topic}, "
            f"collision backend {node['collision_backend']}"
        )

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ------------------------------------------------------------------ inputs
    def on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            times, positions, _ = conv.trajectory_from_msg(msg)
            stamp = conv.stamp_to_seconds(msg.header.stamp)
            command = JointCommand(tuple(msg.joint_names), times, positions, stamp)
        except ValueError as exc:
            self.forward(self.safety.reject(self.now_s(), f"command_invalid: {exc}"))
            return
        # arm and gripper columns together: the core splits, checks and clamps them
        self.forward(self.safety.filter_command(command, self.now_s()))

    def on_twist(self, msg: TwistStamped) -> None:
        try:
            twist, stamp, _ = conv.twist_stamped_from_msg(msg)
        except ValueError as exc:
            self.errors.report("bad_twist", exc)
            return
        command = TwistCommand(twist[:3], twist[3:], stamp, self.twist_target)
        self.forward(self.safety.filter_twist(command, self.now_s()))

    def on_joint_state(self, msg: JointState) -> None:
        names = tuple(msg.name)
        velocities = list(msg.velocity) if len(msg.velocity) else None
        sample = JointStateSample(names, list(msg.position), velocities, self.now_s())
        try:
            self.safety.update_joint_state(sample)
        except ValueError as exc:  # counted; the watchdog stops the robot if none is good
            self.errors.report("bad_joint_state", exc)

    def on_humans(self, msg: HumanDetectionArray) -> None:
        try:
            if msg.header.frame_id not in ("", self.robot.base_frame):
                raise ValueError(f"humans in frame '{msg.header.frame_id}', need base frame")
            estimates = conv.human_detections_from_msg(msg)
            self.humans = tuple(
                Human(tuple(h.position_m), tuple(h.velocity_m_s), h.position_uncertainty_m)
                for h in estimates
            )
            self.humans_valid = True
        except ValueError as exc:  # unusable people data: treat perception as failed
            self.errors.report("bad_humans", exc)
            self.humans_valid = False
        self.safety.update_humans(self.humans)
        if not self.humans_valid:
            self.safety.note_heartbeat(self.now_s(), ok=False)

    def on_heartbeat(self, msg: Heartbeat) -> None:
        try:
            _, _, _, status, _ = conv.heartbeat_from_msg(msg)
        except ValueError as exc:
            self.errors.report("bad_heartbeat", exc)
            return
        ok = status != Heartbeat.STATUS_ERROR and self.humans_valid
        degraded = status == Heartbeat.STATUS_DEGRADED
        self.safety.note_heartbeat(self.now_s(), ok=ok, degraded=degraded)

    def on_estop(self, msg: Bool) -> None:
        self.safety.set_estop(engaged=bool(msg.data))
        self.forward(self.safety.cycle(self.now_s()))

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        del request
        response.success, response.message = self.safety.reset(self.now_s())
        self.forward(self.safety.cycle(self.now_s()))
        return response

    # ------------------------------------------------------------------ outputs
    def on_cycle(self) -> None:
        now = self.now_s()
        self.forward(self.safety.cycle(now))
        if self.mode == "forward_position":
            sample = self.safety.reference_at(now + self.period_s)
            if sample is not None:
                self.out_pub.publish(conv.float_array_to_msg(sample[0]))
        elif self.mode == "twist":
            twist = self.safety.twist_brake(self.twist_target, now)
            if twist is not None:
                values = [*twist.linear_m_s, *twist.angular_rad_s]
                self.out_pub.publish(conv.twist_stamped_to_msg(values, now, self.robot.base_frame))

    def forward(self, result: FilterResult) -> None:
        """Publish what the core let through, and the status when the state changed."""
        if result.error:
            self.errors.report("rejected_command", result.error)
        if result.trajectory is not None and self.mode == "joint_trajectory":
            t = result.trajectory
            msg = conv.trajectory_to_msg(t.joint_names, t.times_s, t.positions, None, t.stamp_s)
            self.out_pub.publish(msg)
        if result.gripper is not None:  # only with an arm command that passed while moving
            g = result.gripper
            self.gripper_pub.publish(
                conv.trajectory_to_msg(g.joint_names, g.times_s, g.positions, None, g.stamp_s)
            )
        if result.twist is not None and self.mode == "twist":
            tw = result.twist
            twist = [*tw.linear_m_s, *tw.angular_rad_s]
            self.out_pub.publish(
                conv.twist_stamped_to_msg(twist, tw.stamp_s, self.robot.base_frame)
            )
        if result.status.state != self.last_state:
            self.publish_status(result.status)

    def publish_status(self, status=None) -> None:
        now = self.now_s()
        status = status or self.safety.status(
            now, extra=self.safety.monitor.state(now, slowed=False)[1]
        )
        self.last_state = status.state
        self.status_pub.publish(conv.safety_status_to_msg(status, now))
        level = 0 if status.state <= 1 else (1 if status.state == 2 else 2)
        values = {"state": status.state.name, "reasons": ", ".join(status.reasons)}
        values |= {f"errors.{k}": str(v) for k, v in self.errors.counts.items()}
        self.diag_pub.publish(
            conv.diagnostic_to_msg(now, "vla_ros: safety_filter", level, status.state.name, values)
        )

    def publish_markers(self) -> None:
        now = self.now_s()
        reference = self.safety.reference_at(now)
        q = reference[0] if reference is not None else None
        status = self.safety.status(now)
        frame = self.robot.base_frame
        self.marker_pub.publish(safety_markers(self.safety, status, self.humans, q, now, frame))


def main(args=None):
    def start(**kwargs) -> SafetyFilterNode:
        node = SafetyFilterNode(**kwargs)
        # The start-up objects (robot model, collision geometry, modules) live as long as the
        # process: exempt them from the garbage collector, whose full scans of them cost
        # milliseconds in the middle of a command check (bench/bench_safety.py does the same).
        gc.collect()
        gc.freeze()
        return node

    run_node(start, args)


if __name__ == "__main__":
    main()
