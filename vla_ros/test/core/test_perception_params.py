"""config/perception.yaml matches the parameters the node declares, and builds valid configs."""

from __future__ import annotations

import pytest
import yaml

from vla_ros.core.params import flatten_parameters
from vla_ros.core.perception.detectors import HogPersonDetector, make_detector
from vla_ros.core.perception.params import (
    NODE_PARAMETERS,
    PERCEPTION_PARAMETERS,
    config_from_params,
)
from vla_ros.core.resources import resource_path


def test_yaml_keys_are_exactly_the_declared_parameters():
    data = yaml.safe_load(resource_path("config", "perception.yaml").read_text())
    params = flatten_parameters(data["human_detector"]["ros__parameters"])
    declared = {p.name: p.default for p in (*NODE_PARAMETERS, *PERCEPTION_PARAMETERS)}
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
