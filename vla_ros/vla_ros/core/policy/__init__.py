"""Policies: the interface, registered backends (embedded, remote, lerobot, scripted)."""

from vla_ros.core.policy.interface import (
    ActionChunk,
    ActionSpace,
    Observation,
    Policy,
    PolicySpec,
    PrefixConditionedPolicy,
)

__all__ = [
    "ActionChunk",
    "ActionSpace",
    "Observation",
    "Policy",
    "PolicySpec",
    "PrefixConditionedPolicy",
]
