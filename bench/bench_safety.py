"""Per-command latency of the full safety gate (validation, limits, 8-state collision path check,
Cartesian zones, ISO/TS 15066 SSM, time parameterisation) at 100 Hz and 500 Hz command rates.

Run: .venv/bin/python bench/bench_safety.py [--robot vla_arm6] [--commands 3000]
Time is simulated (commands back to back, the clock advancing by the command period), so the
figures are the cost of one filter call; the robot tracks the output perfectly. Each call is
timed twice: wall clock (what a command waits) and the thread's CPU time (the same without
the time the scheduler gave other processes: on a loaded machine, what an unshared core
would see). As in the node (safety_filter_node.main), the start-up objects are frozen out of
the garbage collector.

On a shared machine `--best-of 3` replays each run twice more and keeps each command's
smallest time (the cost of the code, with most interference filtered out).

Side by side with another version of the code, under the same load:
  git worktree add /tmp/old <commit>
  .venv/bin/python bench/bench_safety.py --baseline /tmp/old [--rounds 4]
runs each case in child processes, alternating this checkout's vla_ros package and the one
in /tmp/old, and prints both and their ratio (the bench code itself is this one for both).

Same outputs as another version of the code:
  .venv/bin/python bench/bench_safety.py --baseline /tmp/old --check-outputs [--commands 3000]
runs one stream of mixed proposals (towards random goals, random walks, out of limits,
malformed, stale; people coming and going; state jumps; 8 and 32 checked states) through
both versions in child processes and compares every status and trajectory. GJK warm starts
make coal's distances depend on earlier queries by up to ~1e-6 m, so the comparison runs
once with them off (the outputs must then agree to 1e-12) and once as shipped (states and
reasons must agree, numbers to the solver's tolerance).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from vla_ros.core.collision import SceneObject
from vla_ros.core.resources import resource_path
from vla_ros.core.robot_config import load_robot
from vla_ros.core.robot_model import RobotModel
from vla_ros.core.safety import Human, JointCommand, JointStateSample, SafetyFilter
from vla_ros.core.safety.build import build_filter, load_safety_file

POST = SceneObject(
    name="post", shape="box", dimensions=(0.12, 0.12, 0.6), position_m=(0.35, 0.25, 0.3)
)


def run(
    robot: str, rate_hz: float, commands: int, chunk_points: int, best_of: int = 1
) -> dict[str, float]:
    """Latency figures of one case (see latencies_ms); cpu_* from the thread's CPU time."""
    lat, cpu, states = latencies_ms(robot, rate_hz, commands, chunk_points, best_of)
    cpu_figures = {f"cpu_{k}": v for k, v in summary(cpu).items()}
    return (
        summary(lat) | cpu_figures | {"accepted_fraction": float(np.mean([s < 3 for s in states]))}
    )


def summary(lat: np.ndarray) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "max_ms": float(lat.max()),
        "mean_ms": float(lat.mean()),
    }


def bench_setup(robot: str, checked_states: int) -> tuple[RobotModel, Callable[[], SafetyFilter]]:
    """(robot model, a function building a fresh filter): the shipped safety.yaml with the
    bench's post in the scene, `checked_states` path states and the perception heartbeat on."""
    shipped = load_safety_file(resource_path("config", "safety.yaml"))
    collision = replace(shipped.config.collision, max_checked_states=checked_states)
    watchdog = replace(shipped.config.watchdog, require_perception=True)
    config = replace(shipped.config, collision=collision, watchdog=watchdog)
    _, model = load_robot(resource_path("config", "robots", f"{robot}.yaml"))
    scene = [*shipped.scene, POST.to_dict()]

    def new_filter() -> SafetyFilter:
        return build_filter(
            model, config, scene=scene, allowed_scene_contacts=shipped.allowed_scene_contacts
        )

    return model, new_filter


def latencies_ms(
    robot: str, rate_hz: float, commands: int, chunk_points: int, best_of: int = 1
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Per-command filter latency and CPU time [ms] (after a 50-command warm-up), states.

    With best_of > 1 the run's inputs (the same commands, states and people at the same
    times) are replayed best_of - 1 more times through a freshly built filter, and each
    command keeps its smallest latency and CPU time: what the code costs with the
    interference of other processes mostly filtered out.
    """
    model, new_filter = bench_setup(robot, checked_states=8)
    safety = new_filter()
    freeze_startup_objects()
    period = 1.0 / rate_hz
    rng = np.random.default_rng(0)
    home = np.clip(model.named_state("home"), safety.limits.lower_rad, safety.limits.upper_rad)
    humans = [Human((2.6, 0.5, 0.9), (-0.2, 0.0, 0.0), 0.05), Human((-1.5, -2.4, 0.9))]
    now, q = 1000.0, home.copy()
    latencies, cpu, states = [], [], []
    inputs = []
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
        start_cpu, start = time.thread_time(), time.perf_counter()
        result = safety.filter_command(command, now)
        latencies.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
        states.append(int(result.status.state))
        inputs.append((q, now, command))
    wall_s, cpu_s = np.array(latencies), np.array(cpu)
    for _ in range(best_of - 1):
        safety = new_filter()
        freeze_startup_objects()
        for index, (q, now, command) in enumerate(inputs):
            safety.update_joint_state(JointStateSample(model.joint_names, q, None, now))
            safety.note_heartbeat(now)
            safety.update_humans(humans)
            start_cpu, start = time.thread_time(), time.perf_counter()
            safety.filter_command(command, now)
            wall_s[index] = min(wall_s[index], time.perf_counter() - start)
            cpu_s[index] = min(cpu_s[index], time.thread_time() - start_cpu)
    # skip the warm-up
    return wall_s[50:] * 1e3, cpu_s[50:] * 1e3, states[50:]


def freeze_startup_objects() -> None:
    """What the node does after start-up: collect, then exempt the surviving objects (robot
    model, collision geometry, modules) from later collections, which then scan only what
    the command path allocates (a full scan of them costs milliseconds mid-command)."""
    gc.collect()
    gc.freeze()


CASES = [(100.0, 1), (100.0, 10), (500.0, 1), (500.0, 10)]


def compare(baseline: Path, robot: str, commands: int, rounds: int, best_of: int = 1) -> None:
    """Alternate child processes of this checkout's package and the baseline's, per case."""
    here = Path(__file__).resolve()
    sources = {"this": here.parents[1] / "vla_ros", "baseline": baseline.resolve() / "vla_ros"}
    if not (sources["baseline"] / "vla_ros" / "__init__.py").is_file():
        raise SystemExit(f"{baseline} has no vla_ros/vla_ros package (a worktree of this repo?)")
    for rate, points in CASES:
        lat: dict[str, list[float]] = {"this": [], "baseline": []}
        cpu: dict[str, list[float]] = {"this": [], "baseline": []}
        for index in range(rounds):
            order = ("baseline", "this") if index % 2 == 0 else ("this", "baseline")
            for side in order:
                env = dict(os.environ, PYTHONPATH=str(sources[side]))
                child = [sys.executable, str(here), "--child", f"{rate},{points}"]
                child += ["--robot", robot, "--commands", str(commands)]
                child += ["--best-of", str(best_of)]
                out = subprocess.run(child, env=env, capture_output=True, text=True, check=True)
                wall_ms, cpu_ms = json.loads(out.stdout.splitlines()[-1])
                lat[side] += wall_ms
                cpu[side] += cpu_ms
        print(f"{rate:5.0f} Hz, {points:2d}-point proposals ({rounds} x {commands} commands each)")
        for label, data in (("wall", lat), ("cpu ", cpu)):
            a, b = summary(np.array(data["baseline"])), summary(np.array(data["this"]))
            print(
                f"  {label}: baseline p50 {a['p50_ms']:.3f} p99 {a['p99_ms']:.3f} ms | "
                f"this p50 {b['p50_ms']:.3f} p99 {b['p99_ms']:.3f} ms | "
                f"ratio p50 {b['p50_ms'] / a['p50_ms']:.2f} p99 {b['p99_ms'] / a['p99_ms']:.2f}"
            )


def output_stream(
    path: str, robot: str, commands: int, seed: int, states: int, cold: bool
) -> None:
    """Mixed proposals through this checkout's filter; every output written to `path` (npz)."""
    import pinocchio as pin

    model, new_filter = bench_setup(robot, checked_states=states)
    safety = new_filter()
    if cold:  # every GJK from the default guess: distances independent of earlier queries
        import warnings

        checker = safety.gate._checker
        if hasattr(checker, "_path_geom_data_for"):
            checker._path_geom_data_for(64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for value in vars(checker).values():
                for data in value if isinstance(value, list) else [value]:
                    if isinstance(data, pin.GeometryData):
                        for request in data.distanceRequests:
                            request.enable_cached_gjk_guess = False
    rng = np.random.default_rng(seed)
    names, limits = model.joint_names, safety.limits
    home = np.clip(model.named_state("home"), limits.lower_rad, limits.upper_rad)
    now, q, goal = 1000.0, home.copy(), home.copy()
    humans = [Human((2.6, 0.5, 0.9), (-0.2, 0.0, 0.0), 0.05), Human((-1.5, -2.4, 0.9))]
    rows: list[tuple] = []
    arrays: dict[str, np.ndarray] = {}

    def record(key: str, result) -> None:
        st = result.status
        numbers = (st.speed_scale, st.min_obstacle_distance_m, st.min_separation_m)
        rows.append((int(st.state), "|".join(st.reasons), bool(result.accepted), *numbers))
        if result.trajectory is not None:
            arrays[key + "_p"] = result.trajectory.positions
            arrays[key + "_v"] = result.trajectory.velocities

    for k in range(commands):
        now += float(rng.choice([0.002, 0.01, 0.02]))
        reference = safety.reference_at(now)
        q = reference[0] if reference is not None else q
        if rng.random() < 0.01:  # a disturbance: the measured state jumps
            q = q + rng.normal(0, 0.05, len(q))
        v = None if rng.random() < 0.5 else safety.reference_at(now + 1e-9)
        v = None if v is None else v[1]
        safety.update_joint_state(JointStateSample(names, q, v, now))
        safety.note_heartbeat(now)
        if rng.random() < 0.02:  # people move: mostly far, now and then close
            angle = rng.uniform(0, 2 * np.pi)
            radius = rng.uniform(0.8, 2.0) if rng.random() < 0.1 else rng.uniform(2.6, 4.0)
            position = (radius * np.cos(angle), radius * np.sin(angle), 0.9)
            humans = [Human(position, tuple(rng.normal(0, 0.2, 3)), 0.05), humans[1]]
        safety.update_humans(humans)
        if rng.random() < 0.05:
            goal = rng.uniform(limits.hard_lower_rad, limits.hard_upper_rad)
        kind, points = rng.random(), int(rng.choice([1, 2, 5, 10, 16]))
        t = float(rng.choice([0.02, 0.05, 0.1])) * np.arange(1, points + 1)
        if kind < 0.7:  # towards the goal
            fraction = np.clip(t, 0, 1)[:, None]
            targets = q + (goal - q) * fraction + rng.normal(0, 0.01, (points, len(q)))
        elif kind < 0.85:  # random walk
            targets = q + np.cumsum(rng.normal(0, 0.05, (points, len(q))), axis=0)
        else:  # out of limits, now and then malformed
            targets = q + rng.normal(0, 1.0, (points, len(q)))
            if kind > 0.95 and rng.random() < 0.5:
                targets[0, 0] = np.nan
        stamp = now - (0.6 if kind > 0.99 else 0.0)  # stale
        record(str(k), safety.filter_command(JointCommand(names, t, targets, stamp), now))
        if rng.random() < 0.1:
            record(f"{k}c", safety.cycle(now + 0.001))
        if rows[-1][0] >= 3 and rng.random() < 0.2:
            safety.reset(now)
    np.savez(
        path,
        discrete=np.array([f"{r[0]};{r[1]};{r[2]}" for r in rows]),
        numbers=np.array([r[3:] for r in rows], dtype=float),
        **arrays,
    )


def check_outputs(baseline: Path, robot: str, commands: int) -> None:
    """output_stream of this checkout and the baseline, compared (see the docstring)."""
    import tempfile

    here = Path(__file__).resolve()
    sources = {"this": here.parents[1] / "vla_ros", "baseline": baseline.resolve() / "vla_ros"}
    with tempfile.TemporaryDirectory() as folder:
        for cold in (True, False):
            for seed, states in ((0, 8), (1, 32), (2, 8)):
                out = {}
                for side, source in sources.items():
                    out[side] = f"{folder}/{side}.npz"
                    child = [sys.executable, str(here), "--child-outputs", out[side]]
                    child += ["--robot", robot, "--commands", str(commands), "--seed", str(seed)]
                    child += ["--states", str(states)] + (["--cold"] if cold else [])
                    env = dict(os.environ, PYTHONPATH=str(source))
                    subprocess.run(child, env=env, check=True, capture_output=True)
                a, b = np.load(out["baseline"]), np.load(out["this"])
                same = bool(np.array_equal(a["discrete"], b["discrete"]))
                same &= set(a.files) == set(b.files)
                na, nb = a["numbers"], b["numbers"]
                same &= bool(np.array_equal(np.isinf(na), np.isinf(nb)))
                finite = np.isfinite(na) & np.isfinite(nb)
                worst = float(np.max(np.abs(na[finite] - nb[finite]), initial=0.0))
                for key in a.files:
                    if key in ("discrete", "numbers"):
                        continue
                    if key not in b.files or a[key].shape != b[key].shape:
                        same = False
                        continue
                    worst = max(worst, float(np.max(np.abs(a[key] - b[key]), initial=0.0)))
                states_seen = len(a["discrete"])
                trajectories = sum(key.endswith("_p") for key in a.files)
                print(
                    f"GJK warm starts {'off' if cold else 'on '}, seed {seed}, {states:2d} "
                    f"checked states: {states_seen} outputs ({trajectories} trajectories), "
                    f"states/reasons/shapes {'identical' if same else 'DIFFER'}, "
                    f"largest numeric difference {worst:.1e}"
                )


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
    parser.add_argument("--baseline", type=Path, help="other checkout to compare with")
    parser.add_argument("--rounds", type=int, default=4, help="alternations per case")
    parser.add_argument(
        "--best-of", type=int, default=1, help="replay each run this often, keep each minimum"
    )
    parser.add_argument("--check-outputs", action="store_true", help="compare with --baseline")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # "rate,points": print latencies
    parser.add_argument("--child-outputs", help=argparse.SUPPRESS)  # npz path
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--states", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_outputs:
        output_stream(
            args.child_outputs, args.robot, args.commands, args.seed, args.states, args.cold
        )
        return
    if args.child:
        rate, points = args.child.split(",")
        lat, cpu, _ = latencies_ms(
            args.robot, float(rate), args.commands, int(points), args.best_of
        )
        print(json.dumps([lat.tolist(), cpu.tolist()]))
        return
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, load avg {os.getloadavg()[0]:.2f}"
    )
    if args.baseline is not None and args.check_outputs:
        check_outputs(args.baseline, args.robot, args.commands)
        return
    if args.baseline is not None:
        compare(args.baseline, args.robot, args.commands, args.rounds, args.best_of)
        return
    print(f"robot {args.robot}: one gate state check = {time_state_check(args.robot):.1f} us")
    for rate, points in CASES:
        r = run(args.robot, rate, args.commands, points, args.best_of)
        print(
            f"{rate:5.0f} Hz, {points:2d}-point proposals, 8-state path + SSM (2 people): "
            f"p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, max {r['max_ms']:.3f} ms, "
            f"mean {r['mean_ms']:.3f} ms; CPU time p50 {r['cpu_p50_ms']:.3f} ms, "
            f"p99 {r['cpu_p99_ms']:.3f} ms ({args.commands} commands, "
            f"{100 * r['accepted_fraction']:.0f}% not stopped)"
        )


if __name__ == "__main__":
    main()
