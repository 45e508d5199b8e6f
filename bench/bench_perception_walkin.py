"""Perception walk-in evaluation: seeded people walk past the simulated cell while the arm works.

.venv/bin/python bench/bench_perception_walkin.py [--episodes 30] [--empty 10]
    [--cameras both|scene] [--room-rgb] [--seeds 3,5,...]
    [--width 320 --height 240] [--camera-hz 10] [--detector-stride 1] [--no-rgb]
    [--volume-radius 2.5] [--alarm-distance 1.5] [--gl egl|osmesa]

Core level (SimEnv + HumanPerception, no ROS), MuJoCo RGB-D rendering, OpenCV HOG + depth
channel. `--cameras both` (default, as config/sim.yaml and config/perception.yaml): the scene
camera and the fixed room camera, one depth background each, fused into one tracker; HOG on the
scene camera only unless --room-rgb. `--cameras scene`: the scene camera alone.
Walk-in seeds 0..N-1 (path side, closest approach, speed, pause and direction from the sim's
person sampling); empty seeds 1000..1000+M-1 (nobody present). In both the scripted expert
works on a random task after the background (arm at home) is learned. Definitions are those of
vla_ros.core.perception.evaluation and are printed with the results.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
from machine import describe

DEFINITIONS = """definitions:
  dist     = distance person body surface (MuJoCo person geoms, sampled) -> robot collision
             spheres (links + base) at the measured joint state, metres
  person's = a detection (either channel) whose reported point is within 0.3 m of the body
             surface; seen = frames with one / frames with the person in the scene;
             spur = person frames with some other detection (not on the person)
  in time  = a person's detection on or before the first frame with dist < alarm
  first@   = dist at the first person's detection; src = channel of that detection
  view@    = dist when the person first came into a camera's view (>= 10 % of the body's
             surface samples in its image and not hidden behind anything in its depth image);
             GAP = a walk-in that only came into view inside the alarm distance (camera
             coverage, not a detection failure); MISSED = in view earlier, still not detected
  err      = 3D |reported nearest point of the person's detection - ground-truth body point
             nearest to the robot| over the frames with a person's detection
  dist err = reported distance to the robot - dist, same frames (< 0: reported nearer)
  FP/frame = frames with any detection while nobody is in the scene / such frames
             (background learned, arm moving); FP emp = the same in a walk-in episode
             before the person appears and after they left"""


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=30, help="walk-in episodes (seeds 0..)")
    parser.add_argument("--empty", type=int, default=10, help="episodes with nobody present")
    parser.add_argument(
        "--cameras", choices=("both", "scene"), default="both", help="scene + room, or scene"
    )
    parser.add_argument("--room-rgb", action="store_true", help="HOG on the room camera too")
    parser.add_argument("--seeds", default="", help="walk-in seeds, e.g. 3,5 (default 0..N-1)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--camera-hz", type=float, default=10.0)
    parser.add_argument("--detector-stride", type=int, default=1, help="HOG every n-th frame")
    parser.add_argument("--no-rgb", action="store_true", help="depth channel only")
    parser.add_argument("--volume-radius", type=float, default=2.5, help="monitored cylinder [m]")
    parser.add_argument("--alarm-distance", type=float, default=1.5, help="[m]")
    parser.add_argument("--gl", default=os.environ.get("MUJOCO_GL", "egl"))
    args = parser.parse_args()
    os.environ["MUJOCO_GL"] = args.gl

    import cv2
    import mujoco

    from vla_ros.core.perception.evaluation import WalkinEvalConfig, run_episode
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path
    from vla_ros.core.sim.scene import CAMERA_NAME, ROOM_CAMERA_NAME

    cv2.setNumThreads(1)
    both = args.cameras == "both"
    cameras = (CAMERA_NAME, ROOM_CAMERA_NAME) if both else (CAMERA_NAME,)
    rgb_cameras = cameras if args.room_rgb else (CAMERA_NAME,)
    config = WalkinEvalConfig(
        cameras=cameras,
        rgb_cameras=rgb_cameras,
        camera_period_s=1.0 / args.camera_hz,
        alarm_distance_m=args.alarm_distance,
        volume_radius_m=args.volume_radius,
        use_rgb_detector=not args.no_rgb,
        detector_every_n_frames=args.detector_stride,
    )
    channels = (
        "depth"
        if args.no_rgb
        else f"depth + HOG ({', '.join(rgb_cameras)}) every {args.detector_stride} frame(s)"
    )
    print(describe())
    print(
        f"MuJoCo {mujoco.__version__}, OpenCV {cv2.__version__}, MUJOCO_GL={args.gl}, "
        f"cameras: {', '.join(cameras)}, {args.width}x{args.height} RGB-D at "
        f"{args.camera_hz:g} Hz, "
        f"channels: {channels}, "
        f"monitored cylinder r = {args.volume_radius} m, alarm distance {args.alarm_distance} m"
    )
    print(DEFINITIONS)
    env = SimEnv(
        SimConfig(image_width_px=args.width, image_height_px=args.height, room_camera=both)
    )
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else range(args.episodes)
    robot = RobotModel.from_urdf(default_urdf_path())

    print(
        f"\n{'seed':>4s} {'bearing':>7s} {'closest':>7s} {'speed':>5s} {'pause':>5s} "
        f"{'min dist':>8s} {'in time':>7s} {'view@':>6s} {'first@':>6s} {'src':>5s} {'seen':>7s} "
        f"{'spur':>4s} {'err p50':>7s} {'err p95':>7s} {'FP emp':>6s} {'wall s':>6s}"
    )
    outcomes = []
    start = time.perf_counter()
    for seed in seeds:
        t0 = time.perf_counter()
        out = run_episode(env, robot, seed, config, with_person=True)
        outcomes.append(out)
        person = out.person
        assert person is not None
        in_time = {None: "n/a", True: "yes", False: "MISSED"}[out.detected_in_time]
        if out.detected_in_time is False and not out.in_view_before_alarm:
            in_time = "GAP"
        print(
            f"{seed:4d} {math.degrees(person.bearing_rad):6.0f}d "
            f"{person.closest_approach_m:6.2f}m "
            f"{person.speed_m_s:5.2f} {person.pause_s:4.1f}s {out.min_distance_m:7.2f}m "
            f"{in_time:>7s} {out.first_in_view_distance_m:5.2f}m "
            f"{out.first_detection_distance_m:5.2f}m "
            f"{out.first_detection_source or '-':>5s} "
            f"{out.detected_frames:3d}/{out.person_frames:<3d} {out.spurious_frames:4d} "
            f"{_pct(list(out.position_errors_m), 50):6.3f}m "
            f"{_pct(list(out.position_errors_m), 95):6.3f}m "
            f"{out.false_positive_frames:3d}/{out.empty_frames:<3d}"
            f"{time.perf_counter() - t0:6.1f}",
            flush=True,
        )
    walk_wall = time.perf_counter() - start

    empty_frames = empty_fp = 0
    start = time.perf_counter()
    for seed in range(1000, 1000 + args.empty):
        out = run_episode(env, robot, seed, config, with_person=False)
        empty_frames += out.empty_frames
        empty_fp += out.false_positive_frames
        print(
            f"empty seed {seed}: {out.false_positive_frames}/{out.empty_frames} frames with a "
            f"detection ({out.task})",
            flush=True,
        )
    empty_wall = time.perf_counter() - start
    env.close()

    reached = [o for o in outcomes if o.alarm_reached]
    in_time = [o for o in reached if o.detected_in_time]
    viewed = [o for o in reached if o.in_view_before_alarm]
    viewed_in_time = [o for o in viewed if o.detected_in_time]
    missed = [o.seed for o in viewed if not o.detected_in_time]
    gaps = [o.seed for o in reached if not o.in_view_before_alarm and not o.detected_in_time]
    first = [o.first_detection_distance_m for o in outcomes if o.first_detection_source]
    errors = [e for o in outcomes for e in o.position_errors_m]
    near_errors = [
        e
        for o in outcomes
        for e, d in zip(o.position_errors_m, o.error_distances_m, strict=True)
        if d < args.alarm_distance
    ]
    spurious = sum(o.spurious_frames for o in outcomes)
    person_frames = sum(o.person_frames for o in outcomes)
    dist_errors = [e for o in outcomes for e in o.distance_errors_m]
    pre_frames = sum(o.empty_frames for o in outcomes)
    pre_fp = sum(o.false_positive_frames for o in outcomes)
    print("\nsummary")
    print(
        f"  detected before {args.alarm_distance} m: {len(in_time)}/{len(reached)} walk-ins that "
        f"came within it ({len(outcomes) - len(reached)} of {len(outcomes)} never did)"
    )
    print(
        f"  ... of those in a camera's view before {args.alarm_distance} m: "
        f"{len(viewed_in_time)}/{len(viewed)}"
        + (f"; MISSED seeds {missed}" if missed else "")
        + f"; not detected in time because first in view inside {args.alarm_distance} m "
        f"(coverage GAP): {len(gaps)}, seeds {gaps}"
    )
    print(
        f"  dist at first detection: min {min(first, default=math.nan):.2f} m, "
        f"median {_pct(first, 50):.2f} m"
    )
    print(
        f"  position error, all detected frames (n={len(errors)}): median {_pct(errors, 50):.3f} m"
        f", p95 {_pct(errors, 95):.3f} m"
    )
    print(
        f"  position error, frames with dist < {args.alarm_distance} m (n={len(near_errors)}): "
        f"median {_pct(near_errors, 50):.3f} m, p95 {_pct(near_errors, 95):.3f} m"
    )
    print(
        f"  dist err (n={len(dist_errors)}): median {_pct(dist_errors, 50):+.3f} m, "
        f"p5 {_pct(dist_errors, 5):+.3f} m, p95 {_pct(dist_errors, 95):+.3f} m, "
        f"median |.| {_pct([abs(e) for e in dist_errors], 50):.3f} m"
    )
    print(
        f"  false positives, empty episodes: {empty_fp}/{empty_frames} frames "
        f"= {empty_fp / max(empty_frames, 1):.4f} per frame; walk-in episodes before and "
        f"after the person: "
        f"{pre_fp}/{pre_frames}; spurious detections with the person present: "
        f"{spurious}/{person_frames} frames"
    )
    print(
        f"  wall: {walk_wall:.0f} s for {len(outcomes)} walk-ins, {empty_wall:.0f} s for "
        f"{args.empty} empty episodes (load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
