"""openpi protocol: the official client against our server over loopback; the remote backend."""

from __future__ import annotations

import http.client
import socket
import time

import numpy as np
import pytest
from openpi_client import websocket_client_policy
from policy_testing import observation, random_checkpoint

from vla_ros.core.policy.backends import (
    BackendUnavailableError,
    RemoteConfig,
    make_backend_config,
    make_policy,
)
from vla_ros.core.policy.remote import RemotePolicy, observation_to_request
from vla_ros.core.policy.server import PolicyServer


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("served")
    random_checkpoint(directory)
    return directory


def embedded(checkpoint, encoder):
    return make_policy(
        "embedded", {"checkpoint_dir": str(checkpoint), "runtime": "torch"}, text_encoder=encoder
    )


@pytest.fixture
def server(checkpoint, encoder):
    srv = PolicyServer(embedded(checkpoint, encoder), port=0, metadata={"backend": "embedded"})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_official_client_speaks_to_our_server(server, checkpoint, encoder):
    assert server.host == "127.0.0.1"
    client = websocket_client_policy.WebsocketClientPolicy(
        host="127.0.0.1", port=server.bound_port
    )
    metadata = client.get_server_metadata()
    assert metadata["backend"] == "embedded"
    spec = embedded(checkpoint, encoder).spec
    assert metadata["policy_spec"] == spec.to_dict()
    obs = observation(spec, stamp_s=3.0)
    request = observation_to_request(obs, spec, RemoteConfig())
    first = client.infer(request)
    second = client.infer(request)
    assert first["actions"].shape == (spec.chunk_length, spec.action_dim)
    assert first["server_timing"]["infer_ms"] > 0.0
    assert "prev_total_ms" not in first["server_timing"]
    assert second["server_timing"]["prev_total_ms"] >= second["server_timing"]["infer_ms"]
    # The same policy with the same seed, run locally, gives the same first chunk.
    np.testing.assert_allclose(first["actions"], embedded(checkpoint, encoder).infer(obs).actions)


def test_healthz_and_error_frames(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.bound_port, timeout=5)
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b"OK\n"
    client = websocket_client_policy.WebsocketClientPolicy(
        host="127.0.0.1", port=server.bound_port
    )
    with pytest.raises(RuntimeError, match="request needs"):
        client.infer({"nothing": np.zeros(3)})


def test_remote_backend_round_trip(server, checkpoint, encoder):
    policy = make_policy("remote", {"port": server.bound_port})
    assert isinstance(policy, RemotePolicy) and policy.healthy()
    local = embedded(checkpoint, encoder)
    assert policy.spec == local.spec
    obs = observation(local.spec, stamp_s=7.0)
    chunk = policy.infer(obs)
    assert chunk.observation_stamp_s == 7.0
    np.testing.assert_allclose(chunk.actions, local.infer(obs).actions, atol=1e-6)
    assert policy.last_server_timing["infer_ms"] > 0.0
    policy.close()


def test_remote_backend_holds_while_server_down_then_reconnects(checkpoint, encoder):
    port = free_port()
    spec = embedded(checkpoint, encoder).spec
    with pytest.raises(BackendUnavailableError, match="cannot connect"):
        make_policy("remote", {"port": port, "connect_timeout_s": 0.5})  # no spec, no server
    options = {
        "port": port,
        "connect_timeout_s": 0.5,
        "backoff_initial_s": 0.2,
        "backoff_max_s": 0.4,
        "spec": spec.to_dict(),
    }
    policy = make_policy("remote", options)
    assert not policy.healthy()
    obs = observation(spec)
    with pytest.raises(BackendUnavailableError):
        policy.infer(obs)
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="next attempt"):
        policy.infer(obs)  # within the backoff: fails fast, no network wait
    assert time.monotonic() - started < 0.2
    srv = PolicyServer(embedded(checkpoint, encoder), port=port)
    srv.start()
    try:
        deadline = time.monotonic() + 10.0
        chunk = None
        while chunk is None and time.monotonic() < deadline:
            try:
                chunk = policy.infer(obs)
            except BackendUnavailableError:
                time.sleep(0.1)
        assert chunk is not None and chunk.actions.shape == (spec.chunk_length, spec.action_dim)
    finally:
        policy.close()
        srv.stop()


def test_backend_registry_validates_options(tmp_path):
    with pytest.raises(ValueError, match="unknown policy backend"):
        make_policy("magic", {})
    with pytest.raises(ValueError, match="unknown option"):
        make_backend_config("embedded", {"checkpoint_dir": "x", "gpu": True})
    with pytest.raises(ValueError, match="checkpoint_dir"):
        make_backend_config("embedded", {})
    with pytest.raises(ValueError, match="runtime"):
        make_backend_config("embedded", {"checkpoint_dir": "x", "runtime": "tensorrt"})
    with pytest.raises(ValueError, match="port"):
        make_backend_config("remote", {"port": 0})
    with pytest.raises(ValueError, match="not a directory"):
        make_backend_config(
            "lerobot",
            {
                "checkpoint_dir": str(tmp_path / "no"),
                "joint_names": ["a"],
                "image_keys": {"front": "observation.images.front"},
            },
        )


def test_lerobot_backend_fails_clearly_without_lerobot(tmp_path):
    """Tested up to the import boundary: lerobot needs torchvision (no CPU build here)."""
    try:
        import lerobot  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("lerobot is installed: this test covers its absence")
    options = {
        "checkpoint_dir": str(tmp_path),
        "joint_names": ["a", "b"],
        "image_keys": {"front": "observation.images.front"},
    }
    with pytest.raises(BackendUnavailableError, match="lerobot package"):
        make_policy("lerobot", options)


def test_scripted_backend_needs_the_simulator_process():
    with pytest.raises(BackendUnavailableError, match="simulator"):
        make_policy("scripted", {})


def test_scripted_backend_restarts_the_expert_on_a_new_sim_episode():
    """Served over openpi's protocol the client cannot reset the expert: a new episode with the
    same instruction (e.g. `vla-ros eval`, person on then off) must restart it anyway."""
    from types import SimpleNamespace

    from vla_ros.core.policy import Observation
    from vla_ros.core.policy.backends import ScriptedConfig
    from vla_ros.core.policy.scripted import ScriptedPolicy

    class Expert:
        robot = None

        def __init__(self) -> None:
            self.resets: list[str] = []
            self.steps = 0

        def reset(self, task) -> None:
            self.resets.append(task.instruction)

        def act(self, q, state):
            self.steps += 1
            return np.zeros(6), 0.04

    clock = {"t": 0.0}
    expert = Expert()
    policy = ScriptedPolicy(
        ScriptedConfig(chunk_length=3), expert, lambda: SimpleNamespace(time_s=clock["t"])
    )

    def infer(instruction: str, t: float) -> None:
        clock["t"] = t
        policy.infer(
            Observation(
                images={"front": np.zeros((8, 8, 3), np.uint8)},
                joint_names=tuple(f"joint_{i}" for i in range(1, 7)),
                joint_positions=np.zeros(6),
                instruction=instruction,
                stamp_s=100.0 + t,
            )
        )

    infer("pick up the red cube", 0.5)
    infer("pick up the red cube", 1.0)  # same episode: no restart
    assert expert.resets == ["pick up the red cube"]
    infer("pick up the red cube", 0.2)  # the episode clock went back: a new episode
    assert expert.resets == ["pick up the red cube"] * 2
    infer("push the red cube to the left", 0.7)  # a new instruction
    assert len(expert.resets) == 3


def test_scripted_backend_drives_the_simulated_cell():
    """The expert behind the Policy interface, chunk by chunk, in the real MuJoCo cell."""
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")
    from vla_ros.core.policy import Observation
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path

    env = SimEnv(SimConfig(image_width_px=64, image_height_px=48))
    try:
        info = env.reset(11, "pick")
        policy = make_policy(
            "scripted",
            {"chunk_length": 5, "step_duration_s": 0.1},
            state_fn=env.state_view,
            robot=RobotModel.from_urdf(default_urdf_path()),
        )
        cube = env.cube_position(info.task.colour)
        start_distance = np.linalg.norm(env.tool_pose()[:2, 3] - cube[:2])
        steps_per_chunk = round(0.5 / env.config.control_period_s)
        for _ in range(8):  # 4 s of chunks, each replanned from the measured state
            joints = env.joint_state()
            rgb, _ = env.render(with_depth=False)
            obs = Observation(
                images={"front": rgb},
                joint_names=joints.names,
                joint_positions=joints.positions,
                instruction=info.task.instruction,
                stamp_s=env.episode_time_s,
            )
            chunk = policy.infer(obs)
            assert chunk.actions.shape == (5, 7)
            env.command_arm_trajectory(0.1 * np.arange(1, 6), chunk.actions[:, :6])
            env.command_gripper(float(chunk.actions[-1, 6]))
            for _ in range(steps_per_chunk):
                env.step()
        # The tool went to the cube (horizontally; the expert then descends on it).
        assert np.linalg.norm(env.tool_pose()[:2, 3] - cube[:2]) < 0.3 * start_distance
    finally:
        env.close()


SERVE = (
    "import argparse, sys\n"
    "from vla_ros.tools import serve\n"
    "parser = argparse.ArgumentParser()\n"
    "serve.add_arguments(parser)\n"
    "sys.exit(serve.run(parser.parse_args(sys.argv[1:])))\n"
)


def test_serve_tool_serves_a_checkpoint_to_the_official_client(checkpoint):
    import subprocess
    import sys

    port = free_port()
    command = [
        sys.executable,
        "-c",
        SERVE,
        "--backend",
        "embedded",
        "--port",
        str(port),
        "-o",
        f"checkpoint_dir={checkpoint}",
        "-o",
        "runtime=torch",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, healthy = time.monotonic() + 120.0, False
        while not healthy and time.monotonic() < deadline and proc.poll() is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                healthy = conn.getresponse().status == 200
            except OSError:
                time.sleep(0.2)
        assert healthy, proc.stderr.read().decode() if proc.poll() is not None else "timeout"
        client = websocket_client_policy.WebsocketClientPolicy(host="127.0.0.1", port=port)
        spec_dict = client.get_server_metadata()["policy_spec"]
        assert client.get_server_metadata()["backend"] == "embedded"
        from vla_ros.core.policy import PolicySpec

        spec = PolicySpec.from_dict(spec_dict)
        answer = client.infer(observation_to_request(observation(spec), spec, RemoteConfig()))
        assert answer["actions"].shape == (spec.chunk_length, spec.action_dim)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_closed_loop_evaluation_with_latency_solves_tasks_like_the_expert():
    """Any Policy through the robot's chunk scheduler in simulated time: the scripted backend
    with 0.2 s simulated inference latency still solves pick and push."""
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")
    from vla_ros.core.chunking import ChunkSchedulerConfig
    from vla_ros.core.policy.closed_loop import ChunkedSimPolicy, evaluate
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path

    env = SimEnv(SimConfig(image_width_px=64, image_height_px=48))
    try:
        policy = make_policy(
            "scripted",
            {"chunk_length": 5},
            state_fn=env.state_view,
            robot=RobotModel.from_urdf(default_urdf_path()),
        )
        sim_policy = ChunkedSimPolicy(
            policy, env, ChunkSchedulerConfig(control_rate_hz=10.0), simulated_latency_s=0.2
        )
        summary = evaluate(env, sim_policy, seeds=[1, 2], tasks=["pick", "push"])
    finally:
        env.close()
    assert summary.per_task == {"pick": (2, 2), "push": (2, 2)}
    assert summary.success_rate == 1.0 and summary.ci_high == 1.0
    assert 0.4 < summary.ci_low < 0.6  # Wilson 95 % for 4/4
    assert 1.0 < summary.mean_duration_s < 10.0


def test_wilson_interval_known_values():
    from vla_ros.core.policy.closed_loop import wilson_interval

    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == 1.0
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_evaluate_tool_reports_success_with_interval(tmp_path):
    import argparse
    import json

    from vla_ros.tools import evaluate as evaluate_tool

    parser = argparse.ArgumentParser()
    evaluate_tool.add_arguments(parser)
    out = tmp_path / "summary.json"
    args = parser.parse_args(
        [
            "--core",
            "--backend",
            "scripted",
            "-o",
            "chunk_length=4",
            "--tasks",
            "pick",
            "--seeds",
            "1",
            "--latency-s",
            "0.1",
            "--image-width",
            "64",
            "--image-height",
            "48",
            "--out",
            str(out),
        ]
    )
    assert evaluate_tool.run(args) == 0
    summary = json.loads(out.read_text())
    assert summary["episodes"] == 1 and summary["per_task"]["pick"] == [1, 1]
    assert 0.0 < summary["ci_low"] < summary["ci_high"] == 1.0


def test_evaluate_tool_runs_the_embedded_vla_closed_loop(tmp_path):
    """The path of the next step (train, then evaluate): an untrained VLA with the sim's
    joints drives the cell for a whole episode without errors."""
    import argparse
    import json

    import torch

    from vla_ros.core.policy import ActionSpace, PolicySpec
    from vla_ros.core.policy.vla_model import VlaConfig, build_net, save_checkpoint
    from vla_ros.tools import evaluate as evaluate_tool

    spec = PolicySpec(
        action_space=ActionSpace.JOINT_POSITION,
        joint_names=tuple(f"joint_{i}" for i in range(1, 7)),
        chunk_length=8,
        step_duration_s=0.1,
        image_keys=("front",),
        image_size=(32, 32),
    )
    config = VlaConfig(spec=spec, hidden_dim=32, cnn_channels=(8,), flow_steps=2)
    torch.manual_seed(0)
    save_checkpoint(build_net(config), config, tmp_path / "vla")
    parser = argparse.ArgumentParser()
    evaluate_tool.add_arguments(parser)
    out = tmp_path / "summary.json"
    args = parser.parse_args(
        [
            "--core",
            "-o",
            f"checkpoint_dir={tmp_path / 'vla'}",
            "--tasks",
            "pick",
            "--seeds",
            "1",
            "--image-width",
            "64",
            "--image-height",
            "48",
            "--out",
            str(out),
        ]
    )
    assert evaluate_tool.run(args) == 0
    summary = json.loads(out.read_text())
    assert summary["episodes"] == 1 and summary["measured_latency_ms_mean"] > 0.0
    assert summary["mean_duration_s"] > 1.0
