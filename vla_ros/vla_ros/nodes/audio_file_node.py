"""Audio file node: plays WAV files onto /audio in real time, as a microphone would.

Publishes /audio (vla_ros_msgs/AudioData, mono int16, reliable), one chunk every chunk_ms,
stamped with the wall-clock capture time of its first sample (the same clock as a live
microphone), including the silence between and after files.

Parameters (read-only): paths (string array, WAV files played in order), sample_rate_hz [Hz]
(output rate; files are resampled to it), chunk_ms [ms], loop (bool, replay forever),
start_delay_s [s] (silence-free wait before the first chunk, so subscribers can connect),
gap_s [s] (silence published before, between and after the files, so a VAD sees a start and
can close the final utterance).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node
from vla_ros_msgs.msg import AudioData

from vla_ros import conversions as conv
from vla_ros.core.speech.vad import to_mono_16k
from vla_ros.nodes.common import COMMAND_QOS, run_node


def read_wav(path: Path, sample_rate_hz: int) -> np.ndarray:
    """A 16-bit PCM WAV file as mono int16 at `sample_rate_hz`."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        rate, channels = wav.getframerate(), wav.getnchannels()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)
    samples = data.reshape(-1, channels)
    if sample_rate_hz == 16_000:
        return to_mono_16k(samples, rate)
    if rate != sample_rate_hz:
        raise ValueError(f"{path}: {rate} Hz; only 16 kHz output resamples other rates")
    return samples.mean(axis=1).astype(np.int16) if channels > 1 else samples[:, 0]


class AudioFileNode(Node):
    """Real-time playback of a playlist of WAV files."""

    def __init__(self, **kwargs) -> None:
        super().__init__("audio_file_node", **kwargs)

        def param(name, default, description, **extra):
            descriptor = ParameterDescriptor(description=description, read_only=True, **extra)
            return self.declare_parameter(name, default, descriptor).value

        # [""]: rclpy would type an empty list as a byte array
        paths = param(
            "paths", [""], "WAV files played in order", type=ParameterType.PARAMETER_STRING_ARRAY
        )
        paths = [p for p in paths if p]
        self.rate_hz = int(param("sample_rate_hz", 16000, "output sample rate [Hz]"))
        chunk_ms = float(param("chunk_ms", 20.0, "chunk length [ms]"))
        self.loop = bool(param("loop", False, "replay the playlist forever"))
        start_delay_s = float(param("start_delay_s", 1.0, "wait before the first chunk [s]"))
        gap_s = float(param("gap_s", 1.0, "silence before, between and after files [s]"))
        if not paths:
            raise ValueError("parameter 'paths' names no WAV files")
        if chunk_ms <= 0.0 or self.rate_hz <= 0 or gap_s < 0.0 or start_delay_s < 0.0:
            raise ValueError("chunk_ms and sample_rate_hz must be > 0; gap_s, start_delay_s >= 0")
        gap = np.zeros(round(gap_s * self.rate_hz), dtype=np.int16)
        pieces = [gap]  # a microphone hears silence before anyone speaks, too
        for path in paths:
            pieces += [read_wav(Path(path), self.rate_hz), gap]
        self.playlist = np.concatenate(pieces)
        self.chunk = max(1, round(chunk_ms / 1000.0 * self.rate_hz))
        self.pub = self.create_publisher(AudioData, "audio", COMMAND_QOS)
        self._t0_s = self._now_s() + start_delay_s
        self._sent = 0  # samples published so far (over all loops)
        self.done = False
        self.timer = self.create_timer(chunk_ms / 1000.0 / 2.0, self._tick)
        self.get_logger().info(
            f"playing {len(paths)} file(s), {self.playlist.size / self.rate_hz:.1f} s"
            f"{' in a loop' if self.loop else ''}, starting in {start_delay_s:.1f} s"
        )

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _tick(self) -> None:
        now_s = self._now_s()
        if self.done or now_s < self._t0_s:
            return
        # publish every chunk whose last sample has been "captured" by now: no drift
        due = int((now_s - self._t0_s) * self.rate_hz)
        while self._sent + self.chunk <= due:
            start = self._sent % self.playlist.size if self.loop else self._sent
            if not self.loop and start >= self.playlist.size:
                self.done = True
                self.get_logger().info("playlist finished")
                return
            idx = (
                (np.arange(start, start + self.chunk) % self.playlist.size) if self.loop else None
            )
            samples = (
                self.playlist[idx]
                if idx is not None
                else np.pad(
                    self.playlist[start : start + self.chunk],
                    (0, max(0, start + self.chunk - self.playlist.size)),
                )
            )
            stamp_s = self._t0_s + self._sent / self.rate_hz
            self.pub.publish(conv.audio_to_msg(samples, self.rate_hz, stamp_s))
            self._sent += self.chunk


def main(args=None) -> None:
    """Process entry point: `python -m vla_ros.nodes.audio_file_node --ros-args ...`."""
    run_node(AudioFileNode, args)


if __name__ == "__main__":
    main()
