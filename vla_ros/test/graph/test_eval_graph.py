"""Tier 3: `vla-ros eval` through the whole graph, every node in its own process, over DDS.

A short comparison: one pick episode with a person walking in and the same seeded episode
without, interleaved on one running graph (scripted expert served from the sim process to the
policy node, the real human detector and safety filter, the typed-instruction node), reset
between episodes through the sim's service. The report files must agree with each other and
with what happened: the person stopped the arm (no contact), the task succeeded without them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vla_ros.tools.graph_session import missing_modules

pytestmark = [pytest.mark.graph, pytest.mark.slow]

NODES = ("sim", "human_detector", "safety_filter", "policy", "text_instruction")


def test_short_person_on_off_comparison_through_the_graph(tmp_path):
    missing = missing_modules(NODES)
    if missing:
        pytest.skip(f"the graph needs {missing}, not importable here")
    out = tmp_path / "eval"
    env = dict(os.environ)  # the conftest's isolated ROS_DOMAIN_ID carries over
    env.setdefault("MUJOCO_GL", "egl")
    command = [
        *(sys.executable, "-m", "vla_ros.tools.evaluate", "--backend", "scripted"),
        *("--tasks", "pick", "--seeds", "1", "--first-seed", "0"),
        *("--compare", "person=on,off", "--time-limit-factor", "2"),
        # half real time: the nodes of a loaded 2-core machine keep up (watchdogs are in
        # simulated time; at real time a starved filter micro-stops)
        *("--real-time-factor", "0.5"),
        *("--output-dir", str(out), "--quiet"),
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=400, check=False
    )
    logs = "".join(
        f"\n--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(out.glob("graph-*/logs/*.log"))
    )
    context = f"{done.stdout}\n{done.stderr[-3000:]}{logs}"
    assert done.returncode == 0, context
    results = json.loads((out / "results.json").read_text())
    conditions = results["conditions"]
    assert list(conditions) == ["person=on", "person=off"], context
    for name, body in conditions.items():
        (episode,) = body["episodes"]
        summary = body["summary"]
        assert episode["outcome"] != "error", (name, episode["error"], context)
        assert episode["heard"] == episode["instruction"], context
        assert episode["instruction"].startswith("pick up the")
        assert episode["contacts"] == 0, context
        # the summary is the episode's numbers
        assert summary["episodes"] == 1
        assert summary["successes"] == int(episode["success"])
        assert summary["per_family"]["pick"]["successes"] == int(episode["success"])
        assert summary["safety"]["stops"] == episode["stops"]
        assert summary["inference_ms"]["n"] == len(episode["inference_ms"]) > 0, context
        low, high = summary["wilson95"]  # Wilson 95% of 1/1 or 0/1
        assert low == pytest.approx(0.2065 if episode["success"] else 0.0, abs=1e-4)
        assert high == pytest.approx(1.0 if episode["success"] else 0.7935, abs=1e-4)
        assert episode["latencies_s"]["instruction_to_motion_s"] > 0.0, context
    with_person = conditions["person=on"]["episodes"][0]
    without = conditions["person=off"]["episodes"][0]
    assert with_person["person_stops"] >= 1 and with_person["stopped_for_person"], context
    assert with_person["min_true_separation_m"] > 0.0
    assert without["person_stops"] == 0 and without["min_true_separation_m"] is None
    assert without["success"], context
    rows = results["comparison"]["rows"]
    assert [r["group"] for r in rows] == ["pick", "all"]
    assert rows[-1]["b"] == [1, 1] and 0.0 <= rows[-1]["p_value"] <= 1.0
    report = (out / "report.md").read_text()
    assert "## Comparison: person=on vs person=off" in report
    assert "| pick | 0 |" in report
    for png in ("success.png", "latency.png"):
        assert (out / png).stat().st_size > 5000
    assert "person=off: success 1/1" in done.stdout
