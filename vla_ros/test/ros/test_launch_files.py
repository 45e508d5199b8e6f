"""Every executable, config file and parameter the launch files name exists.

The `launch` / `launch_ros` packages are not installable here, so the real launch files are
evaluated against recording stand-ins (test/fake_launch.py); the substitutions they build are
resolved with the launch arguments' defaults; then each vla_ros node is constructed for real
(rclpy, in-process) with exactly the parameter files and overrides the launch file gives it,
and must declare every parameter named there.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_launch import Recorded, fake_launch_modules

from vla_ros.core.params import flatten_parameters
from vla_ros.core.resources import share_dir
from vla_ros.tools.reference import node_class, node_entry_points

pytestmark = pytest.mark.ros

SHARE = share_dir()
LAUNCH_DIR = SHARE / "launch"
NODE_ENTRY_POINTS = node_entry_points()
# Packages of other projects a launch file may start (present on a ROS 2 distro).
EXTERNAL = {
    "robot_state_publisher": "robot_state_publisher",
    "rviz2": "rviz2",
    "tf2_ros": "static_transform_publisher",
}


class Resolver:
    """Evaluates the recorded substitutions with given launch-argument values."""

    def __init__(self, arguments: dict[str, str]) -> None:
        self.arguments = arguments

    def __call__(self, value: Any) -> Any:
        if isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, (list, tuple)):
            parts = [self(v) for v in value]
            return "".join(str(p) for p in parts)
        record: Recorded = value.record
        if record.kind == "LaunchConfiguration":
            name = record.args[0]
            assert name in self.arguments, f"LaunchConfiguration('{name}') is not declared"
            return self.arguments[name]
        if record.kind == "FindPackageShare":
            assert record.args[0] == "vla_ros", record.args
            return str(SHARE)
        if record.kind == "PathJoinSubstitution":
            return os.path.join(*[str(self(p)) for p in record.args[0]])
        if record.kind == "Command":
            command = self(record.args[0])
            assert command.startswith("cat "), command
            return Path(command[4:]).read_text()
        if record.kind == "ParameterValue":
            raw = self(record.args[0])
            kind = record.kwargs.get("value_type", str)
            if kind is bool:
                assert raw in ("true", "false", True, False), raw
                return raw in ("true", True)
            return kind(raw)
        raise AssertionError(f"unexpected substitution {record.kind}")


def evaluate(launch_file: str, overrides: dict[str, str] | None = None) -> list[dict]:
    """Run generate_launch_description(); return the nodes it would start, resolved."""
    with fake_launch_modules({"vla_ros": SHARE}) as registry:
        spec = importlib.util.spec_from_file_location(
            "launch_under_test", LAUNCH_DIR / launch_file
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.generate_launch_description()
    arguments = {
        r.kwargs.get("name", r.args[0] if r.args else None): r.kwargs["default_value"]
        for r in registry
        if r.kind == "DeclareLaunchArgument"
    }
    arguments.update(overrides or {})
    resolve = Resolver(arguments)
    nodes = []
    for r in registry:
        if r.kind == "IncludeLaunchDescription":
            source = r.args[0].record
            included = Path(resolve(source.args[0]))
            assert included.is_file(), included
            given = {k: resolve(v) for k, v in r.kwargs.get("launch_arguments", [])}
            nodes.extend(evaluate(included.name, given))
        if r.kind != "Node":
            continue
        condition = r.kwargs.get("condition")
        if condition is not None:
            value = resolve(condition.record.args[0])
            enabled = (
                value == "true" if condition.record.kind == "IfCondition" else value != "true"
            )
            if not enabled:
                continue
        params = [
            resolve(p) if not isinstance(p, dict) else p for p in r.kwargs.get("parameters", [])
        ]
        nodes.append(
            {
                "package": r.kwargs["package"],
                "executable": r.kwargs["executable"],
                "name": r.kwargs.get("name"),
                "files": [p for p in params if isinstance(p, str)],
                "overrides": {
                    k: resolve(v) for p in params if isinstance(p, dict) for k, v in p.items()
                },
                "arguments": [resolve(a) for a in r.kwargs.get("arguments", [])],
                "remappings": [
                    (resolve(a), resolve(b)) for a, b in r.kwargs.get("remappings", [])
                ],
            }
        )
    return nodes


def yaml_keys(path: str, node_name: str, *, wildcard: bool = True) -> set[str]:
    """Flattened parameter names a params file gives to `node_name` (its section, and /**)."""
    data = yaml.safe_load(Path(path).read_text())
    keys: set[str] = set()
    for section in (node_name, "/**") if wildcard else (node_name,):
        keys |= set(flatten_parameters((data.get(section) or {}).get("ros__parameters", {})))
    return keys


ALL_LAUNCHES = sorted(p.name for p in LAUNCH_DIR.glob("*.launch.py"))


def test_launch_files_exist():
    assert {"bringup.launch.py", "sim.launch.py"} <= set(ALL_LAUNCHES)


@pytest.mark.parametrize("launch_file", ALL_LAUNCHES)
def test_executables_and_files_exist(launch_file):
    nodes = evaluate(launch_file, {"speech": "true", "microphone": "true", "rviz": "true"})
    assert nodes, "no node in the launch file"
    for node in nodes:
        if node["package"] == "vla_ros":
            assert node["executable"] in NODE_ENTRY_POINTS, node["executable"]
            assert node["name"], f"{node['executable']}: give the node a name (params files)"
        else:
            assert EXTERNAL.get(node["package"]) == node["executable"], node
        for path in node["files"]:
            assert Path(path).is_file(), path
            assert yaml_keys(path, node["name"] or ""), f"{path} has no section for {node['name']}"
        for key, value in node["overrides"].items():
            if key == "robot_config":
                assert (SHARE / value).is_file(), value
            if key == "robot_description":
                assert "<robot" in value


def _construct(node: dict, context):
    """Build the node class the entry point names, with the launch file's parameters."""
    cls = node_class(NODE_ENTRY_POINTS[node["executable"]])
    cli = ["--ros-args", "-r", f"__node:={node['name']}"]
    for path in node["files"]:
        cli += ["--params-file", path]
    for key, value in node["overrides"].items():
        cli += ["-p", f"{key}:={yaml.safe_dump(value, default_flow_style=True).strip()}"]
        if cli[-1].endswith("\n..."):
            cli[-1] = cli[-1][: -len("\n...")]
    return cls(context=context, cli_args=cli)


@pytest.mark.parametrize("launch_file", ALL_LAUNCHES)
def test_nodes_declare_every_parameter_the_launch_file_sets(launch_file, rclpy_context):
    nodes = evaluate(launch_file, {"speech": "true", "microphone": "false"})
    checked: list[str] = []
    skipped: list[str] = []
    wildcard_declared: dict[str, set[str]] = {}  # params file -> declared by some node loading it
    for node in nodes:
        if node["package"] != "vla_ros":
            continue
        # the shipped checkpoint is loaded at start-up; without it the node refuses to start
        if node["executable"] == "policy_node" and not (SHARE / "models" / "vla_sim").is_dir():
            skipped.append(node["executable"])
            continue
        instance = _construct(node, rclpy_context)
        try:
            # a node's own section must be fully declared; "/**" keys by at least one node
            named = set(node["overrides"])
            for path in node["files"]:
                named |= yaml_keys(path, node["name"], wildcard=False)
                wildcard_declared.setdefault(path, set()).update(
                    k for k in yaml_keys(path, "") if instance.has_parameter(k)
                )
            missing = sorted(k for k in named if not instance.has_parameter(k))
            assert not missing, f"{node['executable']} does not declare {missing}"
            for key, value in node["overrides"].items():
                if key != "use_sim_time":
                    assert instance.get_parameter(key).value == value, key
            topics = {s.topic_name for s in instance.subscriptions}
            topics |= {p.topic_name for p in instance.publishers}
            for source, _ in node["remappings"]:
                assert source in topics, f"{node['executable']} has no topic {source} to remap"
            checked.append(node["executable"])
        finally:
            instance.destroy_node()
    assert checked
    for path, declared in wildcard_declared.items():
        unused = sorted(yaml_keys(path, "") - declared)
        assert not unused, f"{path}: '/**' parameters no node declares: {unused}"
    if skipped:
        pytest.skip(f"checked {checked}; {skipped} need the shipped checkpoint models/vla_sim")


def test_sim_launch_publishes_the_room_camera_pose_from_sim_yaml():
    """rviz places the room camera's images by a static transform equal to the sim's pose."""
    nodes = [n for n in evaluate("sim.launch.py") if n["package"] == "tf2_ros"]
    assert len(nodes) == 1, nodes
    args = nodes[0]["arguments"]
    value = {args[i]: args[i + 1] for i in range(0, len(args), 2)}
    sim = yaml.safe_load((SHARE / "config" / "sim.yaml").read_text())["sim"]["ros__parameters"]
    position = [float(value[k]) for k in ("--x", "--y", "--z")]
    quaternion = [float(value[k]) for k in ("--qx", "--qy", "--qz", "--qw")]
    assert position == sim["room_camera_position_m"]
    assert quaternion == sim["room_camera_orientation_xyzw"]
    assert (value["--frame-id"], value["--child-frame-id"]) == (
        "base_link",
        "room_camera_optical_frame",
    )
