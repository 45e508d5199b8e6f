"""An expert episode recorded as rosbag2-compatible MCAP reads back as aligned training arrays."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest

from vla_ros.core.recording import EpisodeWriter, read_episode
from vla_ros.core.robot_model import RobotModel
from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path
from vla_ros.core.sim.expert import ScriptedExpert
from vla_ros.core.sim.rollout import run_episode


def test_recorded_expert_episode_reads_back_aligned(tmp_path):
    from vla_ros.core.sim.rollout import record_episode

    env = SimEnv(SimConfig(image_width_px=64, image_height_px=48))
    expert = ScriptedExpert(RobotModel.from_urdf(default_urdf_path()))
    steps = []
    # the same seeded episode without recording, to know what the recording must contain
    reference = run_episode(env, expert, seed=2, task="pick", render=True, on_step=steps.append)
    path = tmp_path / "episode.mcap"
    result = record_episode(env, expert, path, seed=2, task="pick")
    env.close()
    assert result.success and reference.success and result.steps == reference.steps

    episode = read_episode(path)
    assert episode.instruction == result.info.task.instruction
    assert episode.metadata["success"] == "True" and episode.metadata["seed"] == "2"
    n = result.steps
    assert episode.rgb.shape == (n, 48, 64, 3) and episode.rgb.dtype == np.uint8
    assert episode.depth_m is not None and episode.depth_m.shape == (n, 48, 64)
    assert episode.joint_positions.shape == (n, 7) and episode.actions.shape == (n, 7)
    assert episode.action_names[-1] == "finger_joint"
    np.testing.assert_allclose(np.diff(episode.times_s), 0.1, atol=1e-6)
    # the physics is deterministic: the recording holds exactly the reference rollout
    np.testing.assert_allclose(episode.joint_positions, [s.joint_positions for s in steps])
    np.testing.assert_allclose(episode.actions[:, :6], [s.arm_action for s in steps])
    np.testing.assert_allclose(episode.actions[:, 6], [s.gripper_action_m for s in steps])
    np.testing.assert_array_equal(episode.rgb[-1], steps[-1].rgb)
    np.testing.assert_allclose(episode.depth_m[3], steps[3].depth_m)
    # the gripper closes during the episode and the cube ends up lifted
    assert episode.actions[0, 6] > 0.03 and episode.actions[-1, 6] < 0.01


def test_wrist_camera_frames_are_recorded_and_train_a_two_camera_spec(tmp_path):
    from vla_ros.core.recording import TOPIC_WRIST_RGB
    from vla_ros.core.sim.rollout import record_episode
    from vla_ros.core.training.recorded import episode_from_recording, spec_for_recording

    env = SimEnv(SimConfig(image_width_px=64, image_height_px=48))
    expert = ScriptedExpert(RobotModel.from_urdf(default_urdf_path()))
    steps = []
    run_episode(env, expert, seed=4, task="pick", render=True, render_wrist=True,
                on_step=steps.append)  # fmt: skip
    path = tmp_path / "wrist.mcap"
    result = record_episode(env, expert, path, seed=4, task="pick", wrist_camera=True)
    plain = record_episode(env, expert, tmp_path / "plain.mcap", seed=4, task="pick")
    env.close()
    episode = read_episode(path)
    assert episode.wrist_rgb is not None and episode.wrist_rgb.shape == (result.steps, 48, 64, 3)
    np.testing.assert_array_equal(episode.wrist_rgb, [s.wrist_rgb for s in steps])
    np.testing.assert_array_equal(episode.rgb, [s.rgb for s in steps])
    assert not np.array_equal(episode.wrist_rgb, episode.rgb)
    assert read_episode(tmp_path / "plain.mcap").wrist_rgb is None and plain.success

    spec = spec_for_recording(episode, image_size=(48, 64), cameras=("front", "wrist"))
    training = episode_from_recording(episode, spec)
    assert spec.image_keys == ("front", "wrist")
    assert (
        training.images["wrist"] is episode.wrist_rgb and training.images["front"] is episode.rgb
    )
    with pytest.raises(ValueError, match="wrist camera"):
        episode_from_recording(read_episode(tmp_path / "plain.mcap"), spec)
    with (
        EpisodeWriter(tmp_path / "bad.mcap", instruction="x") as writer,
        pytest.raises(ValueError, match="colour camera topic"),
    ):
        writer.write_rgb(0.0, steps[0].rgb, topic="/joint_states")
    assert TOPIC_WRIST_RGB == "/wrist_camera/color/image_raw"


def test_reader_aligns_unevenly_timed_streams(tmp_path):
    path = tmp_path / "uneven.mcap"
    names = ("joint_1", "finger_joint")
    with EpisodeWriter(path, instruction="pick up the red cube") as writer:
        for k in range(30):  # joint states at 100 Hz
            t = 0.01 * k
            writer.write_joint_state(t, names, np.array([t, 0.04]))
        for i, t in enumerate((0.0, 0.1, 0.2)):  # frames at 10 Hz
            writer.write_rgb(t + 0.005, np.full((4, 5, 3), i, dtype=np.uint8))
        # commands: one late in frame 0's interval, none during frame 1, two in frame 2
        writer.write_arm_command(0.09, ["joint_1"], np.array([1.0]), 0.1)
        writer.write_arm_command(0.21, ["joint_1"], np.array([2.0]), 0.1)
        writer.write_arm_command(0.25, ["joint_1"], np.array([3.0]), 0.1)
        writer.write_gripper_command(0.1, "finger_joint", 0.0, 0.1)
    episode = read_episode(path)
    assert episode.instruction == "pick up the red cube"
    np.testing.assert_allclose(episode.joint_positions[:, 0], [0.0, 0.1, 0.2])  # at or before
    np.testing.assert_allclose(episode.actions[:, 0], [1.0, 1.0, 3.0])  # held through frame 1
    np.testing.assert_allclose(episode.actions[:, 1], [0.0, 0.0, 0.0])
    assert [int(episode.rgb[i, 0, 0, 0]) for i in range(3)] == [0, 1, 2]
    assert episode.depth_m is None


def test_writer_rejects_bad_input(tmp_path):
    with EpisodeWriter(tmp_path / "bad.mcap", instruction="x") as writer:
        with pytest.raises(ValueError):
            writer.write_rgb(0.0, np.zeros((4, 5), dtype=np.uint8))
        with pytest.raises(ValueError):
            writer.write_joint_state(-1.0, ["a"], np.zeros(1))
    with pytest.raises(ValueError):
        read_episode(tmp_path / "bad.mcap")  # no frames to align on


def test_expert_dataset_is_one_mcap_per_successful_episode(tmp_path):
    from vla_ros.core.sim.rollout import record_expert_dataset

    results = record_expert_dataset(
        tmp_path,
        episodes_per_family=1,
        families=("push",),
        first_seed=3,
        config=SimConfig(image_width_px=32, image_height_px=24),
    )
    assert [p.name for p, _ in results] == ["push_00003.mcap"]
    path, result = results[0]
    assert result.success and path.is_file()
    episode = read_episode(path)
    assert episode.instruction.startswith("push the ") and episode.rgb.shape[1:] == (24, 32, 3)


class _HoldStill:
    """A learner that never moves: the expert must start the task over after the handover."""

    def reset(self, task):
        self.q = None

    def act(self, joint_positions, state):
        if self.q is None:
            self.q = np.asarray(joint_positions[:6], dtype=float).copy()
        return self.q.copy(), 0.04


@pytest.mark.parametrize(
    ("learner_kind", "handover_s", "resumed_phase"),
    [("expert", 3.0, "lift"), ("still", 1.5, "above_cube")],
)
def test_handover_records_only_the_experts_recovery(
    tmp_path, learner_kind, handover_s, resumed_phase
):
    from vla_ros.core.sim.rollout import HandoverPolicy, record_episode

    env = SimEnv(SimConfig(image_width_px=64, image_height_px=48))
    robot = RobotModel.from_urdf(default_urdf_path())
    learner = ScriptedExpert(robot) if learner_kind == "expert" else _HoldStill()
    expert = ScriptedExpert(robot)
    policy = HandoverPolicy(learner, expert, handover_s)
    phases = []
    original_resume = expert.resume

    def resume(task, q, state):
        original_resume(task, q, state)
        phases.append(expert.phase)

    expert.resume = resume
    path = tmp_path / "handover.mcap"
    result = record_episode(
        env,
        policy,
        path,
        seed=7,
        task="stack",
        keep_step=lambda _step: policy.handed_over,
        metadata={"handover_s": f"{handover_s:.3f}"},
    )
    env.close()
    # a learner interrupted while carrying the cube goes on from the lift; one that never
    # moved has the expert start over; both finish the task
    assert phases == [resumed_phase] and result.success
    episode = read_episode(path)
    assert episode.metadata["handover_s"] == f"{handover_s:.3f}"
    assert episode.times_s[0] >= handover_s - 1e-6
    assert episode.actions.shape[0] == result.steps - round(handover_s / 0.1)
    assert episode.instruction == result.info.task.instruction


def test_handover_rejects_a_bad_time():
    from vla_ros.core.sim.rollout import HandoverPolicy

    robot = RobotModel.from_urdf(default_urdf_path())
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="handover_s"):
            HandoverPolicy(_HoldStill(), ScriptedExpert(robot), bad)


def test_dagger_learner_hears_training_paraphrases_when_asked():
    """`record --handover-from ... --learner-paraphrase-probability P`: the shipped VLA as the
    learner hears seeded training paraphrases (never a held-out wording), or only the
    canonical instruction with P = 0."""
    from vla_ros.core.resources import resource_path
    from vla_ros.core.sim.tasks import TaskSpec
    from vla_ros.core.training.paraphrase import paraphrases
    from vla_ros.tools.record import _learner

    checkpoint = str(resource_path("models", "vla_sim"))
    task = TaskSpec("stack", "red", base_colour="blue")
    canonical = _learner(checkpoint, None, 0.1, 0.0, seed=3)
    assert {canonical.instruction_fn(task) for _ in range(20)} == {task.instruction}
    heard = [_learner(checkpoint, None, 0.1, 1.0, seed=3).instruction_fn(task) for _ in range(2)]
    assert heard[0] == heard[1]  # seeded
    learner = _learner(checkpoint, None, 0.1, 1.0, seed=3)
    wordings = {learner.instruction_fn(task) for _ in range(40)}
    assert len(wordings) > 10 and wordings <= set(paraphrases(task.instruction))
    assert not wordings & set(paraphrases(task.instruction, held_out=True))
