"""Grounding targets, ground-truth object poses in recordings, DART noise and extra state."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse

import numpy as np
import pytest

from vla_ros.core.recording import EpisodeWriter, read_episode
from vla_ros.core.sim.tasks import LIFT_HEIGHT_M, PUSH_DISTANCE_M
from vla_ros.core.training.grounding import (
    GROUNDING_DIM,
    TOOL_RELATIVE_GROUNDING_DIM,
    grounding_targets,
    simulator_robot,
    tool_frame_offsets,
)

ARM = [f"joint_{i}" for i in range(1, 7)]


def _objects(steps: int = 3) -> dict[str, np.ndarray]:
    t = np.arange(steps)[:, None]
    return {
        "cube_red": np.array([0.4, -0.1, 0.02]) + t * np.array([0.0, 0.01, 0.0]),
        "cube_blue": np.array([0.5, 0.2, 0.02]) + 0.0 * t,
        "bowl": np.array([0.3, 0.25, 0.0]) + 0.0 * t,
        "plate": np.array([0.6, -0.25, 0.0]) + 0.0 * t,
    }


@pytest.mark.parametrize(
    ("instruction", "goal_of_row"),
    [
        ("pick up the red cube", lambda o, t: o["cube_red"][0] + [0, 0, LIFT_HEIGHT_M]),
        ("put the red cube in the bowl", lambda o, t: o["bowl"][t]),
        ("put the red cube on the plate", lambda o, t: o["plate"][t]),
        ("push the red cube to the left", lambda o, t: o["cube_red"][0] + [0, PUSH_DISTANCE_M, 0]),
        (
            "push the red cube to the right",
            lambda o, t: o["cube_red"][0] - [0, PUSH_DISTANCE_M, 0],
        ),
        ("stack the red cube on the blue cube", lambda o, t: o["cube_blue"][t]),
    ],
)
def test_grounding_targets_name_the_cube_and_the_goal(instruction, goal_of_row):
    objects = _objects()
    targets = grounding_targets(instruction, objects)
    assert targets.shape == (3, GROUNDING_DIM)
    for t in range(3):
        np.testing.assert_allclose(targets[t, :3], objects["cube_red"][t])
        np.testing.assert_allclose(targets[t, 3:], goal_of_row(objects, t))


def test_grounding_targets_refuse_what_they_cannot_ground():
    with pytest.raises(ValueError, match="cube_green"):
        grounding_targets("pick up the green cube", _objects())
    with pytest.raises(ValueError):
        grounding_targets("dance a little", _objects())


def test_tool_frame_offsets_are_where_the_targets_are_seen_from_the_tool():
    """A point placed at a known offset in the tool frame comes back as that offset, whatever
    the posture; turning the wrist turns the offset with it; lengths must match."""
    robot = simulator_robot()
    rng = np.random.default_rng(4)
    postures = rng.uniform(-1.0, 1.0, (5, 6))
    offsets = rng.uniform(-0.1, 0.1, (5, 6))
    targets = np.empty((5, 6))
    for t, q in enumerate(postures):
        pose = robot.fk(q)
        for k in range(2):
            targets[t, 3 * k : 3 * k + 3] = pose[:3, :3] @ offsets[t, 3 * k : 3 * k + 3]
            targets[t, 3 * k : 3 * k + 3] += pose[:3, 3]
    np.testing.assert_allclose(tool_frame_offsets(targets, postures, robot), offsets, atol=1e-9)
    # the same base-frame point seen after turning the last joint by 90 degrees: the offset
    # keeps its length and turns about the tool axis (the last joint's)
    q = np.array([0.0, -0.5, 1.0, 0.0, 0.8, 0.0])
    turned = q + np.array([0, 0, 0, 0, 0, np.pi / 2])
    point = np.tile(robot.fk(q)[:3, 3] + np.array([0.05, 0.0, -0.1]), 2)
    a, b = tool_frame_offsets(np.stack([point, point]), np.stack([q, turned]), robot)
    assert np.isclose(np.linalg.norm(a[:3]), np.linalg.norm(b[:3]))
    assert not np.allclose(a[:3], b[:3], atol=1e-3)
    with pytest.raises(ValueError, match="joint rows"):
        tool_frame_offsets(targets, postures[:4], robot)


def test_sim_recording_carries_object_poses_and_dart_noise_keeps_the_expert_labels(tmp_path):
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path
    from vla_ros.core.sim.expert import ScriptedExpert
    from vla_ros.core.sim.rollout import record_episode, run_episode

    env = SimEnv(SimConfig(image_width_px=32, image_height_px=24))
    expert = ScriptedExpert(RobotModel.from_urdf(default_urdf_path()))
    states = []
    run_episode(env, expert, seed=2, task="pick", on_step=lambda s: states.append(s.state))
    clean = record_episode(env, expert, tmp_path / "clean.mcap", seed=2, task="pick")
    noisy = record_episode(
        env, expert, tmp_path / "noisy.mcap", seed=2, task="pick", action_noise_rad=0.02
    )
    env.close()
    assert clean.success and noisy.success

    episode = read_episode(tmp_path / "clean.mcap")
    colour = clean.info.task.colour
    assert set(episode.object_positions_m) == {f"cube_{c}" for c in clean.info.colours} | {
        "bowl",
        "plate",
    }
    np.testing.assert_allclose(
        episode.object_positions_m[f"cube_{colour}"],
        [s.cube_positions_m[colour] for s in states],
    )
    targets = grounding_targets(episode.instruction, episode.object_positions_m)
    assert targets[-1, 2] > targets[0, 2] + LIFT_HEIGHT_M * 0.8  # the cube was lifted

    perturbed = read_episode(tmp_path / "noisy.mcap")
    assert perturbed.metadata["action_noise_rad"] == "0.02"
    n = min(len(episode.times_s), len(perturbed.times_s))
    # the executed motion differs, by centimetres not metres
    deviation = np.abs(perturbed.joint_positions[:n, :6] - episode.joint_positions[:n, :6])
    assert 0.005 < deviation.max() < 0.3
    # the recorded actions are the expert's own plan, not the perturbed commands: early in
    # the episode they stay closer to the clean run's actions than the perturbed arm does
    k = min(15, n)
    action_gap = np.abs(perturbed.actions[:k, :6] - episode.actions[:k, :6]).mean()
    state_gap = np.abs(perturbed.joint_positions[1:k, :6] - episode.joint_positions[1:k, :6])
    assert action_gap < state_gap.mean()
    with pytest.raises(ValueError, match="action_noise_rad"):
        run_episode(SimEnv(), expert, seed=0, action_noise_rad=-1.0)


def _write(path, instruction, with_objects: bool, rng, wrist: bool = False) -> None:
    from vla_ros.core.recording import TOPIC_WRIST_RGB

    with EpisodeWriter(path, instruction=instruction) as writer:
        q = rng.normal(0.0, 0.2, 6)
        for k in range(10):
            t = 0.1 * k
            q = q + 0.02
            writer.write_joint_state(t, [*ARM, "finger_joint"], np.append(q, 0.04 - 0.003 * k))
            image = np.zeros((24, 32, 3), dtype=np.uint8)
            image[4 + k, 5 + k] = 255
            writer.write_rgb(t + 0.001, image)
            if wrist:
                writer.write_rgb(t + 0.001, image[::-1], topic=TOPIC_WRIST_RGB)
            if with_objects:
                writer.write_object_poses(
                    t + 0.001,
                    {"cube_red": np.array([0.4, 0.01 * k, 0.02]), "bowl": np.zeros(3)},
                )
            writer.write_arm_command(t + 0.002, ARM, q + 0.02, 0.1)
            writer.write_gripper_command(t + 0.002, "finger_joint", 0.04 - 0.004 * k, 0.1)


def _train_args(data, out, *extra):
    from vla_ros.tools import train as train_tool

    parser = argparse.ArgumentParser()
    train_tool.add_arguments(parser)
    return train_tool, parser.parse_args(
        [
            *(str(data), "--out", str(out), "--steps", "3", "--batch-size", "4"),
            *("--image-size", "32", "--chunk-length", "4", "--flow-steps", "2", "--threads", "1"),
            *extra,
        ]
    )


@pytest.mark.slow
def test_training_with_grounding_and_gripper_state_deploys(tmp_path):
    from vla_ros.core.policy import Observation
    from vla_ros.core.policy.backends import make_policy
    from vla_ros.core.policy.vla_model import load_checkpoint

    rng = np.random.default_rng(0)
    _write(tmp_path / "data" / "a.mcap", "put the red cube in the bowl", True, rng)
    _write(tmp_path / "data" / "b.mcap", "pick up the red cube", True, rng)
    tool, args = _train_args(
        tmp_path / "data", tmp_path / "ckpt", "--grounding", "--extra-state-joints", "finger_joint"
    )
    assert tool.run(args) == 0
    config, net = load_checkpoint(tmp_path / "ckpt")
    assert config.aux_dim == GROUNDING_DIM and config.spec.extra_state_joints == ("finger_joint",)
    assert config.net_state_dim == 7
    assert float(net.state_std[6]) > 0.0 and float(net.aux_std.min()) > 0.0
    policy = make_policy("embedded", {"checkpoint_dir": str(tmp_path / "ckpt"), "runtime": "onnx"})
    image = np.zeros((24, 32, 3), dtype=np.uint8)
    names = (*ARM, "finger_joint")
    obs = Observation(
        images={"front": image},
        joint_names=names,
        joint_positions=np.zeros(7),
        instruction="pick up the red cube",
        stamp_s=1.0,
    )
    with_open = policy.infer(obs).actions
    closed = Observation(**{**obs.__dict__, "joint_positions": np.append(np.zeros(6), -0.5)})
    assert with_open.shape == (4, 7) and np.all(np.isfinite(with_open))
    policy.reset()
    assert not np.allclose(policy.infer(closed).actions, with_open)  # the gripper is an input
    without = Observation(
        **{**obs.__dict__, "joint_names": tuple(ARM), "joint_positions": np.zeros(6)}
    )
    with pytest.raises(ValueError, match="finger_joint"):
        policy.infer(without)


def test_training_supervises_wrist_camera_attention(tmp_path):
    """--attention-cameras front wrist trains through the wrist camera's FK projection; a
    camera the model does not have is refused before training starts."""
    from vla_ros.core.policy.vla_model import load_checkpoint

    rng = np.random.default_rng(3)
    _write(tmp_path / "data" / "a.mcap", "put the red cube in the bowl", True, rng, wrist=True)
    common = ("--grounding", "--pooling", "attention", "--attention-weight", "1")
    tool, args = _train_args(
        tmp_path / "data",
        tmp_path / "ckpt",
        *common,
        *("--cameras", "front", "wrist", "--attention-cameras", "front", "wrist"),
    )
    assert tool.run(args) == 0
    config, _ = load_checkpoint(tmp_path / "ckpt")
    assert config.spec.image_keys == ("front", "wrist")
    tool, args = _train_args(
        tmp_path / "data", tmp_path / "other", *common, "--attention-cameras", "wrist"
    )
    with pytest.raises(ValueError, match="not among the model's cameras"):
        tool.run(args)


def test_grounding_needs_recorded_object_poses(tmp_path):
    rng = np.random.default_rng(1)
    _write(tmp_path / "data" / "a.mcap", "pick up the red cube", False, rng)
    tool, args = _train_args(tmp_path / "data", tmp_path / "ckpt", "--grounding")
    with pytest.raises(ValueError, match="object poses"):
        tool.run(args)


def test_training_with_a_grounding_teacher(tmp_path):
    """--grounding-teacher-probability trains (the action head reading the recorded positions
    for that share of samples) and is refused without a grounding head."""
    from vla_ros.core.policy.vla_model import load_checkpoint

    rng = np.random.default_rng(2)
    _write(tmp_path / "data" / "a.mcap", "put the red cube in the bowl", True, rng)
    teacher = ("--grounding-teacher-probability", "0.5")
    tool, args = _train_args(tmp_path / "data", tmp_path / "ckpt", "--grounding", *teacher)
    assert tool.run(args) == 0
    config, _ = load_checkpoint(tmp_path / "ckpt")
    assert config.aux_dim == GROUNDING_DIM
    tool, args = _train_args(tmp_path / "data", tmp_path / "other", *teacher)
    with pytest.raises(ValueError, match="grounding head"):
        tool.run(args)


def test_training_with_tool_relative_grounding_warm_starts_from_base_frame_grounding(tmp_path):
    """--grounding-tool-relative trains a twelve-number grounding head (the base-frame targets
    plus their offsets from the tool), warm-started from a six-number checkpoint; it needs
    --grounding."""
    from vla_ros.core.policy.vla_model import load_checkpoint

    rng = np.random.default_rng(5)
    _write(tmp_path / "data" / "a.mcap", "put the red cube in the bowl", True, rng)
    tool, args = _train_args(tmp_path / "data", tmp_path / "six", "--grounding")
    assert tool.run(args) == 0
    relative = ("--grounding", "--grounding-tool-relative")
    tool, args = _train_args(
        tmp_path / "data", tmp_path / "twelve", *relative, "--warm-start", str(tmp_path / "six")
    )
    assert tool.run(args) == 0
    config, net = load_checkpoint(tmp_path / "twelve")
    assert config.aux_dim == TOOL_RELATIVE_GROUNDING_DIM
    assert tuple(net.aux_std.shape) == (TOOL_RELATIVE_GROUNDING_DIM,)
    assert float(net.aux_std.min()) > 0.0  # the offsets vary as the arm moves
    tool, args = _train_args(tmp_path / "data", tmp_path / "other", "--grounding-tool-relative")
    with pytest.raises(SystemExit, match="needs --grounding"):
        tool.run(args)


def test_warm_start_grows_the_grounding_without_changing_what_the_network_does(tmp_path):
    """A six-number grounding checkpoint warm-starts a twelve-number network: the old outputs
    carry over and the context layer reads the new ones at zero weight, so the action chunk
    is the old network's; the new outputs are live for training."""
    import torch

    from vla_ros.core.policy.vla_model import example_inputs, save_checkpoint, warm_start

    old_config, old = _attention_net(GROUNDING_DIM)
    save_checkpoint(old, old_config, tmp_path / "six")
    _, new = _attention_net(TOOL_RELATIVE_GROUNDING_DIM)
    for name, buffer in old.named_buffers():
        if name not in ("aux_mean", "aux_std"):
            getattr(new, name).copy_(buffer)
    copied, fresh = warm_start(new, tmp_path / "six")
    assert fresh == [] and {"aux_head.2.weight", "context.0.weight"} <= set(copied)
    old.eval()
    new.eval()
    args = {k: torch.as_tensor(v) for k, v in example_inputs(old_config, seed=0).items()}
    with torch.no_grad():
        torch.testing.assert_close(new(**args), old(**args), atol=1e-5, rtol=1e-5)
        _, grounding = new.encode_with_grounding(args["images"], args["state"], args["lang"])
        _, old_grounding = old.encode_with_grounding(args["images"], args["state"], args["lang"])
    torch.testing.assert_close(grounding[:, :GROUNDING_DIM], old_grounding)
    assert float(grounding[:, GROUNDING_DIM:].abs().max()) > 0.0


def _attention_net(aux_dim: int = GROUNDING_DIM, image_keys: tuple[str, ...] = ("front",)):
    import torch
    from policy_testing import tiny_spec

    from vla_ros.core.policy.vla_model import VlaConfig, build_net

    torch.manual_seed(0)
    config = VlaConfig(
        spec=tiny_spec(chunk_length=4, image_keys=image_keys),
        hidden_dim=32,
        cnn_channels=(8, 16),
        flow_steps=2,
        pooling="attention",
        aux_dim=aux_dim,
    )
    return config, build_net(config)


def test_grounding_reads_the_image_and_instruction_not_the_joint_state():
    import torch

    from vla_ros.core.policy.vla_model import example_inputs

    config, net = _attention_net()
    inputs = {k: torch.from_numpy(v) for k, v in example_inputs(config).items()}
    with torch.no_grad():
        _, grounding = net.encode_with_grounding(inputs["images"], inputs["state"], inputs["lang"])
        moved = net.encode_with_grounding(inputs["images"], inputs["state"] + 1.0, inputs["lang"])
        other_text = net.encode_with_grounding(
            inputs["images"], inputs["state"], inputs["lang"] + 1.0
        )
        other_image = net.encode_with_grounding(
            1.0 - inputs["images"], inputs["state"], inputs["lang"]
        )
    torch.testing.assert_close(moved[1], grounding)  # the state cannot leak into it
    assert not torch.allclose(
        moved[0], net.encode(*[inputs[k] for k in ("images", "state", "lang")])
    )
    assert not torch.allclose(other_text[1], grounding)
    assert not torch.allclose(other_image[1], grounding)
    assert net.aux_prediction(grounding).shape == (1, GROUNDING_DIM)


def test_attention_pooling_exports_to_onnx_with_the_same_outputs(tmp_path):
    from vla_ros.core.policy.vla_model import (
        OnnxRuntime,
        TorchRuntime,
        example_inputs,
        export_onnx,
        save_checkpoint,
    )

    config, net = _attention_net()
    save_checkpoint(net, config, tmp_path)
    export_onnx(tmp_path)
    torch_rt, onnx_rt = TorchRuntime(net.eval(), 1), OnnxRuntime(tmp_path / "model.onnx", 1)
    for seed in range(2):
        inputs = example_inputs(config, seed=seed)
        np.testing.assert_allclose(onnx_rt.run(inputs), torch_rt.run(inputs), atol=1e-4)


def test_image_points_put_the_recorded_cube_where_the_camera_sees_it():
    from vla_ros.core.sim.env import SimConfig, SimEnv
    from vla_ros.core.training.grounding import image_points, scene_camera_projection

    env = SimEnv(
        SimConfig(
            image_width_px=128, image_height_px=96, camera_jitter_m=0.0, camera_jitter_rad=0.0
        )
    )
    info = env.reset(4, "pick")
    rgb, _ = env.render(with_depth=False)
    pose, intrinsics = scene_camera_projection()
    np.testing.assert_allclose(pose, env.camera_pose(), atol=1e-6)
    colour = info.task.colour
    points, valid = image_points(env.state_view().cube_positions_m[colour], pose, intrinsics)
    env.close()
    assert valid
    u = int((points[0] + 1.0) / 2.0 * 128)
    v = int((points[1] + 1.0) / 2.0 * 96)
    # the pixel is the cube's colour: its strongest channel differs from the table's
    patch = rgb[v - 1 : v + 2, u - 1 : u + 2].reshape(-1, 3).astype(int)
    table = rgb[90, 5].astype(int)
    assert np.abs(patch - table).sum(axis=1).max() > 60
    _, ok = image_points(np.array([[5.0, 0.0, 0.0]]), pose, intrinsics)  # behind the camera
    assert not ok[0]


def test_attention_loss_is_lowest_where_the_heads_look():
    import torch

    config, net = _attention_net()
    from vla_ros.core.policy.vla_model import example_inputs

    inputs = {k: torch.from_numpy(v) for k, v in example_inputs(config).items()}
    net.encode(inputs["images"], inputs["state"], inputs["lang"])
    log_w = net.vision.attend.last_log_weights[0, 0]
    h, w = log_w.shape
    row, col = divmod(int(torch.argmax(log_w)), w)
    peak = torch.tensor([[[(col + 0.5) / w * 2 - 1, (row + 0.5) / h * 2 - 1]]])
    far = torch.tensor([[[(col + 0.5) / w * 2 - 1 + 1.0, 0.9]]]).clamp(-1, 1)
    ones = torch.ones(1, 1, dtype=torch.bool)
    assert net.attention_loss(peak, ones)[0] <= net.attention_loss(far, ones)[0]
    assert net.attention_loss(peak, torch.zeros(1, 1, dtype=torch.bool))[0] == 0.0


def test_wrist_attention_points_put_the_named_cube_where_the_wrist_camera_sees_it():
    """The wrist camera's projection comes from FK of the arm's joints alone: above the cube
    before the grasp, the cube's projection lands on cube-coloured pixels of the wrist image."""
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path
    from vla_ros.core.sim.expert import ScriptedExpert
    from vla_ros.core.sim.scene import WRIST_CAMERA_NAME
    from vla_ros.core.training.grounding import attention_points

    env = SimEnv(SimConfig(image_width_px=128, image_height_px=96))
    expert = ScriptedExpert(RobotModel.from_urdf(default_urdf_path()))
    info = env.reset(4, "pick")
    expert.reset(info.task)
    for _ in range(200):  # drive to the cube until the fingers start to descend onto it
        if expert.phase == "descend":
            break
        arm, gripper = expert.act(env.joint_state().positions, env.state_view())
        env.command_arm_trajectory(np.array([0.1]), np.asarray(arm)[None, :])
        env.command_gripper(float(gripper))
        for _ in range(10):
            env.step()
    assert expert.phase == "descend"
    q = env.joint_state().positions[:6]
    rgb, _ = env.render(with_depth=False, camera=WRIST_CAMERA_NAME)
    cube = env.state_view().cube_positions_m[info.task.colour]
    env.close()
    points, valid = attention_points("wrist", cube[None, None, :], q[None, :])
    assert points.shape == (1, 1, 2) and valid[0, 0]
    u = int((points[0, 0, 0] + 1.0) / 2.0 * 128)
    v = int((points[0, 0, 1] + 1.0) / 2.0 * 96)
    patch = rgb[v - 1 : v + 2, u - 1 : u + 2].reshape(-1, 3).astype(int)
    table = rgb[2, 2].astype(int)  # a corner of the image: the table seen from above
    assert np.abs(patch - table).sum(axis=1).min() > 60  # every pixel differs from the table
    # the scene camera's projection does not depend on the joints; unknown cameras are refused
    front, _ = attention_points("front", cube[None, None, :], q[None, :] + 1.0)
    again, _ = attention_points("front", cube[None, None, :], q[None, :])
    np.testing.assert_array_equal(front, again)
    with pytest.raises(ValueError, match="no projection"):
        attention_points("room", cube[None, None, :], q[None, :])


def test_attention_loss_supervises_the_camera_it_is_asked_for():
    """camera=c reads the heads of image c: changing the other camera's image leaves it alone."""
    import torch

    from vla_ros.core.policy.vla_model import example_inputs

    config, net = _attention_net(image_keys=("front", "wrist"))
    inputs = {k: torch.from_numpy(v) for k, v in example_inputs(config).items()}
    assert inputs["images"].shape[1] == 2
    point = torch.tensor([[[0.3, -0.2]]])
    ones = torch.ones(1, 1, dtype=torch.bool)

    def losses(images):
        with torch.no_grad():
            net.encode(images, inputs["state"], inputs["lang"])
            return [float(net.attention_loss(point, ones, camera=c)[0]) for c in range(2)]

    base = losses(inputs["images"])
    for changed in range(2):
        images = inputs["images"].clone()
        images[:, changed] = 1.0 - images[:, changed]
        after = losses(images)
        assert after[changed] != pytest.approx(base[changed], abs=1e-6)
        assert after[1 - changed] == pytest.approx(base[1 - changed], abs=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        net.attention_loss(point, ones, camera=2)
