"""`vla-ros evaluate`: closed-loop success of a policy backend in the simulated cell (no ROS)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vla_ros.core.policy.backends import BACKENDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vla-ros evaluate`."""
    parser.add_argument("--backend", default="embedded", choices=sorted(BACKENDS))
    parser.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option (YAML value), e.g. -o checkpoint_dir=models/vla",
    )
    parser.add_argument("--options-json", default="", help="backend options as a JSON object")
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=["pick", "place", "push", "stack"],
        help="task families or instruction sentences",
    )
    parser.add_argument("--seeds", type=int, default=10, help="episodes per task (seeds 1000..)")
    parser.add_argument("--first-seed", type=int, default=1000, help="held out from recording")
    parser.add_argument(
        "--latency-s",
        type=float,
        default=None,
        help="simulated inference latency [s] (default: the measured one)",
    )
    parser.add_argument("--blend", default="weighted_average", help="chunk blending mode")
    parser.add_argument("--control-rate-hz", type=float, default=10.0, help="policy act rate")
    parser.add_argument("--image-width", type=int, default=320)
    parser.add_argument("--image-height", type=int, default=240)
    parser.add_argument(
        "--wording",
        choices=("canonical", "held_out"),
        default="canonical",
        help="instruction the policy hears: the task's canonical sentence, or a random"
        " held-out paraphrase of it (never seen in training)",
    )
    parser.add_argument("--out", default="", help="write the summary as JSON here")


def run(args: argparse.Namespace) -> int:
    """Build the backend and the simulator, run the episodes, print the summary."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from vla_ros.core.chunking import ChunkSchedulerConfig
    from vla_ros.core.policy.backends import make_policy
    from vla_ros.core.policy.closed_loop import ChunkedSimPolicy, evaluate
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path
    from vla_ros.tools.serve import parse_options

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    env = SimEnv(SimConfig(image_width_px=args.image_width, image_height_px=args.image_height))
    try:
        context = {}
        if args.backend == "scripted":
            from vla_ros.core.robot_model import RobotModel

            context = {
                "state_fn": env.state_view,
                "robot": RobotModel.from_urdf(default_urdf_path()),
            }
        policy = make_policy(args.backend, parse_options(args), **context)
        if hasattr(policy, "warm_up"):
            policy.warm_up()
        config = ChunkSchedulerConfig(control_rate_hz=args.control_rate_hz, blend=args.blend)
        sim_policy = ChunkedSimPolicy(
            policy,
            env,
            config,
            simulated_latency_s=args.latency_s,
            instruction_fn=held_out_wording(args.first_seed)
            if args.wording != "canonical"
            else None,
        )
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
        summary = evaluate(
            env, sim_policy, seeds, args.tasks, act_period_s=1.0 / args.control_rate_hz
        )
    finally:
        env.close()
    result = {
        **dataclasses.asdict(summary),
        "backend": args.backend,
        "seeds": seeds,
        "latency_s": args.latency_s,
        "blend": args.blend,
        "wording": args.wording,
        "measured_latency_ms_mean": 1000.0
        * sum(sim_policy.latencies_s)
        / max(1, len(sim_policy.latencies_s)),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def held_out_wording(seed: int) -> Callable[[Any], str]:
    """task -> a held-out paraphrase of its canonical instruction, drawn reproducibly."""
    import numpy as np

    from vla_ros.core.training.paraphrase import paraphrases

    rng = np.random.default_rng(seed)

    def wording(task: Any) -> str:
        options = paraphrases(str(task.instruction), held_out=True)
        return options[int(rng.integers(len(options)))]

    return wording
