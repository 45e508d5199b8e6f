"""Every console entry point of the package (`ros2 run vla_ros <name>`) resolves to a callable."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from pathlib import Path

SETUP_PY = Path(__file__).resolve().parents[2] / "setup.py"


def declared_entry_points() -> dict[str, str]:
    """name -> "module:function" as written in setup.py (the source of truth for colcon too)."""
    text = SETUP_PY.read_text()
    return dict(re.findall(r'^\s+"([\w-]+)": "([\w.]+:\w+)",', text, flags=re.MULTILINE))


def test_setup_py_declares_the_cli_and_nodes():
    points = declared_entry_points()
    assert points["vla-ros"] == "vla_ros.cli:main"
    for name, target in points.items():
        if name.endswith("_node") or target.startswith("vla_ros.nodes."):
            assert target.startswith("vla_ros.nodes."), (name, target)


def test_every_entry_point_imports_and_is_callable():
    for name, target in declared_entry_points().items():
        module_name, function_name = target.split(":")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, function_name)), f"{name} -> {target}"


def test_installed_metadata_matches_setup_py():
    """The editable install's console scripts are the ones setup.py declares (reinstall if not)."""
    installed = {
        ep.name: ep.value
        for ep in importlib.metadata.entry_points(group="console_scripts")
        if ep.value.startswith("vla_ros.")
    }
    assert installed == declared_entry_points()
