"""Tracker on synthetic tracks, approximate-time pairing, camera geometry."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_ros.core.perception.camera import (
    CameraIntrinsics,
    extrinsics_from_xyz_quaternion,
    look_at_extrinsics,
    transform_points,
    urdf_fixed_transform,
)
from vla_ros.core.perception.sync import ApproximateTimeSync, StampedVectorBuffer
from vla_ros.core.perception.tracker import PersonTracker, TrackerConfig

DT = 1.0 / 15.0


def test_two_people_crossing_keep_ids_and_velocities():
    rng = np.random.default_rng(3)
    tracker = PersonTracker(TrackerConfig(measurement_sigma_m=0.03))
    v_a, v_b = np.array([1.0, 0.0, 0.0]), np.array([0.0, -1.2, 0.0])
    start_a, start_b = np.array([-1.0, 0.5, 1.0]), np.array([0.5, 1.5, 1.0])
    ids_a, ids_b = set(), set()
    for k in range(40):
        t = k * DT
        a = start_a + v_a * t + rng.normal(0, 0.02, 3)
        b = start_b + v_b * t + rng.normal(0, 0.02, 3)
        order = [a, b] if k % 2 else [b, a]  # measurement order must not matter
        est = tracker.update(t, np.array(order))
        est_a, est_b = (est[0], est[1]) if k % 2 else (est[1], est[0])
        ids_a.add(est_a.track_id)
        ids_b.add(est_b.track_id)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b
    assert est_a.confirmed
    np.testing.assert_allclose(est_a.velocity_m_s, v_a, atol=0.25)
    np.testing.assert_allclose(est_b.velocity_m_s, v_b, atol=0.25)


def test_track_birth_death_and_gating():
    tracker = PersonTracker(TrackerConfig(max_missed_s=0.3, gate_m=0.5, confirm_hits=2))
    first = tracker.update(0.0, np.array([[1.0, 0.0, 1.0]]))
    assert not first[0].confirmed and np.all(first[0].velocity_m_s == 0)
    again = tracker.update(0.1, np.array([[1.05, 0.0, 1.0]]))
    assert again[0].track_id == first[0].track_id and again[0].confirmed
    # a measurement beyond the gate is a new person, not a jump of the old one
    jump = tracker.update(0.2, np.array([[2.0, 0.0, 1.0]]))
    assert jump[0].track_id != first[0].track_id
    assert tracker.num_tracks == 2
    tracker.update(0.6, np.zeros((0, 3)))  # nobody seen for > max_missed_s: both die
    assert tracker.num_tracks == 0
    reborn = tracker.update(0.7, np.array([[1.05, 0.0, 1.0]]))
    assert reborn[0].track_id not in (first[0].track_id, jump[0].track_id)  # ids never reused


def test_tracker_velocity_is_clipped_and_time_reversal_resets():
    tracker = PersonTracker(TrackerConfig(max_speed_m_s=1.0, gate_m=5.0))
    tracker.update(0.0, np.array([[0.0, 0.0, 0.0]]))
    est = tracker.update(0.1, np.array([[1.0, 0.0, 0.0]]))  # 10 m/s: implausible
    assert np.linalg.norm(est[0].velocity_m_s) <= 1.0 + 1e-9
    back = tracker.update(0.05, np.array([[1.0, 0.0, 0.0]]))
    assert not back[0].confirmed  # reset: a fresh track
    with pytest.raises(ValueError, match="finite"):
        tracker.update(1.0, np.array([[math.nan, 0, 0]]))


# ----------------------------------------------------------------------------- sync


def test_sync_pairs_nearest_stamps_within_skew():
    sync = ApproximateTimeSync(3, max_skew_s=0.01)
    assert sync.add(0, 1.000, "rgb1") is None
    assert sync.add(1, 1.004, "depth1") is None
    out = sync.add(2, 0.998, "info1")
    assert out == (1.004, ["rgb1", "depth1", "info1"])
    # depth arrives 30 ms off: no match until a depth within 10 ms comes
    assert sync.add(0, 1.100, "rgb2") is None
    assert sync.add(2, 1.100, "info2") is None
    assert sync.add(1, 1.130, "depth_late") is None
    assert sync.add(0, 1.133, "rgb3") is None
    out = sync.add(2, 1.133, "info3")
    assert out == (1.133, ["rgb3", "depth_late", "info3"])
    assert sync.dropped == 2  # rgb2 and info2 were consumed unmatched


@settings(max_examples=100, deadline=None)
@given(
    offsets=st.lists(st.floats(min_value=-0.02, max_value=0.02), min_size=10, max_size=30),
    skew=st.floats(min_value=0.001, max_value=0.03),
)
def test_sync_never_emits_pairs_beyond_skew_or_reuses(offsets, skew):
    sync = ApproximateTimeSync(2, max_skew_s=skew, queue_size=5)
    used_a, used_b = set(), set()
    for k, off in enumerate(offsets):
        t = k * 0.1
        for stream, stamp, name in ((0, t, f"a{k}"), (1, t + off, f"b{k}")):
            out = sync.add(stream, stamp, (name, stamp))
            if out is not None:
                (na, sa), (nb, sb) = out[1]
                assert abs(sa - sb) <= skew
                assert na not in used_a and nb not in used_b
                used_a.add(na)
                used_b.add(nb)


def test_joint_buffer_interpolates_at_the_image_stamp():
    buffer = StampedVectorBuffer(max_age_s=1.0)
    for k in range(11):
        buffer.add(k * 0.01, np.array([k * 0.01, 2.0]))  # joint moving at 1 rad/s
    np.testing.assert_allclose(buffer.at(0.0537, max_extrapolation_s=0.05), [0.0537, 2.0])
    np.testing.assert_allclose(buffer.at(0.12, max_extrapolation_s=0.05), [0.1, 2.0])
    with pytest.raises(ValueError, match="older"):
        buffer.at(0.2, max_extrapolation_s=0.05)  # joint states lag the image too much
    with pytest.raises(ValueError, match="newer"):
        buffer.at(-0.2, max_extrapolation_s=0.05)
    buffer.add(5.0, np.array([9.0, 9.0]))  # old samples age out
    assert len(buffer) == 1
    buffer.add(1.0, np.array([1.0, 1.0]))  # clock went backwards: start over
    assert len(buffer) == 1
    np.testing.assert_allclose(buffer.at(1.0, max_extrapolation_s=0.0), [1.0, 1.0])
    with pytest.raises(ValueError, match="no samples"):
        StampedVectorBuffer().at(0.0, max_extrapolation_s=1.0)


# ----------------------------------------------------------------------------- camera


def test_backproject_project_round_trip_and_scaling():
    k = CameraIntrinsics.from_k([500, 0, 319.5, 0, 510, 239.5, 0, 0, 1], 640, 480)
    uv = np.array([[0.0, 0.0], [639.0, 479.0], [100.5, 300.25]])
    pts = k.backproject(uv[:, 0], uv[:, 1], np.array([1.0, 2.0, 3.5]))
    np.testing.assert_allclose(k.project(pts), uv, atol=1e-9)
    half = k.scaled(0.5)
    assert (half.width_px, half.height_px) == (320, 240)
    np.testing.assert_allclose(half.project(pts), (uv + 0.5) * 0.5 - 0.5, atol=1e-9)
    with pytest.raises(ValueError):
        CameraIntrinsics.from_k([0, 0, 0, 0, 0, 0, 0, 0, 1], 640, 480)


def test_extrinsics_helpers_agree():
    pose = look_at_extrinsics((1.0, 0.0, 1.0), (0.0, 0.0, 1.0))
    # looking along -x: the optical axis (z) maps to base -x, image right (x) to base +y
    np.testing.assert_allclose(pose[:3, 2], [-1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(pose[:3, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(
        transform_points(pose, np.array([[0, 0, 1.0]])), [[0, 0, 1]], atol=1e-12
    )
    same = extrinsics_from_xyz_quaternion((1.0, 0.0, 1.0), (-0.5, -0.5, 0.5, 0.5))
    np.testing.assert_allclose(same, pose, atol=1e-12)


def test_urdf_fixed_chain(tmp_path: Path):
    urdf = tmp_path / "cell.urdf"
    urdf.write_text(
        """<robot name="cell">
  <link name="world"/><link name="base_link"/><link name="cam"/><link name="cam_optical"/>
  <link name="l1"/><link name="wrist_cam"/>
  <joint name="j0" type="fixed"><parent link="base_link"/><child link="cam"/>
    <origin xyz="1 0 1" rpy="0 0 3.141592653589793"/></joint>
  <joint name="j1" type="fixed"><parent link="cam"/><child link="cam_optical"/>
    <origin xyz="0 0 0" rpy="-1.5707963267948966 0 -1.5707963267948966"/></joint>
  <joint name="q1" type="revolute"><parent link="base_link"/><child link="l1"/></joint>
  <joint name="j2" type="fixed"><parent link="l1"/><child link="wrist_cam"/></joint>
</robot>"""
    )
    pose = urdf_fixed_transform(urdf, "base_link", "cam_optical")
    # camera at (1, 0, 1) yawed to face -x, then the usual optical rotation
    np.testing.assert_allclose(pose, look_at_extrinsics((1, 0, 1), (0, 0, 1)), atol=1e-9)
    with pytest.raises(ValueError, match="revolute"):
        urdf_fixed_transform(urdf, "base_link", "wrist_cam")
    with pytest.raises(ValueError, match="no URDF joint chain"):
        urdf_fixed_transform(urdf, "base_link", "world")
