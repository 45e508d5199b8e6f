"""640x480 rgb8 at 30 Hz between two processes: the stack's DDS default against Fast DDS's default.

For each transport (Fast DDS default, the stack's shipped profile) and QoS (sensor-data
best-effort, reliable), a publisher process sends N images stamped with the wall clock and
a subscriber process reports stamp-to-callback latency p50/p99 and delivered/sent.

    .venv/bin/python bench/bench_image_transport.py [--frames 300] [--rate-hz 30]
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


def qos_for(name: str):
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    if name == "sensor":
        return qos_profile_sensor_data
    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def run_publisher(topic: str, qos_name: str, frames: int, rate_hz: float) -> None:
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from vla_ros import conversions as conv

    rclpy.init()
    node = Node("bench_image_pub")
    pub = node.create_publisher(Image, topic, qos_for(qos_name))
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    deadline = time.monotonic() + 20.0
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # let discovery settle on both sides
    period = 1.0 / rate_hz
    next_t = time.monotonic()
    for _ in range(frames):
        pub.publish(conv.image_to_msg(image, "rgb8", stamp_s=time.time()))
        next_t += period
        time.sleep(max(0.0, next_t - time.monotonic()))
    time.sleep(1.0)
    node.destroy_node()
    rclpy.shutdown()


def run_subscriber(topic: str, qos_name: str, frames: int, rate_hz: float) -> None:
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from vla_ros import conversions as conv

    rclpy.init()
    node = Node("bench_image_sub")
    latencies: list[float] = []

    def callback(msg: Image) -> None:
        latencies.append(time.time() - conv.stamp_to_seconds(msg.header.stamp))

    node.create_subscription(Image, topic, callback, qos_for(qos_name))
    end = time.monotonic() + frames / rate_hz + 25.0
    while time.monotonic() < end and len(latencies) < frames:
        rclpy.spin_once(node, timeout_sec=0.1)
    # drain what is still in flight
    drain_end = time.monotonic() + 1.5
    while time.monotonic() < drain_end and len(latencies) < frames:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(json.dumps({"latencies_s": latencies}))
    node.destroy_node()
    rclpy.shutdown()


def measure(transport: str, qos_name: str, frames: int, rate_hz: float) -> dict:
    env = dict(os.environ)
    for key in (
        "FASTDDS_BUILTIN_TRANSPORTS",
        "FASTRTPS_DEFAULT_PROFILES_FILE",
        "FASTDDS_DEFAULT_PROFILES_FILE",
    ):
        env.pop(key, None)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("ROS_DOMAIN_ID", "77")
    if transport == "fastdds-default":
        env["VLA_ROS_DDS_DEFAULTS"] = "0"
    else:  # the stack's default, exactly as the nodes apply it
        from vla_ros.dds import apply_transport_defaults

        apply_transport_defaults(env)
    topic = f"/bench_{uuid.uuid4().hex[:8]}/image"
    args = [topic, qos_name, str(frames), str(rate_hz)]
    sub = subprocess.Popen(
        [sys.executable, __file__, "--role", "sub", *args],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    pub = subprocess.Popen([sys.executable, __file__, "--role", "pub", *args], env=env)
    out, _ = sub.communicate(timeout=frames / rate_hz + 90)
    pub.wait(timeout=30)
    latencies = np.array(json.loads(out.strip().splitlines()[-1])["latencies_s"]) * 1000.0
    return {
        "transport": transport,
        "qos": qos_name,
        "delivered": int(latencies.size),
        "sent": frames,
        "p50_ms": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
        "p99_ms": float(np.percentile(latencies, 99)) if latencies.size else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["pub", "sub"])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rate-hz", type=float, default=30.0)
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    if args.role:
        topic, qos_name, frames, rate_hz = args.rest
        fn = run_publisher if args.role == "pub" else run_subscriber
        fn(topic, qos_name, int(frames), float(rate_hz))
        return
    sys.path.insert(0, HERE)
    from machine import describe

    print(describe())
    print(f"640x480 rgb8, {args.frames} frames at {args.rate_hz:g} Hz, two processes")
    print(f"{'transport':24} {'qos':8} {'delivered/sent':>15} {'p50 ms':>8} {'p99 ms':>8}")
    for qos_name in ("sensor", "reliable"):
        for transport in ("fastdds-default", "vla_ros-default"):
            r = measure(transport, qos_name, args.frames, args.rate_hz)
            label = transport + (" (16 MB SHM)" if transport == "vla_ros-default" else "")
            print(
                f"{label:24} {qos_name:8} {r['delivered']:>7}/{r['sent']:<7} "
                f"{r['p50_ms']:8.2f} {r['p99_ms']:8.2f}"
            )


if __name__ == "__main__":
    main()
