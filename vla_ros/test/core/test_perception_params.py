"""config/perception.yaml matches the parameters the node declares, and builds valid configs."""

from __future__ import annotations

import pytest
import yaml

from vla_ros.core.params import flatten_parameters
from vla_ros.core.perception.detectors import HogPersonDetector, make_detector
from vla_ros.core.perception.params import (
    NODE_PARAMETERS,
    PERCEPTION_PARAMETERS,
    camera_inputs_from_params,
    camera_parameters,
    config_from_params,
)
from vla_ros.core.resources import resource_path


def test_yaml_keys_are_exactly_the_declared_parameters():
    data = yaml.safe_load(resource_path("config", "perception.yaml").read_text())
    params = flatten_parameters(data["human_detector"]["ros__parameters"])
    cameras = [c for name in params["cameras"] for c in camera_parameters(name)]
    declared = {p.name: p.default for p in (*NODE_PARAMETERS, *PERCEPTION_PARAMETERS, *cameras)}
    assert set(params) - set(declared) == set(), "YAML keys the node does not declare"
    # every declared parameter is documented in the YAML except the optional static boxes
    assert set(declared) - set(params) == {"depth.static_boxes_m"}
    for name, value in params.items():
        default = declared[name]
        assert type(value) is type(default), f"{name}: YAML {value!r} vs default {default!r}"
    perception = {k: v for k, v in params.items() if k in {p.name for p in PERCEPTION_PARAMETERS}}
    config, spec = config_from_params(perception)
    assert spec.backend == "hog"
    assert isinstance(make_detector(spec), HogPersonDetector)
    assert config.depth.volume.shape == "cylinder"


def test_static_boxes_and_bad_values():
    config, _ = config_from_params({"depth.static_boxes_m": [0.2, 0, -0.4, 1.0, 1.2, 0.8]})
    assert len(config.depth.static_boxes) == 1
    assert config.depth.static_boxes[0].size_m == (1.0, 1.2, 0.8)
    with pytest.raises(ValueError, match="6 values"):
        config_from_params({"depth.static_boxes_m": [1.0, 2.0]})
    with pytest.raises(ValueError, match="unknown"):
        config_from_params({"depth.pixel_strid": 2})
    with pytest.raises(ValueError, match="backend"):
        config_from_params({"detector.backend": "yolo"})
    with pytest.raises(ValueError, match="pixel_stride"):
        config_from_params({"depth.pixel_stride": 0})


def _yaml(name: str, node: str) -> dict:
    data = yaml.safe_load(resource_path("config", name).read_text())
    return flatten_parameters(data[node]["ros__parameters"])


def test_perception_yaml_watches_the_sim_cameras_where_the_sim_puts_them():
    """The room camera is calibrated, not in the URDF: perception's extrinsics = the sim's."""
    import numpy as np

    from vla_ros.core.perception.camera import extrinsics_from_xyz_quaternion

    params = _yaml("perception.yaml", "human_detector")
    sim = _yaml("sim.yaml", "sim")
    assert params["cameras"] == ["camera", "room_camera"] and sim["room_camera"] is True
    cameras = camera_inputs_from_params(params["cameras"], params, "camera_optical_frame")
    scene, room = cameras
    assert scene.frame == "camera_optical_frame" and scene.base_from_camera is None
    assert scene.topics == (
        "/camera/color/image_raw",
        "/camera/depth/image_raw",
        "/camera/color/camera_info",
    )
    assert room.topics == (
        "/room_camera/color/image_raw",
        "/room_camera/depth/image_raw",
        "/room_camera/color/camera_info",
    )
    expected = extrinsics_from_xyz_quaternion(
        sim["room_camera_position_m"], sim["room_camera_orientation_xyzw"]
    )
    np.testing.assert_allclose(room.base_from_camera, expected, atol=1e-9)
    assert scene.rgb_detector and not room.rgb_detector


def test_camera_inputs_defaults_and_bad_values():
    (single,) = camera_inputs_from_params(["camera"], {}, "camera_optical_frame")
    assert single.color_topic == "/camera/color/image_raw"
    assert single.frame == "camera_optical_frame" and single.rgb_detector
    fixed = {"cell.pose_source": "parameters", "cell.position_m": [1.0, 2.0, 3.0]}
    _, b = camera_inputs_from_params(["camera", "cell"], fixed, "camera_optical_frame")
    assert b.topics[0] == "/cell/color/image_raw"
    assert b.base_from_camera is not None and b.base_from_camera[:3, 3].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="position_m"):
        camera_inputs_from_params(["cell"], {"cell.pose_source": "parameters"}, "")
    with pytest.raises(ValueError, match="frame"):
        camera_inputs_from_params(["camera"], {}, "")  # robot_model without a frame
    with pytest.raises(ValueError, match="pose_source"):
        camera_inputs_from_params(["camera"], {"camera.pose_source": "tf"}, "f")
    with pytest.raises(ValueError, match="distinct"):
        camera_inputs_from_params(["camera", "camera"], {}, "f")
    with pytest.raises(ValueError, match="at least one"):
        camera_inputs_from_params([], {}, "f")
    with pytest.raises(ValueError, match="camera name"):
        camera_inputs_from_params(["depth"], {}, "f")  # would clash with depth.*
    with pytest.raises(ValueError, match="URDF frame"):
        camera_inputs_from_params(["camera", "other"], {}, "f")  # both on one frame
    with pytest.raises(ValueError, match="own topics"):
        camera_inputs_from_params(
            ["camera", "cell"], {**fixed, "cell.color_topic": "/camera/color/image_raw"}, "f"
        )
