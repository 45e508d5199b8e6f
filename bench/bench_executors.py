"""rclpy executors under a perception-like load: CPU used and frames handled.

A subscriber process runs one node with a 320x240 rgb8 camera stream at 15 Hz, whose callback
does ~`--work-ms` of numpy work (like the human detector), plus /joint_states at 100 Hz and
/clock at 100 Hz in the same (default, mutually exclusive) callback group. The publisher
(this process) sends for `--seconds`. For each executor the subscriber reports its CPU time
per wall second and the frames it handled. Run side by side in one go:

    .venv/bin/python bench/bench_executors.py [--seconds 10] [--work-ms 10]

The stack's nodes run single-threaded (vla_ros.nodes.common.make_executor) because of what
this prints on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EXECUTORS = ("single", "multi2", "events")


def subscriber(kind: str, seconds: float, work_ms: float) -> None:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.node import Node
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState

    from vla_ros.nodes.common import SENSOR_QOS

    rclpy.init()
    node = Node("bench_executor_sub")
    counts = {"frames": 0, "joints": 0, "clock": 0}
    marks: list[tuple[float, float]] = []  # (wall, cpu) after each frame
    scratch = np.random.default_rng(0).random((240, 320))

    def on_image(msg: Image) -> None:
        end = time.perf_counter() + work_ms / 1000.0
        while time.perf_counter() < end:  # stand-in for HOG + depth: CPU-bound numpy
            np.sort(scratch, axis=1)
        counts["frames"] += 1
        marks.append((time.monotonic(), time.process_time()))

    node.create_subscription(Image, "/camera/color/image_raw", on_image, SENSOR_QOS)
    node.create_subscription(
        JointState,
        "/joint_states",
        lambda _: counts.__setitem__("joints", counts["joints"] + 1),
        SENSOR_QOS,
    )
    node.create_subscription(
        Clock, "/clock", lambda _: counts.__setitem__("clock", counts["clock"] + 1), 10
    )
    if kind == "multi2":
        executor = MultiThreadedExecutor(num_threads=2)
    elif kind == "events":
        from rclpy.experimental import EventsExecutor

        executor = EventsExecutor()
    else:
        executor = SingleThreadedExecutor()
    executor.add_node(node)
    print("READY", flush=True)
    start = time.monotonic()
    while time.monotonic() - start < seconds + 3.0:  # the publisher starts ~1 s after READY
        executor.spin_once(timeout_sec=0.05)
    # CPU per wall second between the first and the last frame: while the load runs
    (wall0, cpu0), (wall1, cpu1) = marks[0], marks[-1]
    print(json.dumps({"cpu_per_s": (cpu1 - cpu0) / (wall1 - wall0), **counts}), flush=True)
    rclpy.shutdown()


def publish(seconds: float) -> dict[str, int]:
    from rclpy.node import Node
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState

    from vla_ros import conversions as conv
    from vla_ros.nodes.common import SENSOR_QOS

    node = Node(f"bench_executor_pub_{uuid.uuid4().hex[:6]}")
    image_pub = node.create_publisher(Image, "/camera/color/image_raw", SENSOR_QOS)
    joint_pub = node.create_publisher(JointState, "/joint_states", SENSOR_QOS)
    clock_pub = node.create_publisher(Clock, "/clock", 10)
    rgb = np.zeros((240, 320, 3), np.uint8)
    sent = {"frames": 0, "joints": 0, "clock": 0}
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        now = time.monotonic() - start
        clock_pub.publish(conv.clock_to_msg(now))
        joint_pub.publish(conv.joint_state_to_msg(["a", "b"], [0.0, 0.0], None, None, now))
        sent["clock"] += 1
        sent["joints"] += 1
        if tick % 7 == 0:  # ~15 Hz
            image_pub.publish(conv.image_to_msg(rgb, "rgb8", now, "camera"))
            sent["frames"] += 1
        tick += 1
        time.sleep(max(0.0, start + tick * 0.01 - time.monotonic()))
    node.destroy_node()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--work-ms", type=float, default=10.0)
    parser.add_argument("--subscriber", choices=EXECUTORS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        subscriber(args.subscriber, args.seconds, args.work_ms)
        return

    import rclpy

    sys.path.insert(0, HERE)
    from machine import describe

    from vla_ros.dds import apply_transport_defaults

    apply_transport_defaults()
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    rclpy.init()
    print(describe())
    print(f"camera 15 Hz with {args.work_ms:.0f} ms of work per frame, joints and clock 100 Hz")
    print("| executor | CPU s per wall s | frames handled/sent | joint states handled/sent |")
    print("|---|---|---|---|")
    for kind in EXECUTORS:
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--subscriber",
                kind,
                "--seconds",
                str(args.seconds),
                "--work-ms",
                str(args.work_ms),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "READY":
            print(f"| {kind} | failed to start | | |")
            continue
        time.sleep(1.0)  # discovery
        sent = publish(args.seconds)
        out = proc.communicate(timeout=60)[0].strip().splitlines()
        got = json.loads(out[-1])
        print(
            f"| {kind} | {got['cpu_per_s']:.2f} | {got['frames']}/{sent['frames']} | "
            f"{got['joints']}/{sent['joints']} |"
        )
    rclpy.shutdown()


if __name__ == "__main__":
    main()
