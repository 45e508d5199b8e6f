"""The tool-pose action representation of the embedded VLA: FK targets -> IK joints round trip,
yaw decoding, IK failure handling (truncate or refuse, never jump), ONNX equivalence, training."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from policy_testing import observation

from vla_ros.core.policy import ActionSpace, Observation, PolicySpec
from vla_ros.core.policy.backends import make_policy
from vla_ros.core.policy.tool_pose import (
    DEFAULT_ROBOT_CONFIG,
    ToolPoseConverter,
    ToolPoseIkError,
    nearest_equivalent,
    top_down_rotation,
)
from vla_ros.core.policy.vla_model import (
    OnnxRuntime,
    TorchRuntime,
    VlaConfig,
    VlaPolicy,
    build_net,
    example_inputs,
    export_onnx,
    load_checkpoint,
    read_config,
    save_checkpoint,
)
from vla_ros.core.training.dataset import ChunkDataset, Episode
from vla_ros.core.training.trainer import TrainConfig, network_arrays, train

ARM = tuple(f"joint_{i}" for i in range(1, 7))


@pytest.fixture(scope="module")
def converter():
    return ToolPoseConverter.from_robot_config(DEFAULT_ROBOT_CONFIG, ARM)


def arm_spec(chunk_length: int = 6) -> PolicySpec:
    return PolicySpec(
        action_space=ActionSpace.JOINT_POSITION,
        joint_names=ARM,
        chunk_length=chunk_length,
        step_duration_s=0.1,
        image_keys=("front",),
        image_size=(32, 32),
        use_depth=False,
        has_gripper=True,
    )


def tool_config(spec: PolicySpec, **overrides) -> VlaConfig:
    options = {
        "hidden_dim": 64,
        "cnn_channels": (8, 16),
        "flow_steps": 4,
        "pooling": "keypoints",
        "action_representation": "tool_pose",
        "robot_config": DEFAULT_ROBOT_CONFIG,
        **overrides,
    }
    return VlaConfig(spec=spec, **options)


def home(converter: ToolPoseConverter) -> np.ndarray:
    return converter.robot.named_state("home")


def expert_like_trajectory(converter, steps=30, yaw_end=math.pi - 0.6, seed=0):
    """Joint targets as the scripted expert makes them: top-down poses moving at <= 3 cm and
    0.2 rad per 0.1 s step, each solved by IK from the previous target; the measured joints lag
    one step behind (a first-order follower)."""
    rng = np.random.default_rng(seed)
    robot = converter.robot
    q = home(converter)
    start = robot.fk(q)[:3, 3]
    goal = np.array([0.45 + 0.05 * rng.standard_normal(), 0.1, 0.05])
    targets, measured = [], []
    yaw = math.pi
    for k in range(steps):
        position = start + (goal - start) * min(1.0, (k + 1) / (steps - 5))
        yaw += float(np.clip(yaw_end - yaw, -0.2, 0.2))
        pose = np.eye(4)
        pose[:3, :3] = top_down_rotation(yaw)
        pose[:3, 3] = position
        measured.append(q)
        target, ok = robot.ik(pose, q if not targets else targets[-1][:6], max_iterations=200)
        assert ok
        targets.append(np.append(target, 0.04 if k < steps // 2 else 0.0))
        q = 0.5 * (q + target)
    return np.array(measured), np.array(targets)


def test_top_down_rotation_is_the_experts():
    from vla_ros.core.sim.expert import top_down_rotation as experts

    for yaw in (-2.0, 0.0, 0.7, math.pi):
        np.testing.assert_array_equal(top_down_rotation(yaw), experts(yaw))


def test_fk_targets_back_through_ik_reproduce_the_joint_targets(converter):
    measured, targets = expert_like_trajectory(converter)
    tool = converter.tool_actions(targets)
    assert tool.shape == (len(targets), 6)
    np.testing.assert_array_equal(tool[:, 5], targets[:, 6])  # the gripper passes through
    np.testing.assert_allclose(np.hypot(tool[:, 3], tool[:, 4]), 1.0, atol=1e-9)
    # a chunk of H rows from every step, IK from that step's measured joints
    horizon = 10
    for t in range(0, len(targets) - horizon, 3):
        joints = converter.joint_actions(tool[t : t + horizon], measured[t])
        assert joints.shape == (horizon, 7)
        np.testing.assert_allclose(joints[:, :6], targets[t : t + horizon, :6], atol=5e-3)
        np.testing.assert_array_equal(joints[:, 6], targets[t : t + horizon, 6])
    assert converter.truncations == 0
    state = converter.state_features(measured[4])
    np.testing.assert_allclose(state[:3], converter.robot.fk(measured[4])[:3, 3])


@pytest.mark.parametrize("k", [1, 2, 4])
def test_symmetric_yaw_decodes_to_the_equivalent_nearest_the_previous_row(converter, k):
    symmetric = ToolPoseConverter(converter.robot, yaw_symmetry=k)
    pose = np.eye(4)
    pose[:3, :3] = top_down_rotation(math.pi - 0.3)
    pose[:3, 3] = (0.4, 0.0, 0.1)
    row = symmetric.pose_features(pose)
    # every k-fold equivalent of the yaw encodes the same
    pose[:3, :3] = top_down_rotation(math.pi - 0.3 + 2 * math.pi / k)
    np.testing.assert_allclose(symmetric.pose_features(pose), row, atol=1e-12)
    _, yaw = symmetric.target_pose(row, reference_yaw_rad=math.pi)
    assert yaw == pytest.approx(math.pi - 0.3)
    assert nearest_equivalent(0.1, 6.0, math.pi / 2) == pytest.approx(0.1 + 4 * math.pi / 2)


def test_an_ik_failure_truncates_the_chunk_or_refuses_it_never_jumps(converter):
    measured, targets = expert_like_trajectory(converter)
    tool = converter.tool_actions(targets[:8])
    unreachable = tool.copy()
    unreachable[3:, :3] = (2.0, 0.0, 0.5)  # 2 m away: beyond the arm's reach
    before = converter.truncations
    joints = converter.joint_actions(unreachable, measured[0])
    assert joints.shape == (3, 7) and converter.truncations == before + 1
    np.testing.assert_allclose(joints[:, :6], targets[:3, :6], atol=5e-3)
    # reachable but far: IK from the previous row would swing the arm across the workspace
    far = tool.copy()
    far[2:, :3] = (-0.35, -0.3, 0.3)
    joints = converter.joint_actions(far, measured[0])
    assert len(joints) == 2
    steps = np.abs(np.diff(np.vstack([measured[0], joints[:, :6]]), axis=0))
    assert steps.max() <= converter.max_joint_step_rad
    with pytest.raises(ToolPoseIkError, match="no chunk"):
        converter.joint_actions(unreachable[3:], measured[0])
    with pytest.raises(ValueError, match="finite"):
        converter.joint_actions(np.full((2, 6), np.nan), measured[0])


def test_config_round_trip_and_old_configs_default_to_joints(tmp_path):
    config = tool_config(arm_spec(), tool_yaw_symmetry=2)
    assert config.net_action_dim == 6 and config.net_state_dim == 11
    data = json.loads(json.dumps(config.to_dict()))
    assert VlaConfig.from_dict(data) == config
    for key in ("action_representation", "robot_config", "tool_yaw_symmetry"):
        del data[key]
    old = VlaConfig.from_dict(data)
    assert old.action_representation == "joints" and old.net_action_dim == 7
    with pytest.raises(ValueError, match="robot_config"):
        tool_config(arm_spec(), robot_config="")
    with pytest.raises(ValueError, match="action_representation"):
        tool_config(arm_spec(), action_representation="cartesian")
    with pytest.raises(ValueError, match="relative_actions"):
        tool_config(arm_spec(), relative_actions=True)


def reachable_checkpoint(directory, converter) -> VlaConfig:
    """Random weights whose output denormalises to small offsets around a reachable top-down
    pose near home, so every row has an IK solution."""
    import torch

    torch.manual_seed(0)
    config = tool_config(arm_spec())
    net = build_net(config)
    q_home = home(converter)
    pose = converter.robot.fk(q_home)
    pose[:3, :3] = top_down_rotation(math.pi)
    centre = np.append(converter.pose_features(pose), 0.02)
    net.action_mean.copy_(torch.as_tensor(centre, dtype=torch.float32))
    net.action_std.copy_(torch.tensor([0.005, 0.005, 0.005, 0.01, 0.01, 0.01]))
    net.state_mean[:6] = torch.as_tensor(q_home, dtype=torch.float32)
    save_checkpoint(net, config, directory)
    export_onnx(directory)
    return config


def arm_observation(spec, converter, seed=0) -> Observation:
    base = observation(spec, seed=seed)
    rng = np.random.default_rng(seed)
    return Observation(
        images=base.images,
        joint_names=ARM,
        joint_positions=home(converter) + rng.normal(0.0, 0.01, 6),
        instruction="pick up the red cube",
        stamp_s=3.0,
    )


def test_tool_pose_policy_gives_joint_chunks_alike_in_torch_and_onnx(tmp_path, converter, encoder):
    config = reachable_checkpoint(tmp_path, converter)
    assert read_config(tmp_path) == config
    _, net = load_checkpoint(tmp_path)
    torch_rt, onnx_rt = TorchRuntime(net, num_threads=1), OnnxRuntime(tmp_path / "model.onnx")
    inputs = example_inputs(config, seed=1)
    assert inputs["state"].shape == (1, 11) and inputs["noise"].shape == (1, 6, 6)
    np.testing.assert_allclose(onnx_rt.run(inputs), torch_rt.run(inputs), atol=1e-4, rtol=1e-4)
    by_torch = VlaPolicy(config, torch_rt, text_encoder=encoder, seed=2)
    by_onnx = VlaPolicy(config, onnx_rt, text_encoder=encoder, seed=2)
    obs = arm_observation(config.spec, converter)
    chunk = by_torch.infer(obs)
    assert chunk.actions.shape == (6, 7) and chunk.action_space is ActionSpace.JOINT_POSITION
    np.testing.assert_allclose(by_onnx.infer(obs).actions, chunk.actions, atol=1e-3)
    # the joint rows reach the network's tool poses
    tool = torch_rt.run(by_torch.prepare(obs, None) | {"noise": _noise(config, seed=2)})[0]
    for row, joints in zip(tool, chunk.actions, strict=True):
        reached = converter.robot.fk(joints[:6])
        np.testing.assert_allclose(reached[:3, 3], row[:3], atol=2e-3)
    assert np.abs(chunk.actions[:, :6] - obs.joint_positions).max() < 0.5
    # a committed prefix is returned exactly; IK continues from it
    prefix = chunk.actions[:2] + 0.001
    continued = by_torch.infer_with_prefix(obs, prefix)
    np.testing.assert_array_equal(continued.actions[:2], prefix)
    assert len(continued.actions) == 6
    # the embedded backend builds the same policy
    policy = make_policy(
        "embedded",
        {"checkpoint_dir": str(tmp_path), "runtime": "onnx", "seed": 2, "num_threads": 1},
        text_encoder=encoder,
    )
    np.testing.assert_allclose(policy.infer(obs).actions, chunk.actions, atol=1e-3)


def _noise(config, seed):
    rng = np.random.default_rng(seed)
    shape = (1, config.spec.chunk_length, config.net_action_dim)
    return rng.standard_normal(shape).astype(np.float32)


def test_an_unreachable_prediction_raises_instead_of_moving(tmp_path, converter, encoder):
    import torch

    config = tool_config(arm_spec())
    net = build_net(config)
    net.action_mean.copy_(torch.tensor([3.0, 0.0, 0.5, 0.0, 1.0, 0.0]))  # 3 m away
    net.action_std.fill_(1e-3)
    save_checkpoint(net, config, tmp_path)
    policy = VlaPolicy(config, TorchRuntime(net, num_threads=1), text_encoder=encoder)
    with pytest.raises(ToolPoseIkError):
        policy.infer(arm_observation(config.spec, converter))


def tool_episodes(converter) -> list[Episode]:
    episodes = []
    for k, text in enumerate(["pick up the red cube", "pick up the blue cube"]):
        measured, targets = expert_like_trajectory(converter, steps=16, seed=k)
        images = np.zeros((len(targets), 32, 32, 3), dtype=np.uint8)
        images[..., 2 * k] = 200
        episodes.append(
            Episode(
                images={"front": images},
                joint_positions=measured,
                actions=targets,
                instruction=text,
            )
        )
    return episodes


def test_training_on_tool_poses_saves_and_deploys(tmp_path, converter, encoder):
    spec = arm_spec(chunk_length=4)
    episodes = tool_episodes(converter)
    config = tool_config(spec)
    states, actions = network_arrays(ChunkDataset(episodes, spec), config)
    assert states[0].shape == (16, 11) and actions[0].shape == (16, 6)
    np.testing.assert_allclose(actions[0], converter.tool_actions(episodes[0].actions))
    settings = TrainConfig(steps=6, batch_size=4, progress=False, num_threads=1)
    result = train(episodes, config, settings, tmp_path, text_encoder=encoder)
    assert len(result.losses) == 6 and np.all(np.isfinite(result.losses))
    saved, net = load_checkpoint(tmp_path)
    assert saved.action_representation == "tool_pose" and saved.robot_config
    # normalisation statistics are over the tool-pose targets and the extended state
    all_actions = np.concatenate(actions)
    np.testing.assert_allclose(net.action_mean.numpy(), all_actions.mean(axis=0), atol=1e-5)
    assert net.state_mean.shape == (11,)
    export_onnx(tmp_path)
    inputs = example_inputs(saved, seed=4)
    np.testing.assert_allclose(
        OnnxRuntime(tmp_path / "model.onnx").run(inputs),
        TorchRuntime(net, num_threads=1).run(inputs),
        atol=1e-4,
        rtol=1e-4,
    )


class _RefusingOnce:
    """A policy whose first inference is refused (ToolPoseIkError), later ones give a chunk."""

    def __init__(self, spec: PolicySpec, chunk_rows: np.ndarray) -> None:
        self.spec = spec
        self.rows = chunk_rows
        self.calls = 0

    def reset(self) -> None:
        self.calls = 0

    def infer(self, obs: Observation):
        from vla_ros.core.policy import ActionChunk

        self.calls += 1
        if self.calls == 1:
            raise ToolPoseIkError("no IK solution near the measured joints; no chunk")
        return ActionChunk(self.rows, ActionSpace.JOINT_POSITION, 0.1, obs.stamp_s)


class _StillEnv:
    time_s = 0.0

    def render(self, with_depth: bool = False):
        return np.zeros((32, 32, 3), dtype=np.uint8), None


def test_the_closed_loop_holds_on_a_refused_chunk_and_asks_again(converter):
    from vla_ros.core.chunking import ChunkSchedulerConfig
    from vla_ros.core.policy.closed_loop import ChunkedSimPolicy

    spec = arm_spec()
    measured = np.append(home(converter), 0.03)
    rows = np.tile(np.append(home(converter) + 0.01, 0.0), (6, 1))
    env = _StillEnv()
    policy = _RefusingOnce(spec, rows)
    loop = ChunkedSimPolicy(
        policy, env, ChunkSchedulerConfig(control_rate_hz=10.0), simulated_latency_s=0.0
    )
    arm, gripper = loop.act(measured, None)
    assert loop.refused_chunks == 1 and policy.calls == 1
    np.testing.assert_array_equal(arm, measured[:6])  # held the measured posture
    assert gripper == pytest.approx(0.03)
    env.time_s = 0.1
    arm, _ = loop.act(measured, None)
    assert policy.calls == 2 and loop.refused_chunks == 1
    assert not np.allclose(arm, measured[:6])  # the next chunk is played


def test_a_joints_checkpoint_warm_starts_a_tool_pose_network(tmp_path):
    """The shared encoder carries over, the state layer keeps its joint columns and reads the
    appended tool-pose features at zero weight, so the context is the old network's; only the
    action head's input and output layers (another action representation) start fresh."""
    import torch

    from vla_ros.core.policy.vla_model import warm_start

    spec = arm_spec(chunk_length=4)
    torch.manual_seed(0)
    joints_config = tool_config(spec, action_representation="joints", robot_config="")
    old = build_net(joints_config)
    save_checkpoint(old, joints_config, tmp_path / "joints")
    new = build_net(tool_config(spec))
    joints = len(spec.observed_joints)
    new.state_mean[:joints] = old.state_mean
    new.state_std[:joints] = old.state_std
    copied, fresh = warm_start(new, tmp_path / "joints")
    assert "state.0.weight" in copied
    assert set(fresh) == {"action_in.weight", "action_out.weight", "action_out.bias"}
    inputs = {k: torch.as_tensor(v) for k, v in example_inputs(joints_config, seed=1).items()}
    tool_state = torch.cat([inputs["state"], torch.randn(1, new.state_mean.numel() - joints)], 1)
    old.eval()
    new.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            new.encode(inputs["images"], tool_state, inputs["lang"]),
            old.encode(inputs["images"], inputs["state"], inputs["lang"]),
        )
