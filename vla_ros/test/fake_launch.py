"""Recording stand-ins for the ROS 2 `launch` / `launch_ros` packages (not installable here).

The launch files are real ROS 2 launch files. This module lets a test evaluate their
`generate_launch_description()` without a distro: every launch class records its arguments,
so the test can check that each executable, config file and parameter they name exists.
Only the API subset the project's launch files use is provided; using anything else fails
the test loudly (AttributeError), which keeps the subset honest.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Recorded:
    """One constructed launch object: its class name, positional and keyword arguments."""

    kind: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def _recorder(kind: str, registry: list[Recorded]) -> type:
    class _Recorded:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.record = Recorded(kind, args, kwargs)
            registry.append(self.record)

        def __repr__(self) -> str:
            return f"<{kind} {self.record.args} {self.record.kwargs}>"

    _Recorded.__name__ = kind
    return _Recorded


@contextmanager
def fake_launch_modules(share_dirs: dict[str, Path]) -> Iterator[list[Recorded]]:
    """Install recording `launch`, `launch_ros` and `ament_index_python` modules."""
    registry: list[Recorded] = []
    spec = {
        "launch": ["LaunchDescription"],
        "launch.actions": [
            "DeclareLaunchArgument",
            "IncludeLaunchDescription",
            "GroupAction",
            "SetEnvironmentVariable",
            "LogInfo",
        ],
        "launch.conditions": ["IfCondition", "UnlessCondition"],
        "launch.substitutions": [
            "LaunchConfiguration",
            "PathJoinSubstitution",
            "Command",
            "PythonExpression",
            "EnvironmentVariable",
        ],
        "launch.launch_description_sources": ["PythonLaunchDescriptionSource"],
        "launch_ros.actions": ["Node", "SetRemap", "SetParameter"],
        "launch_ros.substitutions": ["FindPackageShare"],
        "launch_ros.parameter_descriptions": ["ParameterValue"],
    }
    saved = {name: sys.modules.get(name) for name in [*spec, "launch_ros", "ament_index_python"]}
    saved["ament_index_python.packages"] = sys.modules.get("ament_index_python.packages")
    try:
        for module_name, classes in spec.items():
            module = types.ModuleType(module_name)
            for cls in classes:
                setattr(module, cls, _recorder(cls, registry))
            sys.modules[module_name] = module
            parent, _, child = module_name.rpartition(".")
            if parent:
                sys.modules.setdefault(parent, types.ModuleType(parent))
                setattr(sys.modules[parent], child, module)
        sys.modules["launch_ros"] = sys.modules.get("launch_ros") or types.ModuleType("launch_ros")
        ament = types.ModuleType("ament_index_python")
        packages = types.ModuleType("ament_index_python.packages")

        def get_package_share_directory(name: str) -> str:
            if name not in share_dirs:
                raise LookupError(f"package '{name}' not found (fake ament index)")
            return str(share_dirs[name])

        packages.get_package_share_directory = get_package_share_directory  # type: ignore[attr-defined]
        ament.packages = packages  # type: ignore[attr-defined]
        sys.modules["ament_index_python"] = ament
        sys.modules["ament_index_python.packages"] = packages
        yield registry
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
