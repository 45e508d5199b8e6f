"""Policy backends registered by name, each with a validated config dataclass.

Heavy modules (torch, onnxruntime, websockets, lerobot) are imported only when a backend is
built. `make_policy("embedded", {"checkpoint_dir": ...})` is the one way to construct one.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vla_ros.core.policy.instruction_match import DEFAULT_MIN_SIMILARITY
from vla_ros.core.policy.interface import ActionSpace, Policy


class BackendUnavailableError(RuntimeError):
    """A backend cannot run here (missing package, server down, no simulator)."""


@dataclass(frozen=True)
class EmbeddedConfig:
    """The project's compact VLA, in-process."""

    checkpoint_dir: str  # config.json + model.safetensors (+ model.onnx); see checkpoint_path
    runtime: str = "onnx"  # "onnx" (ONNX Runtime) or "torch" (eager)
    num_threads: int = 2  # CPU threads for inference
    flow_steps: int = 0  # Euler steps of the flow head; 0 keeps the checkpoint's
    seed: int = 0  # noise seed (reset() restarts the sequence)
    # flow head: the initial noise's standard deviation (1 samples the learned distribution;
    # below 1 samples nearer its mode, 0 is deterministic)
    noise_scale: float = 1.0
    export_if_missing: bool = True  # "onnx": export model.onnx from the weights if absent
    # condition on the nearest training wording of the instruction (the checkpoint's
    # instruction_bank.safetensors; see core.policy.instruction_match); no bank: no matching
    instruction_match: bool = True
    # cosine; below it the text is read as is
    instruction_match_min_similarity: float = DEFAULT_MIN_SIMILARITY
    # a matched wording acts as the canonical instruction it paraphrases (same arguments)
    instruction_match_canonical: bool = True

    def __post_init__(self) -> None:
        if not self.checkpoint_dir:
            raise ValueError("checkpoint_dir must be set")
        if not 0.0 <= self.instruction_match_min_similarity <= 1.0:
            raise ValueError("instruction_match_min_similarity must be in [0, 1]")
        if self.runtime not in ("onnx", "torch"):
            raise ValueError(f"runtime must be 'onnx' or 'torch', got '{self.runtime}'")
        if self.num_threads < 1 or self.flow_steps < 0:
            raise ValueError("num_threads must be >= 1 and flow_steps >= 0")
        if not (math.isfinite(self.noise_scale) and self.noise_scale >= 0.0):
            raise ValueError(f"noise_scale must be >= 0, got {self.noise_scale}")


@dataclass(frozen=True)
class RemoteConfig:
    """A policy served over openpi's websocket protocol (`vla-ros serve`, openpi servers)."""

    host: str = "127.0.0.1"  # server host (or a ws:// URI)
    port: int = 8000  # server port
    api_key: str = ""  # sent as "Authorization: Api-Key <key>" when set
    connect_timeout_s: float = 3.0  # [s] to open the websocket
    infer_timeout_s: float = 5.0  # [s] to wait for one chunk
    backoff_initial_s: float = 0.5  # [s] first wait after a failure
    backoff_max_s: float = 10.0  # [s] longest wait between reconnect attempts
    spec: dict[str, Any] = field(default_factory=dict)  # PolicySpec if the server sends none
    image_key_prefix: str = "observation/images/"  # request key of each camera image
    depth_key_prefix: str = "observation/depth/"  # request key of each depth image
    state_key: str = "observation/state"  # request key of the joint positions
    prompt_key: str = "prompt"  # request key of the instruction
    actions_key: str = "actions"  # response key of the (H, D) actions

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port}")
        for name in ("connect_timeout_s", "infer_timeout_s", "backoff_initial_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")


@dataclass(frozen=True)
class LerobotConfig:
    """A local LeRobot checkpoint directory (pretrained_model/ with config.json)."""

    checkpoint_dir: str  # LeRobot `pretrained_model` directory
    joint_names: tuple[str, ...]  # joints of observation.state, in order
    image_keys: dict[str, str]  # camera name -> LeRobot feature, e.g. observation.images.front
    action_space: str = "joint_position"  # ActionSpace of the checkpoint's actions
    step_duration_s: float = 0.1  # [s] between actions (1 / dataset fps)
    has_gripper: bool = True  # last action element is the gripper target
    image_size: tuple[int, int] = (224, 224)  # (height, width) [px] sent to the policy
    state_key: str = "observation.state"  # LeRobot feature of the joint positions
    device: str = "cpu"  # torch device

    def __post_init__(self) -> None:
        if not self.checkpoint_dir:
            raise ValueError("checkpoint_dir must be set")
        if not Path(self.checkpoint_dir).is_dir():
            raise ValueError(f"LeRobot checkpoint {self.checkpoint_dir} is not a directory")
        if not self.joint_names or not self.image_keys:
            raise ValueError("joint_names and image_keys must be set")
        ActionSpace(self.action_space)
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        object.__setattr__(self, "image_size", tuple(self.image_size))


@dataclass(frozen=True)
class ScriptedConfig:
    """The simulator's scripted expert as a policy (needs the simulator in the same process)."""

    chunk_length: int = 10  # actions per chunk
    step_duration_s: float = 0.1  # [s] between actions (the expert's act period)

    def __post_init__(self) -> None:
        if self.chunk_length < 1 or not self.step_duration_s > 0.0:
            raise ValueError("chunk_length must be >= 1 and step_duration_s > 0")


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend: its config type and the lazily imported factory."""

    config_type: type  # dataclass validated in __post_init__
    factory: str  # "module:function" taking (config, **context) and returning a Policy
    description: str  # one line for --help and docs


BACKENDS: Mapping[str, BackendEntry] = MappingProxyType(
    {
        "embedded": BackendEntry(
            EmbeddedConfig,
            "vla_ros.core.policy.backends:make_embedded",
            "the project's compact VLA (torch or ONNX Runtime)",
        ),
        "remote": BackendEntry(
            RemoteConfig,
            "vla_ros.core.policy.remote:RemotePolicy",
            "a policy server speaking openpi's websocket protocol",
        ),
        "lerobot": BackendEntry(
            LerobotConfig,
            "vla_ros.core.policy.lerobot_adapter:LerobotPolicy",
            "a local LeRobot checkpoint (needs the lerobot package)",
        ),
        "scripted": BackendEntry(
            ScriptedConfig,
            "vla_ros.core.policy.scripted:make_scripted",
            "the simulator's scripted expert (in-process simulator only)",
        ),
    }
)


def make_backend_config(backend: str, options: Mapping[str, Any]) -> Any:
    """Validated config of `backend` from plain options; unknown names are errors."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown policy backend '{backend}'; known: {', '.join(BACKENDS)}")
    config_type = BACKENDS[backend].config_type
    names = {f.name for f in dataclasses.fields(config_type)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for backend '{backend}'; valid: {sorted(names)}"
        )
    try:
        return config_type(**options)
    except TypeError as exc:  # a required option is missing
        raise ValueError(f"backend '{backend}': {exc}") from exc


def make_policy(backend: str, options: Mapping[str, Any], **context: Any) -> Policy:
    """Build a policy backend by name from plain options (e.g. ROS parameters or YAML)."""
    config = make_backend_config(backend, options)
    module_name, attr = BACKENDS[backend].factory.split(":")
    factory: Callable[..., Policy] = getattr(importlib.import_module(module_name), attr)
    return factory(config, **context)


def checkpoint_path(checkpoint_dir: str) -> Path:
    """Where a configured checkpoint directory is: absolute paths as given; a relative path
    relative to the working directory when it exists there, else relative to the package share
    directory (so config/policy.yaml's `models/vla_sim` finds the shipped checkpoint from any
    working directory)."""
    path = Path(checkpoint_dir).expanduser()
    if path.is_absolute() or path.exists():
        return path
    from vla_ros.core.resources import share_dir

    try:
        shared = share_dir() / path
    except FileNotFoundError:  # no share directory: report the path as the user gave it
        return path
    return shared if shared.exists() else path


def make_embedded(config: EmbeddedConfig, text_encoder: Any = None) -> Policy:
    """The embedded VLA with the configured runtime."""
    from vla_ros.core.policy.instruction_match import BANK_FILE, WordingBank
    from vla_ros.core.policy.vla_model import (
        ONNX_FILE,
        CheckpointError,
        OnnxRuntime,
        TorchRuntime,
        VlaPolicy,
        export_onnx,
        load_checkpoint,
        read_config,
    )

    directory = checkpoint_path(config.checkpoint_dir)
    runtime: OnnxRuntime | TorchRuntime
    if config.runtime == "torch":
        model_config, net = load_checkpoint(directory)
        if config.flow_steps:
            net.flow_steps = config.flow_steps
            model_config = replace(model_config, flow_steps=config.flow_steps)
        runtime = TorchRuntime(net, num_threads=config.num_threads)
    else:
        if config.flow_steps:
            raise ValueError("flow_steps is fixed in an ONNX export; use runtime 'torch'")
        model_config = read_config(directory)
        onnx_path = directory / ONNX_FILE
        if not onnx_path.is_file() and config.export_if_missing:
            export_onnx(directory)
        runtime = OnnxRuntime(onnx_path, num_threads=config.num_threads)
    bank = None
    if config.instruction_match and (directory / BANK_FILE).is_file():
        try:
            bank = WordingBank.load(directory / BANK_FILE)
        except ValueError as exc:
            raise CheckpointError(str(exc)) from exc
    return VlaPolicy(
        model_config,
        runtime,
        text_encoder=text_encoder,
        seed=config.seed,
        noise_scale=config.noise_scale,
        bank=bank,
        min_similarity=config.instruction_match_min_similarity,
        canonical=config.instruction_match_canonical,
    )
