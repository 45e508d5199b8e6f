"""Voice activity detection and utterance segmentation of a live 16 kHz audio stream."""

from __future__ import annotations

import importlib.util
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

VAD_SAMPLE_RATE_HZ = 16_000


class VoiceActivityDetector(Protocol):
    """Speech probability of fixed-size frames of 16 kHz int16 audio, in stream order."""

    frame_samples: int

    def speech_probability(self, frame: np.ndarray) -> float:
        """Probability [0..1] that `frame` (exactly frame_samples long) holds speech."""
        ...

    def reset(self) -> None:
        """Forget the stream's history."""
        ...


@dataclass(frozen=True)
class VadConfig:
    """How the audio stream is cut into utterances."""

    backend: str = "silero"  # "silero" (robust in noise, default) or "webrtc" (tiny, stateless)
    threshold: float = 0.5  # speech probability that starts speech [0..1]
    release_threshold: float = 0.35  # probability below which a frame counts as silence [0..1]
    webrtc_aggressiveness: int = 2  # webrtcvad mode 0..3 (3 rejects the most noise)
    min_speech_ms: float = 90.0  # shorter bursts (clicks, bumps) are ignored [ms]
    end_silence_ms: float = 450.0  # silence that ends an utterance [ms]
    control_silence_ms: float = 90.0  # silence after a short utterance that is decoded at once
    max_control_utterance_ms: float = 1000.0  # utterances up to this long get the fast path [ms]
    pre_roll_ms: float = 250.0  # audio kept before the detected speech start [ms]
    max_utterance_s: float = 8.0  # longer speech is cut and decoded [s]

    def __post_init__(self) -> None:
        if self.backend not in ("silero", "webrtc"):
            raise ValueError(f"unknown VAD backend '{self.backend}' (silero or webrtc)")
        if not 0.0 < self.release_threshold <= self.threshold < 1.0:
            raise ValueError("need 0 < release_threshold <= threshold < 1")
        if self.webrtc_aggressiveness not in (0, 1, 2, 3):
            raise ValueError("webrtc_aggressiveness must be 0, 1, 2 or 3")
        for name in ("min_speech_ms", "end_silence_ms", "control_silence_ms", "pre_roll_ms"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"{name} must be >= 0")
        if self.control_silence_ms > self.end_silence_ms:
            raise ValueError("control_silence_ms must not exceed end_silence_ms")
        if self.max_utterance_s <= 0.0 or self.max_control_utterance_ms <= 0.0:
            raise ValueError("max_utterance_s and max_control_utterance_ms must be positive")


def silero_model_path() -> Path:
    """The ONNX model shipped inside the silero-vad wheel, found without importing it.

    Importing `silero_vad` loads torch; the model itself only needs onnxruntime.
    """
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("VAD backend 'silero' needs the silero-vad package (its ONNX model)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise RuntimeError(f"silero-vad is installed but its model is missing: {path}")
    return path


class SileroVad:
    """silero-vad's ONNX model through onnxruntime: 32 ms frames, ~0.3 ms each on one core."""

    frame_samples = 512
    _CONTEXT = 64

    def __init__(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session: Any = onnxruntime.InferenceSession(
            str(silero_model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._sr = np.array(VAD_SAMPLE_RATE_HZ, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent state."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, self._CONTEXT), dtype=np.float32)

    def speech_probability(self, frame: np.ndarray) -> float:
        """Probability of speech in one 512-sample frame."""
        x = (np.asarray(frame, dtype=np.float32) / 32768.0).reshape(1, -1)
        if x.shape[1] != self.frame_samples:
            raise ValueError(f"silero frames are {self.frame_samples} samples, got {x.shape[1]}")
        x = np.concatenate([self._context, x], axis=1)
        out, self._state = self._session.run(
            None, {"input": x, "state": self._state, "sr": self._sr}
        )
        self._context = x[:, -self._CONTEXT :]
        return float(out[0, 0])


class WebRtcVad:
    """webrtcvad (GMM, 30 ms frames): tiny and fast, but easily triggered by noise."""

    frame_samples = 480

    def __init__(self, aggressiveness: int = 2) -> None:
        import webrtcvad

        self._vad: Any = webrtcvad.Vad(aggressiveness)

    def reset(self) -> None:
        """webrtcvad keeps no state between frames worth resetting."""

    def speech_probability(self, frame: np.ndarray) -> float:
        """1.0 for speech, 0.0 for non-speech."""
        pcm = np.ascontiguousarray(frame, dtype=np.int16)
        return 1.0 if self._vad.is_speech(pcm.tobytes(), VAD_SAMPLE_RATE_HZ) else 0.0


def make_vad(config: VadConfig) -> VoiceActivityDetector:
    """The configured detector."""
    if config.backend == "silero":
        return SileroVad()
    return WebRtcVad(config.webrtc_aggressiveness)


@dataclass(frozen=True)
class Utterance:
    """A stretch of speech cut from the stream."""

    samples: np.ndarray  # 16 kHz mono int16, with pre-roll and the silence seen after it
    start_s: float  # stream time of the first speech frame [s]
    end_s: float  # stream time at the end of the last speech frame [s]
    index: int  # utterance counter; a provisional and the final cut share it
    final: bool  # False: early cut of a short utterance (control-word fast path)

    @property
    def duration_s(self) -> float:
        """Speech duration (end - start) [s]."""
        return self.end_s - self.start_s


class UtteranceSegmenter:
    """Feeds audio through a VAD and cuts utterances.

    A short utterance followed by `control_silence_ms` of silence is emitted early as a
    provisional cut, so that "stop" is decoded ~0.3 s before the utterance formally ends; the
    final cut follows after `end_silence_ms`.
    """

    def __init__(self, vad: VoiceActivityDetector, config: VadConfig | None = None) -> None:
        self.vad = vad
        self.config = config or VadConfig()
        self._frame = vad.frame_samples
        self._frame_s = self._frame / VAD_SAMPLE_RATE_HZ
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_start_s: float | None = None
        pre_frames = int(np.ceil(self.config.pre_roll_ms / 1000.0 / self._frame_s))
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(pre_frames, 1))
        self._index = 0
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._in_speech = False
        self._frames: list[np.ndarray] = []
        self._speech_start_s = 0.0
        self._last_speech_end_s = 0.0
        self._speech_frames = 0
        self._silence_frames = 0
        self._provisional_sent = False

    def reset(self) -> None:
        """Drop buffered audio and VAD state (e.g. after a gap in the stream)."""
        self.vad.reset()
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_start_s = None
        self._pre_roll.clear()
        self._reset_utterance()

    def process(self, samples: np.ndarray, start_s: float) -> list[Utterance]:
        """Feed 16 kHz mono int16 samples whose first sample was captured at `start_s`."""
        chunk = np.asarray(samples, dtype=np.int16).reshape(-1)
        if self._pending_start_s is None or self._pending.size == 0:
            self._pending_start_s = start_s - self._pending.size / VAD_SAMPLE_RATE_HZ
        self._pending = np.concatenate([self._pending, chunk])
        out: list[Utterance] = []
        n_frames = self._pending.size // self._frame
        for i in range(n_frames):
            frame = self._pending[i * self._frame : (i + 1) * self._frame]
            frame_start_s = self._pending_start_s + i * self._frame_s
            utterance = self._step(frame, frame_start_s)
            if utterance is not None:
                out.append(utterance)
        consumed = n_frames * self._frame
        self._pending = self._pending[consumed:]
        self._pending_start_s += consumed / VAD_SAMPLE_RATE_HZ
        return out

    def _cut(self, *, final: bool) -> Utterance:
        return Utterance(
            samples=np.concatenate(self._frames),
            start_s=self._speech_start_s,
            end_s=self._last_speech_end_s,
            index=self._index,
            final=final,
        )

    def _step(self, frame: np.ndarray, frame_start_s: float) -> Utterance | None:
        cfg = self.config
        probability = self.vad.speech_probability(frame)
        frame_end_s = frame_start_s + self._frame_s
        if not self._in_speech:
            self._pre_roll.append(frame)
            if probability >= cfg.threshold:
                self._in_speech = True
                self._frames = list(self._pre_roll)
                self._speech_start_s = frame_start_s
                self._last_speech_end_s = frame_end_s
                self._speech_frames = 1
                self._silence_frames = 0
            return None
        self._frames.append(frame)
        if probability >= cfg.release_threshold:
            self._speech_frames += 1 + self._silence_frames
            self._silence_frames = 0
            self._last_speech_end_s = frame_end_s
        else:
            self._silence_frames += 1
        speech_ms = 1000.0 * self._speech_frames * self._frame_s
        silence_ms = 1000.0 * self._silence_frames * self._frame_s
        if self._silence_frames and speech_ms < cfg.min_speech_ms:
            # a click or a bump, not speech
            self._pre_roll.clear()
            self._reset_utterance()
            return None
        if silence_ms >= cfg.end_silence_ms or speech_ms / 1000.0 >= cfg.max_utterance_s:
            utterance = self._cut(final=True)
            self._index += 1
            self._pre_roll.clear()
            self._reset_utterance()
            return utterance
        if (
            not self._provisional_sent
            and silence_ms >= cfg.control_silence_ms
            and speech_ms <= cfg.max_control_utterance_ms
        ):
            self._provisional_sent = True
            return self._cut(final=False)
        return None


def _mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    return x


def to_mono_16k(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """(N,) or (N, channels) int16 at any rate -> (M,) int16 mono at 16 kHz (one-shot).

    For a stream use StreamResampler: resampling chunk by chunk here would click at every
    chunk boundary.
    """
    x = _mono(samples)
    if sample_rate_hz == VAD_SAMPLE_RATE_HZ:
        return np.asarray(x, dtype=np.int16)
    if sample_rate_hz <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate_hz}")
    from math import gcd

    from scipy.signal import resample_poly  # lazy: only non-16 kHz sources need it

    g = gcd(int(sample_rate_hz), VAD_SAMPLE_RATE_HZ)
    y = resample_poly(x.astype(np.float64), VAD_SAMPLE_RATE_HZ // g, int(sample_rate_hz) // g)
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


class StreamResampler:
    """Chunked audio at any rate -> continuous 16 kHz mono int16, without boundary clicks.

    Keeps the anti-aliasing filter's state and the decimation phase between chunks. Rates that
    are integer multiples of 16 kHz (32, 48, 96 kHz) are filtered and decimated exactly; other
    rates (44.1 kHz) are interpolated linearly after the same low-pass.
    """

    def __init__(self) -> None:
        self._rate_hz = 0
        self._taps = np.zeros(0)
        self._zi = np.zeros(0)
        self._position = 0.0  # input-sample index of the next output sample
        self._previous = 0.0  # last filtered sample of the previous chunk

    def process(self, samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
        """One chunk in, the 16 kHz samples it completes out."""
        x = _mono(samples).astype(np.float64)
        if sample_rate_hz == VAD_SAMPLE_RATE_HZ:
            return np.clip(np.rint(x), -32768, 32767).astype(np.int16)
        if sample_rate_hz <= 0:
            raise ValueError(f"sample rate must be positive, got {sample_rate_hz}")
        from scipy.signal import firwin, lfilter  # lazy: only non-16 kHz sources need it

        if sample_rate_hz != self._rate_hz:
            self._rate_hz = int(sample_rate_hz)
            cutoff = 0.45 * min(VAD_SAMPLE_RATE_HZ, sample_rate_hz)
            self._taps = firwin(63, cutoff, fs=sample_rate_hz)
            self._zi = np.zeros(self._taps.size - 1)
            self._position = 0.0
            self._previous = 0.0
        filtered, self._zi = lfilter(self._taps, [1.0], x, zi=self._zi)
        step = sample_rate_hz / VAD_SAMPLE_RATE_HZ
        n = filtered.size
        # output positions relative to this chunk; linear interpolation across the boundary
        positions = np.arange(self._position, n, step)
        extended = np.concatenate([[self._previous], filtered])
        y = np.interp(positions + 1.0, np.arange(n + 1), extended)
        self._position = (positions[-1] + step - n) if positions.size else self._position - n
        self._previous = float(filtered[-1]) if n else self._previous
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)
