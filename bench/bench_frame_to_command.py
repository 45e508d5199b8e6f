"""Camera frame to first filtered command, through the real processes.

sim_node (the camera and the arm), human_detector, safety_filter and policy_node (the shipped
embedded VLA on ONNX Runtime, or another backend) run as separate processes over DDS with the
stack's configs. For each trial the bench sends an instruction to the idle policy and waits for
the first command the safety filter passes to the arm controller. The policy node reports (in
/policy/status, here at 50 Hz) the age of the observation behind the chunk in use; the
observation's camera stamp is status stamp - chunk_age_s, taken from the first status after the
command that shows exactly one chunk. Latency = command receipt - that camera stamp, in the
sim's clock (run at real time), so it includes transport, observation assembly, inference,
the control timer's wait and the safety gate. Then the instruction is cancelled (policy idle)
and the next trial starts.

    .venv/bin/python bench/bench_frame_to_command.py [--trials 20] [--camera-rate-hz 15]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
LOGS = tempfile.mkdtemp(prefix="bench_frame_to_command_")  # the nodes' output


def start(module: str, *ros_args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", f"vla_ros.nodes.{module}", "--ros-args", *ros_args],
        stdout=open(os.path.join(LOGS, f"{module}.log"), "w"),
        stderr=subprocess.STDOUT,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--camera-rate-hz", type=float, default=15.0)
    parser.add_argument("--backend-options", default="", help="policy backend_options override")
    args = parser.parse_args()

    sys.path.insert(0, HERE)
    import rclpy
    from machine import describe
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from trajectory_msgs.msg import JointTrajectory
    from vla_ros_msgs.msg import Instruction, PolicyStatus, SafetyStatus

    from vla_ros import conversions as conv
    from vla_ros.core.resources import resource_path
    from vla_ros.dds import apply_transport_defaults
    from vla_ros.nodes.common import COMMAND_QOS

    apply_transport_defaults()
    os.environ.setdefault("ROS_DOMAIN_ID", str(120 + os.getpid() % 60))
    os.environ.setdefault("MUJOCO_GL", "egl")
    sim_time = ("-p", "use_sim_time:=true")
    config = {
        name: str(resource_path("config", f"{name}.yaml"))
        for name in ("perception", "safety", "policy")
    }
    policy_args = ["--params-file", config["policy"], *sim_time, "-p", "status_rate_hz:=50.0"]
    if args.backend_options:
        policy_args += ["-p", f"backend_options:={args.backend_options}"]
    procs = [
        start("human_detector_node", "--params-file", config["perception"], *sim_time),
        start("safety_filter_node", "--params-file", config["safety"], *sim_time),
        start("policy_node", *policy_args),
    ]
    rclpy.init()
    node = Node("bench_frame_to_command")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    commands: list[float] = []  # sim time at receipt
    statuses: list[PolicyStatus] = []
    safety: list[SafetyStatus] = []
    clock_now = lambda: node.get_clock().now().nanoseconds * 1e-9  # noqa: E731
    node.set_parameters([rclpy.parameter.Parameter("use_sim_time", value=True)])
    node.create_subscription(
        JointTrajectory,
        "/arm_controller/joint_trajectory",
        lambda _: commands.append(clock_now()),
        COMMAND_QOS,
    )
    node.create_subscription(PolicyStatus, "/policy/status", statuses.append, COMMAND_QOS)
    node.create_subscription(SafetyStatus, "/safety/status", safety.append, COMMAND_QOS)
    instruct = node.create_publisher(Instruction, "/instruction", COMMAND_QOS)

    def spin_until(condition, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)
            if condition():
                return True
        return False

    def trial_latency_ms(trial: int) -> float | None:
        """Instruct the idle policy; camera stamp of its first chunk -> first filtered command."""
        before, sent = len(commands), len(statuses)
        firsts = {1, statuses[-1].chunks_received + 1}  # counters may restart at a reset
        instruct.publish(
            conv.instruction_to_msg("pick up the red cube", f"bench-{trial}", clock_now())
        )
        if not spin_until(lambda: len(commands) > before, 20.0):
            return None
        t_cmd = commands[before]

        def first_chunk_status() -> list[PolicyStatus]:
            return [
                s
                for s in statuses[sent:]
                if s.chunks_received in firsts
                and conv.stamp_to_seconds(s.header.stamp) >= t_cmd - 0.05
            ]

        if not spin_until(lambda: bool(first_chunk_status()), 2.0):
            return None
        status = first_chunk_status()[0]
        camera_stamp = conv.stamp_to_seconds(status.header.stamp) - status.chunk_age_s
        return (t_cmd - camera_stamp) * 1000.0

    try:
        time.sleep(3.0)  # the detector subscribes before the sim's clock starts
        procs.append(
            start("sim_node", "-p", "seed:=3", "-p", f"camera_rate_hz:={args.camera_rate_hz}")
        )
        if not spin_until(lambda: len(statuses) > 5 and len(safety) > 2, 300.0):
            raise SystemExit(f"graph did not come up ({[p.poll() for p in procs]}); see {LOGS}")
        spin_until(lambda: False, 8.0)  # the detector learns the empty cell
        latencies_ms: list[float] = []
        print(describe())
        print(
            f"camera {args.camera_rate_hz:.0f} Hz; policy {statuses[-1].backend}; "
            f"{args.trials} trials"
        )
        for trial in range(args.trials):
            latency = trial_latency_ms(trial)
            if latency is None:
                print(f"trial {trial}: no command ({safety[-1].state if safety else '?'})")
            else:
                latencies_ms.append(latency)
                print(f"trial {trial}: {latency:.0f} ms", flush=True)
            instruct.publish(conv.instruction_to_msg("", f"idle-{trial}", clock_now()))
            spin_until(lambda: False, 1.5)
        lat = np.array(latencies_ms)
        if lat.size:
            print(
                f"camera frame -> first filtered command: n={lat.size} p50 "
                f"{np.percentile(lat, 50):.0f} ms, p99 {np.percentile(lat, 99):.0f} ms, "
                f"max {lat.max():.0f} ms; inference p50 "
                f"{statuses[-1].inference_latency_p50_ms:.1f} ms"
            )
        else:
            print("no trial measured")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        node.destroy_node()
        rclpy.shutdown()


if __name__ == "__main__":
    main()
