"""The speech stack's configuration: one dataclass per part, flat ROS-parameter names, YAML."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vla_ros.core.params import flatten_parameters
from vla_ros.core.speech.asr import AsrConfig
from vla_ros.core.speech.grammar import VocabularyConfig
from vla_ros.core.speech.vad import VadConfig

# ROS parameter prefix -> config section (parameters are named e.g. "vocabulary.colors").
SECTIONS = ("vocabulary", "vad", "asr")


@dataclass(frozen=True)
class SpeechConfig:
    """Vocabulary, voice activity detection and recogniser settings together."""

    vocabulary: VocabularyConfig = field(default_factory=VocabularyConfig)  # the language
    vad: VadConfig = field(default_factory=VadConfig)  # utterance segmentation
    asr: AsrConfig = field(default_factory=AsrConfig)  # recogniser and rejection


def flat_defaults(config: SpeechConfig | None = None) -> dict[str, Any]:
    """{"vocabulary.colors": [...], "vad.threshold": 0.5, ...}: the ROS parameters to declare."""
    config = config or SpeechConfig()
    out: dict[str, Any] = {}
    for section in SECTIONS:
        part = getattr(config, section)
        for f in dataclasses.fields(part):
            value = getattr(part, f.name)
            out[f"{section}.{f.name}"] = list(value) if isinstance(value, tuple) else value
    return out


def speech_config_from_flat(params: dict[str, Any]) -> SpeechConfig:
    """Flat parameters (any subset of flat_defaults' keys) -> validated SpeechConfig."""
    known = flat_defaults()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"unknown speech parameters: {unknown}")
    parts: dict[str, Any] = {}
    defaults = SpeechConfig()
    for section in SECTIONS:
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(getattr(defaults, section)):
            key = f"{section}.{f.name}"
            if key not in params:
                continue
            value = params[key]
            default = known[key]
            if isinstance(default, list):
                value = tuple(str(v) for v in (value or []) if str(v) != "")
            elif isinstance(default, bool):
                value = bool(value)
            elif isinstance(default, float):
                value = float(value)
            elif isinstance(default, int):
                value = int(value)
            else:
                value = str(value)
            kwargs[f.name] = value
        parts[section] = dataclasses.replace(getattr(defaults, section), **kwargs)
    return SpeechConfig(**parts)


def load_speech_config(path: str | Path, node_name: str = "speech_node") -> SpeechConfig:
    """Read a ROS 2 params file: the `/**` section, then `node_name`'s section over it."""
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    params: dict[str, Any] = {}
    for key in ("/**", node_name, "/" + node_name):
        section = (data.get(key) or {}).get("ros__parameters") or {}
        params.update(flatten_parameters(section))
    return speech_config_from_flat(
        {k: v for k, v in params.items() if k.split(".")[0] in SECTIONS}
    )
