"""Training throughput of the shipped VLA's network: float32 against bfloat16 autocast.

.venv/bin/python bench/bench_training.py [--steps 30] [--rounds 3] [--threads 2] [--batch-size 64]

One optimiser step as `core.training.trainer.train` takes it (its `training_step`:
flow-matching loss plus the grounding loss, AdamW, gradient clipping) on batches shaped like
the shipped checkpoint's (two 96x128 cameras, batch 64), from the shipped weights, with random
inputs made before timing: throughput does not depend on what the images show. The two
precisions alternate in rounds of `--steps` steps, so that they share the machine's noise; the
figure to read is their ratio. Also prints
how far bfloat16's loss is from float32's on the same batches (forward only).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from machine import describe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="steps per round and precision")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    import torch

    from vla_ros.core.policy.vla_model import load_checkpoint
    from vla_ros.core.resources import resource_path
    from vla_ros.core.training.trainer import training_step

    print(describe())
    torch.set_num_threads(args.threads)
    config, net = load_checkpoint(resource_path("models", "vla_sim"))
    spec = config.spec
    rng = np.random.default_rng(0)
    h, w = spec.image_size
    b, cams = args.batch_size, len(spec.image_keys)
    state_dim = len(spec.joint_names) + len(spec.extra_state_joints)

    def batch() -> dict[str, torch.Tensor]:
        return {
            "images": torch.from_numpy(rng.random((b, cams, 3, h, w), dtype=np.float32)),
            "states": torch.from_numpy(rng.normal(size=(b, state_dim)).astype(np.float32)),
            "langs": torch.from_numpy(rng.normal(size=(b, config.lang_dim)).astype(np.float32)),
            "targets": torch.from_numpy(
                rng.normal(size=(b, spec.chunk_length, config.net_action_dim)).astype(np.float32)
            ),
            "aux": torch.from_numpy(rng.normal(size=(b, config.aux_dim)).astype(np.float32)),
        }

    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-5)
    net.train()
    batches = [batch() for _ in range(4)]  # made before timing: the trainer's batch assembly
    seconds: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    for _ in range(args.rounds):
        for precision, times in seconds.items():
            training_step(net, batches[0], optimiser, precision=precision)  # warm-up, untimed
            start = time.perf_counter()
            for k in range(args.steps):
                training_step(net, batches[k % len(batches)], optimiser, precision=precision)
            times.append((time.perf_counter() - start) / args.steps)
    rates = {p: 1.0 / float(np.median(s)) for p, s in seconds.items()}
    print(f"batch {b}, {cams} cameras {h}x{w}, {args.threads} threads, {args.rounds} rounds")
    for precision, rate in rates.items():
        print(f"  {precision:9s} {rate:5.2f} steps/s (median of rounds)")
    print(f"  bfloat16 / float32 throughput: {rates['bfloat16'] / rates['float32']:.2f}x")

    net.eval()
    gaps = []
    with torch.no_grad():
        for _ in range(5):
            inputs = batch()
            torch.manual_seed(1)
            full = training_step(net, inputs, None, precision="float32")
            torch.manual_seed(1)
            half = training_step(net, inputs, None, precision="bfloat16")
            gaps.append(abs(half - full) / abs(full))
    print(f"  loss, bfloat16 against float32 on the same batch: {100 * max(gaps):.2f} % at most")


if __name__ == "__main__":
    main()
