"""Simulated cell: scripted-expert success per task family and real-time factor with rendering.

.venv/bin/python bench/bench_sim.py [--episodes 50] [--width 320 --height 240]
    [--rates 10,30] [--rtf-seconds 20] [--gl egl|osmesa]

Success: the scripted expert (IK + state machine) acting at 10 Hz on seeds 0..N-1 per family,
no rendering (success is judged on the simulator state). Real-time factor: simulated seconds
per wall second of the full loop (expert + 100 Hz controller + physics + RGB-D rendering at
the camera rate), single process, on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from machine import describe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=50, help="seeded episodes per family")
    parser.add_argument("--families", default="pick,place,push,stack")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--rates", default="10,30", help="camera rates to time [Hz]")
    parser.add_argument("--rtf-seconds", type=float, default=20.0, help="simulated s per rate")
    parser.add_argument("--gl", default=os.environ.get("MUJOCO_GL", "egl"))
    args = parser.parse_args()
    os.environ["MUJOCO_GL"] = args.gl

    import mujoco

    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path
    from vla_ros.core.sim.expert import ScriptedExpert
    from vla_ros.core.sim.rollout import run_episode

    print(describe())
    print(f"MuJoCo {mujoco.__version__}, MUJOCO_GL={args.gl}, {args.width}x{args.height} RGB-D")
    env = SimEnv(SimConfig(image_width_px=args.width, image_height_px=args.height))
    expert = ScriptedExpert(RobotModel.from_urdf(default_urdf_path()))

    if args.episodes > 0:
        success_table(env, expert, args.episodes, args.families.split(","), run_episode)
    rtf_table(env, expert, [float(r) for r in args.rates.split(",")], args.rtf_seconds)
    env.close()


def success_table(env, expert, episodes: int, families: list[str], run_episode) -> None:
    """Scripted-expert success per family over seeds 0..episodes-1."""
    print(f"\nscripted expert, {episodes} seeded episodes per family (act at 10 Hz)")
    print(f"{'family':8s} {'success':>9s} {'rate':>7s} {'mean s':>7s} {'wall s/ep':>9s}")
    total_ok = total = 0
    for family in families:
        ok, durations = 0, []
        start = time.perf_counter()
        failed = []
        for seed in range(episodes):
            result = run_episode(env, expert, seed=seed, task=family)
            ok += result.success
            if result.success:
                durations.append(result.duration_s)
            else:
                failed.append(seed)
        wall = (time.perf_counter() - start) / episodes
        total_ok, total = total_ok + ok, total + episodes
        mean = float(np.mean(durations)) if durations else float("nan")
        print(
            f"{family:8s} {ok:4d}/{episodes:<4d} {100 * ok / episodes:6.1f}% "
            f"{mean:7.2f} {wall:9.3f}" + (f"  failed seeds {failed}" if failed else "")
        )
    print(f"{'all':8s} {total_ok:4d}/{total:<4d} {100 * total_ok / total:6.1f}%")


def rtf_table(env, expert, rates: list[float], seconds: float) -> None:
    """Real-time factor of the whole loop at each camera rate (0 = no rendering)."""

    print(f"\nreal-time factor over {seconds:.0f} simulated s (higher is faster)")
    for rate in [*rates, 0.0]:
        env.reset(0, "place")
        expert.reset(env.episode.task)
        period = env.config.control_period_s
        steps_per_frame = round(1.0 / (rate * period)) if rate > 0 else 0
        steps_per_act = round(0.1 / period)
        render_s = 0.0
        start = time.perf_counter()
        for k in range(round(seconds / period)):
            if k % steps_per_act == 0:
                arm, gripper = expert.act(env.joint_state().positions, env.state_view())
                env.command_arm_trajectory(np.array([0.1]), arm[None, :])
                env.command_gripper(gripper)
            if steps_per_frame and k % steps_per_frame == 0:
                t0 = time.perf_counter()
                env.render()
                render_s += time.perf_counter() - t0
            env.step()
            if env.task_status()[1] if k % 50 == 0 else False:
                env.reset(k, "place")
                expert.reset(env.episode.task)
        wall = time.perf_counter() - start
        frames = seconds * rate
        label = f"camera {rate:4.0f} Hz" if rate > 0 else "no rendering  "
        per_frame = f", {1e3 * render_s / frames:.1f} ms per RGB-D frame" if frames else ""
        print(f"{label}: RTF {seconds / wall:5.2f}{per_frame}")


if __name__ == "__main__":
    main()
