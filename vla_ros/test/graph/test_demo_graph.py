"""Tier 3: the demo's whole graph, every node in its own process, over real DDS.

A short version of `vla-ros demo`: a typed pick instruction, the shipped VLA in the policy
node (its evaluation clears the demo's bar for pick; core.demo.scenario.choose_backend), the
real human detector and safety filter, and a person walking in mid-task. The report must say:
task success, the arm stopped (came to rest) for the person and resumed, and no contact by the
simulator's ground truth. A second test checks that a node that dies is named instead of
waited on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.graph

NEEDED = (
    "vla_ros.nodes.sim_node",
    "vla_ros.nodes.human_detector_node",
    "vla_ros.nodes.safety_filter_node",
    "vla_ros.nodes.policy_node",
    "vla_ros.nodes.text_instruction_node",
    "vla_ros.nodes.speech_feedback_node",
    "vla_ros.nodes.demo_observer_node",
    "vla_ros.core.policy.scripted",
)


def require_nodes() -> None:
    """Skip, naming the module, where a node of the graph has not landed."""
    for module in NEEDED:
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            pytest.skip(f"the demo graph needs {module}, which is not importable here")


def run_demo(out, *extra: str, timeout_s: float = 480.0) -> subprocess.CompletedProcess:
    env = dict(os.environ)  # the conftest's isolated ROS_DOMAIN_ID carries over
    env.setdefault("MUJOCO_GL", "egl")
    command = [
        *(sys.executable, "-m", "vla_ros.tools.demo", "--text", "--task", "pick"),
        *("--seed", "0", "--output-dir", str(out), "--video-fps", "5", "--quiet"),
        *extra,
    ]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def test_person_walks_in_mid_task_robot_stops_resumes_and_succeeds(tmp_path):
    require_nodes()
    out = tmp_path / "demo"
    done = run_demo(out, "--timeout-s", "150", "--startup-timeout-s", "150")
    assert (out / "report.json").is_file(), done.stdout + done.stderr
    report = json.loads((out / "report.json").read_text())
    context = f"{done.stdout}\n{(out / 'report.md').read_text()}\n" + "".join(
        f"\n--- {p.name}\n{p.read_text()[-1500:]}" for p in (out / "logs").iterdir()
    )
    assert report["instruction"].startswith("pick up the"), context
    assert report["checks"]["task_success"], context
    assert report["checks"]["stopped_for_person"], context
    assert report["checks"]["resumed_after_person"], context
    assert report["contacts"] == 0 and report["min_true_separation_m"] > 0.0, context
    assert report["person_stops"][0]["reasons"].count("human_inside_sp") == 1
    assert report["passed"] and done.returncode == 0, context
    assert (out / "demo.mp4").stat().st_size > 10_000
    assert (out / "timeline.png").stat().st_size > 10_000
    assert "PASSED" in done.stdout


def test_a_node_that_dies_is_named_not_waited_on(tmp_path):
    require_nodes()
    out = tmp_path / "broken"
    # an invalid safety parameter: the safety filter refuses to start (fail closed)
    done = run_demo(
        out,
        *("--param", "safety_filter:output_mode:=bogus", "--startup-timeout-s", "150"),
        timeout_s=300.0,
    )
    assert done.returncode == 1
    assert "node 'safety_filter' (vla_ros.nodes.safety_filter_node) exited" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert not report["passed"] and "safety_filter" in report["scenario"]["error"]
