"""`vla-ros train`: train the embedded VLA on recorded MCAP episodes; export ONNX."""

from __future__ import annotations

import argparse
import json
import logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `vla-ros train`."""
    parser.add_argument("episodes", nargs="+", help="episode .mcap files or directories of them")
    parser.add_argument("--out", required=True, help="checkpoint directory to write")
    parser.add_argument("--head", choices=("flow", "tokens"), default="flow")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--chunk-length", type=int, default=16, help="actions per chunk (H)")
    parser.add_argument("--image-size", type=int, default=96, help="square input size [px]")
    parser.add_argument(
        "--image-height", type=int, default=0, help="input height [px] (0: --image-size)"
    )
    parser.add_argument(
        "--image-width", type=int, default=0, help="input width [px] (0: --image-size)"
    )
    parser.add_argument("--hidden-dim", type=int, default=256, help="width of the MLPs")
    parser.add_argument(
        "--cnn-channels",
        type=int,
        nargs="+",
        default=[32, 64, 96, 128],
        help="channels of the stride-2 conv blocks",
    )
    parser.add_argument(
        "--pooling",
        choices=("mean", "keypoints", "attention"),
        default="mean",
        help="image pooling",
    )
    parser.add_argument(
        "--image-shift-px", type=int, default=0, help="random shift augmentation [px]"
    )
    parser.add_argument(
        "--relative-actions",
        action="store_true",
        help="predict arm actions relative to the measured joints",
    )
    parser.add_argument(
        "--lang-norm",
        action="store_true",
        help="standardise instruction embeddings with the training wordings' statistics",
    )
    parser.add_argument(
        "--action-representation",
        choices=("joints", "tool_pose"),
        default="joints",
        help="what the network predicts: joint positions, or top-down tool poses turned into"
        " joint positions by IK of --robot-config",
    )
    parser.add_argument(
        "--robot-config",
        default="config/robots/vla_arm6.yaml",
        help="robot YAML for FK/IK (tool_pose), relative to the package share directory",
    )
    parser.add_argument(
        "--tool-yaw-symmetry",
        type=int,
        choices=(1, 2, 4),
        default=1,
        help="tool_pose: encode sin/cos of k * yaw (4 loses the push orientation)",
    )
    parser.add_argument(
        "--checkpoint-every", type=int, default=0, help="also save every N steps (0: at the end)"
    )
    parser.add_argument("--use-depth", action="store_true", help="add the depth channel")
    parser.add_argument(
        "--extra-state-joints",
        nargs="*",
        default=[],
        help="measured joints the network also sees, e.g. finger_joint (the gripper)",
    )
    parser.add_argument(
        "--grounding",
        action="store_true",
        help="auxiliary loss: regress the named object's and the goal's positions from the"
        " recorded ground truth (simulated recordings; training only)",
    )
    parser.add_argument(
        "--grounding-tool-relative",
        action="store_true",
        help="with --grounding: also regress the named object's and the goal's offsets from"
        " the tool, in the tool's frame (what the wrist camera shows), and feed them to the"
        " action head",
    )
    parser.add_argument(
        "--aux-weight", type=float, default=1.0, help="weight of the --grounding loss"
    )
    parser.add_argument(
        "--attention-weight",
        type=float,
        default=0.0,
        help="with --grounding and --pooling attention: weight of the loss that makes two"
        " attention heads look where the named cube and the goal are in each camera of"
        " --attention-cameras",
    )
    parser.add_argument(
        "--attention-cameras",
        nargs="+",
        default=["front"],
        metavar="CAMERA",
        help="the cameras whose heads --attention-weight supervises: front (the scene camera),"
        " wrist (the wrist camera, posed by FK of each recorded posture)",
    )
    parser.add_argument(
        "--lang-noise-std",
        type=float,
        default=0.0,
        help="Gaussian noise on the instruction embeddings in training, in units of each"
        " dimension's spread over the training wordings",
    )
    parser.add_argument(
        "--grounding-teacher-probability",
        type=float,
        default=0.0,
        help="with --grounding: share of samples whose action head reads the true object"
        " positions (plus --grounding-teacher-noise-m) in place of the grounding head's estimate",
    )
    parser.add_argument(
        "--grounding-teacher-noise-m",
        type=float,
        default=0.01,
        help="std of the Gaussian noise on those true positions [m]",
    )
    parser.add_argument("--flow-steps", type=int, default=10, help="Euler steps at inference")
    parser.add_argument("--paraphrase-probability", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),  # core.training.trainer.PRECISIONS
        default="float32",
        help="bfloat16: forward pass under CPU autocast, weights in float32 (faster only on"
        " CPUs with bfloat16 units; bench/bench_training.py measures it)",
    )
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    parser.add_argument("--init", default=None, help="checkpoint to continue from")
    parser.add_argument(
        "--warm-start",
        default=None,
        help="checkpoint of another configuration to take the parameters that fit from"
        " (e.g. the scene-camera model when adding --cameras front wrist)",
    )
    parser.add_argument(
        "--cameras",
        nargs="+",
        default=["front"],
        help="the policy's cameras: front (the scene camera) and wrist (the gripper camera,"
        " recorded with `vla-ros record --wrist-camera`)",
    )


def run(args: argparse.Namespace) -> int:
    """Load the episodes, train, save (and export) the checkpoint."""
    from vla_ros.core.policy.vla_model import VlaConfig, export_onnx
    from vla_ros.core.training.grounding import GROUNDING_DIM, TOOL_RELATIVE_GROUNDING_DIM
    from vla_ros.core.training.recorded import load_recordings, recording_paths
    from vla_ros.core.training.trainer import TrainConfig, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.grounding_tool_relative and not args.grounding:
        raise SystemExit("--grounding-tool-relative needs --grounding")
    if args.init and args.warm_start:  # checked before the (long) loading of the episodes
        raise SystemExit("--init and --warm-start exclude each other")
    paths = recording_paths(args.episodes)
    spec, episodes = load_recordings(
        paths,
        image_size=(args.image_height or args.image_size, args.image_width or args.image_size),
        chunk_length=args.chunk_length,
        use_depth=args.use_depth,
        extra_state_joints=tuple(args.extra_state_joints),
        cameras=tuple(args.cameras),
        grounding=args.grounding,
    )
    logging.info(
        "%d episodes, %d frames; spec %s",
        len(episodes),
        sum(e.length for e in episodes),
        json.dumps(spec.to_dict()),
    )
    model_config = VlaConfig(
        spec=spec,
        head=args.head,
        flow_steps=args.flow_steps,
        hidden_dim=args.hidden_dim,
        cnn_channels=tuple(args.cnn_channels),
        pooling=args.pooling,
        relative_actions=args.relative_actions,
        lang_norm=args.lang_norm,
        action_representation=args.action_representation,
        robot_config=args.robot_config if args.action_representation == "tool_pose" else "",
        tool_yaw_symmetry=args.tool_yaw_symmetry,
        aux_dim=(
            (TOOL_RELATIVE_GROUNDING_DIM if args.grounding_tool_relative else GROUNDING_DIM)
            if args.grounding
            else 0
        ),
        metadata={
            "episodes": [str(p) for p in paths],
            **({"init_checkpoint": str(args.init)} if args.init else {}),
            **({"warm_start_checkpoint": str(args.warm_start)} if args.warm_start else {}),
        },
    )
    settings = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        paraphrase_probability=args.paraphrase_probability,
        seed=args.seed,
        num_threads=args.threads,
        image_shift_px=args.image_shift_px,
        checkpoint_every=args.checkpoint_every,
        aux_weight=args.aux_weight,
        attention_weight=args.attention_weight,
        attention_cameras=tuple(args.attention_cameras),
        lang_noise_std=args.lang_noise_std,
        precision=args.precision,
        grounding_teacher_probability=args.grounding_teacher_probability,
        grounding_teacher_noise_m=args.grounding_teacher_noise_m,
    )
    result = train(
        episodes,
        model_config,
        settings,
        out_dir=args.out,
        init_checkpoint=args.init,
        warm_start_checkpoint=args.warm_start,
    )
    logging.info("final loss %.4f; checkpoint %s", result.losses[-1], result.checkpoint_dir)
    if not args.no_onnx:
        logging.info("ONNX export: %s", export_onnx(args.out))
    return 0
