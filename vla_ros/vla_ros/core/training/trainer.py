"""Supervised training of the embedded VLA on chunk targets (flow matching or token head)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vla_ros.core.policy.instruction_match import BANK_FILE, WordingBank
from vla_ros.core.policy.interface import WRIST_IMAGE_KEY
from vla_ros.core.policy.language import TextEncoder
from vla_ros.core.policy.vla_model import (
    VlaConfig,
    build_net,
    load_checkpoint,
    preprocess_images,
    read_config,
    save_checkpoint,
    warm_start,
)
from vla_ros.core.training.dataset import ChunkDataset, Episode, chunk_rows, mean_std
from vla_ros.core.training.grounding import (
    GROUNDING_DIM,
    GROUNDING_DIMS,
    TOOL_RELATIVE_GROUNDING_DIM,
    attention_points,
    simulator_robot,
    tool_frame_offsets,
)
from vla_ros.core.training.paraphrase import augment, training_wordings

log = logging.getLogger(__name__)

PRECISIONS = ("float32", "bfloat16")  # TrainConfig.precision

if TYPE_CHECKING:
    import torch

    from vla_ros.core.policy.vla_nets import VlaNet


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings."""

    steps: int = 2000  # optimiser steps
    batch_size: int = 32  # samples per step
    learning_rate: float = 3e-4  # AdamW learning rate (cosine decay to 10 %)
    weight_decay: float = 1e-4  # AdamW weight decay
    grad_clip_norm: float = 1.0  # gradient norm clip
    paraphrase_probability: float = 0.5  # chance of replacing an instruction by a paraphrase
    seed: int = 0  # seeds torch, numpy sampling and paraphrases: same seed, same run
    num_threads: int = 2  # torch CPU threads
    progress: bool = True  # show a tqdm progress bar
    image_shift_px: int = 0  # random image translation augmentation, up to +-this [px]
    checkpoint_every: int = 0  # also save the checkpoint every this many steps (0: at the end)
    aux_weight: float = 1.0  # weight of the grounding loss (models with aux_dim > 0)
    # weight of the loss that makes attention heads 0 and 1 look at the named cube and the goal
    # (their grounding targets projected into the simulator's cameras; pooling
    # "attention" + grounding only)
    attention_weight: float = 0.0
    # the cameras (image keys) whose heads that loss supervises: "front" (the scene camera)
    # and "wrist" (the wrist camera, its pose by FK of each recorded posture)
    attention_cameras: tuple[str, ...] = ("front",)
    # std of Gaussian noise added to each instruction embedding, in units of each dimension's
    # spread over the training wordings: the action head must not hinge on the exact wording
    lang_noise_std: float = 0.0
    # "bfloat16": forward pass and loss under CPU autocast (weights and optimiser in float32);
    # faster where the CPU has bfloat16 units (bench/bench_training.py), likely slower elsewhere
    precision: str = "float32"
    # share of samples whose action head reads the true grounding targets (plus noise) in
    # place of the grounding head's prediction, so that it learns to act on where things are
    # (bench/bench_stack_releases.py --oracle-grounding: the shipped head does not)
    grounding_teacher_probability: float = 0.0
    grounding_teacher_noise_m: float = 0.01  # [m] std of the noise on those true positions

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if not (self.learning_rate > 0.0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.paraphrase_probability <= 1.0:
            raise ValueError("paraphrase_probability must be in [0, 1]")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.image_shift_px < 0 or self.checkpoint_every < 0:
            raise ValueError("image_shift_px and checkpoint_every must be >= 0")
        if not self.attention_cameras or len(set(self.attention_cameras)) != len(
            self.attention_cameras
        ):
            raise ValueError("attention_cameras must name at least one camera, each once")
        if not 0.0 <= self.grounding_teacher_probability <= 1.0:
            raise ValueError("grounding_teacher_probability must be in [0, 1]")
        for name in (
            "aux_weight",
            "attention_weight",
            "lang_noise_std",
            "grounding_teacher_noise_m",
        ):
            value = getattr(self, name)
            if not (value >= 0.0 and math.isfinite(value)):
                raise ValueError(f"{name} must be finite and >= 0")


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    losses: list[float] = field(default_factory=list)  # loss per step
    checkpoint_dir: Path | None = None  # where the checkpoint was written


def train(
    episodes: Sequence[Episode],
    model_config: VlaConfig,
    train_config: TrainConfig,
    out_dir: str | Path | None = None,
    text_encoder: TextEncoder | None = None,
    init_checkpoint: str | Path | None = None,
    warm_start_checkpoint: str | Path | None = None,
) -> TrainResult:
    """Train on `episodes`; writes a checkpoint to `out_dir` when given.

    `init_checkpoint` continues a checkpoint of the same configuration (its statistics too);
    `warm_start_checkpoint` starts a new configuration from the parameters of another that
    fit (vla_model.warm_start), with statistics from these episodes."""
    import torch
    from tqdm import tqdm

    torch.manual_seed(train_config.seed)
    torch.set_num_threads(train_config.num_threads)
    rng = np.random.default_rng(train_config.seed)
    dataset = ChunkDataset(episodes, model_config.spec)
    net_states, net_actions = network_arrays(dataset, model_config)
    aux_targets = grounding_arrays(dataset, model_config)
    if train_config.grounding_teacher_probability > 0.0 and aux_targets is None:
        raise ValueError("grounding_teacher_probability needs a grounding head (--grounding)")
    attention_targets = None
    if train_config.attention_weight > 0.0:
        if aux_targets is None or model_config.pooling != "attention":
            raise ValueError("attention_weight needs pooling 'attention' and grounding targets")
        attention_targets = attention_arrays(
            dataset, aux_targets, model_config, train_config.attention_cameras
        )
    encoder = text_encoder or TextEncoder()
    wordings = training_wordings(dataset.instructions())
    embeddings = dict(zip(wordings, encoder.encode_many(wordings), strict=True))
    # the wordings training conditions on, saved with the checkpoint for instruction matching
    bank = instruction_bank(
        dataset.instructions(), encoder, paraphrased=train_config.paraphrase_probability > 0.0
    )

    if init_checkpoint is not None:
        _, net = load_checkpoint(init_checkpoint)
    else:
        net = build_net(model_config)
        stats = dataset.statistics()
        if model_config.tool_pose or model_config.spec.extra_state_joints:
            stats["state_mean"], stats["state_std"] = mean_std(net_states)
        if model_config.tool_pose:
            stats["action_mean"], stats["action_std"] = mean_std(net_actions)
        if aux_targets is not None:
            stats["aux_mean"], stats["aux_std"] = mean_std(aux_targets)
        if model_config.relative_actions:
            stats.update(relative_action_statistics(dataset))
        if model_config.lang_norm:
            matrix = np.stack([embeddings[w] for w in wordings]).astype(np.float64)
            stats["lang_mean"] = matrix.mean(axis=0)
            stats["lang_std"] = np.maximum(matrix.std(axis=0), 1e-4)
        for name, value in stats.items():
            getattr(net, name).copy_(torch.as_tensor(value, dtype=torch.float32))
        if warm_start_checkpoint is not None:
            copied, fresh = warm_start(net, warm_start_checkpoint)
            log.info(
                "warm start from %s: %d tensors copied, fresh: %s",
                warm_start_checkpoint,
                len(copied),
                ", ".join(fresh) or "none",
            )
    # per-dimension spread of the training wordings' embeddings (lang_noise_std's unit)
    lang_spread = torch.as_tensor(
        np.maximum(np.stack([embeddings[w] for w in wordings]).std(axis=0), 1e-4),
        dtype=torch.float32,
    )
    noise_gen = torch.Generator().manual_seed(train_config.seed)
    net.train()
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=train_config.learning_rate, weight_decay=train_config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / train_config.steps)),
    )
    cache = rgb_cache(dataset) if not model_config.spec.use_depth else None
    losses: list[float] = []
    bar = tqdm(range(train_config.steps), desc="train", disable=not train_config.progress)
    for step in bar:
        every = train_config.checkpoint_every
        if out_dir is not None and every and step > 0 and step % every == 0:
            _save(net, model_config, train_config, dataset, losses, out_dir, bank)
        index = rng.integers(len(dataset), size=train_config.batch_size)
        images, states, langs, targets, aux, points, valid = [], [], [], [], [], [], []
        for i in index:
            if cache is None:
                observation = dataset.observation(int(i))
                images.append(preprocess_images(observation, model_config.spec)[0])
            e, row = dataset.sample_position(int(i))
            episode = dataset.episodes[e]
            states.append(net_states[e][row])
            text = augment(episode.instruction, rng, train_config.paraphrase_probability)
            langs.append(embeddings[text] if text in embeddings else encoder.encode(text))
            targets.append(chunk_rows(net_actions[e], row, model_config.spec.chunk_length)[0])
            if aux_targets is not None:
                aux.append(aux_targets[e][row])
            if attention_targets is not None:
                points.append([cam[e][0][row] for cam in attention_targets.values()])
                valid.append([cam[e][1][row] for cam in attention_targets.values()])
        if cache is not None:
            batch_images = torch.from_numpy(cache[index].astype(np.float32) / 255.0)
        else:
            batch_images = torch.from_numpy(np.stack(images))
        if train_config.image_shift_px > 0:
            batch_images = random_shift(batch_images, train_config.image_shift_px, rng)
        batch_states = torch.from_numpy(np.stack(states).astype(np.float32))
        batch_langs = torch.from_numpy(np.stack(langs).astype(np.float32))
        if train_config.lang_noise_std > 0.0:
            noise = torch.randn(batch_langs.shape, generator=noise_gen)
            batch_langs = batch_langs + train_config.lang_noise_std * lang_spread * noise
        batch: dict[str, Any] = {
            "images": batch_images,
            "states": batch_states,
            "langs": batch_langs,
            "targets": torch.from_numpy(np.stack(targets).astype(np.float32)),
        }
        if aux_targets is not None and train_config.aux_weight > 0.0:
            batch["aux"] = torch.from_numpy(np.stack(aux).astype(np.float32))
        if train_config.grounding_teacher_probability > 0.0:  # checked: aux_targets exist
            batch["teacher"] = grounding_teacher(
                np.stack(aux),
                rng.random(len(index)) < train_config.grounding_teacher_probability,
                train_config.grounding_teacher_noise_m,
                rng,
            )
        if attention_targets is not None:
            batch["points"] = torch.from_numpy(np.stack(points).astype(np.float32))  # (B,C,K,2)
            batch["valid"] = torch.from_numpy(np.stack(valid))
        loss = training_step(
            net,
            batch,
            optimiser,
            precision=train_config.precision,
            aux_weight=train_config.aux_weight,
            attention_weight=train_config.attention_weight,
            attention_cameras=tuple(attention_targets or ()),
            grad_clip_norm=train_config.grad_clip_norm,
        )
        schedule.step()
        losses.append(loss)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    net.eval()
    checkpoint = None
    if out_dir is not None:
        checkpoint = _save(net, model_config, train_config, dataset, losses, out_dir, bank)
    return TrainResult(losses=losses, checkpoint_dir=checkpoint)


def training_step(
    net: VlaNet,
    batch: dict[str, Any],
    optimiser: torch.optim.Optimizer | None,
    *,
    precision: str = "float32",
    aux_weight: float = 1.0,
    attention_weight: float = 0.0,
    attention_cameras: tuple[int, ...] = (),
    grad_clip_norm: float = 1.0,
) -> float:
    """One step on `batch` ("images", "states", "langs", "targets": the action rows as
    recorded; optional "aux" grounding targets, "teacher" (grounding_teacher's positions and
    mask) and "points"/"valid" attention targets for the camera indices `attention_cameras`):
    the loss, and with an optimiser its update.

    `precision` "bfloat16" runs the forward pass and the loss under CPU autocast (the
    parameters, gradients and optimiser state stay float32); bench/bench_training.py
    measures what it gains."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
        states = batch["states"]
        targets = batch["targets"] - net.state_offset(states)
        context, grounding = net.encode_with_grounding(
            batch["images"], states, batch["langs"], teacher=batch.get("teacher")
        )
        if net.head == "flow":
            noise = torch.randn_like(targets)
            t = torch.rand(len(targets))
            loss = net.flow_loss(context, targets, noise, t).mean()
        else:
            loss = net.token_loss(context, targets).mean()
        if "aux" in batch and aux_weight > 0.0:
            loss = loss + aux_weight * net.aux_loss(grounding, batch["aux"]).mean()
        for c, camera in enumerate(attention_cameras):
            attention = net.attention_loss(
                batch["points"][:, c], batch["valid"][:, c], camera=camera
            ).mean()
            loss = loss + attention_weight * attention
    loss = loss.float()
    if optimiser is not None:
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip_norm)
        optimiser.step()
    return float(loss.item())


def grounding_teacher(
    targets_m: np.ndarray, use: np.ndarray, noise_m: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(true grounding targets (B, aux_dim) [m] plus Gaussian noise of `noise_m`, (B,) bool:
    which samples' action head reads them); TrainConfig.grounding_teacher_probability."""
    import torch

    noisy = targets_m + rng.normal(0.0, noise_m, targets_m.shape) if noise_m > 0.0 else targets_m
    return (
        torch.from_numpy(np.asarray(noisy, dtype=np.float32)),
        torch.from_numpy(np.asarray(use, dtype=bool)),
    )


def network_arrays(
    dataset: ChunkDataset, model_config: VlaConfig
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per episode, the network's state inputs (T, S) and action targets (T, A).

    "joints": the joint positions and the recorded actions. "tool_pose": the joint positions
    with the FK tool-pose features of each measured posture appended, and the recorded
    joint-position targets as tool-pose rows (FK, computed once here).
    """
    states = [ep.observed_positions for ep in dataset.episodes]  # ChunkDataset checked widths
    actions = [np.asarray(ep.actions, dtype=np.float64) for ep in dataset.episodes]
    if not model_config.tool_pose:
        return states, actions
    converter = model_config.tool_pose_converter()
    n_arm = len(model_config.spec.joint_names)
    tool_states = [
        np.concatenate([s, np.stack([converter.state_features(row[:n_arm]) for row in s])], axis=1)
        for s in states
    ]
    return tool_states, [converter.tool_actions(a) for a in actions]


def attention_arrays(
    dataset: ChunkDataset,
    aux_targets: Sequence[np.ndarray],
    model_config: VlaConfig,
    cameras: Sequence[str],
) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
    """Camera index -> per episode, where the grounding targets are in that camera's images
    ((T, K, 2) normalised coordinates, (T, K) valid; grounding.attention_points)."""
    keys = list(model_config.spec.image_keys)
    missing = [c for c in cameras if c not in keys]
    if missing:
        raise ValueError(f"attention_cameras {missing} are not among the model's cameras {keys}")
    # the URDF parsed once for all episodes
    robot = simulator_robot() if WRIST_IMAGE_KEY in cameras else None
    return {
        keys.index(camera): [
            attention_points(
                camera, a[:, :GROUNDING_DIM].reshape(len(a), -1, 3), ep.joint_positions, robot
            )
            for a, ep in zip(aux_targets, dataset.episodes, strict=True)
        ]
        for camera in cameras
    }


def grounding_arrays(dataset: ChunkDataset, model_config: VlaConfig) -> list[np.ndarray] | None:
    """Per episode, the (T, aux_dim) grounding targets; None when the model has no aux head.
    The episodes carry the base-frame targets (GROUNDING_DIM); a model with
    TOOL_RELATIVE_GROUNDING_DIM also gets their offsets from the tool in the tool frame
    (grounding.tool_frame_offsets, by FK of the simulator's arm at each measured posture)."""
    if model_config.aux_dim == 0:
        return None
    if model_config.aux_dim not in GROUNDING_DIMS:
        raise ValueError(f"aux_dim must be one of {GROUNDING_DIMS}, got {model_config.aux_dim}")
    robot = simulator_robot() if model_config.aux_dim == TOOL_RELATIVE_GROUNDING_DIM else None
    targets = []
    for k, episode in enumerate(dataset.episodes):
        if episode.aux_targets is None or np.shape(episode.aux_targets)[1] != GROUNDING_DIM:
            raise ValueError(
                f"episode {k} has no grounding targets of size {GROUNDING_DIM}"
                " (record with object poses and load with grounding=True)"
            )
        base_frame = np.asarray(episode.aux_targets, dtype=np.float64)
        if robot is None:
            targets.append(base_frame)
        else:
            offsets = tool_frame_offsets(base_frame, episode.joint_positions, robot)
            targets.append(np.concatenate([base_frame, offsets], axis=1))
    return targets


def rgb_cache(dataset: ChunkDataset) -> np.ndarray:
    """(N, cameras, 3, H, W) uint8 of every sample's images at the spec size, so training
    steps index an array instead of resizing and converting each frame again.

    Where an episode's frames already have the spec size, its image array is replaced by a
    view of the cache (the same pixels, (T, H, W, 3) as before), so a large data set is not
    held twice: for session 13's data (94,406 frames from two 128x96 cameras) about 7 GB
    less."""
    spec = dataset.spec
    height, width = spec.image_size
    cache = np.empty((len(dataset), len(spec.image_keys), 3, height, width), dtype=np.uint8)
    row = 0
    for episode in dataset.episodes:
        rows = slice(row, row + episode.length)
        for c, key in enumerate(spec.image_keys):
            frames = np.asarray(episode.images[key])
            resized = frames.shape[1:3] != (height, width)
            if resized:
                frames = np.stack([_resize_rgb(f, height, width) for f in frames])
            cache[rows, c] = frames.transpose(0, 3, 1, 2)
            if not resized and isinstance(episode.images, dict):
                episode.images[key] = cache[rows, c].transpose(0, 2, 3, 1)
        row += episode.length
    return cache


def _resize_rgb(image: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    interpolation = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, (width, height), interpolation=interpolation))


def random_shift(
    images: torch.Tensor, max_shift_px: int, rng: np.random.Generator
) -> torch.Tensor:
    """Translate each sample's images by up to +-max_shift_px (edge pixels repeated), the
    DrQ / diffusion-policy augmentation against over-fitting to exact pixel positions."""
    import torch
    from torch.nn import functional as F  # noqa: N812

    batch, cams, channels, height, width = images.shape
    pad = max_shift_px
    padded = F.pad(images.flatten(0, 1), (pad, pad, pad, pad), mode="replicate")
    shifts = rng.integers(0, 2 * pad + 1, size=(batch * cams, 2))
    crops = [padded[k, :, dy : dy + height, dx : dx + width] for k, (dy, dx) in enumerate(shifts)]
    return torch.stack(crops).reshape(batch, cams, channels, height, width)


def _save(
    net: VlaNet,
    model_config: VlaConfig,
    train_config: TrainConfig,
    dataset: ChunkDataset,
    losses: list[float],
    out_dir: str | Path,
    bank: WordingBank,
) -> Path:
    metadata = {
        **model_config.metadata,
        "train_steps": len(losses),
        "train_seed": train_config.seed,
        "final_loss": losses[-1] if losses else float("nan"),
        "instructions": dataset.instructions(),
    }
    config = VlaConfig(**{**model_config.__dict__, "metadata": metadata})
    directory = save_checkpoint(net, config, out_dir)
    bank.save(directory / BANK_FILE)
    return directory


def instruction_bank(
    instructions: list[str], encoder: TextEncoder, *, paraphrased: bool = True
) -> WordingBank:
    """The WordingBank of the wordings a training run on `instructions` conditions on."""
    wordings = training_wordings(instructions, paraphrased=paraphrased)
    return WordingBank(wordings, encoder.encode_many(wordings), instructions)


def write_instruction_bank(directory: str | Path, encoder: TextEncoder | None = None) -> Path:
    """Add instruction_bank.safetensors to a checkpoint trained before banks were saved, from
    the instructions its config.json records (trained with paraphrase augmentation)."""
    config = read_config(directory)
    instructions = config.metadata.get("instructions")
    if not instructions:
        raise ValueError(f"checkpoint {directory} records no training instructions")
    bank = instruction_bank(list(instructions), encoder or TextEncoder())
    return bank.save(Path(directory) / BANK_FILE)


def relative_action_statistics(dataset: ChunkDataset) -> dict[str, np.ndarray]:
    """Mean and std (floored) of chunk targets minus the sample's joints in the first
    len(joint_names) elements: what a relative_actions network regresses."""
    n_rel = len(dataset.spec.joint_names)
    rows = []
    for episode in dataset.episodes:
        actions = np.asarray(episode.actions, dtype=np.float64)
        steps = len(actions)
        for k in range(dataset.spec.chunk_length):
            target = actions[np.minimum(np.arange(steps) + k, steps - 1)].copy()
            target[:, :n_rel] -= np.asarray(episode.joint_positions)[:, :n_rel]
            rows.append(target)
    values = np.concatenate(rows)
    return {"action_mean": values.mean(axis=0), "action_std": np.maximum(values.std(axis=0), 1e-3)}
