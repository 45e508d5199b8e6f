"""Where the shipped VLA lets go in stack episodes, and where it believed the base cube was.

.venv/bin/python bench/bench_stack_releases.py [--seeds 25] [--first-seed 0] [--oracle-grounding]
    [--checkpoint-dir DIR]

The core loop of `vla-ros eval --core` (ONNX Runtime, chunk scheduler at 10 Hz, 128x96
cameras, the canonical instruction) on stack episodes. At every release (the gripper command
opening while the named cube is off the table) it logs the held cube's horizontal offset from
the base cube (the task needs at most 2 cm) and the error of the grounding head's latest
estimate of the base (the same network's torch forward pass on the same inputs; the ONNX
graph outputs only actions). A release far off the base with an accurate estimate is the
action head's miss; one that follows a wrong estimate is the perception's. For a checkpoint
trained with `--grounding-tool-relative` it also logs the error of the estimated base offset
from the tool (in the tool frame, horizontal part), and `--oracle-grounding` feeds the true
offsets too.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np
import torch
from machine import describe

ALIGNED_M = 0.02  # the stack predicate's horizontal tolerance (half a cube)
HELD_ABOVE_M = 0.03  # the named cube's centre above this: off the table


class OracleGrounding(torch.nn.Module):
    """In place of the grounding head: returns `value` (normalised units) for every sample."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.value = torch.zeros(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(x.shape[0], -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=25)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--checkpoint-dir", default=None, help="embedded VLA checkpoint (default: the shipped one)"
    )
    parser.add_argument(
        "--oracle-grounding",
        action="store_true",
        help="a diagnostic: the action head reads the true cube and base positions in place of"
        " the grounding head's estimate (torch runtime)",
    )
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")

    from vla_ros.core.chunking import ChunkSchedulerConfig
    from vla_ros.core.policy.backends import make_policy
    from vla_ros.core.policy.closed_loop import ChunkedSimPolicy
    from vla_ros.core.policy.vla_model import load_checkpoint
    from vla_ros.core.resources import resource_path
    from vla_ros.core.sim.env import SimConfig, SimEnv
    from vla_ros.core.sim.rollout import run_episode
    from vla_ros.core.training.grounding import (
        GROUNDING_DIM,
        simulator_robot,
        tool_frame_offsets,
    )

    print(describe())
    torch.set_num_threads(1)
    checkpoint = args.checkpoint_dir or str(resource_path("models", "vla_sim"))
    env = SimEnv(SimConfig(image_width_px=128, image_height_px=96))
    runtime = "torch" if args.oracle_grounding else "onnx"
    policy: Any = make_policy(
        "embedded", {"checkpoint_dir": checkpoint, "runtime": runtime, "num_threads": 1}
    )
    policy.warm_up()
    _, net = load_checkpoint(checkpoint)
    net.eval()
    aux_mean, aux_std = net.aux_mean.numpy(), net.aux_std.numpy()
    relative = net.aux_dim > GROUNDING_DIM  # with the offsets from the tool
    robot = simulator_robot()
    arm = list(policy.spec.joint_names)

    def true_grounding(state: Any, arm_joints: np.ndarray) -> np.ndarray:
        truth = np.concatenate(
            [state.cube_positions_m[task[0].colour], state.cube_positions_m[task[0].base_colour]]
        )
        if not relative:
            return truth
        offsets = tool_frame_offsets(truth[None], arm_joints[None], robot)[0]
        return np.concatenate([truth, offsets])

    oracle = OracleGrounding(net.aux_dim) if args.oracle_grounding else None
    if oracle is not None:
        policy.runtime.net.aux_head = oracle
    estimate: list[np.ndarray] = []  # the latest grounding prediction [m] and its truth
    prepare = policy.prepare

    def prepare_and_ground(observation: Any, prefix: Any) -> dict[str, Any]:
        joints = dict(zip(observation.joint_names, observation.joint_positions, strict=True))
        truth = true_grounding(env.state_view(), np.array([joints[n] for n in arm]))
        if oracle is not None:
            oracle.value = torch.as_tensor((truth - aux_mean) / aux_std, dtype=torch.float32)
        inputs = prepare(observation, prefix)
        with torch.no_grad():
            _, grounding = net.encode_with_grounding(
                *(torch.from_numpy(inputs[k]) for k in ("images", "state", "lang"))
            )
        # the estimate and the truth for the same observation (the tool moves after it)
        estimate[:] = [grounding.numpy()[0] * aux_std + aux_mean, truth]
        return inputs

    policy.prepare = prepare_and_ground
    sim = ChunkedSimPolicy(policy, env, ChunkSchedulerConfig(control_rate_hz=10.0))
    act, reset = sim.act, sim.reset
    task: list[Any] = []  # the episode's TaskSpec
    # per release: cube offset, base estimate error, error of the base's estimated offset from
    # the tool (nan without tool-relative grounding)
    events: list[tuple[float, float, float]] = []
    last_gripper = [np.inf]

    def reset_and_keep(spec: Any) -> None:
        task[:], events[:], last_gripper[:] = [spec], [], [np.inf]
        reset(spec)

    def act_and_log(q: np.ndarray, state: Any) -> tuple[np.ndarray, float]:
        arm, gripper = act(q, state)
        cube = state.cube_positions_m[task[0].colour]
        base = state.cube_positions_m[task[0].base_colour]
        opening = last_gripper[0] < 0.01 and gripper > 0.02
        if opening and cube[2] > HELD_ABOVE_M and estimate:
            offset = float(np.linalg.norm(cube[:2] - base[:2]))
            error = float(np.linalg.norm(estimate[0][3:5] - base[:2]))
            relative_error = np.nan
            if relative:
                relative_error = float(np.linalg.norm(estimate[0][9:11] - estimate[1][9:11]))
            events.append((offset, error, relative_error))
        last_gripper[0] = gripper
        return arm, gripper

    sim.reset = reset_and_keep  # type: ignore[method-assign]
    sim.act = act_and_log  # type: ignore[method-assign]
    rows: list[tuple[float, float, float]] = []
    successes = 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        result = run_episode(env, sim, seed=seed, task="stack", act_period_s=0.1)
        successes += result.success
        shown = ", ".join(f"{100 * o:.1f}/{100 * e:.1f}" for o, e, _ in events) or "none"
        print(f"seed {seed:3d} {'success' if result.success else 'failure'}: releases {shown}")
        rows += events
    print(
        f"stack seeds {args.first_seed}-{args.first_seed + args.seeds - 1}: {successes} "
        f"successes; releases listed as cube offset / base estimate error [cm]"
    )
    if not rows:
        return
    offsets = np.array([r[0] for r in rows])
    errors = np.array([r[1] for r in rows])
    missed = offsets > ALIGNED_M
    print(f"  {len(rows)} releases, {int(missed.sum())} more than {100 * ALIGNED_M:.0f} cm off")
    print(
        f"  median offset {100 * np.median(offsets):.1f} cm, median estimate error "
        f"{100 * np.median(errors):.1f} cm"
    )
    if relative:
        relative_errors = np.array([r[2] for r in rows])
        print(
            "  median error of the base's estimated offset from the tool (tool frame, "
            f"horizontal): {100 * np.median(relative_errors):.1f} cm"
        )
    accurate = missed & (errors <= ALIGNED_M)
    print(
        f"  missed releases with the base estimated within {100 * ALIGNED_M:.0f} cm: "
        f"{int(accurate.sum())} of {int(missed.sum())} (the action head's miss)"
    )
    if missed.sum() > 2:
        r = float(np.corrcoef(offsets[missed], errors[missed])[0, 1])
        print(f"  offset against estimate error over missed releases: Pearson r = {r:.2f}")


if __name__ == "__main__":
    main()
