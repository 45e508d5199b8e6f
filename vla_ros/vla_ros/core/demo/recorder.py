"""The demo recorder: timeline samples plus the overlaid camera video, fed by the observer node.

ROS-free: the observer converts messages and calls the `on_*` methods from its callbacks.
"""

from __future__ import annotations

import collections
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from vla_ros.core.demo.overlay import OverlayState, PersonBoxOverlay, draw_overlay, project_points
from vla_ros.core.demo.timeline import DemoTimeline, safety_state_name
from vla_ros.core.perception.camera import CameraIntrinsics


class VideoWriter:
    """MP4 (H.264) through imageio's bundled ffmpeg; frames are (H, W, 3) uint8 RGB."""

    def __init__(self, path: str | Path, fps: float) -> None:
        if not fps > 0.0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._writer: Any = None

    def append(self, frame: np.ndarray) -> None:
        """Add one frame (the first frame fixes the size)."""
        if self._writer is None:
            import imageio.v2 as imageio

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = imageio.get_writer(
                str(self.path),
                fps=self.fps,
                codec="libx264",
                pixelformat="yuv420p",
                macro_block_size=16,
                quality=7,
            )
        self._writer.append_data(np.ascontiguousarray(frame, dtype=np.uint8))
        self.frames += 1

    def close(self) -> None:
        """Finish the file (no-op when no frame was written)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class DemoRecorder:
    """Keeps the latest state of everything drawn and writes one overlaid frame per video period.

    `video` may be None (timeline only, e.g. in tests of the analysis).
    """

    def __init__(
        self,
        timeline: DemoTimeline,
        video: VideoWriter | None,
        *,
        overlay_scale: int = 2,
        command_lines: int = 3,
    ) -> None:
        self.timeline = timeline
        self.video = video
        self.overlay_scale = overlay_scale
        self._lock = threading.Lock()
        self._next_frame_s = -math.inf
        self._commands: collections.deque[str] = collections.deque(maxlen=command_lines)
        self._people: tuple[PersonBoxOverlay, ...] = ()
        self._path_m: np.ndarray | None = None
        self._intrinsics: CameraIntrinsics | None = None
        self._camera_pose: np.ndarray | None = None
        self._instruction = ""
        self._feedback = ""
        self.frames_seen = 0

    # ------------------------------------------------------------------ inputs
    def set_camera(self, intrinsics: CameraIntrinsics, camera_pose: np.ndarray) -> None:
        """Intrinsics of the images and the optical frame's pose in the base frame."""
        with self._lock:
            self._intrinsics, self._camera_pose = intrinsics, np.asarray(camera_pose, float)

    def set_people(self, people: tuple[PersonBoxOverlay, ...]) -> None:
        """The people boxes of the newest detection array."""
        with self._lock:
            self._people = people

    def set_tool_path(self, points_base_m: np.ndarray | None) -> None:
        """The policy's predicted tool path (base frame), None to clear it."""
        with self._lock:
            self._path_m = None if points_base_m is None else np.asarray(points_base_m, float)

    def set_instruction(self, text: str) -> None:
        """The instruction the policy runs."""
        with self._lock:
            self._instruction = text

    def set_feedback(self, text: str) -> None:
        """The latest spoken feedback."""
        with self._lock:
            self._feedback = text

    def note_command(self, line: str) -> None:
        """One line of the command stream (newest last)."""
        with self._lock:
            self._commands.append(line)

    # ------------------------------------------------------------------ frames
    def overlay_state(self, time_s: float) -> OverlayState:
        """What a frame at `time_s` shows, from the latest inputs."""
        safety = self.timeline.latest_safety()
        task = self.timeline.latest_task()
        with self._lock:
            path_px = None
            if (
                self._path_m is not None
                and self._intrinsics is not None
                and self._camera_pose is not None
            ):
                path_px = project_points(self._path_m, self._camera_pose, self._intrinsics)
            people, commands = self._people, tuple(self._commands)
            instruction, feedback = self._instruction, self._feedback
        task_line = ""
        if task is not None:
            verdict = "SUCCESS" if task.success else ("time is up" if task.done else "")
            task_line = f"task {task.elapsed_s:4.1f}/{task.time_limit_s:.0f} s {verdict}".strip()
        if safety is None:
            return OverlayState(
                time_s,
                instruction,
                task_line=task_line,
                people=people,
                tool_path_px=path_px,
                commands=commands,
                feedback=feedback,
            )
        return OverlayState(
            time_s=time_s,
            instruction=instruction,
            safety_state=safety_state_name(safety.state),
            speed_scale=safety.speed_scale,
            min_separation_m=safety.min_separation_m,
            protective_separation_m=safety.protective_separation_m,
            reasons=safety.reasons,
            task_line=task_line,
            people=people,
            tool_path_px=path_px,
            commands=commands,
            feedback=feedback,
        )

    def on_frame(self, time_s: float, rgb: np.ndarray) -> bool:
        """A camera frame: draw and write it when a video frame is due. True if written."""
        self.frames_seen += 1
        self.timeline.advance(time_s)
        if self.video is None:
            return False
        with self._lock:
            if self._next_frame_s == -math.inf:
                self._next_frame_s = time_s
            if time_s + 1e-6 < self._next_frame_s:
                return False
            period = 1.0 / self.video.fps
            # keep the video's clock on the simulated clock, skipping rather than bunching
            self._next_frame_s = max(self._next_frame_s + period, time_s + 0.5 * period)
        self.video.append(draw_overlay(rgb, self.overlay_state(time_s), scale=self.overlay_scale))
        return True

    def close(self) -> None:
        """Finish the video."""
        if self.video is not None:
            self.video.close()
