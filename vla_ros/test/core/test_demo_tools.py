"""`vla-ros demo`, `vla-ros sim` and `vla-ros record`: scenario choices, the graph's command
lines, the missing-node check, and a real recording read back."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import yaml

from vla_ros.core.demo.scenario import WalkIn, choose_backend, resolve_instruction
from vla_ros.core.resources import resource_path
from vla_ros.tools import demo, record, sim

SPEECH_COLOURS = ["red", "green", "blue", "yellow"]


def parse(module, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_task_families_become_speakable_instructions():
    for family, prefix in (
        ("pick", "pick up the"),
        ("place", "put the"),
        ("push", "push the"),
        ("stack", "stack the"),
    ):
        for seed in range(5):
            text = resolve_instruction(family, seed, SPEECH_COLOURS)
            assert text.startswith(prefix)
            words = set(text.split())
            assert words & set(SPEECH_COLOURS)
            assert not words & {"orange", "purple"}  # the sim has them, the language does not
    assert resolve_instruction("pick", 3, SPEECH_COLOURS) == resolve_instruction(
        "pick", 3, SPEECH_COLOURS
    )
    assert resolve_instruction("Put the red cube on the plate.", 0, SPEECH_COLOURS) == (
        "put the red cube on the plate"
    )
    with pytest.raises(ValueError, match="orange"):
        resolve_instruction("pick up the orange cube", 0, SPEECH_COLOURS)
    with pytest.raises(ValueError):
        resolve_instruction("dance", 0, SPEECH_COLOURS)


def test_backend_defaults_to_embedded_only_with_an_evaluated_checkpoint(tmp_path):
    backend, why = choose_backend("", tmp_path)
    assert backend == "scripted" and "no trained checkpoint" in why
    (tmp_path / "config.json").write_text("{}")
    assert choose_backend("", tmp_path)[0] == "scripted"  # no weights yet
    (tmp_path / "model.safetensors").write_bytes(b"")
    backend, why = choose_backend("", tmp_path)
    assert backend == "scripted" and "no evaluation.json" in why
    (tmp_path / "evaluation.json").write_text('{"success_rate": 0.01}')
    backend, why = choose_backend("", tmp_path)
    assert backend == "scripted" and "1%" in why
    (tmp_path / "evaluation.json").write_text('{"success_rate": 0.93}')
    assert choose_backend("", tmp_path) == (
        "embedded",
        f"checkpoint at {tmp_path}, evaluated success 93%",
    )
    # per-family figures decide for a task of that family: the Wilson low end of its
    # template success must reach 0.8 (25/25: 0.87; 20/25: 0.61)
    evaluation = {
        "success_rate": 0.4,
        "by_family": {
            "pick": {"templates": {"successes": 25, "episodes": 25}},
            "place": {"templates": {"successes": 20, "episodes": 25}},
        },
    }
    (tmp_path / "evaluation.json").write_text(json.dumps(evaluation))
    backend, why = choose_backend("", tmp_path, "pick")
    assert backend == "embedded" and "pick 25/25" in why
    backend, why = choose_backend("", tmp_path, "place")
    assert backend == "scripted" and "place 20/25" in why
    assert choose_backend("", tmp_path, "stack")[0] == "scripted"  # no figures: 40 % overall
    assert choose_backend("", tmp_path)[0] == "scripted"
    assert choose_backend("remote", tmp_path) == ("remote", "requested")
    with pytest.raises(ValueError):
        choose_backend("magic", tmp_path)


def test_walk_in_parameters_exist_in_the_sim_config():
    sim_params = yaml.safe_load(resource_path("config", "sim.yaml").read_text())["sim"][
        "ros__parameters"
    ]
    walk = WalkIn()
    assert set(walk.sim_parameters()) <= set(sim_params)
    with pytest.raises(ValueError):
        WalkIn(speed_m_s=0.0)
    with pytest.raises(ValueError):
        WalkIn(walk_sign=0.5)


def test_typed_scripted_demo_graph(tmp_path):
    args = parse(
        demo,
        [
            "--text",
            "--seed",
            "4",
            "--checkpoint-dir",
            str(tmp_path / "none"),
            "--output-dir",
            str(tmp_path / "out"),
            "--param",
            "policy:control_rate_hz:=20.0",
            "--param",
            "sim:camera_rate_hz:=10.0",
        ],
    )
    plan = demo.make_plan(args)
    assert plan.backend == "scripted" and plan.policy_backend == "remote"
    assert plan.typed_text == plan.instruction and plan.instruction.startswith("pick up the")
    assert plan.scripted_port > 0 and plan.walk is not None
    assert plan.walk.bearing_rad == pytest.approx(math.radians(135.0))
    procs = {p.name: p for p in demo.node_processes(plan, args, tmp_path)}
    assert set(procs) == {
        "sim",
        "human_detector",
        "safety_filter",
        "policy",
        "speech_feedback",
        "text_instruction",
    }
    policy = procs["policy"].arguments
    assert "backend:=remote" in policy and "use_sim_time:=true" in policy
    assert f'backend_options:="{{host: 127.0.0.1, port: {plan.scripted_port}}}"' in policy
    assert policy[-2:] == ["-p", "control_rate_hz:=20.0"]
    sim_args = procs["sim"].arguments
    assert sim_args[sim_args.index("--serve-scripted-policy-port") + 1] == str(plan.scripted_port)
    assert "camera_rate_hz:=10.0" in sim_args and "walk_in_speed_m_s:=1.0" in sim_args
    assert "walk_in_walk_sign:=-1.0" in sim_args  # from behind the robot, in the camera's view
    for name in ("human_detector", "safety_filter"):
        assert "use_sim_time:=true" in procs[name].arguments
    assert "mute:=true" in procs["speech_feedback"].arguments
    bad = parse(demo, ["--text", "--param", "nobody:x:=1", "--output-dir", str(tmp_path)])
    with pytest.raises(demo.DemoError, match="NODE:NAME"):
        demo.node_processes(demo.make_plan(bad), bad, tmp_path)


def test_spoken_demo_uses_the_speech_node_and_a_typed_line_sets_the_task(tmp_path):
    args = parse(demo, ["--no-person", "--output-dir", str(tmp_path)])
    plan = demo.make_plan(args)
    assert plan.typed_text is None and plan.walk is None
    names = {p.name for p in demo.node_processes(plan, args, tmp_path)}
    assert "speech" in names and "text_instruction" not in names
    typed = demo.make_plan(parse(demo, ["--text", "please push red cube to the left"]))
    assert typed.instruction == "push the red cube to the left"  # canonical, like the node
    assert typed.typed_text == "please push red cube to the left"  # typed as given
    with pytest.raises(demo.DemoError, match="not a task"):
        demo.make_plan(parse(demo, ["--text", "stop"]))
    with pytest.raises(demo.DemoError, match="backend-options"):
        demo.make_plan(parse(demo, ["--backend", "remote"]))


def test_a_missing_node_is_named_and_nothing_starts(monkeypatch, capsys):
    assert demo.missing_modules(list(demo.NODE_MODULES)) == []
    monkeypatch.setitem(demo.NODE_MODULES, "safety_filter", "vla_ros.nodes.no_such_node")
    args = parse(demo, ["--text", "--quiet"])
    assert demo.run(args) == 2
    out = capsys.readouterr().out
    assert "missing" in out and "safety_filter (vla_ros.nodes.no_such_node)" in out


def test_sim_tool_ros_arguments():
    args = parse(
        sim,
        ["--task", "pick up the red cube", "--seed", "3", "--width", "128", "-p", "a:=1"],
    )
    ros = sim.ros_arguments(args)
    assert ros[:3] == ["--ros-args", "--params-file", str(resource_path("config", "sim.yaml"))]
    assert 'task:="pick up the red cube"' in ros and "seed:=3" in ros
    assert "image_width_px:=128" in ros and ros[-2:] == ["-p", "a:=1"]
    assert "with_person:=true" not in ros
    assert "with_person:=true" in sim.ros_arguments(parse(sim, ["--with-person"]))
    with pytest.raises(SystemExit):
        sim.ros_arguments(parse(sim, ["-p", "no_assignment"]))


def test_record_writes_expert_episodes_that_read_back(tmp_path, capsys):
    from vla_ros.core.recording import read_episode

    args = parse(
        record,
        [
            *("--tasks", "pick", "--episodes", "1", "--first-seed", "2"),
            *("--width", "64", "--height", "48", "--output-dir", str(tmp_path), "--quiet"),
        ],
    )
    assert record.run(args) == 0
    files = sorted(tmp_path.glob("*.mcap"))
    assert [f.name for f in files] == ["pick_00002.mcap"]
    episode = read_episode(files[0])
    assert episode.instruction.startswith("pick up the")
    assert episode.rgb.shape[1:] == (48, 64, 3) and len(episode.times_s) > 5
    assert episode.actions.shape == (len(episode.times_s), 7)
    assert "pick: 1/1" in capsys.readouterr().out
