"""How well embedded VLA checkpoints locate the goal on recorded frames (open loop).

.venv/bin/python bench/bench_grounding_frames.py DATA_DIR [--pattern 'stack_*.mcap']
    [--episodes 40] [--every 3] [--checkpoint-dir DIR ...]

For every checkpoint (default: the shipped one) and every `--every`-th frame of the first
`--episodes` recordings matching `--pattern` in DATA_DIR, the grounding head's estimate of the
goal (for stack: the base cube) against the recorded truth, horizontal error, median, with
float32 and with bfloat16 autocast inference side by side. For a checkpoint trained with
`--grounding-tool-relative`, also the error of the goal's estimated offset from the tool (tool
frame, horizontal), over all frames and over the frames where the named cube is off the table.
Frames from training seeds measure what a checkpoint learned; bench_stack_releases measures
the same estimate closed loop on evaluation seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from machine import describe

HELD_ABOVE_M = 0.03  # the named cube's centre above this: off the table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--pattern", default="stack_*.mcap")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--every", type=int, default=3, help="use every N-th frame")
    parser.add_argument("--checkpoint-dir", nargs="+", default=None)
    args = parser.parse_args()

    from vla_ros.core.policy.language import TextEncoder
    from vla_ros.core.policy.vla_model import load_checkpoint
    from vla_ros.core.resources import resource_path
    from vla_ros.core.training.dataset import ChunkDataset
    from vla_ros.core.training.grounding import (
        GROUNDING_DIM,
        simulator_robot,
        tool_frame_offsets,
    )
    from vla_ros.core.training.recorded import load_recordings
    from vla_ros.core.training.trainer import rgb_cache

    print(describe())
    torch.set_num_threads(1)
    paths = sorted(Path(args.data_dir).glob(args.pattern))[: args.episodes]
    if not paths:
        raise SystemExit(f"no recordings match {args.pattern} in {args.data_dir}")
    checkpoints = args.checkpoint_dir or [str(resource_path("models", "vla_sim"))]
    encoder = TextEncoder()
    robot = simulator_robot()
    # per input layout: the episodes and their images as the trainer caches them
    loaded: dict[tuple[object, ...], tuple[list[Any], np.ndarray]] = {}
    for checkpoint in checkpoints:
        config, net = load_checkpoint(checkpoint)
        net.eval()
        spec = config.spec
        key = (spec.image_size, spec.image_keys, spec.extra_state_joints)
        if key not in loaded:
            _, episodes = load_recordings(paths, spec, grounding=True)
            loaded[key] = (episodes, rgb_cache(ChunkDataset(episodes, spec)))
        errors: dict[str, list[np.ndarray]] = {"float32": [], "bfloat16": []}
        relative: list[np.ndarray] = []
        lifted: list[np.ndarray] = []
        first = 0  # the episode's first row in the cache
        for episode in loaded[key][0]:
            rows = np.arange(0, episode.length, args.every)
            images = loaded[key][1][first + rows]
            first += episode.length
            inputs = (
                torch.from_numpy(images.astype(np.float32) / 255.0),
                torch.from_numpy(episode.observed_positions[rows].astype(np.float32)),
                torch.from_numpy(
                    np.tile(encoder.encode(episode.instruction), (len(rows), 1)).astype(np.float32)
                ),
            )
            truth = np.asarray(episode.aux_targets)[rows]
            for precision, found in errors.items():
                with (
                    torch.no_grad(),
                    torch.autocast("cpu", torch.bfloat16, enabled=precision == "bfloat16"),
                ):
                    _, grounding = net.encode_with_grounding(*inputs)
                estimate = net.aux_prediction(grounding.float()).numpy()
                found.append(np.linalg.norm(estimate[:, 3:5] - truth[:, 3:5], axis=1))
                if precision == "float32" and net.aux_dim > GROUNDING_DIM:
                    offsets = tool_frame_offsets(truth, episode.joint_positions[rows], robot)
                    relative.append(np.linalg.norm(estimate[:, 9:11] - offsets[:, 3:5], axis=1))
                    lifted.append(truth[:, 2] > HELD_ABOVE_M)
        frames = sum(len(e) for e in errors["float32"])
        shown = ", ".join(
            f"{p} {100 * np.median(np.concatenate(e)):.2f} cm" for p, e in errors.items()
        )
        print(f"{checkpoint}: goal estimate, median horizontal error, {frames} frames: {shown}")
        if relative:
            every, held = np.concatenate(relative), np.concatenate(lifted)
            print(
                f"  goal offset from the tool (tool frame, horizontal): median error "
                f"{100 * np.median(every):.2f} cm over all frames, "
                f"{100 * np.median(every[held]):.2f} cm with the cube off the table"
            )


if __name__ == "__main__":
    main()
