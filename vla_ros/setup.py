"""ament_python package definition of vla_ros (used by colcon on a ROS 2 distro and by pip)."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "vla_ros"
HERE = Path(__file__).resolve().parent

# Console entry points: `ros2 run vla_ros <name>` on a distro, `<name>` in the venv.
NODES = {
    "sim_node": "vla_ros.nodes.sim_node:main",
    "human_detector_node": "vla_ros.nodes.human_detector_node:main",
    "policy_node": "vla_ros.nodes.policy_node:main",
    "safety_filter_node": "vla_ros.nodes.safety_filter_node:main",
    "speech_node": "vla_ros.nodes.speech_node:main",
    "audio_file_node": "vla_ros.nodes.audio_file_node:main",
    "audio_capture_node": "vla_ros.nodes.audio_capture_node:main",
    "speech_feedback_node": "vla_ros.nodes.speech_feedback_node:main",
    "text_instruction_node": "vla_ros.nodes.text_instruction_node:main",
    "demo_observer_node": "vla_ros.nodes.demo_observer_node:main",
}
TOOLS = {
    "vla-ros": "vla_ros.cli:main",
    "vla-ros-generate-srdf": "vla_ros.tools.generate_srdf:main",
}


def tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing every file below `folder` into share/<package>/."""
    entries: dict[str, list[str]] = {}
    for path in sorted((HERE / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(HERE)
            entries.setdefault(f"share/{PACKAGE}/{rel.parent}", []).append(str(rel))
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *tree("launch"),
        *tree("config"),
        *tree("urdf"),
        *tree("models"),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="vla_ros maintainers",
    maintainer_email="maintainers@vla-ros.dev",
    description="ROS 2 integration stack for Vision-Language-Action policies.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [f"{k} = {v}" for k, v in {**NODES, **TOOLS}.items()],
    },
)
