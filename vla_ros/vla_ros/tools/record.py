"""`vla-ros record`: scripted-expert demonstrations in the simulated cell, one MCAP per episode.

Each file is a rosbag2-compatible MCAP (camera, joint states, controller commands, the
instruction; see core.recording) named <family>_<seed>.mcap; `vla-ros train` reads them.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FAMILIES = ("pick", "place", "push", "stack")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vla-ros record`."""
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=list(FAMILIES),
        choices=FAMILIES,
        help="task families to record (default: all)",
    )
    parser.add_argument(
        "--episodes", type=int, default=10, help="episodes per task family (seeds in a row)"
    )
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--width", type=int, default=320, help="image width [px]")
    parser.add_argument("--height", type=int, default=240, help="image height [px]")
    parser.add_argument(
        "--act-period-s", type=float, default=0.1, help="seconds between recorded actions"
    )
    parser.add_argument("--no-depth", action="store_true", help="record colour only")
    parser.add_argument(
        "--wrist-camera",
        action="store_true",
        help="also record the gripper's wrist camera (/wrist_camera/color/image_raw, RGB)",
    )
    parser.add_argument(
        "--with-person", action="store_true", help="a random person walks past in each episode"
    )
    parser.add_argument(
        "--action-noise-rad",
        type=float,
        default=0.0,
        help="std of a slowly varying noise added to the executed (not the recorded) arm"
        " targets, so the demonstrations show recoveries (DART) [rad]",
    )
    parser.add_argument(
        "--noisy-fraction",
        type=float,
        default=1.0,
        help="share of episodes (by seed) that get --action-noise-rad; the rest are clean",
    )
    parser.add_argument(
        "--handover-from",
        default="",
        metavar="CHECKPOINT_DIR",
        help="DAgger-style recoveries: this embedded VLA checkpoint acts first (ONNX Runtime),"
        " then the expert takes over from the state it left; only the expert's part is recorded",
    )
    parser.add_argument(
        "--handover-s",
        type=float,
        nargs=2,
        default=[2.0, 12.0],
        metavar=("MIN", "MAX"),
        help="with --handover-from: simulated time of the handover, uniform in [MIN, MAX] per"
        " seed [s]",
    )
    parser.add_argument(
        "--learner-paraphrase-probability",
        type=float,
        default=0.0,
        metavar="P",
        help="with --handover-from: the learner hears a random training paraphrase of the"
        " instruction with probability P (seeded; the recording keeps the canonical one)",
    )
    parser.add_argument(
        "--keep-failures", action="store_true", help="keep episodes the expert failed"
    )
    parser.add_argument(
        "--output-dir", default="", help="directory (default data/expert-<date>-<time>)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Record; 0 when at least one episode per family succeeded."""
    if args.episodes < 1:
        raise SystemExit("--episodes must be >= 1")
    if args.action_noise_rad < 0.0 or not 0.0 <= args.noisy_fraction <= 1.0:
        raise SystemExit("--action-noise-rad must be >= 0 and --noisy-fraction in [0, 1]")
    low_s, high_s = args.handover_s
    if not 0.0 <= low_s <= high_s:
        raise SystemExit("--handover-s needs 0 <= MIN <= MAX")
    if not 0.0 <= args.learner_paraphrase_probability <= 1.0:
        raise SystemExit("--learner-paraphrase-probability must be in [0, 1]")
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering unless the user chose
    from tqdm import tqdm

    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path
    from vla_ros.core.sim.expert import ExpertConfig, ScriptedExpert
    from vla_ros.core.sim.rollout import HandoverPolicy, record_episode

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.output_dir or f"data/expert-{stamp}")
    out.mkdir(parents=True, exist_ok=True)
    env = SimEnv(SimConfig(image_width_px=args.width, image_height_px=args.height))
    expert = ScriptedExpert(
        RobotModel.from_urdf(default_urdf_path()), ExpertConfig(act_period_s=args.act_period_s)
    )
    learner = (
        _learner(
            args.handover_from,
            env,
            args.act_period_s,
            args.learner_paraphrase_probability,
            args.first_seed,
        )
        if args.handover_from
        else None
    )
    learner_solved = 0
    kept: dict[str, int] = dict.fromkeys(args.tasks, 0)
    frames = 0
    seeds = range(args.first_seed, args.first_seed + args.episodes)
    bar = tqdm(total=len(args.tasks) * args.episodes, unit="episode", disable=args.quiet)
    try:
        for family in args.tasks:
            for seed in seeds:
                path = out / f"{family}_{seed:05d}.mcap"
                noisy = _noisy(seed, args.noisy_fraction)
                policy, keep_step, metadata = expert, None, {}
                if learner is not None:
                    handover_s = float(np.random.default_rng([seed, 11]).uniform(low_s, high_s))
                    policy = HandoverPolicy(learner, expert, handover_s)
                    keep_step = _expert_steps(policy)
                    metadata = {
                        "handover_s": f"{handover_s:.3f}",
                        "handover_from": str(args.handover_from),
                    }
                result = record_episode(
                    env,
                    policy,
                    path,
                    seed=seed,
                    task=family,
                    with_person=args.with_person,
                    act_period_s=args.act_period_s,
                    with_depth=not args.no_depth,
                    action_noise_rad=args.action_noise_rad if noisy else 0.0,
                    wrist_camera=args.wrist_camera,
                    keep_step=keep_step,
                    metadata=metadata,
                )
                if isinstance(policy, HandoverPolicy) and not policy.handed_over:
                    learner_solved += 1  # done before the handover: no expert steps to keep
                    path.unlink()
                elif result.success or args.keep_failures:
                    kept[family] += 1
                    frames += result.steps
                else:
                    path.unlink()
                bar.update(1)
                bar.set_postfix_str(
                    f"{family} seed {seed}: {'ok' if result.success else 'failed'}"
                )
    finally:
        bar.close()
        env.close()
    total = sum(kept.values())
    print(f"recorded {total} episodes ({frames} frames) in {out}")
    if learner is not None:
        print(f"  the learner finished {learner_solved} episodes before the handover (not kept)")
    for family, count in kept.items():
        print(f"  {family}: {count}/{args.episodes}")
    return 0 if all(kept.values()) else 1


def _learner(
    checkpoint_dir: str,
    env: Any,
    act_period_s: float,
    paraphrase_probability: float = 0.0,
    seed: int = 0,
) -> Any:
    """The embedded VLA in `checkpoint_dir` as a simulator policy, chunked as `eval --core`;
    it hears a training paraphrase of each instruction with `paraphrase_probability`."""
    from vla_ros.core.chunking import ChunkSchedulerConfig
    from vla_ros.core.policy.backends import make_policy
    from vla_ros.core.policy.closed_loop import ChunkedSimPolicy
    from vla_ros.core.training.paraphrase import augment

    rng = np.random.default_rng([seed, 13])

    def heard(task: Any) -> str:
        return augment(str(task.instruction), rng, paraphrase_probability)

    options = {"checkpoint_dir": str(Path(checkpoint_dir).resolve()), "runtime": "onnx"}
    policy = make_policy("embedded", {**options, "num_threads": 1})
    config = ChunkSchedulerConfig(control_rate_hz=1.0 / act_period_s, blend="weighted_average")
    return ChunkedSimPolicy(policy, env, config, instruction_fn=heard)


def _expert_steps(policy: Any) -> Callable[[Any], bool]:
    """keep_step for record_episode: only the steps after `policy` handed over."""
    return lambda _step: bool(policy.handed_over)


def _noisy(seed: int, fraction: float) -> bool:
    """Whether episode `seed` gets action noise: a fixed, evenly spread share of the seeds."""
    return math.floor((seed + 1) * fraction) > math.floor(seed * fraction)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: `python -m vla_ros.tools.record --tasks pick --episodes 5`."""
    parser = argparse.ArgumentParser(prog="vla-ros record", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
