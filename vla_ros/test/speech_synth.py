"""Test speech: espeak-ng synthesis at test time, resampled to 16 kHz by sox, plus noise."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter

RATE_HZ = 16_000
VOICES = ("en-us", "en-gb", "en-us+f3")  # American male, British male, American female
SPEAKING_RATES_WPM = (140, 175)


def require_tools() -> None:
    """Skip (with the reason) where espeak-ng or sox is not installed."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"speech tests synthesise audio with {' and '.join(missing)} (apt install)")


def read_wav(path: Path) -> np.ndarray:
    """Mono int16 samples of a 16-bit WAV file."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2 and wav.getnchannels() == 1
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).copy()


def write_wav(path: Path, samples: np.ndarray, rate_hz: int = RATE_HZ) -> Path:
    """Write mono int16 samples as a WAV file."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate_hz)
        wav.writeframes(np.ascontiguousarray(samples, dtype=np.int16).tobytes())
    return path


def synth(text: str, voice: str = "en-us", rate_wpm: int = 150, pitch: int = 50) -> np.ndarray:
    """espeak-ng speech of `text` as 16 kHz mono int16 (sox resamples it)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "16k.wav"
        subprocess.run(
            [
                "espeak-ng",
                "-v",
                voice,
                "-s",
                str(rate_wpm),
                "-p",
                str(pitch),
                "-w",
                str(raw),
                text,
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["sox", str(raw), "-r", str(RATE_HZ), "-c", "1", "-b", "16", str(out)],
            check=True,
            capture_output=True,
        )
        return read_wav(out)


def pad(samples: np.ndarray, before_s: float = 0.3, after_s: float = 0.3) -> np.ndarray:
    """Silence around an utterance, as a VAD would cut it."""
    return np.concatenate(
        [
            np.zeros(int(before_s * RATE_HZ), np.int16),
            samples,
            np.zeros(int(after_s * RATE_HZ), np.int16),
        ]
    )


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add pink-ish noise at `snr_db` relative to the speech power (active samples only)."""
    x = samples.astype(np.float64)
    active = np.abs(x) > 0.02 * np.abs(x).max()
    speech_power = np.mean(x[active] ** 2)
    white = rng.standard_normal(x.size)
    # a one-pole low-pass tilts the spectrum towards room/fan noise
    noise = lfilter([1.0], [1.0, -0.9], white)
    noise *= np.sqrt(speech_power / np.mean(noise**2) / 10 ** (snr_db / 10))
    return np.clip(np.rint(x + noise), -32768, 32767).astype(np.int16)


def speech_end_index(samples: np.ndarray, threshold: int = 300) -> int:
    """Index just after the last sample louder than `threshold` (the end of the speech)."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    return int(loud[-1]) + 1 if loud.size else 0
