"""Nested YAML mappings <-> flat ROS parameter names ("a": {"b": 1} <-> "a.b": 1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten_parameters(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the names a ROS 2 params file gives nested keys."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_parameters(value, name + "."))
        else:
            out[name] = value
    return out


def unflatten_parameters(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of flatten_parameters."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        node = out
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
