"""Overlays of the demo video: instruction, safety state, people, predicted tool path, commands.

Pure image drawing on numpy arrays (OpenCV imported lazily); the recorder decides what to
draw, this module only how.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vla_ros.core.perception.camera import CameraIntrinsics, transform_points

# RGB colours of the safety states (OK, SLOWED, HOLD, STOPPED, ESTOP)
STATE_COLOURS = {
    "OK": (40, 170, 60),
    "SLOWED": (230, 180, 20),
    "HOLD": (150, 150, 150),
    "STOPPED": (220, 50, 40),
    "ESTOP": (160, 0, 0),
}
_WHITE = (255, 255, 255)
_PATH_COLOUR = (0, 200, 255)


@dataclass(frozen=True)
class PersonBoxOverlay:
    """A detected person: box in source-image pixels and a label (track, distance)."""

    x_min_px: float
    y_min_px: float
    x_max_px: float
    y_max_px: float
    label: str


@dataclass(frozen=True)
class OverlayState:
    """Everything drawn on one frame."""

    time_s: float  # [s] simulated time of the frame
    instruction: str = ""  # the instruction the policy runs ("" = none yet)
    safety_state: str = ""  # "OK", "SLOWED", ... ("" = no status yet)
    speed_scale: float = 1.0  # [0..1]
    min_separation_m: float = math.inf  # [m] perceived
    protective_separation_m: float = 0.0  # [m] S_p
    reasons: tuple[str, ...] = ()
    task_line: str = ""  # e.g. "pick: 4.2 / 20 s" or "SUCCESS"
    people: tuple[PersonBoxOverlay, ...] = ()
    tool_path_px: np.ndarray | None = None  # (N, 2) source-image pixels of the predicted path
    commands: tuple[str, ...] = ()  # newest last: the command stream
    feedback: str = ""  # latest spoken feedback
    extra: dict[str, str] = field(default_factory=dict)  # more label: value lines


def project_points(
    points_base_m: np.ndarray, camera_pose: np.ndarray, intrinsics: CameraIntrinsics
) -> np.ndarray:
    """(N, 3) base-frame points -> (M, 2) pixels of those in front of the camera (z > 5 cm).

    `camera_pose` is the optical frame's 4x4 pose in the base frame.
    """
    points = np.asarray(points_base_m, dtype=np.float64).reshape(-1, 3)
    if points.size == 0:
        return np.zeros((0, 2))
    in_camera = transform_points(np.linalg.inv(camera_pose), points)
    front = in_camera[:, 2] > 0.05
    return intrinsics.project(in_camera[front]) if np.any(front) else np.zeros((0, 2))


def _text(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    colour: tuple[int, int, int],
) -> None:
    import cv2

    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _banner(image: np.ndarray, y0: int, y1: int) -> None:
    region = image[y0:y1]
    region[:] = (region.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken for legibility


def panel_height_px(image_height_px: int, *, scale: int, panel_lines: int) -> int:
    """Height of the text panel under the image: room for `panel_lines` lines, and a frame
    height that is a multiple of 16 (H.264 macroblocks; no resizing by the encoder)."""
    line = _line_px(scale)
    needed = image_height_px * scale + panel_lines * line + 10
    return int(math.ceil(needed / 16.0) * 16) - image_height_px * scale


def _font(scale: int) -> float:
    return 0.45 * scale / 2 + 0.1


def _line_px(scale: int) -> int:
    return int(22 * _font(scale) / 0.55)


def draw_overlay(
    rgb: np.ndarray, state: OverlayState, *, scale: int = 2, panel_lines: int = 6
) -> np.ndarray:
    """A new uint8 image: the frame enlarged `scale` times with the overlays drawn on it, and a
    text panel of `panel_lines` lines under it (safety, separation, feedback, commands), so the
    scene itself stays visible. The size depends only on the input size and the arguments."""
    import cv2

    frame = np.ascontiguousarray(rgb, dtype=np.uint8)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3), got {frame.shape}")
    if scale < 1:
        raise ValueError("scale must be >= 1")
    height, width = frame.shape[0] * scale, frame.shape[1] * scale
    panel = panel_height_px(frame.shape[0], scale=scale, panel_lines=panel_lines)
    image = np.zeros((height + panel, width, 3), np.uint8)
    image[:height] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_NEAREST)
    font = _font(scale)

    if state.tool_path_px is not None and len(state.tool_path_px) > 1:
        path = np.asarray(state.tool_path_px, dtype=np.float64) * scale
        finite = path[np.all(np.isfinite(path), axis=1)]
        if len(finite) > 1:
            pts = np.clip(finite, -10 * width, 10 * width).astype(np.int32)
            cv2.polylines(image, [pts.reshape(-1, 1, 2)], False, _PATH_COLOUR, 2, cv2.LINE_AA)
            cv2.circle(image, tuple(int(v) for v in pts[-1]), 4, _PATH_COLOUR, -1)
    state_colour = STATE_COLOURS.get(state.safety_state, _WHITE)
    for person in state.people:
        p0 = (int(person.x_min_px * scale), int(person.y_min_px * scale))
        p1 = (int(person.x_max_px * scale), int(person.y_max_px * scale))
        cv2.rectangle(image, p0, p1, state_colour, 2)
        _text(image, person.label, (p0[0] + 2, max(14, p0[1] - 4)), font, state_colour)

    line = _line_px(scale)
    _banner(image, 0, line * 2 + 6)
    _text(image, f"t = {state.time_s:6.2f} s", (6, line), font, _WHITE)
    if state.task_line:
        _text(image, state.task_line, (width // 2, line), font, _WHITE)
    instruction = state.instruction or "(waiting for an instruction)"
    _text(image, f'"{instruction}"', (6, 2 * line), font, (255, 240, 160))

    y = height + line
    label = state.safety_state or "no safety status"
    _text(image, f"safety: {label}", (6, y), font, state_colour)
    bar_x0, bar_w = width // 2, width // 2 - 10
    cv2.rectangle(image, (bar_x0, y - line + 8), (bar_x0 + bar_w, y), (90, 90, 90), 1)
    filled = int(bar_w * min(max(state.speed_scale, 0.0), 1.0))
    cv2.rectangle(image, (bar_x0, y - line + 8), (bar_x0 + filled, y), state_colour, -1)
    _text(image, f"speed x{state.speed_scale:.2f}", (bar_x0 + 4, y - 3), font * 0.8, _WHITE)
    y += line
    sep = (
        f"{state.min_separation_m:.2f} m"
        if math.isfinite(state.min_separation_m)
        else "nobody seen"
    )
    reasons = f"  [{', '.join(state.reasons)}]" if state.reasons else ""
    _text(
        image,
        f"separation {sep}, S_p {state.protective_separation_m:.2f} m{reasons}",
        (6, y),
        font * 0.85,
        _WHITE,
    )
    for key, value in state.extra.items():
        y += line
        _text(image, f"{key}: {value}", (6, y), font * 0.8, _WHITE)
    if state.feedback:
        y += line
        _text(image, f"robot says: {state.feedback}", (6, y), font * 0.8, (180, 220, 255))
    room = panel_lines - 2 - len(state.extra) - (1 if state.feedback else 0)
    for command in state.commands[max(0, len(state.commands) - room) :] if room > 0 else ():
        y += line  # the newest commands, when the panel cannot hold them all
        _text(image, command, (6, y), font * 0.7, (170, 255, 170))
    return image
