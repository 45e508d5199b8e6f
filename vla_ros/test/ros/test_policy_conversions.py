"""Round trips and bad input for the policy node's conversions (instruction, twist, status,
path marker)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from visualization_msgs.msg import Marker
from vla_ros_msgs.msg import Instruction

from vla_ros import conversions as conv
from vla_ros.core.policy.session import PolicyState, PolicyStatusReport

pytestmark = pytest.mark.ros

finite = st.floats(-1e3, 1e3, allow_nan=False)


@given(st.text(max_size=40), st.text(max_size=10), st.floats(0.0, 1e9), st.floats(0.0, 1.0))
@settings(max_examples=50)
def test_instruction_round_trip(text, instruction_id, stamp_s, confidence):
    msg = conv.instruction_to_msg(
        text, instruction_id, stamp_s, Instruction.SOURCE_VOICE, confidence
    )
    out_text, out_id, out_stamp = conv.instruction_from_msg(msg)
    assert out_text == text.strip() and out_id == instruction_id
    assert out_stamp == pytest.approx(stamp_s, abs=1e-6)


@pytest.mark.parametrize(
    "field, value", [("confidence", 1.5), ("confidence", math.nan), ("source", 7)]
)
def test_instruction_rejects_bad_fields(field, value):
    msg = conv.instruction_to_msg("pick", "a")
    setattr(msg, field, value)
    with pytest.raises(ValueError):
        conv.instruction_from_msg(msg)


@given(st.lists(finite, min_size=6, max_size=6), st.floats(0.0, 1e9))
@settings(max_examples=50)
def test_twist_round_trip(values, stamp_s):
    msg = conv.twist_stamped_to_msg(values, stamp_s, "base_link")
    twist, stamp, frame = conv.twist_stamped_from_msg(msg)
    np.testing.assert_allclose(twist, values)
    assert frame == "base_link" and stamp == pytest.approx(stamp_s, abs=1e-6)


def test_twist_rejects_bad_input():
    with pytest.raises(ValueError, match="6 values"):
        conv.twist_stamped_to_msg([0.0] * 5, 0.0, "base_link")
    msg = conv.twist_stamped_to_msg([0.0] * 6, 0.0, "base_link")
    msg.twist.angular.z = math.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        conv.twist_stamped_from_msg(msg)


def report(**changes):
    base = dict(
        stamp_s=12.5,
        state=PolicyState.RUNNING,
        backend="embedded",
        instruction_id="a",
        instruction_text="could you grasp the red cube for me",
        instruction_matched="can you grab the red cube",
        inference_latency_last_ms=12.0,
        inference_latency_p50_ms=10.0,
        inference_latency_p99_ms=30.0,
        chunk_age_s=0.2,
        chunk_length=16,
        actions_remaining=7,
        chunks_received=42,
        underruns=3,
        observations_dropped=5,
        inference_errors=1,
        control_rate_hz=49.9,
        inference_rate_hz=3.1,
    )
    return PolicyStatusReport(**{**base, **changes})


def test_policy_status_round_trip():
    original = report()
    assert conv.policy_status_from_msg(conv.policy_status_to_msg(original)) == original
    nan_latency = conv.policy_status_to_msg(report(inference_latency_p99_ms=math.nan))
    assert nan_latency.inference_latency_p99_ms == 0.0
    bad = conv.policy_status_to_msg(original)
    bad.state = 9
    with pytest.raises(ValueError, match="policy state"):
        conv.policy_status_from_msg(bad)


def test_path_marker_round_trip():
    points = np.random.default_rng(0).normal(size=(12, 3))
    msg = conv.path_marker_to_msg(points, 3.0, "base_link")
    assert msg.type == Marker.LINE_STRIP and msg.header.frame_id == "base_link"
    np.testing.assert_allclose(conv.path_marker_from_msg(msg), points)
    with pytest.raises(ValueError, match="finite"):
        conv.path_marker_to_msg(np.full((2, 3), np.nan), 0.0, "base_link")
    msg.type = Marker.SPHERE
    with pytest.raises(ValueError, match="LINE_STRIP"):
        conv.path_marker_from_msg(msg)
