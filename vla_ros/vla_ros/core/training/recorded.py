"""Training episodes from recorded MCAP episodes (core.recording.read_episode's arrays)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from vla_ros.core.policy.interface import WRIST_IMAGE_KEY, ActionSpace, PolicySpec
from vla_ros.core.recording import EpisodeArrays, read_episode
from vla_ros.core.training.dataset import Episode
from vla_ros.core.training.grounding import grounding_targets


def _arm_and_gripper(arrays: EpisodeArrays) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(commanded arm joints, gripper joints) of a recording's actions."""
    names = tuple(arrays.action_names)
    gripper = tuple(n for n in names if "finger" in n or "gripper" in n)
    return tuple(n for n in names if n not in gripper), gripper


def spec_for_recording(
    arrays: EpisodeArrays,
    *,
    image_size: tuple[int, int] = (96, 96),
    chunk_length: int = 16,
    use_depth: bool = False,
    camera_key: str = "front",
    extra_state_joints: Sequence[str] = (),
    cameras: Sequence[str] = (),
) -> PolicySpec:
    """A joint-position PolicySpec fitting a recording: its arm joints (+ gripper), frame rate.

    `cameras`: the policy's image keys (default: `camera_key` alone, the scene camera); the
    key WRIST_IMAGE_KEY is the recording's wrist camera (TOPIC_WRIST_RGB), any other the
    scene camera.
    """
    arm, gripper = _arm_and_gripper(arrays)
    if not arm:
        raise ValueError("the recording has no arm commands to learn from")
    if len(arrays.times_s) < 2:
        raise ValueError("the recording needs at least two frames")
    step_s = float(np.median(np.diff(arrays.times_s)))
    return PolicySpec(
        action_space=ActionSpace.JOINT_POSITION,
        joint_names=arm,
        chunk_length=chunk_length,
        step_duration_s=round(step_s, 4),
        image_keys=tuple(cameras) or (camera_key,),
        image_size=image_size,
        use_depth=use_depth,
        has_gripper=bool(gripper),
        extra_state_joints=tuple(extra_state_joints),
    )


def episode_from_recording(
    arrays: EpisodeArrays, spec: PolicySpec, *, grounding: bool = False
) -> Episode:
    """Training Episode: state = the spec's joints, actions = arm targets (+ gripper target),
    extra_state = the spec's extra_state_joints; with `grounding` the auxiliary targets from
    the recorded object poses (core.training.grounding)."""
    extra_state_joints = spec.extra_state_joints
    arm, gripper = _arm_and_gripper(arrays)
    missing = [n for n in spec.joint_names if n not in arrays.joint_names or n not in arm]
    if missing:
        raise ValueError(f"recording lacks joints {missing}")
    state_columns = [arrays.joint_names.index(n) for n in spec.joint_names]
    action_columns = [arrays.action_names.index(n) for n in spec.joint_names]
    if spec.has_gripper:
        if not gripper:
            raise ValueError("the spec has a gripper but the recording has no gripper commands")
        action_columns.append(arrays.action_names.index(gripper[0]))
    camera = spec.image_keys[0]
    images = {}
    for key in spec.image_keys:
        if key == WRIST_IMAGE_KEY:
            if arrays.wrist_rgb is None:
                raise ValueError("the spec has a wrist camera but the recording has none")
            images[key] = arrays.wrist_rgb
        else:
            images[key] = arrays.rgb
    depth = {}
    if spec.use_depth:
        if arrays.depth_m is None:
            raise ValueError("the spec uses depth but the recording has none")
        depth = {camera: arrays.depth_m}
    extra = None
    if extra_state_joints:
        absent = [n for n in extra_state_joints if n not in arrays.joint_names]
        if absent:
            raise ValueError(f"recording lacks extra state joints {absent}")
        columns = [arrays.joint_names.index(n) for n in extra_state_joints]
        extra = np.asarray(arrays.joint_positions)[:, columns]
    aux = None
    if grounding:
        if not arrays.object_positions_m:
            raise ValueError("grounding targets need a recording with object poses")
        aux = grounding_targets(arrays.instruction, arrays.object_positions_m)
    return Episode(
        extra_state=extra,
        aux_targets=aux,
        images=images,
        depth=depth,
        joint_positions=np.asarray(arrays.joint_positions)[:, state_columns],
        actions=np.asarray(arrays.actions)[:, action_columns],
        instruction=arrays.instruction,
    )


def recording_paths(inputs: Iterable[str | Path]) -> list[Path]:
    """MCAP files named directly or found (recursively) in named directories, sorted."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        paths.extend(sorted(path.rglob("*.mcap")) if path.is_dir() else [path])
    if not paths:
        raise ValueError("no .mcap episodes found")
    return paths


def load_recordings(
    paths: Sequence[str | Path],
    spec: PolicySpec | None = None,
    *,
    grounding: bool = False,
    **spec_options: object,
) -> tuple[PolicySpec, list[Episode]]:
    """Read episodes; the spec comes from the first one unless given."""
    episodes: list[Episode] = []
    for path in paths:
        arrays = read_episode(path)
        if spec is None:
            spec = spec_for_recording(arrays, **spec_options)  # type: ignore[arg-type]
        try:
            episode = episode_from_recording(arrays, spec, grounding=grounding)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        episodes.append(episode)
    if spec is None:
        raise ValueError("no episodes")
    return spec, episodes
