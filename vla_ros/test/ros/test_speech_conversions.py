"""AudioData <-> numpy round trips and malformed-input errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from vla_ros_msgs.msg import AudioData

from vla_ros import conversions as conv

pytestmark = pytest.mark.ros


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=8).flatmap(
        lambda ch: hnp.arrays(np.int16, st.tuples(st.integers(0, 400), st.just(ch)))
    ),
    st.sampled_from([8000, 16000, 44100, 48000]),
    st.floats(min_value=0.0, max_value=2e9, allow_nan=False),
)
def test_audio_round_trip(samples, rate_hz, stamp_s):
    msg = conv.audio_to_msg(samples, rate_hz, stamp_s, frame_id="mic")
    assert msg.channels == samples.shape[1] and msg.sample_rate_hz == rate_hz
    out, out_rate = conv.audio_from_msg(msg)
    assert out_rate == rate_hz
    np.testing.assert_array_equal(out, samples)
    assert conv.stamp_to_seconds(msg.header.stamp) == pytest.approx(stamp_s, abs=1e-6)
    assert msg.header.frame_id == "mic"


def test_mono_vector_becomes_one_channel():
    msg = conv.audio_to_msg(np.array([1, -2, 3], dtype=np.int16), 16000)
    assert msg.channels == 1
    out, _ = conv.audio_from_msg(msg)
    assert out.shape == (3, 1)


@pytest.mark.parametrize(
    ("rate", "channels", "samples", "match"),
    [
        (0, 1, [1, 2], "sample rate"),
        (16000, 0, [1, 2], "channel"),
        (16000, 2, [1, 2, 3], "multiple"),
    ],
)
def test_malformed_audio_is_refused(rate, channels, samples, match):
    msg = AudioData(sample_rate_hz=rate, channels=channels, samples=samples)
    with pytest.raises(ValueError, match=match):
        conv.audio_from_msg(msg)


def test_audio_to_msg_refuses_wrong_dtype_and_rate():
    with pytest.raises(ValueError, match="int16"):
        conv.audio_to_msg(np.zeros(4, dtype=np.float32), 16000)
    with pytest.raises(ValueError, match="sample rate"):
        conv.audio_to_msg(np.zeros(4, dtype=np.int16), 0)
