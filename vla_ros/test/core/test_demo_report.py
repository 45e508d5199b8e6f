"""The demo's ROS-free parts: timeline, ground-truth separation, analysis, report files,
overlays and the recorder's video (real H.264 through imageio's ffmpeg)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_ros.core.demo.overlay import (
    OverlayState,
    PersonBoxOverlay,
    draw_overlay,
    panel_height_px,
    project_points,
)
from vla_ros.core.demo.recorder import DemoRecorder, VideoWriter
from vla_ros.core.demo.report import (
    analyse,
    intervals,
    plot_timeline,
    summary_lines,
    write_json,
    write_markdown,
)
from vla_ros.core.demo.timeline import (
    DemoTimeline,
    HumansSample,
    InstructionEvent,
    MotionSample,
    PersonSample,
    PolicySample,
    SafetySample,
    TaskSample,
    person_separation_m,
)
from vla_ros.core.perception.camera import CameraIntrinsics

OK, SLOWED, HOLD, STOPPED = 0, 1, 2, 3


def scenario_timeline(
    *, rest_during_stop: bool = True, contact: bool = False, success: bool = True
) -> DemoTimeline:
    """A 12 s run sampled at 10 Hz: instruction at 1 s, walk-in at 2 s, person stop 4-7 s."""
    tl = DemoTimeline()
    tl.add(InstructionEvent(1.0, "pick up the red cube", "text", 1.0, 0.01))
    tl.mark("walk_in", 2.0)
    for i in range(121):
        t = i / 10
        if 4.0 <= t < 7.0:
            state, scale, reasons = STOPPED, 0.0, ("human_inside_sp",)
        elif 3.0 <= t < 4.0:
            state, scale, reasons = SLOWED, 0.4, ()
        elif t < 1.2:
            state, scale, reasons = HOLD, 0.0, ("no_fresh_command",)
        else:
            state, scale, reasons = OK, 1.0, ()
        separation = 0.6 if 3.0 <= t < 8.0 else math.inf
        tl.add(SafetySample(t, state, scale, separation, 1.2 if separation < 9 else 0.0, reasons))
        moving = 1.3 <= t < 4.3 or t >= 7.5
        if 4.3 <= t < 7.5 and not rest_during_stop:
            moving = True
        tl.add(MotionSample(t, 0.5 if moving else 0.001))
        tl.add(HumansSample(t, 1 if 2.8 <= t < 8.5 else 0, 0.6 if 2.8 <= t < 8.5 else math.inf))
        if 2.0 <= t < 9.0:
            gap = -0.05 if contact and 5.0 <= t < 5.5 else 0.55
            tl.add(PersonSample(t, (-0.7, 0.7, -0.75), gap))
        if t >= 1.1:
            tl.add_command(t)
        done = success and t >= 10.0
        tl.add(TaskSample(t, 2, "pick up the red cube", done, done, t - 0.5, 20.0))
    tl.add(PolicySample(12.0, 1, "remote", 11.0, 12.0, 40.0, 30))
    return tl


def test_a_person_stop_with_rest_resume_and_success_passes():
    report = analyse(
        scenario_timeline(), scenario={"task": "pick"}, episode_id=2, with_person=True
    )
    assert report.passed, report.checks
    assert report.instruction == "pick up the red cube" and report.instruction_source == "text"
    assert len(report.person_stops) == 1
    stop = report.person_stops[0]
    assert stop.start_s == pytest.approx(4.0) and stop.end_s == pytest.approx(7.0)
    assert [s.state for s in report.slowdowns] == ["SLOWED"]
    assert report.stopped_for_person and report.resumed_after_person
    assert report.contacts == 0 and report.min_true_separation_m == pytest.approx(0.55)
    assert report.success_episode_time_s == pytest.approx(9.5) and report.within_time_limit
    assert report.success_at_end
    lat = report.latencies_s
    assert lat["walk_in_to_first_detection_s"] == pytest.approx(0.8)
    assert lat["person_stop_to_rest_s"] == pytest.approx(0.3)
    assert lat["person_clear_to_motion_s"] == pytest.approx(0.5)
    assert lat["instruction_to_first_command_s"] == pytest.approx(0.1)
    assert lat["true_separation_at_resume_m"] == pytest.approx(0.55)
    assert report.policy_latency_ms["p50"] == 12.0
    # the hold before the instruction is not counted, the rest of it until the first command is
    assert [(h.start_s, h.end_s) for h in report.holds] == [(1.0, pytest.approx(1.2))]


def test_failures_are_reported_as_failed_checks():
    moving = analyse(
        scenario_timeline(rest_during_stop=False), scenario={}, episode_id=2, with_person=True
    )
    assert not moving.stopped_for_person and not moving.passed
    touching = analyse(
        scenario_timeline(contact=True), scenario={}, episode_id=2, with_person=True
    )
    assert touching.contacts == 1 and touching.checks["no_contact"] is False
    assert touching.min_true_separation_m == pytest.approx(-0.05)
    failed = analyse(scenario_timeline(success=False), scenario={}, episode_id=2, with_person=True)
    assert not failed.success and failed.checks["task_success"] is False
    other_episode = analyse(scenario_timeline(), scenario={}, episode_id=3, with_person=True)
    assert not other_episode.success  # success of another episode does not count
    assert "FAILED" in summary_lines(failed)[-1]


def test_no_instruction_is_a_note_not_a_crash():
    report = analyse(DemoTimeline(), scenario={}, episode_id=1, with_person=False)
    assert not report.passed and report.instruction == ""
    assert any("no instruction" in n for n in report.notes)


def test_report_files(tmp_path):
    report = analyse(scenario_timeline(), scenario={"seed": 3}, episode_id=2, with_person=True)
    data = json.loads(write_json(report, tmp_path / "report.json").read_text())
    assert data["passed"] is True and data["scenario"]["seed"] == 3
    assert data["person_stops"][0]["reasons"] == ["human_inside_sp"]
    markdown = write_markdown(report, tmp_path / "report.md", files=["demo.mp4"]).read_text()
    assert "**PASSED**" in markdown and "human_inside_sp" in markdown and "demo.mp4" in markdown
    png = plot_timeline(scenario_timeline(), tmp_path / "timeline.png", title="pick")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_json_has_no_infinities(tmp_path):
    tl = scenario_timeline()
    tl.add(SafetySample(12.5, OK, 1.0, math.inf, 0.0, ()))
    report = analyse(tl, scenario={"x": math.inf}, episode_id=2, with_person=False)
    text = write_json(report, tmp_path / "r.json").read_text()
    assert "Infinity" not in text and json.loads(text)["scenario"]["x"] is None


def test_intervals_split_on_the_predicate_and_mark_ongoing_ones():
    samples = [SafetySample(t, s, 1.0, math.inf, 0.0, ()) for t, s in enumerate([0, 3, 3, 0, 3])]
    runs = intervals(samples, lambda s: s.state == STOPPED, after_s=0.0)
    assert [(r.start_s, r.end_s, r.ongoing) for r in runs] == [(1, 3, False), (4, 4, True)]
    assert intervals(samples, lambda s: s.state == STOPPED, after_s=3.5)[0].start_s == 4


def test_timeline_rejects_bad_samples_and_snapshots_are_frozen():
    tl = DemoTimeline()
    with pytest.raises(TypeError):
        tl.add("not a sample")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        tl.add(MotionSample(math.nan, 0.0))
    tl.add(MotionSample(1.0, 0.0))
    copy = tl.snapshot()
    tl.add(MotionSample(2.0, 0.0))
    assert len(copy.motion) == 1 and len(tl.motion) == 2 and tl.now_s == 2.0
    tl.mark("walk_in", 3.0)
    tl.mark("walk_in", 4.0)
    assert tl.marks["walk_in"] == 3.0


def test_person_separation_geometry():
    feet = np.array([1.0, 0.0, -0.75])
    radii = np.array([0.05])
    # a link point 1 m away horizontally at chest height: 1 - 0.3 body - 0.05 link
    assert person_separation_m(
        feet, np.array([[0.0, 0.0, 0.5]]), radii, body_radius_m=0.3, height_m=1.75
    ) == pytest.approx(0.65)
    # inside the body cylinder: negative (a contact)
    assert (
        person_separation_m(
            feet, np.array([[0.9, 0.0, 0.0]]), radii, body_radius_m=0.3, height_m=1.75
        )
        < 0.0
    )
    # above the head, over the feet: the vertical gap counts
    assert person_separation_m(
        feet, np.array([[1.0, 0.0, 1.5]]), radii, body_radius_m=0.3, height_m=1.75
    ) == pytest.approx(1.5 - 1.0 - 0.05)
    with pytest.raises(ValueError):
        person_separation_m(feet, np.zeros((2, 3)), radii, body_radius_m=0.3, height_m=1.75)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-2, 2),
    st.floats(-2, 2),
    st.floats(-0.75, 1.0),
    st.floats(0.0, 0.1),
)
def test_separation_beside_the_body_is_the_horizontal_gap(x, y, z, radius):
    """Within the person's height the separation is the horizontal gap (negative inside), so a
    contact can never be missed."""
    feet = np.array([0.0, 0.0, -0.75])
    gap = person_separation_m(
        feet, np.array([[x, y, z]]), np.array([radius]), body_radius_m=0.3, height_m=1.75
    )
    horizontal = math.hypot(x, y) - 0.3
    if horizontal >= 0.0:
        assert gap == pytest.approx(horizontal - radius, abs=1e-9)
    else:
        assert gap < 0.0


def test_project_points_uses_the_camera_pose():
    intrinsics = CameraIntrinsics.from_fov(320, 240, math.radians(58.0))
    pose = np.eye(4)
    pose[:3, 3] = [0.0, 0.0, -2.0]  # optical frame 2 m behind the origin, looking along +z
    px = project_points(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -3.0]]), pose, intrinsics)
    assert px.shape == (1, 2)  # the point behind the camera is dropped
    assert px[0] == pytest.approx([intrinsics.cx_px, intrinsics.cy_px])


def test_overlay_draws_state_boxes_and_path():
    rgb = np.full((120, 160, 3), 128, np.uint8)
    plain = draw_overlay(rgb, OverlayState(time_s=1.0), scale=2)
    # the enlarged image plus a text panel; H.264-friendly height
    assert plain.shape[1:] == (320, 3) and plain.shape[0] > 240 and plain.shape[0] % 16 == 0
    assert plain.dtype == np.uint8
    state = OverlayState(
        time_s=2.0,
        instruction="pick up the red cube",
        safety_state="STOPPED",
        speed_scale=0.0,
        min_separation_m=0.6,
        protective_separation_m=1.2,
        reasons=("human_inside_sp",),
        people=(PersonBoxOverlay(20, 20, 60, 100, "#1 0.60 m"),),
        tool_path_px=np.array([[80.0, 60.0], [100.0, 50.0], [120.0, 40.0]]),
        commands=("1.00 s cmd -> [0.1 0.2]",),
    )
    drawn = draw_overlay(rgb, state, scale=2)
    red = (drawn[..., 0] > 180) & (drawn[..., 1] < 90) & (drawn[..., 2] < 90)
    assert red[40:200, 40:42].any()  # the person box's left edge in the STOPPED colour
    assert not np.array_equal(drawn, plain) and drawn.shape == plain.shape
    assert np.array_equal(drawn[150:230, 260:310], plain[150:230, 260:310])  # scene untouched
    many = OverlayState(time_s=3.0, commands=tuple(f"cmd {i}" for i in range(20)))
    assert draw_overlay(rgb, many).shape == plain.shape  # a long stream does not grow it
    with pytest.raises(ValueError):
        draw_overlay(np.zeros((10, 10)), state)


def test_recorder_writes_a_video_on_the_simulated_clock(tmp_path):
    import imageio.v2 as imageio

    tl = DemoTimeline()
    video = VideoWriter(tmp_path / "demo.mp4", fps=5.0)
    recorder = DemoRecorder(tl, video)
    intrinsics = CameraIntrinsics.from_fov(160, 120, math.radians(58.0))
    recorder.set_camera(intrinsics, np.eye(4))
    recorder.set_tool_path(np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 1.0]]))
    recorder.set_instruction("pick up the red cube")
    tl.add(SafetySample(0.0, SLOWED, 0.5, 0.9, 1.1, ()))
    written = 0
    for i in range(30):  # 2 s of 15 Hz frames
        rgb = np.full((120, 160, 3), i * 8, np.uint8)
        written += recorder.on_frame(i / 15.0, rgb)
    state = recorder.overlay_state(1.0)
    assert state.safety_state == "SLOWED" and state.speed_scale == 0.5
    assert state.tool_path_px is not None and state.tool_path_px.shape == (2, 2)
    recorder.close()
    assert written == 10  # 5 fps over 2 s of simulated time
    reader = imageio.get_reader(str(tmp_path / "demo.mp4"))
    assert reader.count_frames() == 10
    assert reader.get_data(0).shape[:2] == (
        240 + panel_height_px(120, scale=2, panel_lines=6),
        320,
    )
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "x.mp4", fps=0.0)
