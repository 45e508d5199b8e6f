"""Speech-to-text backends behind one small interface; heavy engines are imported lazily."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vla_ros.core.speech.grammar import CommandGrammar, CommandKind, normalise_words

ASR_SAMPLE_RATE_HZ = 16_000
_FRAME_S = 0.01  # pocketsphinx's 100 frames per second
_FILLERS = {"<s>", "</s>", "<sil>", "(NULL)", "[NOISE]", "[SPEECH]"}


@dataclass(frozen=True)
class Transcript:
    """What a backend heard in one utterance."""

    text: str  # the words, lower case; "" when nothing in-grammar was heard
    confidence: float  # [0..1]; backend specific (see each backend)
    rejected_reason: str = ""  # set when the backend itself refused the audio


class AsrBackend(Protocol):
    """Speech to text for one utterance of 16 kHz mono int16 audio."""

    def transcribe(self, samples: np.ndarray) -> Transcript:
        """Decode one complete utterance."""
        ...


@dataclass(frozen=True)
class AsrConfig:
    """Which recogniser runs and how strictly it accepts what it heard."""

    backend: str = "pocketsphinx"  # "pocketsphinx" (grammar), "faster_whisper" or "moonshine"
    model_dir: str = ""  # model directory for faster_whisper / moonshine (never downloaded)
    # Speech frames (by energy) the grammar's best path spends in silence or fillers: above
    # this fraction the utterance held words outside the grammar and is rejected.
    max_unexplained_speech_fraction: float = 0.2
    speech_energy_floor_dbfs: float = -50.0  # frames quieter than this are never speech [dBFS]
    speech_energy_below_peak_db: float = 25.0  # frames this far below the loudest are not [dB]
    min_confidence: float = 0.5  # transcripts below this confidence are rejected [0..1]
    # Acoustic fit of the recognised words: pocketsphinx per-frame scores relative to the
    # frame's best senone (log units/frame, 0 = perfect). Near-misses score lower.
    min_mean_word_score: float = -52.0  # mean over the words' frames
    min_word_score: float = -75.0  # worst single word
    # A false stop is safe, a missed one is not: e-stop words need only this mean score.
    estop_min_mean_word_score: float = -85.0
    # Extra pronunciations, "word PHONES" (CMUdict phones): British "stack" and "stop" by default.
    extra_pronunciations: tuple[str, ...] = ("stack S T AA K", "stop S T AO P")
    log_level: str = "FATAL"  # pocketsphinx log level

    def __post_init__(self) -> None:
        if self.backend not in ("pocketsphinx", "faster_whisper", "moonshine"):
            raise ValueError(f"unknown ASR backend '{self.backend}'")
        if self.backend != "pocketsphinx" and not self.model_dir:
            raise ValueError(f"ASR backend '{self.backend}' needs model_dir (a local model)")
        if not 0.0 <= self.max_unexplained_speech_fraction <= 1.0:
            raise ValueError("max_unexplained_speech_fraction must be in [0, 1]")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError("min_confidence must be in [0, 1]")
        if not self.min_word_score <= 0.0 or not self.min_mean_word_score <= 0.0:
            raise ValueError("word score thresholds are log scores: <= 0")
        for entry in self.extra_pronunciations:
            if len(entry.split()) < 2:
                raise ValueError(f"pronunciation '{entry}' must be 'word PHONE PHONE ...'")
        if self.speech_energy_below_peak_db <= 0.0:
            raise ValueError("speech_energy_below_peak_db must be positive")


def speech_frames(samples: np.ndarray, config: AsrConfig) -> np.ndarray:
    """Boolean per 10 ms frame: loud enough to be speech (relative to the utterance's peak)."""
    x = np.asarray(samples, dtype=np.float64) / 32768.0
    hop = int(ASR_SAMPLE_RATE_HZ * _FRAME_S)
    n = x.size // hop
    if n == 0:
        return np.zeros(0, dtype=bool)
    power = np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)
    db = 10.0 * np.log10(power + 1e-12)
    # Background noise sets a floor too: speech must stand out from the quietest frames.
    noise_db = float(np.percentile(db, 10))
    threshold = max(
        config.speech_energy_floor_dbfs,
        float(db.max()) - config.speech_energy_below_peak_db,
        noise_db + 6.0,
    )
    return np.asarray(db > threshold)


class PocketSphinxAsr:
    """pocketsphinx 5 with a JSGF grammar generated from the vocabulary.

    A grammar decoder always returns *some* in-grammar path, so out-of-grammar speech is caught
    by alignment: if the best path leaves much of the speech to silence or fillers, the words
    were not in the grammar. Confidence is the fraction of speech frames covered by words.
    """

    def __init__(self, grammar: CommandGrammar, config: AsrConfig | None = None) -> None:
        import pocketsphinx  # lazy: only the speech node pays for it

        self.config = config or AsrConfig()
        self.grammar = grammar
        # bestpath=False: the lattice rescoring pass returns truncated, non-final paths
        # ("put the red cube on the") for grammars; the Viterbi path always ends in a final state.
        self._decoder: Any = pocketsphinx.Decoder(
            lm=None,
            samprate=ASR_SAMPLE_RATE_HZ,
            loglevel=self.config.log_level,
            bestpath=False,
        )
        missing = [w for w in grammar.vocabulary.all_words() if not self._decoder.lookup_word(w)]
        if missing:
            raise ValueError(
                f"words missing from the pocketsphinx dictionary: {missing}; "
                "change the vocabulary or add pronunciations"
            )
        for entry in self.config.extra_pronunciations:
            word, *phones = entry.split()
            variant = 2
            while self._decoder.lookup_word(f"{word}({variant})"):
                variant += 1
            self._decoder.add_word(f"{word}({variant})", " ".join(phones), update=False)
        self._decoder.add_jsgf_string("commands", grammar.jsgf())
        self._decoder.activate_search("commands")

    def transcribe(self, samples: np.ndarray) -> Transcript:
        """Decode one utterance (16 kHz mono int16, with a little silence around it)."""
        audio = np.ascontiguousarray(samples, dtype=np.int16)
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(audio.tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        words = normalise_words(hyp.hypstr) if hyp is not None else ()
        speech = speech_frames(audio, self.config)
        n_speech = int(speech.sum())
        if not words or n_speech == 0:
            return Transcript("", 0.0, rejected_reason="no words recognised")
        covered = np.zeros(speech.size, dtype=bool)
        logmath = decoder.get_logmath()
        scores = []
        for seg in decoder.seg() or []:
            if seg.word in _FILLERS or seg.word.startswith(("<", "[", "+", "(")):
                continue
            covered[max(seg.start_frame, 0) : seg.end_frame + 1] = True
            n_frames = max(seg.end_frame - seg.start_frame + 1, 1)
            # the binding hands out exp(score); log() recovers the decoder's integer score
            raw = logmath.log(seg.ascore) if seg.ascore > 0.0 else -1e9
            scores.append(raw / n_frames)
        explained = float(np.sum(speech & covered)) / n_speech
        text = " ".join(words)
        cfg = self.config
        if 1.0 - explained > cfg.max_unexplained_speech_fraction:
            reason = f"{100 * (1 - explained):.0f}% of the speech is outside the grammar"
            return Transcript(text, explained, rejected_reason=reason)
        mean_score = float(np.mean(scores)) if scores else -1e9
        worst_score = float(np.min(scores)) if scores else -1e9
        if self.grammar.interpret(text).kind is CommandKind.ESTOP:
            if mean_score < cfg.estop_min_mean_word_score:
                reason = f"stop word fits poorly (score {mean_score:.0f})"
                return Transcript(text, explained, rejected_reason=reason)
        elif mean_score < cfg.min_mean_word_score or worst_score < cfg.min_word_score:
            reason = f"words fit poorly (mean {mean_score:.0f}, worst {worst_score:.0f})"
            return Transcript(text, explained, rejected_reason=reason)
        return Transcript(text, explained)


class FasterWhisperAsr:
    """faster-whisper from a local model directory (no download); confidence = exp(logprob)."""

    def __init__(self, config: AsrConfig) -> None:
        if importlib.util.find_spec("faster_whisper") is None:
            raise RuntimeError(
                "ASR backend 'faster_whisper' needs the faster-whisper package "
                "(pip install faster-whisper) and a local model directory"
            )
        if not Path(config.model_dir).is_dir():
            raise RuntimeError(f"faster-whisper model directory not found: {config.model_dir}")
        from faster_whisper import WhisperModel

        self.config = config
        self._model = WhisperModel(config.model_dir, device="cpu", compute_type="int8")

    def transcribe(self, samples: np.ndarray) -> Transcript:
        """Decode one utterance; the text is then checked against the grammar by the caller."""
        audio = np.asarray(samples, dtype=np.float32) / 32768.0
        segments, _ = self._model.transcribe(audio, language="en", beam_size=1)
        segments = list(segments)
        text = " ".join(s.text for s in segments).strip()
        if not segments:
            return Transcript("", 0.0, rejected_reason="no words recognised")
        logprob = float(np.mean([s.avg_logprob for s in segments]))
        return Transcript(text, float(np.exp(logprob)))


class MoonshineAsr:
    """Moonshine (useful-moonshine-onnx) from a local model directory; confidence fixed at 1."""

    def __init__(self, config: AsrConfig) -> None:
        if importlib.util.find_spec("moonshine_onnx") is None:
            raise RuntimeError(
                "ASR backend 'moonshine' needs the useful-moonshine-onnx package "
                "and a local model directory"
            )
        if not Path(config.model_dir).is_dir():
            raise RuntimeError(f"moonshine model directory not found: {config.model_dir}")
        import moonshine_onnx

        self.config = config
        self._model = moonshine_onnx.MoonshineOnnxModel(models_dir=config.model_dir)
        self._tokenizer = moonshine_onnx.load_tokenizer()

    def transcribe(self, samples: np.ndarray) -> Transcript:
        """Decode one utterance; the text is then checked against the grammar by the caller."""
        audio = (np.asarray(samples, dtype=np.float32) / 32768.0)[None, :]
        tokens = self._model.generate(audio)
        text = str(self._tokenizer.decode_batch(tokens)[0]).strip()
        return Transcript(text, 1.0 if text else 0.0)


def make_asr_backend(config: AsrConfig, grammar: CommandGrammar) -> AsrBackend:
    """The configured backend; a clear RuntimeError when its package or model is missing."""
    if config.backend == "pocketsphinx":
        return PocketSphinxAsr(grammar, config)
    if config.backend == "faster_whisper":
        return FasterWhisperAsr(config)
    return MoonshineAsr(config)
