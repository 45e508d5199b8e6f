"""Round trips and malformed-input errors for every x_from_msg / x_to_msg pair."""

from __future__ import annotations

import array
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vla_ros import conversions as conv

RNG = np.random.default_rng(0)

COLOUR = ["rgb8", "bgr8", "rgba8", "bgra8"]
ALL_ENCODINGS = list(conv.IMAGE_ENCODINGS)


def random_image(encoding: str, height: int = 7, width: int = 5) -> np.ndarray:
    dtype, channels = conv.IMAGE_ENCODINGS[encoding]
    shape = (height, width) if channels == 1 else (height, width, channels)
    if dtype == np.float32:
        return RNG.uniform(0.1, 5.0, size=shape).astype(np.float32)
    return RNG.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)


# ----------------------------------------------------------------------------- stamps


@given(st.floats(min_value=0.0, max_value=4e9, allow_nan=False))
def test_stamp_round_trip(seconds):
    stamp = conv.seconds_to_stamp(seconds)
    assert 0 <= stamp.nanosec < 1_000_000_000
    assert conv.stamp_to_seconds(stamp) == pytest.approx(seconds, abs=1e-6)


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_duration_round_trip(seconds):
    duration = conv.seconds_to_duration(seconds)
    assert 0 <= duration.nanosec < 1_000_000_000
    assert conv.duration_to_seconds(duration) == pytest.approx(seconds, abs=1e-8)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_stamp_rejects_bad_seconds(bad):
    with pytest.raises(ValueError, match="stamp"):
        conv.seconds_to_stamp(bad)


def test_header_carries_frame():
    header = conv.make_header(12.5, "base_link")
    assert header.frame_id == "base_link"
    assert conv.stamp_to_seconds(header.stamp) == 12.5


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize("encoding", ALL_ENCODINGS)
def test_image_round_trip(encoding):
    image = random_image(encoding)
    msg = conv.image_to_msg(image, encoding, stamp_s=3.25, frame_id="camera")
    assert msg.step == image.shape[1] * image.itemsize * (1 if image.ndim == 2 else image.shape[2])
    back = conv.image_from_msg(msg)
    assert back.dtype == image.dtype
    np.testing.assert_array_equal(back, image)
    assert msg.header.frame_id == "camera"
    assert conv.stamp_to_seconds(msg.header.stamp) == 3.25


@pytest.mark.parametrize("encoding", ALL_ENCODINGS)
def test_image_round_trip_survives_serialization(encoding):
    from rclpy.serialization import deserialize_message, serialize_message

    image = random_image(encoding, 11, 13)
    msg = deserialize_message(serialize_message(conv.image_to_msg(image, encoding)), Image)
    np.testing.assert_array_equal(conv.image_from_msg(msg), image)


@pytest.mark.parametrize("encoding", ALL_ENCODINGS)
def test_image_from_msg_honours_step_padding(encoding):
    image = random_image(encoding, 6, 4)
    row_bytes = image[0].nbytes
    step = row_bytes + 7  # odd padding, also breaks element alignment for 16/32-bit data
    padded = np.full((6, step), 0xAB, dtype=np.uint8)
    padded[:, :row_bytes] = image.reshape(6, -1).view(np.uint8)
    msg = Image(height=6, width=4, encoding=encoding, step=step, is_bigendian=0)
    msg.data = array.array("B", padded.tobytes())
    np.testing.assert_array_equal(conv.image_from_msg(msg), image)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "32FC1"])
def test_image_from_msg_honours_big_endian(encoding):
    image = random_image(encoding, 5, 3)
    msg = Image(height=5, width=3, encoding=encoding, step=image[0].nbytes, is_bigendian=1)
    msg.data = array.array("B", image.astype(image.dtype.newbyteorder(">")).tobytes())
    back = conv.image_from_msg(msg)
    np.testing.assert_array_equal(back, image)
    assert back.dtype.isnative


@pytest.mark.parametrize("encoding", [*COLOUR, "mono8"])
def test_rgb_from_msg_gives_rgb(encoding):
    rgb = random_image("rgb8", 4, 4)
    if encoding == "rgb8":
        stored = rgb
    elif encoding == "bgr8":
        stored = rgb[:, :, ::-1]
    elif encoding == "rgba8":
        stored = np.dstack([rgb, np.full((4, 4), 255, np.uint8)])
    elif encoding == "bgra8":
        stored = np.dstack([rgb[:, :, ::-1], np.full((4, 4), 255, np.uint8)])
    else:
        stored = rgb[:, :, 0]
        rgb = np.repeat(stored[:, :, None], 3, axis=2)
    out = conv.rgb_from_msg(conv.image_to_msg(np.ascontiguousarray(stored), encoding))
    np.testing.assert_array_equal(out, rgb)


def test_rgb_from_msg_rejects_depth():
    with pytest.raises(ValueError, match="not a colour image"):
        conv.rgb_from_msg(conv.image_to_msg(random_image("32FC1"), "32FC1"))


def test_image_errors_are_specific():
    good = conv.image_to_msg(random_image("rgb8", 4, 4), "rgb8")
    unknown = Image(height=4, width=4, encoding="yuv422", step=8, data=bytes(32))
    with pytest.raises(ValueError, match="unsupported image encoding 'yuv422'"):
        conv.image_from_msg(unknown)
    short = Image(height=4, width=4, encoding="rgb8", step=12)
    short.data = array.array("B", bytes(good.data)[:-1])
    with pytest.raises(ValueError, match="too short"):
        conv.image_from_msg(short)
    narrow = Image(height=4, width=4, encoding="rgb8", step=11, data=good.data)
    with pytest.raises(ValueError, match="step 11 is smaller"):
        conv.image_from_msg(narrow)
    with pytest.raises(ValueError, match="no pixels"):
        conv.image_from_msg(Image(height=0, width=4, encoding="rgb8", step=12))
    with pytest.raises(ValueError, match="dtype"):
        conv.image_to_msg(np.zeros((2, 2, 3), np.float32), "rgb8")
    with pytest.raises(ValueError, match="does not fit"):
        conv.image_to_msg(np.zeros((2, 2), np.uint8), "rgb8")


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=9)),
    st.integers(0, 5),
)
def test_image_property_round_trip_with_padding(image, pad):
    if image.shape[2] not in (3, 4):
        image = np.ascontiguousarray(np.repeat(image[:, :, :1], 3, axis=2))
    encoding = "rgb8" if image.shape[2] == 3 else "rgba8"
    height, width, channels = image.shape
    step = width * channels + pad
    buf = np.zeros((height, step), np.uint8)
    buf[:, : width * channels] = image.reshape(height, -1)
    msg = Image(height=height, width=width, encoding=encoding, step=step)
    msg.data = array.array("B", buf.tobytes())
    np.testing.assert_array_equal(conv.image_from_msg(msg), image)


# ----------------------------------------------------------------------------- depth


def test_depth_round_trip_32fc1_and_16uc1():
    depth = RNG.uniform(0.2, 4.0, size=(6, 8)).astype(np.float32)
    depth[0, 0] = np.nan
    back = conv.depth_from_msg(conv.depth_to_msg(depth, "32FC1"))
    np.testing.assert_array_equal(np.isnan(back), np.isnan(depth))
    np.testing.assert_allclose(back[~np.isnan(back)], depth[~np.isnan(depth)])
    mm = conv.depth_to_msg(depth, "16UC1")
    assert mm.encoding == "16UC1"
    assert conv.image_from_msg(mm)[0, 0] == 0  # invalid -> 0 mm, the driver convention
    back = conv.depth_from_msg(mm)
    assert np.isnan(back[0, 0])
    np.testing.assert_allclose(back[1:], depth[1:], atol=0.0005 + 1e-6)


def test_depth_invalid_values_become_nan():
    depth = np.array([[1.0, 0.0], [-2.0, np.inf]], np.float32)
    back = conv.depth_from_msg(conv.image_to_msg(depth, "32FC1"))
    assert back[0, 0] == 1.0
    assert np.isnan(back[0, 1]) and np.isnan(back[1, 0]) and np.isnan(back[1, 1])


def test_depth_rejects_colour_and_bad_encoding():
    with pytest.raises(ValueError, match="not a depth encoding"):
        conv.depth_from_msg(conv.image_to_msg(random_image("rgb8"), "rgb8"))
    with pytest.raises(ValueError, match="32FC1 or 16UC1"):
        conv.depth_to_msg(np.ones((2, 2), np.float32), "mono8")


# ----------------------------------------------------------------------------- compressed


def test_compressed_png_round_trip_is_lossless():
    rgb = random_image("rgb8", 16, 24)
    msg = conv.compressed_image_to_msg(rgb, "png")
    assert isinstance(msg, CompressedImage)
    assert msg.format.endswith("png")
    np.testing.assert_array_equal(conv.compressed_image_from_msg(msg), rgb)
    mono = random_image("mono8", 9, 9)
    np.testing.assert_array_equal(
        conv.compressed_image_from_msg(conv.compressed_image_to_msg(mono, "png")), mono
    )


def test_compressed_jpeg_round_trip_is_close():
    yy, xx = np.mgrid[0:48, 0:64]
    rgb = np.dstack([xx * 4, yy * 5, (xx + yy) * 2]).astype(np.uint8)  # smooth: jpeg-friendly
    back = conv.compressed_image_from_msg(conv.compressed_image_to_msg(rgb, "jpeg"))
    assert back.shape == rgb.shape
    assert np.abs(back.astype(int) - rgb.astype(int)).mean() < 3.0
    # channel order survives (a red image stays red)
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    assert conv.compressed_image_from_msg(conv.compressed_image_to_msg(red, "jpeg"))[8, 8, 0] > 200


def test_compressed_errors():
    with pytest.raises(ValueError, match="unsupported compressed image format"):
        conv.compressed_image_from_msg(CompressedImage(format="tiff", data=bytes(4)))
    with pytest.raises(ValueError, match="no data"):
        conv.compressed_image_from_msg(CompressedImage(format="jpeg"))
    with pytest.raises(ValueError, match="could not be decoded"):
        conv.compressed_image_from_msg(CompressedImage(format="png", data=b"not a png at all"))
    with pytest.raises(ValueError, match="image_format"):
        conv.compressed_image_to_msg(np.zeros((2, 2, 3), np.uint8), "bmp")


# ----------------------------------------------------------------------------- joints

NAMES = ["joint_1", "joint_2", "joint_3"]


def test_joint_state_round_trip_and_reordering():
    msg = conv.joint_state_to_msg(NAMES, [0.1, 0.2, 0.3], velocities=[1.0, 2.0, 3.0], stamp_s=2.0)
    np.testing.assert_array_equal(conv.joint_positions_from_msg(msg, NAMES), [0.1, 0.2, 0.3])
    reordered = ["joint_3", "joint_1"]
    np.testing.assert_array_equal(conv.joint_positions_from_msg(msg, reordered), [0.3, 0.1])
    np.testing.assert_array_equal(conv.joint_velocities_from_msg(msg, reordered), [3.0, 1.0])
    assert conv.joint_velocities_from_msg(conv.joint_state_to_msg(NAMES, [0, 0, 0]), NAMES) is None


def test_joint_state_errors_name_the_problem():
    msg = conv.joint_state_to_msg(NAMES, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"missing joints \['elbow'\]"):
        conv.joint_positions_from_msg(msg, ["joint_1", "elbow"])
    bad = JointState(name=NAMES, position=[0.1, math.nan, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        conv.joint_positions_from_msg(bad, NAMES)
    with pytest.raises(ValueError, match="3 names but 2 positions"):
        conv.joint_positions_from_msg(JointState(name=NAMES, position=[0.0, 0.0]), NAMES)
    with pytest.raises(ValueError, match="duplicate"):
        conv.joint_positions_from_msg(JointState(name=["a", "a"], position=[0.0, 1.0]), ["a"])
    with pytest.raises(ValueError, match="2 values for 3 joints"):
        conv.joint_state_to_msg(NAMES, [0.0, 0.0])


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 5), elements=st.floats(-1e3, 1e3)),
    st.integers(2, 20),
    st.randoms(use_true_random=False),
)
def test_trajectory_round_trip_property(first, n_points, rnd):
    joints = [f"j{i}" for i in range(first.size)]
    times = np.cumsum(np.array([rnd.uniform(0.01, 0.5) for _ in range(n_points)]))
    positions = first[None, :] + np.arange(n_points)[:, None] * 0.01
    velocities = np.full_like(positions, 0.5)
    msg = conv.trajectory_to_msg(joints, times, positions, velocities, stamp_s=1.5)
    t, p, v = conv.trajectory_from_msg(msg, joints)
    np.testing.assert_allclose(t, times, atol=1e-9)
    np.testing.assert_array_equal(p, positions)
    np.testing.assert_array_equal(v, velocities)


def test_trajectory_reorders_columns_and_checks_joints():
    msg = conv.trajectory_to_msg(["b", "a"], [0.5, 1.0], np.array([[2.0, 1.0], [4.0, 3.0]]))
    _, positions, velocities = conv.trajectory_from_msg(msg, ["a", "b"])
    np.testing.assert_array_equal(positions, [[1.0, 2.0], [3.0, 4.0]])
    assert velocities is None
    with pytest.raises(ValueError, match=r"unknown \['b'\], missing \['c'\]"):
        conv.trajectory_from_msg(msg, ["a", "c"])


def test_trajectory_rejects_malformed_points():
    def traj(times, positions):
        msg = JointTrajectory(joint_names=["a", "b"])
        for t, p in zip(times, positions, strict=True):
            point = JointTrajectoryPoint(positions=p)
            point.time_from_start = conv.seconds_to_duration(t)
            msg.points.append(point)
        return msg

    with pytest.raises(ValueError, match="no points"):
        conv.trajectory_from_msg(JointTrajectory(joint_names=["a"]))
    with pytest.raises(ValueError, match="strictly increasing"):
        conv.trajectory_from_msg(traj([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        conv.trajectory_from_msg(traj([0.5], [[math.nan, 0.0]]))
    with pytest.raises(ValueError, match="1 positions for 2 joints"):
        conv.trajectory_from_msg(traj([0.5], [[0.0]]))
    with pytest.raises(ValueError, match="duplicate"):
        conv.trajectory_from_msg(JointTrajectory(joint_names=["a", "a"]))
    with pytest.raises(ValueError, match="shape"):
        conv.trajectory_to_msg(["a"], [0.1, 0.2], np.zeros((3, 1)))


def test_float_array_round_trip_and_errors():
    msg = conv.float_array_to_msg([1.0, 2.0, 3.0])
    assert isinstance(msg, Float64MultiArray)
    assert msg.layout.dim[0].size == 3
    np.testing.assert_array_equal(conv.float_array_from_msg(msg, 3), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="expected 4"):
        conv.float_array_from_msg(msg, 4)
    with pytest.raises(ValueError, match="NaN or inf"):
        conv.float_array_from_msg(Float64MultiArray(data=[1.0, math.inf]))
