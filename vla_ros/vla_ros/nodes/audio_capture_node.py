"""Audio capture node: a microphone onto /audio through PortAudio (sounddevice).

Publishes /audio (vla_ros_msgs/AudioData, int16, reliable), one chunk every chunk_ms, stamped
with the wall-clock capture time of its first sample (estimated from the callback time).

Parameters (read-only): device (PortAudio device name or index; "" = the default input),
sample_rate_hz [Hz] (16000 suits the speech node; PortAudio/ALSA resample), channels,
chunk_ms [ms]. Without an input device the node logs why and the process exits with code 1.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from vla_ros_msgs.msg import AudioData

from vla_ros import conversions as conv
from vla_ros.nodes.common import COMMAND_QOS, ErrorCounter, run_node


class AudioDeviceError(RuntimeError):
    """No usable input device (no sound card, PortAudio missing, device busy)."""


def open_input_stream(device: str, sample_rate_hz: int, channels: int, chunk: int, callback):
    """A started sounddevice.InputStream, or AudioDeviceError saying what is missing."""
    try:
        import sounddevice  # lazy: needs the PortAudio shared library
    except (ImportError, OSError) as exc:
        raise AudioDeviceError(f"sounddevice/PortAudio unavailable: {exc}") from exc
    selected: str | int | None = None
    if device:
        selected = int(device) if device.isdigit() else device
    try:
        sounddevice.query_devices(selected, kind="input")
        stream = sounddevice.InputStream(
            device=selected,
            samplerate=sample_rate_hz,
            channels=channels,
            dtype="int16",
            blocksize=chunk,
            callback=callback,
        )
        stream.start()
    except (ValueError, sounddevice.PortAudioError) as exc:
        raise AudioDeviceError(
            f"no usable audio input device '{device or 'default'}': {exc}"
        ) from exc
    return stream


class AudioCaptureNode(Node):
    """Publishes microphone chunks as they arrive from PortAudio's callback thread."""

    def __init__(self, **kwargs) -> None:
        super().__init__("audio_capture_node", **kwargs)
        read_only = ParameterDescriptor(read_only=True)
        device = str(self.declare_parameter("device", "", read_only).value)
        self.rate_hz = int(self.declare_parameter("sample_rate_hz", 16000, read_only).value)
        channels = int(self.declare_parameter("channels", 1, read_only).value)
        chunk_ms = float(self.declare_parameter("chunk_ms", 20.0, read_only).value)
        if self.rate_hz <= 0 or not 1 <= channels <= 255 or chunk_ms <= 0.0:
            raise ValueError("sample_rate_hz and chunk_ms must be > 0, channels in 1..255")
        self.errors = ErrorCounter(self)
        self.pub = self.create_publisher(AudioData, "audio", COMMAND_QOS)
        chunk = max(1, round(chunk_ms / 1000.0 * self.rate_hz))
        self.stream = open_input_stream(device, self.rate_hz, channels, chunk, self._on_block)
        self.get_logger().info(
            f"capturing '{device or 'default'}' at {self.rate_hz} Hz, {channels} ch, "
            f"{chunk_ms:.0f} ms chunks"
        )

    def _on_block(self, block: np.ndarray, frames: int, _time_info, status) -> None:
        if status:
            self.errors.report("audio_status", str(status))
        # the block's first sample was captured `frames` samples before now
        stamp_s = time.time() - frames / self.rate_hz
        self.pub.publish(conv.audio_to_msg(np.array(block, dtype=np.int16), self.rate_hz, stamp_s))

    def destroy_node(self) -> None:
        """Close the PortAudio stream before the node goes."""
        stream = getattr(self, "stream", None)  # absent when the device failed to open
        if stream is not None:
            stream.close()
        super().destroy_node()


def main(args=None) -> None:
    """Process entry point; exits with code 1 and the reason when there is no microphone."""
    try:
        run_node(AudioCaptureNode, args)
    except AudioDeviceError as exc:
        print(f"audio_capture_node: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
