"""Per-frame latency of the two perception channels at 640x480 and 320x240.

RGB channel: OpenCV HOG on real pedestrian frames (Debian opencv-doc's vtest.avi, resized).
Depth channel: ray-cast depth of a cell (floor, table, the vla_arm6 arm as its 60 link
spheres, a box-shaped person), background learned first, then the full intrusion pipeline
(background subtraction, back-projection, volume, self-filter, voxel clustering).
Whole pipeline: both channels + lifting + fusion + tracking, as the node runs it.

Usage: .venv/bin/python bench/bench_perception.py [--frames 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "vla_ros" / "test"))  # the synthetic scene renderer of the tests

import perception_scene as ps  # noqa: E402

from vla_ros.core.perception.camera import CameraIntrinsics  # noqa: E402
from vla_ros.core.perception.depth_monitor import DepthMonitorConfig  # noqa: E402
from vla_ros.core.perception.detectors import HogDetectorConfig, HogPersonDetector  # noqa: E402
from vla_ros.core.perception.geometry import MonitoredVolume, RobotShapes  # noqa: E402
from vla_ros.core.perception.pipeline import (  # noqa: E402
    HumanPerception,
    PerceptionConfig,
    PerceptionFrame,
)
from vla_ros.core.resources import resource_path  # noqa: E402
from vla_ros.core.robot_config import load_robot  # noqa: E402

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def stats(samples_ms: list[float]) -> str:
    arr = np.asarray(samples_ms)
    return f"p50 {np.percentile(arr, 50):6.1f} ms  p95 {np.percentile(arr, 95):6.1f} ms"


def rgb_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    import cv2

    if not VTEST.is_file():
        rng = np.random.default_rng(0)
        return [rng.integers(0, 255, (height, width, 3), dtype=np.uint8) for _ in range(count)]
    capture = cv2.VideoCapture(str(VTEST))
    out = []
    while len(out) < count:
        ok, frame = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        out.append(np.ascontiguousarray(cv2.resize(frame, (width, height))[:, :, ::-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="timed frames per setting")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(2)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}, numpy {np.__version__}, opencv {cv2.__version__}, "
        f"cv2 threads {cv2.getNumThreads()}, load average {os.getloadavg()[0]:.1f} "
        "(other processes share the cores: figures rise with it)"
    )
    _, robot = load_robot(resource_path("config", "robots", "vla_arm6.yaml"))
    q = robot.named_state("home")
    shapes = RobotShapes.from_link_points(robot.link_points(q), robot.link_point_radii_m)
    volume = MonitoredVolume(shape="cylinder", center_m=(0.0, 0.0, 0.3), radius_m=1.5)
    for width, height in ((640, 480), (320, 240)):
        intrinsics = CameraIntrinsics.from_fov(width, height, np.deg2rad(60.0))
        _, pose = ps.camera(width, height)
        empty = ps.Scene(boxes=ps.static_scene(), robot=shapes).render(intrinsics, pose, 0.005)
        person = ps.Scene(boxes=[*ps.static_scene(), ps.PERSON], robot=shapes).render(
            intrinsics, pose, 0.005, seed=1
        )
        frames = rgb_frames(width, height, args.frames)
        print(f"\n== {width}x{height}, {args.frames} frames")
        hog = HogPersonDetector(HogDetectorConfig())
        hog.detect(frames[0])
        times = []
        for rgb in frames:
            t0 = time.perf_counter()
            hog.detect(rgb)
            times.append((time.perf_counter() - t0) * 1e3)
        print(f"RGB channel (HOG, upscale 1.0):          {stats(times)}")
        for stride in (1, 2, 4):
            config = PerceptionConfig(
                depth=DepthMonitorConfig(volume=volume, background_frames=5, pixel_stride=stride)
            )
            perception = HumanPerception(hog, config)
            for _ in range(5):
                perception.depth_monitor.update(empty, intrinsics, pose, shapes)
            depth_ms, total_ms, found = [], [], 0
            for i, rgb in enumerate(frames):
                t0 = time.perf_counter()
                found += len(perception.depth_monitor.update(person, intrinsics, pose, shapes))
                depth_ms.append((time.perf_counter() - t0) * 1e3)
                result = perception.process(
                    PerceptionFrame(float(i) / 15, rgb, person, intrinsics, pose, shapes)
                )
                total_ms.append(result.timings_ms["total_ms"])
            print(
                f"depth channel (stride {stride}, {found / len(frames):.1f} clusters): "
                f"{stats(depth_ms)}   whole pipeline: {stats(total_ms)}"
            )


if __name__ == "__main__":
    main()
