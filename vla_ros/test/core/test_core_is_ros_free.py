"""The core imports with rclpy and every ROS message package made unimportable."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys

    BLOCKED = ("rclpy", "rosidl", "builtin_interfaces", "ament_index_python", "rmw")

    class BlockRos(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            if top.startswith(BLOCKED) or top.endswith(("_msgs", "_srvs", "_interfaces")):
                raise ImportError(f"blocked for this test: {name}")
            return None

    sys.meta_path.insert(0, BlockRos())
    import vla_ros.core as core

    names = [core.__name__]
    for info in pkgutil.walk_packages(core.__path__, prefix="vla_ros.core."):
        importlib.import_module(info.name)
        names.append(info.name)
    leaked = sorted(m for m in sys.modules if m.split(".")[0].startswith(BLOCKED))
    assert not leaked, leaked
    print(len(names), "core modules imported:", ", ".join(names))
    """
)


def test_core_imports_without_ros():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "core modules imported" in result.stdout


def test_safety_speech_and_perception_never_load_torch():
    """The safety, speech and perception paths (core and nodes) must not pay for torch or
    MuJoCo; the policy node loads torch only inside a backend that needs it."""
    probe = (
        "import sys\n"
        "import vla_ros.core.safety, vla_ros.core.speech, vla_ros.core.perception\n"
        "import vla_ros.core.collision, vla_ros.core.chunking, vla_ros.core.policy.backends\n"
        "import vla_ros.nodes.safety_filter_node, vla_ros.nodes.speech_node\n"
        "import vla_ros.nodes.human_detector_node, vla_ros.nodes.policy_node\n"
        "heavy = sorted(m for m in ('torch', 'mujoco') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
