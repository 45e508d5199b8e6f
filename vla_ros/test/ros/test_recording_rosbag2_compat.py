"""A recorded episode is a rosbag2-style MCAP: ros2 profile, ros2msg schemas, CDR messages
that rclpy's own deserializer (what `ros2 bag` uses) turns back into the original messages."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ros


def _message_type(name: str):
    import importlib

    package, _, message = name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), message)


def test_recorded_episode_opens_as_rosbag2_mcap(tmp_path):
    from mcap.reader import make_reader
    from rclpy.serialization import deserialize_message

    from vla_ros import conversions as conv
    from vla_ros.core.robot_model import RobotModel
    from vla_ros.core.sim.env import SimConfig, SimEnv, default_urdf_path
    from vla_ros.core.sim.expert import ScriptedExpert
    from vla_ros.core.sim.rollout import record_episode

    env = SimEnv(SimConfig(image_width_px=32, image_height_px=24))
    expert = ScriptedExpert(RobotModel.from_urdf(default_urdf_path()))
    path = tmp_path / "episode.mcap"
    result = record_episode(env, expert, path, seed=1, task="pick")
    env.close()

    with path.open("rb") as stream:
        reader = make_reader(stream)
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        schemas = {s.id: s for s in summary.schemas.values()}
        channels = summary.channels.values()
        assert all(schemas[c.schema_id].encoding == "ros2msg" for c in channels)
        assert all(c.message_encoding == "cdr" for c in channels)
        counts: dict[str, int] = {}
        first_image = None
        for schema, channel, message in reader.iter_messages():
            msg = deserialize_message(message.data, _message_type(schema.name))
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            if first_image is None and schema.name == "sensor_msgs/msg/Image":
                first_image = conv.image_from_msg(msg)
    assert counts, "no messages"
    assert max(counts.values()) >= result.steps
    assert first_image is not None and first_image.shape[:2] == (24, 32)
    assert np.any(first_image)
