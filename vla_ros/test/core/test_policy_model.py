"""The embedded VLA: checkpoints, ONNX export equality, prefix conditioning, training."""

from __future__ import annotations

import json

import numpy as np
import pytest
from policy_testing import (
    observation,
    random_checkpoint,
    synthetic_episodes,
    tiny_config,
    tiny_spec,
)

from vla_ros.core.policy import ActionSpace, Observation
from vla_ros.core.policy.backends import make_policy
from vla_ros.core.policy.vla_model import (
    CheckpointError,
    OnnxRuntime,
    TorchRuntime,
    VlaPolicy,
    example_inputs,
    export_onnx,
    load_checkpoint,
    read_config,
)
from vla_ros.core.training.dataset import ChunkDataset
from vla_ros.core.training.paraphrase import (
    HELD_OUT_TEMPLATES,
    HELD_OUT_VERBS,
    TRAIN_TEMPLATES,
    TRAIN_VERBS,
    augment,
    paraphrases,
)
from vla_ros.core.training.trainer import TrainConfig, train


@pytest.fixture(scope="module", params=["flow", "tokens"])
def exported(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"ckpt_{request.param}")
    config = random_checkpoint(directory, head=request.param)
    export_onnx(directory)
    return directory, config


def test_onnx_matches_torch_for_the_same_noise(exported):
    directory, config = exported
    _, net = load_checkpoint(directory)
    torch_rt, onnx_rt = TorchRuntime(net), OnnxRuntime(directory / "model.onnx")
    for seed in range(3):
        inputs = example_inputs(config, seed=seed)
        inputs["prefix_mask"][0, :2] = 1.0
        inputs["prefix"][0, :2] = 0.5
        expected = torch_rt.run(inputs)
        np.testing.assert_allclose(onnx_rt.run(inputs), expected, atol=1e-4, rtol=1e-4)
    # Different noise gives a different chunk for the flow head: the noise input is live.
    if config.head == "flow":
        a, b = example_inputs(config, seed=0), example_inputs(config, seed=0)
        b["noise"] = b["noise"] + 1.0
        assert not np.allclose(onnx_rt.run(a), onnx_rt.run(b))


def test_policies_agree_across_runtimes_and_reset_restarts_noise(exported, encoder):
    directory, config = exported
    _, net = load_checkpoint(directory)
    by_torch = VlaPolicy(config, TorchRuntime(net), text_encoder=encoder, seed=3)
    by_onnx = VlaPolicy(
        config, OnnxRuntime(directory / "model.onnx"), text_encoder=encoder, seed=3
    )
    obs = observation(config.spec, stamp_s=12.5)
    first = by_torch.infer(obs)
    np.testing.assert_allclose(by_onnx.infer(obs).actions, first.actions, atol=1e-4)
    assert first.actions.shape == (config.spec.chunk_length, config.spec.action_dim)
    assert first.observation_stamp_s == 12.5
    assert first.action_space is ActionSpace.JOINT_POSITION
    by_torch.reset()
    np.testing.assert_allclose(by_torch.infer(obs).actions, first.actions)


def test_noise_scale_zero_is_deterministic_and_scales_the_flow_noise(exported, encoder):
    directory, config = exported
    if config.head != "flow":
        pytest.skip("the token head draws no noise")
    runtime = OnnxRuntime(directory / "model.onnx")
    obs = observation(config.spec)
    # scale 0: every seed gives the same chunk, and it is the chunk from all-zero noise
    chunks = [
        VlaPolicy(config, runtime, text_encoder=encoder, seed=s, noise_scale=0.0).infer(obs)
        for s in range(3)
    ]
    for chunk in chunks[1:]:
        np.testing.assert_allclose(chunk.actions, chunks[0].actions)
    inputs = VlaPolicy(config, runtime, text_encoder=encoder, noise_scale=0.0).prepare(obs, None)
    assert not inputs["noise"].any()
    # scale 0.5 halves the draw the default scale makes from the same seed
    half = VlaPolicy(config, runtime, text_encoder=encoder, seed=4, noise_scale=0.5)
    full = VlaPolicy(config, runtime, text_encoder=encoder, seed=4)
    np.testing.assert_allclose(
        half.prepare(obs, None)["noise"], 0.5 * full.prepare(obs, None)["noise"], rtol=1e-6
    )
    assert not np.allclose(half.infer(obs).actions, full.infer(obs).actions)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="noise_scale"):
            VlaPolicy(config, runtime, text_encoder=encoder, noise_scale=bad)
        with pytest.raises(ValueError, match="noise_scale"):
            make_policy("embedded", {"checkpoint_dir": str(directory), "noise_scale": bad})


def test_prefix_conditioning_continues_the_committed_actions(tmp_path, encoder):
    config = random_checkpoint(tmp_path, head="flow")
    _, net = load_checkpoint(tmp_path)
    policy = VlaPolicy(config, TorchRuntime(net), text_encoder=encoder)
    obs = observation(config.spec)
    prefix = np.full((3, config.spec.action_dim), 0.25)
    chunk = policy.infer_with_prefix(obs, prefix)
    np.testing.assert_allclose(chunk.actions[:3], prefix, atol=1e-5)
    assert not np.allclose(chunk.actions[3:], 0.25)


def test_depth_channel_is_used(tmp_path, encoder):
    config = random_checkpoint(tmp_path, head="flow", depth=True)
    _, net = load_checkpoint(tmp_path)
    policy = VlaPolicy(config, TorchRuntime(net), text_encoder=encoder)
    obs = observation(config.spec)
    nearer = Observation(
        images=obs.images,
        depth={"front": np.asarray(obs.depth["front"]) * 0.5},
        joint_names=obs.joint_names,
        joint_positions=obs.joint_positions,
        instruction=obs.instruction,
        stamp_s=0.0,
    )
    a = policy.infer(obs).actions
    policy.reset()
    assert not np.allclose(a, policy.infer(nearer).actions)
    missing = Observation(
        images=obs.images,
        joint_names=obs.joint_names,
        joint_positions=obs.joint_positions,
        instruction="x",
        stamp_s=0.0,
    )
    with pytest.raises(ValueError, match="depth"):
        policy.infer(missing)


def test_checkpoint_round_trip(tmp_path):
    config = random_checkpoint(tmp_path)
    assert read_config(tmp_path) == config
    _, a = load_checkpoint(tmp_path)
    _, b = load_checkpoint(tmp_path)
    inputs = example_inputs(config)
    np.testing.assert_array_equal(TorchRuntime(a).run(inputs), TorchRuntime(b).run(inputs))


def test_broken_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    random_checkpoint(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path)
    weights.unlink()
    with pytest.raises(CheckpointError, match=r"no model\.safetensors"):
        load_checkpoint(tmp_path)
    random_checkpoint(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["hidden_dim"] = 32
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="invalid"):
        read_config(tmp_path)
    with pytest.raises(CheckpointError, match="ONNX"):
        OnnxRuntime(tmp_path / "model.onnx")


def test_embeddings_are_cached_and_meaningful(encoder):
    a = encoder.encode("pick up the red cube")
    assert a.shape == (384,)
    assert encoder.encode("Pick up the red cube.") is not None
    np.testing.assert_array_equal(encoder.encode("Pick up the red cube."), a)
    paraphrase = encoder.encode("grab the red cube")
    unrelated = encoder.encode("what is the weather in paris")
    assert float(a @ paraphrase) > float(a @ unrelated) + 0.2


def test_held_out_paraphrases_are_disjoint_from_training():
    for verb, train_words in TRAIN_VERBS.items():
        assert not set(train_words) & set(HELD_OUT_VERBS[verb])
    assert not set(TRAIN_TEMPLATES) & set(HELD_OUT_TEMPLATES)
    for text in ["pick up the red cube", "put the blue cube in the bowl", "stack red on green"]:
        train_set, held_out = set(paraphrases(text)), set(paraphrases(text, held_out=True))
        assert text in train_set and held_out and not train_set & held_out
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    seq_a = [augment("pick up the red cube", rng_a, 0.7) for _ in range(20)]
    assert seq_a == [augment("pick up the red cube", rng_b, 0.7) for _ in range(20)]
    assert len(set(seq_a)) > 2 and set(seq_a) <= set(paraphrases("pick up the red cube"))


def test_dataset_pads_chunks_at_the_episode_end():
    spec = tiny_spec(chunk_length=8)
    dataset = ChunkDataset(synthetic_episodes(spec, steps=10), spec)
    assert len(dataset) == 20
    actions, valid = dataset.target(7)
    assert valid.sum() == 3 and not valid[3:].any()
    np.testing.assert_array_equal(actions[3:], np.repeat(actions[2:3], 5, axis=0))
    with pytest.raises(ValueError, match="elements"):
        ChunkDataset(
            synthetic_episodes(tiny_spec()),
            tiny_spec().__class__(
                **{**tiny_spec().to_dict(), "has_gripper": False, "image_size": (32, 32)}
            ),
        )


def test_rgb_cache_holds_every_frame_once():
    """The training cache has every sample's pixels; an episode whose frames have the spec size
    then reads its images from the cache (a view, the same pixels), one whose frames were
    resized keeps its own."""
    from vla_ros.core.training.dataset import Episode
    from vla_ros.core.training.trainer import rgb_cache

    spec = tiny_spec(chunk_length=4)
    episodes = synthetic_episodes(spec, steps=6)
    rng = np.random.default_rng(0)
    for episode in episodes:
        episode.images["front"][:] = rng.integers(0, 256, episode.images["front"].shape)
    big = episodes[1]
    small = big.images["front"].copy()
    large = np.repeat(np.repeat(small, 2, axis=1), 2, axis=2)  # 64x64, 2x2 blocks
    episodes[1] = Episode(**{**big.__dict__, "images": {"front": large}})
    originals = [episode.images["front"].copy() for episode in episodes]
    cache = rgb_cache(ChunkDataset(episodes, spec))
    assert cache.shape == (12, 1, 3, 32, 32) and cache.dtype == np.uint8
    np.testing.assert_array_equal(cache[:6, 0], originals[0].transpose(0, 3, 1, 2))
    assert np.shares_memory(episodes[0].images["front"], cache)
    np.testing.assert_array_equal(episodes[0].images["front"], originals[0])
    assert not np.shares_memory(episodes[1].images["front"], cache)
    np.testing.assert_array_equal(episodes[1].images["front"], originals[1])
    np.testing.assert_array_equal(cache[6:, 0], small.transpose(0, 3, 1, 2))  # resized back


@pytest.mark.slow
def test_training_reduces_loss_is_deterministic_and_deploys(tmp_path, encoder):
    spec = tiny_spec(chunk_length=4)
    episodes = synthetic_episodes(spec)
    settings = TrainConfig(steps=40, batch_size=8, learning_rate=2e-3, progress=False, seed=5)
    result = train(episodes, tiny_config(spec), settings, tmp_path / "a", text_encoder=encoder)
    again = train(episodes, tiny_config(spec), settings, tmp_path / "b", text_encoder=encoder)
    assert result.losses == again.losses
    assert np.mean(result.losses[-8:]) < 0.7 * np.mean(result.losses[:8])
    metadata = read_config(tmp_path / "a").metadata
    assert metadata["train_steps"] == 40 and "pick up the red cube" in metadata["instructions"]
    policy = make_policy(
        "embedded",
        {"checkpoint_dir": str(tmp_path / "a"), "runtime": "onnx"},
        text_encoder=encoder,
    )
    chunk = policy.infer(ChunkDataset(episodes, spec).observation(0, stamp_s=1.0))
    assert chunk.actions.shape == (4, 4) and np.all(np.isfinite(chunk.actions))


def test_language_noise_is_seeded_and_validated(encoder):
    spec = tiny_spec(chunk_length=4)
    episodes = synthetic_episodes(spec)

    def losses(noise: float) -> list[float]:
        settings = TrainConfig(
            steps=6, batch_size=8, progress=False, seed=2, lang_noise_std=noise, num_threads=1
        )
        return train(episodes, tiny_config(spec), settings, text_encoder=encoder).losses

    noisy = losses(0.5)
    assert noisy == losses(0.5)  # the noise has its own seeded generator
    assert noisy != losses(0.0)  # and it reaches the network
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="lang_noise_std"):
            TrainConfig(lang_noise_std=bad)


def test_token_head_trains(tmp_path, encoder):
    spec = tiny_spec(chunk_length=4)
    settings = TrainConfig(steps=25, batch_size=8, learning_rate=3e-3, progress=False)
    result = train(
        synthetic_episodes(spec), tiny_config(spec, head="tokens"), settings, text_encoder=encoder
    )
    assert np.mean(result.losses[-5:]) < np.mean(result.losses[:5])


def write_recording(path, instruction, colour_channel, rng):
    """A tiny recorded episode in the sim helper's MCAP layout (10 frames at 10 Hz)."""
    from vla_ros.core.recording import EpisodeWriter

    arm = [f"joint_{i}" for i in range(1, 7)]
    with EpisodeWriter(path, instruction=instruction) as writer:
        q = rng.normal(0.0, 0.2, 6)
        for k in range(10):
            t = 0.1 * k
            q = q + 0.02
            writer.write_joint_state(t, [*arm, "finger_joint"], np.append(q, 0.04))
            image = np.zeros((24, 32, 3), dtype=np.uint8)
            image[..., colour_channel] = 180
            writer.write_rgb(t + 0.001, image)
            writer.write_arm_command(t + 0.002, arm, q + 0.02, 0.1)
            writer.write_gripper_command(t + 0.002, "finger_joint", 0.04 - 0.004 * k, 0.1)


@pytest.mark.slow
def test_train_tool_learns_from_recorded_episodes(tmp_path):
    import argparse

    from vla_ros.core.recording import read_episode
    from vla_ros.core.training.recorded import episode_from_recording, spec_for_recording
    from vla_ros.tools import train as train_tool

    rng = np.random.default_rng(0)
    write_recording(tmp_path / "data" / "a.mcap", "pick up the red cube", 0, rng)
    write_recording(tmp_path / "data" / "b.mcap", "pick up the blue cube", 2, rng)
    arrays = read_episode(tmp_path / "data" / "a.mcap")
    spec = spec_for_recording(arrays, image_size=(32, 32), chunk_length=4)
    assert spec.joint_names == tuple(f"joint_{i}" for i in range(1, 7))
    assert spec.has_gripper and spec.step_duration_s == pytest.approx(0.1)
    episode = episode_from_recording(arrays, spec)
    assert episode.actions.shape == (10, 7) and episode.joint_positions.shape == (10, 6)
    np.testing.assert_allclose(episode.actions[:, :6], episode.joint_positions + 0.02, atol=1e-9)
    parser = argparse.ArgumentParser()
    train_tool.add_arguments(parser)
    args = parser.parse_args(
        [
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "ckpt"),
            "--steps",
            "3",
            "--batch-size",
            "4",
            "--image-size",
            "32",
            "--chunk-length",
            "4",
            "--flow-steps",
            "2",
        ]
    )
    assert train_tool.run(args) == 0
    config = read_config(tmp_path / "ckpt")
    assert len(config.metadata["episodes"]) == 2
    assert (tmp_path / "ckpt" / "model.onnx").is_file()


def test_warm_start_adds_a_camera_without_changing_what_the_network_does(tmp_path):
    """A front-camera checkpoint warm-starts a front + wrist network: every parameter carries
    over, the new camera's weights start at zero, so the new network's chunk is the old one's
    whatever the wrist image shows, and training then moves it."""
    import torch

    from vla_ros.core.policy.vla_model import build_net, warm_start

    old_config = random_checkpoint(tmp_path / "front")
    _, old = load_checkpoint(tmp_path / "front")
    torch.manual_seed(1)
    two = tiny_config(tiny_spec(image_keys=("front", "wrist")))
    new = build_net(two)
    for name, buffer in old.named_buffers():  # same statistics as the old network
        getattr(new, name).copy_(buffer)
    copied, fresh = warm_start(new, tmp_path / "front")
    assert fresh == [] and "context.0.weight" in copied
    new.eval()
    inputs = example_inputs(old_config, seed=0)
    args = {k: torch.as_tensor(v) for k, v in inputs.items()}
    with torch.no_grad():
        expected = old(**args)
        for seed in (0, 1):
            wrist = torch.rand(args["images"].shape, generator=torch.Generator().manual_seed(seed))
            both = dict(args, images=torch.cat([args["images"], wrist], dim=1))
            torch.testing.assert_close(new(**both), expected, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # and the carried-over weights are live: change them, it moves
        new.context[0].weight.add_(0.1)
        assert not torch.allclose(new(**both), expected, atol=1e-3)
    with pytest.raises(CheckpointError):
        warm_start(new, tmp_path / "missing")
