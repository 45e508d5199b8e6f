"""Per-command latency of the full safety gate (validation, limits, 8-state collision path check,
Cartesian zones, ISO/TS 15066 SSM, time parameterisation) at 100 Hz and 500 Hz command rates.

Run: .venv/bin/python bench/bench_safety.py [--robot vla_arm6] [--commands 3000]
Time is simulated (commands back to back, the clock advancing by the command period), so the
figures are the CPU cost of one filter call; the robot tracks the output perfectly.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

import numpy as np

from vla_ros.core.collision import SceneObject
from vla_ros.core.resources import resource_path
from vla_ros.core.robot_config import load_robot
from vla_ros.core.safety import Human, JointCommand, JointStateSample
from vla_ros.core.safety.build import build_filter, load_safety_file

POST = SceneObject(
    name="post", shape="box", dimensions=(0.12, 0.12, 0.6), position_m=(0.35, 0.25, 0.3)
)


def run(robot: str, rate_hz: float, commands: int, chunk_points: int) -> dict[str, float]:
    shipped = load_safety_file(resource_path("config", "safety.yaml"))
    collision = replace(shipped.config.collision, max_checked_states=8)
    watchdog = replace(shipped.config.watchdog, require_perception=True)
    config = replace(shipped.config, collision=collision, watchdog=watchdog)
    _, model = load_robot(resource_path("config", "robots", f"{robot}.yaml"))
    scene = [*shipped.scene, POST.to_dict()]
    safety = build_filter(
        model, config, scene=scene, allowed_scene_contacts=shipped.allowed_scene_contacts
    )
    period = 1.0 / rate_hz
    rng = np.random.default_rng(0)
    home = np.clip(model.named_state("home"), safety.limits.lower_rad, safety.limits.upper_rad)
    humans = [Human((2.6, 0.5, 0.9), (-0.2, 0.0, 0.0), 0.05), Human((-1.5, -2.4, 0.9))]
    now, q = 1000.0, home.copy()
    latencies, states = [], []
    phase = rng.uniform(0, 2 * np.pi, len(home))
    for _ in range(commands):
        now += period
        reference = safety.reference_at(now)
        q = reference[0] if reference is not None else q
        safety.update_joint_state(JointStateSample(model.joint_names, q, None, now))
        safety.note_heartbeat(now)
        safety.update_humans(humans)
        # a chunk sweeping ~0.5 rad ahead: enough path for the 8-state budget every time
        t = now + period * np.arange(1, chunk_points + 1) * 10
        targets = home + 0.5 * np.sin(0.5 * t[:, None] + phase)
        command = JointCommand(model.joint_names, t - now, targets, now)
        start = time.perf_counter()
        result = safety.filter_command(command, now)
        latencies.append(time.perf_counter() - start)
        states.append(result.status.state)
    lat = np.array(latencies[50:]) * 1e3  # skip warm-up
    return {
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "max_ms": float(lat.max()),
        "mean_ms": float(lat.mean()),
        "accepted_fraction": float(np.mean([s < 3 for s in states])),
    }


def time_state_check(robot: str) -> float:
    """Cost of one gate state check (collision with distances + Cartesian zones) in us."""
    shipped = load_safety_file(resource_path("config", "safety.yaml"))
    _, model = load_robot(resource_path("config", "robots", f"{robot}.yaml"))
    safety = build_filter(
        model,
        shipped.config,
        scene=[*shipped.scene, POST.to_dict()],
        allowed_scene_contacts=shipped.allowed_scene_contacts,
    )
    q = np.clip(model.named_state("home"), safety.limits.lower_rad, safety.limits.upper_rad)
    for _ in range(200):
        safety.gate.check(q)
    start = time.perf_counter()
    for _ in range(2000):
        safety.gate.check(q)
    return (time.perf_counter() - start) / 2000 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--robot", default="vla_arm6")
    parser.add_argument("--commands", type=int, default=3000)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, load avg {os.getloadavg()[0]:.2f}"
    )
    print(f"robot {args.robot}: one gate state check = {time_state_check(args.robot):.1f} us")
    for rate in (100.0, 500.0):
        for points in (1, 10):
            r = run(args.robot, rate, args.commands, points)
            print(
                f"{rate:5.0f} Hz, {points:2d}-point proposals, 8-state path + SSM (2 people): "
                f"p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, max {r['max_ms']:.3f} ms, "
                f"mean {r['mean_ms']:.3f} ms ({args.commands} commands, "
                f"{100 * r['accepted_fraction']:.0f}% not stopped)"
            )


if __name__ == "__main__":
    main()
