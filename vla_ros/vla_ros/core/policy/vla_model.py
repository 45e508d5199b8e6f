"""The embedded VLA: config, safetensors checkpoints, ONNX export, torch and ONNX Runtime policies.

torch is imported lazily (inside functions), so that importing this module stays light; the
networks live in vla_nets.py. A checkpoint is a directory holding config.json (the VlaConfig,
plain JSON) and model.safetensors (weights and normalisation statistics); export_onnx adds
model.onnx. Nothing here unpickles anything.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vla_ros.core.policy.instruction_match import (
    DEFAULT_MIN_SIMILARITY,
    NO_MATCH_SIMILARITY,
    InstructionMatch,
    WordingBank,
)
from vla_ros.core.policy.interface import ActionChunk, ActionSpace, Observation, PolicySpec
from vla_ros.core.policy.language import EMBEDDING_DIM, TextEncoder
from vla_ros.core.policy.tool_pose import (
    POSE_FEATURES,
    YAW_SYMMETRIES,
    ToolPoseConverter,
    ToolPoseIkError,
)

if TYPE_CHECKING:
    from vla_ros.core.policy.vla_nets import VlaNet

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
FORMAT_VERSION = 1
DEPTH_RANGE_M = 2.0  # depth is clipped to [0, DEPTH_RANGE_M] and scaled to [0, 1]
ONNX_INPUTS = ("images", "state", "lang", "noise", "prefix", "prefix_mask")
ACTION_REPRESENTATIONS = ("joints", "tool_pose")


class CheckpointError(ValueError):
    """A checkpoint directory is missing, incomplete, corrupt or inconsistent."""


@dataclass(frozen=True)
class VlaConfig:
    """Architecture of the embedded VLA (saved as config.json next to the weights)."""

    spec: PolicySpec  # observation and action interface
    head: str = "flow"  # "flow" (flow matching) or "tokens" (discretised actions)
    hidden_dim: int = 256  # width of the context and head MLPs
    cnn_channels: tuple[int, ...] = (32, 64, 96, 128)  # channels of the stride-2 conv blocks
    head_layers: int = 3  # residual blocks of the flow head
    flow_steps: int = 10  # Euler steps at inference (flow head)
    token_bins: int = 64  # bins per action element (token head)
    token_clip: float = 3.0  # [std] range of the bins in normalised units (token head)
    lang_dim: int = EMBEDDING_DIM  # size of the instruction embedding
    # image pooling: "mean", "keypoints" (mean + spatial soft-argmax) or "attention" (mean +
    # language-query attention: where and what, see vla_nets.LanguageAttentionPool)
    pooling: str = "mean"
    relative_actions: bool = False  # arm actions predicted relative to the measured joints
    lang_norm: bool = False  # standardise instruction embeddings with training statistics
    # "joints": the network predicts the spec's joint rows; "tool_pose": top-down tool poses
    # (x, y, z, sin/cos of tool_yaw_symmetry * yaw) + gripper, turned into joint rows by IK of
    # `robot_config` (see core.policy.tool_pose); the chunk the policy returns is the same.
    action_representation: str = "joints"
    robot_config: str = ""  # robot YAML, relative to the package share dir (tool_pose only)
    tool_yaw_symmetry: int = 1  # k in sin/cos(k * yaw): 1, 2 or 4 (tool_pose only)
    # grounding head: predicts aux_dim numbers (where the named object and the goal are: 6 in
    # the base frame, 12 with their offsets from the tool), is trained on simulator ground
    # truth (core.training.grounding) and feeds the context; 0 = none
    aux_dim: int = 0
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)  # e.g. training info

    def __post_init__(self) -> None:
        if self.head not in ("flow", "tokens"):
            raise ValueError(f"head must be 'flow' or 'tokens', got '{self.head}'")
        if self.hidden_dim < 8 or not self.cnn_channels or min(self.cnn_channels) < 4:
            raise ValueError("hidden_dim must be >= 8 and cnn_channels non-empty, each >= 4")
        if self.flow_steps < 1 or self.head_layers < 1:
            raise ValueError("flow_steps and head_layers must be >= 1")
        if self.token_bins < 2 or not self.token_clip > 0.0:
            raise ValueError("token_bins must be >= 2 and token_clip > 0")
        if self.pooling not in ("mean", "keypoints", "attention"):
            raise ValueError(
                f"pooling must be 'mean', 'keypoints' or 'attention', got '{self.pooling}'"
            )
        if self.relative_actions and self.spec.action_space is not ActionSpace.JOINT_POSITION:
            raise ValueError("relative_actions needs the joint_position action space")
        if self.action_representation not in ACTION_REPRESENTATIONS:
            raise ValueError(
                f"action_representation must be one of {ACTION_REPRESENTATIONS},"
                f" got '{self.action_representation}'"
            )
        if self.action_representation == "tool_pose":
            if self.spec.action_space is not ActionSpace.JOINT_POSITION or self.relative_actions:
                raise ValueError(
                    "tool_pose needs the joint_position action space and no relative_actions"
                )
            if not self.robot_config:
                raise ValueError("tool_pose needs robot_config (the robot YAML for FK and IK)")
            if self.tool_yaw_symmetry not in YAW_SYMMETRIES:
                raise ValueError(f"tool_yaw_symmetry must be one of {YAW_SYMMETRIES}")
        object.__setattr__(self, "cnn_channels", tuple(int(c) for c in self.cnn_channels))
        if self.aux_dim < 0:
            raise ValueError("aux_dim must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain types for config.json."""
        return {
            "format_version": FORMAT_VERSION,
            "spec": self.spec.to_dict(),
            "head": self.head,
            "hidden_dim": self.hidden_dim,
            "cnn_channels": list(self.cnn_channels),
            "head_layers": self.head_layers,
            "flow_steps": self.flow_steps,
            "token_bins": self.token_bins,
            "token_clip": self.token_clip,
            "lang_dim": self.lang_dim,
            "pooling": self.pooling,
            "relative_actions": self.relative_actions,
            "lang_norm": self.lang_norm,
            "action_representation": self.action_representation,
            "robot_config": self.robot_config,
            "tool_yaw_symmetry": self.tool_yaw_symmetry,
            "aux_dim": self.aux_dim,
            "metadata": self.metadata,
        }

    @property
    def tool_pose(self) -> bool:
        """Whether the network predicts tool poses (converted to joints by IK)."""
        return self.action_representation == "tool_pose"

    @property
    def net_state_dim(self) -> int:
        """Size of the network's state input: the spec's observed joints (+ the tool-pose
        features)."""
        return len(self.spec.observed_joints) + (POSE_FEATURES if self.tool_pose else 0)

    @property
    def net_action_dim(self) -> int:
        """Size of one network output row: the spec's action, or tool pose (+ gripper)."""
        if self.tool_pose:
            return POSE_FEATURES + (1 if self.spec.has_gripper else 0)
        return self.spec.action_dim

    def tool_pose_converter(self) -> ToolPoseConverter:
        """The FK/IK converter of a tool_pose config (loads the robot model)."""
        if not self.tool_pose:
            raise ValueError("this config predicts joints, not tool poses")
        return ToolPoseConverter.from_robot_config(
            self.robot_config,
            self.spec.joint_names,
            yaw_symmetry=self.tool_yaw_symmetry,
            has_gripper=self.spec.has_gripper,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VlaConfig:
        """Inverse of to_dict."""
        if data.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"checkpoint format_version {data.get('format_version')} is not {FORMAT_VERSION}"
            )
        fields = {k: v for k, v in data.items() if k not in ("format_version", "spec")}
        return cls(spec=PolicySpec.from_dict(data["spec"]), **fields)


def build_net(config: VlaConfig) -> VlaNet:
    """A randomly initialised network for `config` (loads torch)."""
    from vla_ros.core.policy.vla_nets import VlaNet

    spec = config.spec
    return VlaNet(
        n_cameras=len(spec.image_keys),
        use_depth=spec.use_depth,
        state_dim=config.net_state_dim,
        action_dim=config.net_action_dim,
        chunk_length=spec.chunk_length,
        lang_dim=config.lang_dim,
        hidden_dim=config.hidden_dim,
        cnn_channels=config.cnn_channels,
        head=config.head,
        head_layers=config.head_layers,
        flow_steps=config.flow_steps,
        token_bins=config.token_bins,
        token_clip=config.token_clip,
        pooling=config.pooling,
        relative_dims=len(spec.joint_names) if config.relative_actions else 0,
        lang_norm=config.lang_norm,
        aux_dim=config.aux_dim,
    )


def save_checkpoint(net: VlaNet, config: VlaConfig, directory: str | Path) -> Path:
    """Write config.json + model.safetensors into `directory` (created); returns it."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "vla_ros"})
    (out / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    stale_onnx = out / ONNX_FILE
    if stale_onnx.exists():  # an export of older weights would silently disagree
        stale_onnx.unlink()
    return out


def read_config(directory: str | Path) -> VlaConfig:
    """The VlaConfig of a checkpoint directory (no torch needed)."""
    path = Path(directory) / CONFIG_FILE
    if not Path(directory).is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {directory} has no {CONFIG_FILE}")
    try:
        return VlaConfig.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint config {path} is invalid: {exc}") from exc


def load_checkpoint(directory: str | Path) -> tuple[VlaConfig, VlaNet]:
    """Config and network (eval mode) from a checkpoint directory; clear errors when broken."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = read_config(directory)
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {directory} has no {WEIGHTS_FILE}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint weights {weights} are corrupt: {exc}") from exc
    net = build_net(config)
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {weights} do not fit config.json: {exc}") from exc
    net.eval()
    return config, net


_GROUNDING_OUTPUTS = "aux_head.2."  # the grounding head's last layer (weight and bias)
_CONTEXT_INPUT = "context.0.weight"  # the layer that reads the fused features, grounding last
_STATE_INPUT = "state.0.weight"  # reads the state: the observed joints (+ tool-pose features)
_GROWN_INPUTS = (_CONTEXT_INPUT, _STATE_INPUT)  # layers whose inputs may grow at the end


def _grown_at_end(old: Sequence[int], new: Sequence[int], dim: int = 0) -> bool:
    """`new` is `old` with dimension `dim` longer and every other dimension the same."""
    return (
        len(old) == len(new)
        and new[dim] > old[dim]
        and all(o == n for k, (o, n) in enumerate(zip(old, new, strict=True)) if k != dim)
    )


def warm_start(net: VlaNet, directory: str | Path) -> tuple[list[str], list[str]]:
    """Copy into `net` every learned parameter of the checkpoint in `directory` whose name and
    shape match (not the normalisation buffers: `net` keeps its own data's statistics).

    For a network with more cameras than the checkpoint's (appended to its image_keys): the
    shared vision encoder and the heads carry over; the layers that read the concatenated
    camera features get the old weights for the old cameras and zero weights for the new
    ones, so the warm-started network first acts exactly as the old one did and learns to use
    the new camera from there. A grown grounding head, or a state input grown by the tool-pose
    features (a joints checkpoint into a tool_pose network), keeps the old weights and reads
    the new inputs at zero weight; the action head's input and output layers of a different
    action representation start fresh. Returns (copied names, names left at their
    initialisation)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = Path(directory) / WEIGHTS_FILE
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot warm-start from {weights}: {exc}") from exc
    per_camera = net.vision.camera_embedding.shape[1]
    n_cams = net.vision.camera_embedding.shape[0]
    old_embedding = tensors.get("vision.camera_embedding")
    old_cams = n_cams
    if old_embedding is not None and old_embedding.shape[1] == per_camera:
        old_cams = int(old_embedding.shape[0])
    old_width = old_cams * per_camera
    new_width = n_cams * per_camera
    copied, fresh = [], []
    with torch.no_grad():
        for name, param in net.named_parameters():
            source = tensors.get(name)
            if source is None:
                fresh.append(name)
            elif tuple(source.shape) == tuple(param.shape):
                param.copy_(source)
                copied.append(name)
            elif name == "vision.camera_embedding" and 0 < old_cams < n_cams:
                param[:old_cams] = source
                param[old_cams:] = source[-1]
                copied.append(name)
            elif (
                0 < old_cams < n_cams
                and param.dim() == 2
                and source.dim() == 2
                and source.shape[0] == param.shape[0]
                and param.shape[1] - source.shape[1] == new_width - old_width
            ):  # reads [camera features..., the rest]: insert zero columns for new cameras
                param.zero_()
                param[:, :old_width] = source[:, :old_width]
                param[:, new_width:] = source[:, old_width:]
                copied.append(name)
            elif name.startswith(_GROUNDING_OUTPUTS) and _grown_at_end(source.shape, param.shape):
                param[: source.shape[0]] = source  # the old outputs; the new keep their init
                copied.append(name)
            elif name in _GROWN_INPUTS and _grown_at_end(source.shape, param.shape, dim=1):
                # the context reads [..., grounding], the state layer [joints..., tool pose]:
                # the new inputs at zero weight
                param.zero_()
                param[:, : source.shape[1]] = source
                copied.append(name)
            else:
                fresh.append(name)
    return copied, fresh


# ---------------------------------------------------------------------------- inputs


def preprocess_images(observation: Observation, spec: PolicySpec) -> np.ndarray:
    """(1, cameras, C, H, W) float32 in [0, 1]: RGB (+ depth scaled to [0, 1]) at spec size."""
    height, width = spec.image_size
    planes = []
    for key in spec.image_keys:
        if key not in observation.images:
            raise ValueError(
                f"observation has no image '{key}' (has {sorted(observation.images)})"
            )
        rgb = _resize(np.asarray(observation.images[key]), height, width)
        channels = [rgb.astype(np.float32).transpose(2, 0, 1) / 255.0]
        if spec.use_depth:
            if key not in observation.depth:
                raise ValueError(f"observation has no depth image '{key}'")
            depth = _resize(np.asarray(observation.depth[key], dtype=np.float32), height, width)
            depth = np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0)
            channels.append(np.clip(depth, 0.0, DEPTH_RANGE_M)[None] / DEPTH_RANGE_M)
        planes.append(np.concatenate(channels, axis=0))
    return np.stack(planes)[None].astype(np.float32)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    import cv2  # lazy: only image-consuming policies need OpenCV

    interpolation = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
    if image.dtype == np.float32:
        interpolation = cv2.INTER_NEAREST  # never blend valid depth with invalid pixels
    return np.asarray(cv2.resize(image, (width, height), interpolation=interpolation))


# ---------------------------------------------------------------------------- runtimes


class VlaRuntime(Protocol):
    """Runs the network on prepared float32 inputs (named as ONNX_INPUTS)."""

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """(1, H, A) raw actions."""
        ...


class TorchRuntime:
    """Eager torch inference."""

    def __init__(self, net: VlaNet, num_threads: int = 2) -> None:
        import torch

        torch.set_num_threads(num_threads)
        self.net = net.eval()

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """(1, H, A) raw actions."""
        import torch

        with torch.inference_mode():
            tensors = [torch.from_numpy(np.ascontiguousarray(inputs[k])) for k in ONNX_INPUTS]
            return self.net(*tensors).numpy().astype(np.float64)


class OnnxRuntime:
    """ONNX Runtime inference of an exported model.onnx."""

    def __init__(self, path: str | Path, num_threads: int = 2) -> None:
        import onnxruntime as ort

        if not Path(path).is_file():
            raise CheckpointError(f"no ONNX model at {path}; run export_onnx on the checkpoint")
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise CheckpointError(f"ONNX model {path} cannot be loaded: {exc}") from exc
        self._names = [i.name for i in self.session.get_inputs()]

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """(1, H, A) raw actions."""
        feeds = {name: inputs[name] for name in self._names}
        return np.asarray(self.session.run(None, feeds)[0], dtype=np.float64)


def example_inputs(config: VlaConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the right shapes (export, benchmarks, tests)."""
    rng = np.random.default_rng(seed)
    spec = config.spec
    channels = 4 if spec.use_depth else 3
    shape_img = (1, len(spec.image_keys), channels, *spec.image_size)
    chunk_shape = (1, spec.chunk_length, config.net_action_dim)
    return {
        "images": rng.random(shape_img, dtype=np.float32),
        "state": rng.normal(size=(1, config.net_state_dim)).astype(np.float32),
        "lang": rng.normal(size=(1, config.lang_dim)).astype(np.float32),
        "noise": rng.normal(size=chunk_shape).astype(np.float32),
        "prefix": np.zeros(chunk_shape, dtype=np.float32),
        "prefix_mask": np.zeros((1, spec.chunk_length, 1), dtype=np.float32),
    }


def export_onnx(directory: str | Path, out_path: str | Path | None = None) -> Path:
    """Export a checkpoint to ONNX (default: <directory>/model.onnx); returns the path."""
    import torch

    config, net = load_checkpoint(directory)
    path = Path(out_path) if out_path is not None else Path(directory) / ONNX_FILE
    inputs = example_inputs(config)
    args = tuple(torch.from_numpy(inputs[k]) for k in ONNX_INPUTS)
    with torch.no_grad():
        program = torch.onnx.export(
            net, args, dynamo=True, input_names=list(ONNX_INPUTS), output_names=["actions"]
        )
    if program is None:
        raise RuntimeError("torch.onnx.export returned no program")
    program.save(str(path), external_data=False)
    return path


# ---------------------------------------------------------------------------- policy


class VlaPolicy:
    """The embedded VLA as a Policy (torch or ONNX Runtime), with real-time-chunking support.

    Noise comes from a numpy generator seeded with `seed` (re-seeded by reset()), so the two
    runtimes give the same chunk for the same observation.
    """

    def __init__(
        self,
        config: VlaConfig,
        runtime: VlaRuntime,
        text_encoder: TextEncoder | None = None,
        seed: int = 0,
        bank: WordingBank | None = None,
        min_similarity: float = DEFAULT_MIN_SIMILARITY,
        canonical: bool = True,
        noise_scale: float = 1.0,
    ) -> None:
        if not 0.0 <= min_similarity <= 1.0:
            raise ValueError(f"min_similarity must be in [0, 1], got {min_similarity}")
        if not (math.isfinite(noise_scale) and noise_scale >= 0.0):
            raise ValueError(f"noise_scale must be >= 0, got {noise_scale}")
        self.config = config
        self.runtime = runtime
        self.text_encoder = text_encoder or TextEncoder()
        # instruction matching: condition on the nearest training wording (instruction_match)
        self.bank = bank
        self.min_similarity = min_similarity
        self.canonical = canonical  # a matched wording acts as its canonical instruction
        self._bank_checked = False
        self.last_match: InstructionMatch | None = None
        self._matched: tuple[str, np.ndarray] | None = None  # (instruction, its embedding)
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self.noise_scale = noise_scale  # the flow head's initial-noise standard deviation
        # tool_pose: the network's rows are tool poses, turned into joint rows by IK here
        self.converter = config.tool_pose_converter() if config.tool_pose else None

    @property
    def spec(self) -> PolicySpec:
        """What the policy consumes and produces."""
        return self.config.spec

    def reset(self) -> None:
        """New episode: restart the noise sequence."""
        self._rng = np.random.default_rng(self._seed)

    def warm_up(self) -> None:
        """Load the text encoder and run the network once, so the first real chunk is not a
        multi-second cold-start outlier."""
        self.text_encoder.encode("warm up")
        self.runtime.run(example_inputs(self.config))

    def instruction_embedding(self, instruction: str) -> np.ndarray:
        """The embedding the network conditions on: the nearest training wording's when a
        wording bank is loaded and the match is close enough, else the instruction's own.
        `last_match` says which."""
        if self._matched is not None and self._matched[0] == instruction:
            return self._matched[1]  # the same instruction as the last chunk: matched already
        own = self.text_encoder.encode(instruction)
        if self.bank is None:
            return own
        if not self._bank_checked:
            # the bank must come from the same sentence encoder as the one running here
            probe = self.text_encoder.encode(self.bank.wordings[0])
            if float(probe @ self.bank.embeddings[0]) < 0.99:
                raise ValueError(
                    "the checkpoint's instruction bank was made with another sentence encoder;"
                    " set instruction_match false or rebuild the bank"
                )
            self._bank_checked = True
        match = self.bank.match(instruction, own, self.min_similarity, self.canonical)
        if self.last_match is None or match.instruction != self.last_match.instruction:
            if match.matched:
                log.info(
                    "instruction '%s' -> acting on the training wording '%s' (similarity %.3f%s)",
                    match.instruction,
                    match.wording,
                    match.similarity,
                    f" to '{match.nearest}'" if match.nearest else "",
                )
            elif match.unmatched_reason == NO_MATCH_SIMILARITY:
                log.warning(
                    "instruction '%s' is far from every training wording (best similarity %.3f"
                    " < %.2f): the network reads it as it is",
                    match.instruction,
                    match.similarity,
                    self.min_similarity,
                )
            else:  # close in wording, but no training wording names these objects and places
                log.warning(
                    "instruction '%s' names objects or places no training wording names together"
                    " (the closest, similarity %.3f, differs in them): the network reads it as"
                    " it is",
                    match.instruction,
                    match.similarity,
                )
        self.last_match = match
        embedding = self.bank.embeddings[match.index] if match.matched else own
        self._matched = (instruction, embedding)
        return embedding

    def prepare(self, observation: Observation, prefix: np.ndarray | None) -> dict[str, Any]:
        """Network inputs for one observation (and an optional committed prefix of joint-space
        rows; converted to tool poses by FK for a tool_pose network)."""
        spec = self.spec
        if not observation.instruction.strip():
            raise ValueError("the observation has no instruction")
        action_dim = self.config.net_action_dim
        chunk_shape = (1, spec.chunk_length, action_dim)
        joints = observation.state_for(spec.joint_names)
        state = observation.state_for(spec.observed_joints)
        if self.converter is not None:
            state = np.concatenate([state, self.converter.state_features(joints)])
        inputs = {
            "images": preprocess_images(observation, spec),
            "state": state[None].astype(np.float32),
            "lang": self.instruction_embedding(observation.instruction)[None],
            "noise": (self.noise_scale * self._rng.standard_normal(chunk_shape)).astype(
                np.float32
            ),
            "prefix": np.zeros(chunk_shape, dtype=np.float32),
            "prefix_mask": np.zeros((1, spec.chunk_length, 1), dtype=np.float32),
        }
        if prefix is not None and len(prefix) > 0:
            rows = np.asarray(prefix, dtype=np.float64)[: spec.chunk_length]
            if rows.ndim != 2 or rows.shape[1] != spec.action_dim:
                raise ValueError(f"prefix must be (P, {spec.action_dim}), got {rows.shape}")
            if self.converter is not None:
                rows = self.converter.tool_actions(rows)
            inputs["prefix"][0, : len(rows)] = rows
            inputs["prefix_mask"][0, : len(rows)] = 1.0
        return inputs

    def infer(self, observation: Observation) -> ActionChunk:
        """One chunk for `observation`."""
        return self.infer_with_prefix(observation, None)

    def infer_with_prefix(
        self, observation: Observation, prefix: np.ndarray | None
    ) -> ActionChunk:
        """One chunk whose first rows follow `prefix` (flow head; the token head ignores it)."""
        actions = self.runtime.run(self.prepare(observation, prefix))[0]
        if not np.all(np.isfinite(actions)):
            raise ValueError("the model produced NaN or inf actions")
        if self.converter is not None:
            actions = self._tool_pose_to_joints(actions, observation, prefix)
        return ActionChunk(
            actions=actions,
            action_space=self.spec.action_space,
            step_duration_s=self.spec.step_duration_s,
            observation_stamp_s=observation.stamp_s,
        )

    def _tool_pose_to_joints(
        self, tool_rows: np.ndarray, observation: Observation, prefix: np.ndarray | None
    ) -> np.ndarray:
        """Joint rows of a tool-pose chunk by IK (may be shorter than H, see
        ToolPoseConverter.joint_actions; raises ToolPoseIkError when even row 0 fails). The
        committed prefix rows are returned exactly as given; IK continues from the last one."""
        assert self.converter is not None
        measured = observation.state_for(self.spec.joint_names)
        n_prefix = 0 if prefix is None else min(len(prefix), len(tool_rows))
        if n_prefix == 0:
            return self.converter.joint_actions(tool_rows, measured)
        committed = np.asarray(prefix, dtype=np.float64)[:n_prefix]
        if n_prefix == len(tool_rows):
            return committed
        try:
            rest = self.converter.joint_actions(
                tool_rows[n_prefix:], measured, first_seed=committed[-1, : measured.size]
            )
        except ToolPoseIkError:
            return committed  # the committed rows are still valid; nothing new after them
        return np.concatenate([committed, rest])


def parameter_count(net: VlaNet) -> int:
    """Number of trainable parameters."""
    return int(sum(math.prod(p.shape) for p in net.parameters()))
