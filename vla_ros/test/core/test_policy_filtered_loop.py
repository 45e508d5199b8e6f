"""The core closed loop with the safety filter between policy and controllers (as the graph)."""

from __future__ import annotations

import os

import pytest

from vla_ros.core.policy.filtered_loop import (
    SimSafety,
    parse_safety_overrides,
    run_filtered_episode,
)


def test_safety_overrides_are_parsed_and_validated_as_the_node_would():
    assert parse_safety_overrides(
        ["ssm.max_robot_speed_m_s:=5.0", "collision.enabled:=false"]
    ) == {
        "ssm.max_robot_speed_m_s": 5.0,
        "collision.enabled": False,
    }
    with pytest.raises(ValueError, match="NAME:=VALUE"):
        parse_safety_overrides(["ssm.max_robot_speed_m_s=5"])
    with pytest.raises(ValueError, match="unknown safety_filter parameters"):
        SimSafety({"ssm.max_robot_sped_m_s": 5.0})
    with pytest.raises(ValueError, match="max_robot_speed_m_s"):
        SimSafety({"ssm.max_robot_speed_m_s": -1.0})


@pytest.mark.slow
def test_the_expert_picks_through_the_filter_and_a_slow_cap_slows_it():
    """The scripted expert, chunked as the policy node chunks it, through the shipped safety
    filter into the simulated controllers: it still picks. With a tight no-person speed cap
    the filter slows the arm for most of the episode, and the same pick takes longer."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from vla_ros.core.chunking import ChunkSchedulerConfig
    from vla_ros.core.policy.backends import make_policy
    from vla_ros.core.policy.closed_loop import ChunkedSimPolicy
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path

    env = SimEnv(SimConfig(image_width_px=64, image_height_px=48))
    try:
        policy = make_policy(
            "scripted",
            {},
            state_fn=env.state_view,
            robot=RobotModel.from_urdf(default_urdf_path()),
        )
        runs = {}
        for name, overrides in (("shipped", {}), ("slow", {"ssm.max_robot_speed_m_s": 0.1})):
            sim_policy = ChunkedSimPolicy(
                policy, env, ChunkSchedulerConfig(control_rate_hz=50.0), simulated_latency_s=0.0
            )
            runs[name] = run_filtered_episode(
                env, sim_policy, SimSafety(overrides), seed=11, task="pick"
            )
    finally:
        env.close()
    shipped, slow = runs["shipped"], runs["slow"]
    assert shipped.success and shipped.rejected == 0 and shipped.stopped_s == 0.0
    assert slow.slowed_s > 0.5 * slow.duration_s
    assert slow.slowed_s > shipped.slowed_s
    assert not slow.success or slow.duration_s > shipped.duration_s


@pytest.mark.slow
def test_eval_core_with_the_safety_filter_reports_what_the_filter_did(tmp_path):
    """`vla-ros eval --core --safety-filter`: the expert picks through the filter, the summary
    says how long the filter slowed the arm; a tight cap given as the node's --param slows it
    for longer; other nodes' parameters, or --param without the filter, are refused."""
    import argparse
    import json

    from vla_ros.tools import evaluate as evaluate_tool

    parser = argparse.ArgumentParser()
    evaluate_tool.add_arguments(parser)
    common = ["--core", "--backend", "scripted", "--tasks", "pick", "--seeds", "1"]
    common += ["--first-seed", "11", "--image-width", "64", "--image-height", "48"]
    slowed = {}
    for name, extra in (
        ("shipped", []),
        ("slow", ["--param", "safety_filter:ssm.max_robot_speed_m_s:=0.1"]),
    ):
        out = tmp_path / f"{name}.json"
        args = parser.parse_args([*common, "--safety-filter", *extra, "--out", str(out)])
        assert evaluate_tool.run(args) == 0
        summary = json.loads(out.read_text())
        assert summary["episodes"] == 1
        assert summary["safety_filter"]["control_rate_hz"] == 50.0
        assert summary["safety_filter"]["rejected_proposals"] == 0
        assert summary["safety_filter"]["rejections"] == []
        slowed[name] = summary["safety_filter"]["slowed_s_per_episode"][0]
        if name == "shipped":
            assert summary["per_task"]["pick"] == [1, 1]
    assert slowed["slow"] > slowed["shipped"]
    for bad in (
        ["--safety-filter", "--param", "sim:camera_rate_hz:=10"],
        ["--param", "safety_filter:ssm.enabled:=false"],
    ):
        assert evaluate_tool.run(parser.parse_args([*common, *bad])) == 2
