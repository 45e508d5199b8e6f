"""Episodes as rosbag2-compatible MCAP files (ros2 profile, CDR) and back to training arrays.

The writer records the same topics and types a real cell carries (camera, joint states,
controller commands, the instruction), so `ros2 bag play` / Foxglove read them and a bag
recorded on a real robot reads back with `read_episode`. No rclpy needed: the message
definitions are embedded below and encoded by mcap-ros2-support.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

TOPIC_RGB = "/camera/color/image_raw"
TOPIC_DEPTH = "/camera/depth/image_raw"
TOPIC_WRIST_RGB = "/wrist_camera/color/image_raw"  # optional second camera on the gripper
TOPIC_JOINTS = "/joint_states"
TOPIC_ARM = "/arm_controller/joint_trajectory"
TOPIC_GRIPPER = "/gripper_controller/joint_trajectory"
TOPIC_INSTRUCTION = "/instruction"
# Ground-truth object poses (simulation only, like a motion-capture system would give): one
# geometry_msgs/TransformStamped per object and frame, child_frame_id = object name
# ("cube_red", "bowl", "plate"), in the robot base frame. Training may use them as auxiliary
# targets; a policy never sees them. (Recordings made before 2026-11-24 08:00 carry one
# tf2_msgs/TFMessage per frame instead; read_episode reads both.)
TOPIC_OBJECTS = "/sim/object_poses"

_SEP = "=" * 80 + "\n"
_TIME = "MSG: builtin_interfaces/Time\nint32 sec\nuint32 nanosec\n"
_DURATION = "MSG: builtin_interfaces/Duration\nint32 sec\nuint32 nanosec\n"
_HEADER = "MSG: std_msgs/Header\nbuiltin_interfaces/Time stamp\nstring frame_id\n"
MSG_DEFINITIONS = {
    "sensor_msgs/msg/Image": (
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\n"
        "uint8 is_bigendian\nuint32 step\nuint8[] data\n" + _SEP + _HEADER + _SEP + _TIME
    ),
    "sensor_msgs/msg/JointState": (
        "std_msgs/Header header\nstring[] name\nfloat64[] position\nfloat64[] velocity\n"
        "float64[] effort\n" + _SEP + _HEADER + _SEP + _TIME
    ),
    "trajectory_msgs/msg/JointTrajectory": (
        "std_msgs/Header header\nstring[] joint_names\nJointTrajectoryPoint[] points\n"
        + _SEP
        + _HEADER
        + _SEP
        + _TIME
        + _SEP
        + "MSG: trajectory_msgs/JointTrajectoryPoint\nfloat64[] positions\n"
        "float64[] velocities\nfloat64[] accelerations\nfloat64[] effort\n"
        "builtin_interfaces/Duration time_from_start\n" + _SEP + _DURATION
    ),
    "geometry_msgs/msg/TransformStamped": (
        "std_msgs/Header header\nstring child_frame_id\ngeometry_msgs/Transform transform\n"
        + _SEP
        + _HEADER
        + _SEP
        + _TIME
        + _SEP
        + "MSG: geometry_msgs/Transform\ngeometry_msgs/Vector3 translation\n"
        "geometry_msgs/Quaternion rotation\n"
        + _SEP
        + "MSG: geometry_msgs/Vector3\nfloat64 x\nfloat64 y\nfloat64 z\n"
        + _SEP
        + "MSG: geometry_msgs/Quaternion\nfloat64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n"
    ),
    "vla_ros_msgs/msg/Instruction": (
        "uint8 SOURCE_TEXT = 0\nuint8 SOURCE_VOICE = 1\nstd_msgs/Header header\nstring text\n"
        "uint8 source\nfloat32 confidence\nstring id\n" + _SEP + _HEADER + _SEP + _TIME
    ),
}
_TOPIC_TYPES = {
    TOPIC_RGB: "sensor_msgs/msg/Image",
    TOPIC_DEPTH: "sensor_msgs/msg/Image",
    TOPIC_WRIST_RGB: "sensor_msgs/msg/Image",
    TOPIC_JOINTS: "sensor_msgs/msg/JointState",
    TOPIC_ARM: "trajectory_msgs/msg/JointTrajectory",
    TOPIC_GRIPPER: "trajectory_msgs/msg/JointTrajectory",
    TOPIC_INSTRUCTION: "vla_ros_msgs/msg/Instruction",
    TOPIC_OBJECTS: "geometry_msgs/msg/TransformStamped",
}


def _ns(time_s: float) -> int:
    if not math.isfinite(time_s) or time_s < 0.0:
        raise ValueError(f"time must be finite and >= 0, got {time_s}")
    return round(time_s * 1e9)


def _stamp(time_s: float) -> dict[str, int]:
    total = _ns(time_s)
    return {"sec": total // 1_000_000_000, "nanosec": total % 1_000_000_000}


def _header(time_s: float, frame_id: str = "") -> dict[str, Any]:
    return {"stamp": _stamp(time_s), "frame_id": frame_id}


class EpisodeWriter:
    """Writes one episode; use as a context manager (the file is valid once closed)."""

    def __init__(
        self, path: str | Path, *, instruction: str, metadata: dict[str, str] | None = None
    ) -> None:
        from mcap_ros2.writer import Writer

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")
        self._writer = Writer(self._file)
        self._schemas = {
            name: self._writer.register_msgdef(name, text)
            for name, text in MSG_DEFINITIONS.items()
        }
        self._metadata = {"instruction": instruction, **(metadata or {})}
        self._instruction = instruction
        self._instruction_written = False
        self.frames = 0

    def _write(self, topic: str, time_s: float, message: dict[str, Any]) -> None:
        ns = _ns(time_s)
        schema = self._schemas[_TOPIC_TYPES[topic]]
        self._writer.write_message(topic, schema, message, log_time=ns, publish_time=ns)

    def write_instruction(self, time_s: float, text: str) -> None:
        """The instruction as vla_ros_msgs/Instruction (typed text, confidence 1)."""
        self._write(
            TOPIC_INSTRUCTION,
            time_s,
            {
                "header": _header(time_s),
                "text": text,
                "source": 0,
                "confidence": 1.0,
                "id": "",
            },
        )
        self._instruction_written = True

    def write_rgb(
        self, time_s: float, rgb: np.ndarray, frame_id: str = "", topic: str = TOPIC_RGB
    ) -> None:
        """(H, W, 3) uint8 RGB as an rgb8 Image on `topic` (TOPIC_RGB: the scene camera, whose
        frames the episode is aligned on; TOPIC_WRIST_RGB: the wrist camera)."""
        if topic not in (TOPIC_RGB, TOPIC_WRIST_RGB):
            raise ValueError(f"not a colour camera topic of a recording: {topic}")
        image = np.ascontiguousarray(rgb, dtype=np.uint8)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"rgb must be (H, W, 3), got {image.shape}")
        if not self._instruction_written:
            self.write_instruction(time_s, self._instruction)
        height, width = image.shape[:2]
        self._write(
            topic,
            time_s,
            {
                "header": _header(time_s, frame_id),
                "height": height,
                "width": width,
                "encoding": "rgb8",
                "is_bigendian": 0,
                "step": width * 3,
                "data": image.tobytes(),
            },
        )
        if topic == TOPIC_RGB:
            self.frames += 1

    def write_depth(self, time_s: float, depth_m: np.ndarray, frame_id: str = "") -> None:
        """(H, W) float depth in metres as a 32FC1 Image (NaN = invalid)."""
        depth = np.ascontiguousarray(depth_m, dtype="<f4")
        if depth.ndim != 2:
            raise ValueError(f"depth must be (H, W), got {depth.shape}")
        height, width = depth.shape
        self._write(
            TOPIC_DEPTH,
            time_s,
            {
                "header": _header(time_s, frame_id),
                "height": height,
                "width": width,
                "encoding": "32FC1",
                "is_bigendian": 0,
                "step": width * 4,
                "data": depth.tobytes(),
            },
        )

    def write_joint_state(
        self,
        time_s: float,
        names: Sequence[str],
        positions: np.ndarray,
        velocities: np.ndarray | None = None,
        efforts: np.ndarray | None = None,
    ) -> None:
        """A sensor_msgs/JointState sample."""
        self._write(
            TOPIC_JOINTS,
            time_s,
            {
                "header": _header(time_s),
                "name": list(names),
                "position": [float(v) for v in positions],
                "velocity": [] if velocities is None else [float(v) for v in velocities],
                "effort": [] if efforts is None else [float(v) for v in efforts],
            },
        )

    def _write_command(
        self,
        topic: str,
        time_s: float,
        names: Sequence[str],
        target: np.ndarray,
        time_from_start_s: float,
    ) -> None:
        duration = _stamp(time_from_start_s)
        point = {
            "positions": [float(v) for v in target],
            "velocities": [],
            "accelerations": [],
            "effort": [],
            "time_from_start": duration,
        }
        self._write(
            topic,
            time_s,
            {
                "header": _header(0.0),
                "joint_names": list(names),
                "points": [point],
            },
        )

    def write_arm_command(
        self,
        time_s: float,
        joint_names: Sequence[str],
        target: np.ndarray,
        time_from_start_s: float,
    ) -> None:
        """A one-point arm JointTrajectory (stamp 0 = start now), as a client sends it."""
        self._write_command(TOPIC_ARM, time_s, joint_names, target, time_from_start_s)

    def write_gripper_command(
        self, time_s: float, joint_name: str, position_m: float, time_from_start_s: float
    ) -> None:
        """A one-point gripper JointTrajectory."""
        self._write_command(
            TOPIC_GRIPPER, time_s, [joint_name], np.array([position_m]), time_from_start_s
        )

    def write_object_poses(
        self, time_s: float, positions_m: dict[str, np.ndarray], frame_id: str = "base_link"
    ) -> None:
        """Ground-truth object positions (name -> (3,) [m]), one TransformStamped each."""
        checked = {}
        for name, position in positions_m.items():
            xyz = np.asarray(position, dtype=np.float64)
            if xyz.shape != (3,) or not np.all(np.isfinite(xyz)):
                raise ValueError(f"object '{name}' needs a finite (3,) position, got {xyz}")
            checked[name] = xyz
        for name, xyz in checked.items():
            message = {
                "header": _header(time_s, frame_id),
                "child_frame_id": name,
                "transform": {
                    "translation": {"x": xyz[0], "y": xyz[1], "z": xyz[2]},
                    "rotation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0},
                },
            }
            self._write(TOPIC_OBJECTS, time_s, message)

    def set_metadata(self, **values: str) -> None:
        """Add key/values to the episode's metadata record (written on close)."""
        self._metadata.update(values)

    def close(self) -> None:
        """Write the metadata and the MCAP footer."""
        if self._file.closed:
            return
        self._writer.add_metadata("episode", self._metadata)
        self._writer.finish()
        self._file.close()

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class EpisodeArrays:
    """One episode, aligned on the colour frames (index i = frame i)."""

    instruction: str
    times_s: np.ndarray  # (T,) frame stamps
    rgb: np.ndarray  # (T, H, W, 3) uint8
    depth_m: np.ndarray | None  # (T, H, W) float32, NaN invalid; None if not recorded
    wrist_rgb: np.ndarray | None  # (T, H, W, 3) uint8 latest wrist frame; None if not recorded
    joint_names: tuple[str, ...]
    joint_positions: np.ndarray  # (T, J): latest joint state at or before each frame
    joint_velocities: np.ndarray  # (T, J)
    action_names: tuple[str, ...]  # arm joints then the gripper joint
    actions: np.ndarray  # (T, A): command issued after each frame, before the next
    metadata: dict[str, str] = field(default_factory=dict)
    # ground-truth object positions (simulation recordings only): latest at or before each frame
    object_positions_m: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (T, 3)


def _image_array(msg: Any) -> np.ndarray:
    encodings: dict[str, tuple[np.dtype, int]] = {
        "rgb8": (np.dtype(np.uint8), 3),
        "32FC1": (np.dtype("<f4"), 1),
    }
    if msg.encoding not in encodings:
        raise ValueError(f"unsupported encoding {msg.encoding} in the recording")
    dtype, channels = encodings[msg.encoding]
    row = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.step)
    width_bytes = msg.width * channels * dtype.itemsize
    flat = np.ascontiguousarray(row[:, :width_bytes]).view(dtype)
    shape = (msg.height, msg.width, 3) if channels == 3 else (msg.height, msg.width)
    return flat.reshape(shape)


def _previous_index(times: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of the last time <= each query (clamped to 0)."""
    return np.clip(np.searchsorted(times, query, side="right") - 1, 0, None)


def read_episode(path: str | Path) -> EpisodeArrays:
    """Read an episode MCAP back into time-aligned arrays for training."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    by_topic: dict[str, list[tuple[float, Any]]] = {topic: [] for topic in _TOPIC_TYPES}
    metadata: dict[str, str] = {}
    with Path(path).open("rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for _, channel, message, decoded in reader.iter_decoded_messages(
            topics=list(_TOPIC_TYPES)
        ):
            by_topic[channel.topic].append((message.log_time * 1e-9, decoded))
        stream.seek(0)
        for record in make_reader(stream).iter_metadata():
            if record.name == "episode":
                metadata = dict(record.metadata)
    frames = by_topic[TOPIC_RGB]
    joints = by_topic[TOPIC_JOINTS]
    if not frames or not joints:
        raise ValueError(f"{path}: needs colour frames and joint states to align")
    times = np.array([t for t, _ in frames])
    rgb = np.stack([_image_array(m) for _, m in frames])
    depth = None
    if by_topic[TOPIC_DEPTH]:
        depth_times = np.array([t for t, _ in by_topic[TOPIC_DEPTH]])
        depth_all = [_image_array(m) for _, m in by_topic[TOPIC_DEPTH]]
        depth = np.stack([depth_all[i] for i in _previous_index(depth_times, times)])

    wrist = None
    if by_topic[TOPIC_WRIST_RGB]:
        wrist_times = np.array([t for t, _ in by_topic[TOPIC_WRIST_RGB]])
        wrist_all = [_image_array(m) for _, m in by_topic[TOPIC_WRIST_RGB]]
        wrist = np.stack([wrist_all[i] for i in _previous_index(wrist_times, times)])

    joint_names = tuple(joints[0][1].name)
    joint_times = np.array([t for t, _ in joints])
    positions = np.array([list(m.position) for _, m in joints])
    velocities = np.array([list(m.velocity) or [np.nan] * len(joint_names) for _, m in joints])
    pick = _previous_index(joint_times, times)

    arm = by_topic[TOPIC_ARM]
    gripper = by_topic[TOPIC_GRIPPER]
    arm_names = tuple(arm[0][1].joint_names) if arm else ()
    gripper_names = tuple(gripper[0][1].joint_names) if gripper else ()
    actions = _align_commands(times, arm, positions[pick], joint_names, arm_names)
    grip = _align_commands(times, gripper, positions[pick], joint_names, gripper_names)
    objects: dict[str, np.ndarray] = {}
    if by_topic[TOPIC_OBJECTS]:
        grouped: dict[float, dict[str, np.ndarray]] = {}  # log time -> name -> position
        for t, m in by_topic[TOPIC_OBJECTS]:
            transforms = m.transforms if hasattr(m, "transforms") else [m]  # old: TFMessage
            for tf in transforms:
                grouped.setdefault(t, {})[tf.child_frame_id] = _xyz(tf.transform.translation)
        object_times = np.array(sorted(grouped))
        samples = [grouped[t] for t in object_times]
        rows = [samples[i] for i in _previous_index(object_times, times)]
        names = [n for n in samples[0] if all(n in row for row in rows)]
        objects = {n: np.stack([row[n] for row in rows]) for n in names}
    instruction = metadata.get("instruction", "")
    if by_topic[TOPIC_INSTRUCTION]:
        instruction = by_topic[TOPIC_INSTRUCTION][-1][1].text
    return EpisodeArrays(
        instruction=instruction,
        times_s=times,
        rgb=rgb,
        depth_m=depth,
        wrist_rgb=wrist,
        joint_names=joint_names,
        joint_positions=positions[pick],
        joint_velocities=velocities[pick],
        action_names=arm_names + gripper_names,
        actions=np.hstack([actions, grip]),
        metadata=metadata,
        object_positions_m=objects,
    )


def _xyz(vector: Any) -> np.ndarray:
    return np.array([vector.x, vector.y, vector.z], dtype=np.float64)


def _align_commands(
    frame_times: np.ndarray,
    commands: list[tuple[float, Any]],
    joint_positions: np.ndarray,
    joint_names: tuple[str, ...],
    command_names: tuple[str, ...],
) -> np.ndarray:
    """Per frame: the last command sent in [t_i, t_{i+1}); else the previous one held.

    Before the first command the measured positions stand in (the robot holds still).
    """
    if not commands:
        return np.zeros((len(frame_times), 0))
    columns = [joint_names.index(n) for n in command_names]
    command_times = np.array([t for t, _ in commands])
    targets = np.array([list(m.points[-1].positions) for _, m in commands])
    ends = np.append(frame_times[1:], np.inf)
    out = np.empty((len(frame_times), len(command_names)))
    for i, end in enumerate(ends):
        last = int(np.searchsorted(command_times, end, side="left")) - 1
        out[i] = targets[last] if last >= 0 else joint_positions[i, columns]
    return out
