"""Safety filter parameters: every key of safety.yaml becomes a read-only ROS parameter.

The file's values are the defaults, so `-p joint_limits.position_margin_rad:=0.1` or a
`--params-file` override them; the result is validated by the core config dataclasses,
and anything invalid stops the node before it subscribes to anything (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node

from vla_ros.core.params import flatten_parameters, unflatten_parameters

_ARRAY_TYPES = {
    str: ParameterType.PARAMETER_STRING_ARRAY,
    float: ParameterType.PARAMETER_DOUBLE_ARRAY,
    int: ParameterType.PARAMETER_INTEGER_ARRAY,
    bool: ParameterType.PARAMETER_BOOL_ARRAY,
}
_SCALAR_TYPES = {
    str: ParameterType.PARAMETER_STRING,
    float: ParameterType.PARAMETER_DOUBLE,
    int: ParameterType.PARAMETER_INTEGER,
    bool: ParameterType.PARAMETER_BOOL,
}


def _descriptor(name: str, value: Any) -> ParameterDescriptor:
    if isinstance(value, list):
        kinds = {type(v) for v in value}
        if kinds == {int, float}:
            kinds = {float}
        element = next(iter(kinds)) if len(kinds) == 1 else str
        kind = _ARRAY_TYPES.get(element, ParameterType.PARAMETER_STRING_ARRAY)
    else:
        kind = _SCALAR_TYPES.get(type(value), ParameterType.PARAMETER_STRING)
    return ParameterDescriptor(
        name=name,
        type=kind,
        read_only=True,
        description=f"safety.yaml: {name} (units in the name; read-only after start)",
    )


def declare_from_file(node: Node, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Declare every key of `defaults` (nested) as a read-only parameter; return the values."""
    flat = flatten_parameters(defaults)
    values: dict[str, Any] = {}
    for name, default in flat.items():
        value = [float(v) for v in default] if _is_number_list(default) else default
        descriptor = _descriptor(name, value)
        if isinstance(value, list) and not value:
            node.declare_parameter(name, descriptor.type, descriptor)
            parameter = node.get_parameter(name)
            values[name] = list(parameter.value) if parameter.value is not None else []
            continue
        values[name] = node.declare_parameter(name, value, descriptor).value
        if isinstance(values[name], (list, tuple)) or type(values[name]).__name__ == "array":
            values[name] = list(values[name])
    return unflatten_parameters(values)


def _is_number_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )
