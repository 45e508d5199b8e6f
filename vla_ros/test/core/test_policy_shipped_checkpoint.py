"""The shipped embedded VLA (vla_ros/models/vla_sim): loads, both runtimes agree, and it solves
seeded simulated episodes closed loop through the chunk scheduler.

The episode seeds are evaluation seeds (0-99), disjoint from the recording seeds (1000+) the
checkpoint was trained on. A broken, stale or untrained checkpoint fails these tests.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from policy_testing import synthetic_episodes, tiny_config, tiny_spec

from vla_ros.core.policy.backends import checkpoint_path, make_policy
from vla_ros.core.policy.language import TextEncoder
from vla_ros.core.policy.vla_model import (
    ONNX_FILE,
    OnnxRuntime,
    TorchRuntime,
    VlaPolicy,
    load_checkpoint,
    read_config,
)
from vla_ros.core.resources import resource_path
from vla_ros.core.training.dataset import ChunkDataset
from vla_ros.core.training.trainer import TrainConfig, relative_action_statistics, train

os.environ.setdefault("MUJOCO_GL", "egl")

# The policy's camera: the recordings' image size (policy input is resized from it).
IMAGE_WIDTH_PX, IMAGE_HEIGHT_PX = 128, 96
# (task family, seed) episodes the shipped checkpoint should solve (evaluation seeds).
EPISODES = (("pick", 3), ("push", 5), ("pick", 11))


@pytest.fixture(scope="module")
def shipped_dir():
    return resource_path("models", "vla_sim")


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder()


def test_policy_yaml_checkpoint_resolves_to_the_shipped_one(shipped_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # any working directory: relative paths fall back to share/
    assert checkpoint_path("models/vla_sim").resolve() == shipped_dir.resolve()
    (tmp_path / "models" / "vla_sim").mkdir(parents=True)  # a local directory wins
    assert checkpoint_path("models/vla_sim") == tmp_path / "models" / "vla_sim"
    assert checkpoint_path(str(shipped_dir)) == shipped_dir


def test_checkpoint_is_complete_and_small(shipped_dir):
    config = read_config(shipped_dir)
    assert config.spec.image_size[0] <= IMAGE_HEIGHT_PX
    assert config.spec.image_size[1] <= IMAGE_WIDTH_PX
    total = sum(p.stat().st_size for p in shipped_dir.iterdir() if p.is_file())
    assert (shipped_dir / ONNX_FILE).is_file()
    assert total < 32 * 1024 * 1024


def _sim_observation(spec, seed):
    from vla_ros.core.policy.interface import Observation
    from vla_ros.core.sim.env import SimConfig, SimEnv
    from vla_ros.core.sim.scene import ARM_JOINTS, GRIPPER_JOINT

    env = SimEnv(SimConfig(image_width_px=IMAGE_WIDTH_PX, image_height_px=IMAGE_HEIGHT_PX))
    try:
        info = env.reset(seed, "pick")
        rgb, _ = env.render(with_depth=False)
        joints = env.joint_state()
    finally:
        env.close()
    return Observation(
        images={spec.image_keys[0]: rgb},
        depth={},
        joint_names=(*ARM_JOINTS, GRIPPER_JOINT),
        joint_positions=np.asarray(joints.positions)[: len(ARM_JOINTS) + 1],
        instruction=info.task.instruction,
        stamp_s=0.0,
    )


@pytest.mark.slow
def test_torch_and_onnx_runtime_agree_on_a_sim_frame(shipped_dir, encoder):
    config, net = load_checkpoint(shipped_dir)
    by_torch = VlaPolicy(config, TorchRuntime(net), text_encoder=encoder, seed=1)
    by_onnx = VlaPolicy(config, OnnxRuntime(shipped_dir / ONNX_FILE), text_encoder=encoder, seed=1)
    obs = _sim_observation(config.spec, seed=7)
    chunk = by_torch.infer(obs).actions
    np.testing.assert_allclose(by_onnx.infer(obs).actions, chunk, atol=1e-3)
    assert chunk.shape == (config.spec.chunk_length, config.spec.action_dim)
    # the first action stays near the measured arm posture: a trained, not random, network
    arm = obs.state_for(config.spec.joint_names)
    assert np.max(np.abs(chunk[0, : arm.size] - arm)) < 0.3


@pytest.mark.slow
def test_shipped_policy_solves_seeded_episodes_closed_loop(encoder):
    from vla_ros.core.chunking import ChunkSchedulerConfig
    from vla_ros.core.policy.closed_loop import ChunkedSimPolicy
    from vla_ros.core.sim.env import SimConfig, SimEnv
    from vla_ros.core.sim.rollout import run_episode

    # the same options as config/policy.yaml: a relative directory and the ONNX runtime
    policy = make_policy(
        "embedded", {"checkpoint_dir": "models/vla_sim", "runtime": "onnx"}, text_encoder=encoder
    )
    env = SimEnv(SimConfig(image_width_px=IMAGE_WIDTH_PX, image_height_px=IMAGE_HEIGHT_PX))
    outcomes = []
    try:
        sim_policy = ChunkedSimPolicy(policy, env, ChunkSchedulerConfig(control_rate_hz=10.0))
        for family, seed in EPISODES:
            result = run_episode(env, sim_policy, seed=seed, task=family, act_period_s=0.1)
            outcomes.append((family, seed, result.success, round(result.duration_s, 1)))
    finally:
        env.close()
    successes = sum(success for _, _, success, _ in outcomes)
    assert successes * 2 > len(EPISODES), outcomes


def test_shipped_training_options_train_save_and_export(tmp_path, encoder):
    """keypoint pooling, standardised language, relative arm actions, periodic checkpoints:
    the options the shipped checkpoint was trained with round-trip through ONNX."""
    spec = tiny_spec(chunk_length=4)
    episodes = synthetic_episodes(spec)
    config = dataclasses.replace(
        tiny_config(spec), pooling="keypoints", lang_norm=True, relative_actions=True
    )
    settings = TrainConfig(
        steps=30, batch_size=8, learning_rate=2e-3, progress=False, checkpoint_every=10
    )
    result = train(episodes, config, settings, tmp_path / "ckpt", text_encoder=encoder)
    assert np.mean(result.losses[-6:]) < np.mean(result.losses[:6])
    saved, net = load_checkpoint(tmp_path / "ckpt")
    assert saved.pooling == "keypoints" and saved.lang_norm and saved.relative_actions
    assert float(net.lang_std.min()) > 0.0 and not np.allclose(net.lang_mean.numpy(), 0.0)
    stats = relative_action_statistics(ChunkDataset(episodes, spec))
    np.testing.assert_allclose(net.action_mean.numpy(), stats["action_mean"], rtol=1e-5)
    from vla_ros.core.policy.vla_model import example_inputs, export_onnx

    export_onnx(tmp_path / "ckpt")
    inputs = example_inputs(saved, seed=2)
    expected = TorchRuntime(net).run(inputs)
    got = OnnxRuntime(tmp_path / "ckpt" / ONNX_FILE).run(inputs)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    # relative actions: moving the measured arm moves the predicted arm targets with it
    shifted = {**inputs, "state": inputs["state"] + 0.25}
    delta = TorchRuntime(net).run(shifted) - expected
    assert np.all(np.abs(delta[0, :, : len(spec.joint_names)] - 0.25) < 0.25)
