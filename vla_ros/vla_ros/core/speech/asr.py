"""Speech-to-text backends behind one small interface; heavy engines are imported lazily."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
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

    def transcribe(self, samples: np.ndarray, *, thorough: bool = True) -> Transcript:
        """Decode one complete utterance; thorough=False may skip slow rejection checks."""
        ...


# Garbage modelling: words a speaker in this cell may say that the robot does not know. Each
# recognised command is decoded again with every content word free to be one of these (at a
# small prior weight), so "pick up the purple cube" comes back as "purple" and is rejected
# instead of being forced onto the nearest colour. Chosen by class, not from the test
# sentences: the basic colour terms, common tabletop objects, containers and surfaces,
# positions, and manipulation verbs. Vocabulary words, and words one phone away from a
# content word or control word of the vocabulary ("top" / "stop", "pink" / "pick"), are
# dropped automatically: they would steal commands said correctly.
DEFAULT_DECOY_WORDS: tuple[str, ...] = (
    # colours (the basic colour terms)
    "black", "white", "brown", "purple", "pink", "orange", "gray",
    # objects
    "cup", "mug", "ball", "box", "block", "bottle", "can", "pen", "book", "phone", "apple",
    "banana", "toy", "brick", "sphere", "cylinder", "spoon", "fork", "knife", "glass", "jar",
    "lid",
    # containers and surfaces
    "bin", "basket", "tray", "table", "floor", "shelf", "drawer", "pot", "pan", "dish", "sink",
    # positions
    "front", "back", "center", "top", "bottom", "down", "side",
    # verbs
    "grab", "take", "lift", "move", "throw", "drop", "hold", "give", "bring", "place",
    "raise", "get", "open", "close", "turn", "hand", "carry", "pull", "slide", "shake",
    "wash", "touch", "kick", "hit",
)  # fmt: skip


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
    # Competitor model: a free phone loop decodes the same audio. Its score over a word's frames
    # is what *any* English sound sequence could achieve there; a grammar word that falls far
    # below it was forced onto speech it does not match (an unknown object, chatter). Log-
    # likelihood ratios (LLR) below are grammar minus phone loop, pocketsphinx log units per
    # 10 ms frame (0 = as good as the free loop).
    phone_loop_check: bool = True  # False: only the alignment and word-score checks
    phone_loop_weight: float = 1.0  # language weight of the phone loop's phone trigram
    min_word_llr: float = -50.0  # each word of >= 3 phones that is no article or politeness
    min_any_word_llr: float = -60.0  # every word, articles and politeness included
    min_utterance_llr: float = -18.0  # the whole utterance, silences included
    estop_min_utterance_llr: float = -30.0  # e-stop utterances: only this and min_any_word_llr
    # Out-of-vocabulary words the decoder may hear as themselves (DEFAULT_DECOY_WORDS; () turns
    # garbage modelling off): a command re-decoded through one is rejected, naming the word.
    decoy_words: tuple[str, ...] = DEFAULT_DECOY_WORDS
    # Prior weight of a decoy against 1 for the command word heard. Measured trade-off
    # (bench/bench_speech_rejection.py): larger rejects more near misses and more good commands.
    decoy_weight: float = 1e-26
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
        for word in self.decoy_words:
            if not word or word != word.lower() or len(word.split()) != 1:
                raise ValueError(f"decoy word '{word}' must be one lower-case word")
        if not 0.0 < self.decoy_weight <= 1.0:
            raise ValueError("decoy_weight must be in (0, 1]")
        for entry in self.extra_pronunciations:
            if len(entry.split()) < 2:
                raise ValueError(f"pronunciation '{entry}' must be 'word PHONE PHONE ...'")
        if self.speech_energy_below_peak_db <= 0.0:
            raise ValueError("speech_energy_below_peak_db must be positive")
        for name in (
            "min_word_llr",
            "min_any_word_llr",
            "min_utterance_llr",
            "estop_min_utterance_llr",
        ):
            if getattr(self, name) > 0.0:
                raise ValueError(f"{name} is a log-likelihood ratio threshold: <= 0")
        if self.phone_loop_weight <= 0.0:
            raise ValueError("phone_loop_weight must be positive")


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


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (phones, words)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


class PocketSphinxAsr:
    """pocketsphinx 5 with a JSGF grammar generated from the vocabulary.

    A grammar decoder always returns *some* in-grammar path, so out-of-grammar speech needs
    evidence against that path:

    1. alignment: if the best path leaves much of the speech to silence or fillers, the words
       were not in the grammar (confidence = the fraction of speech frames covered by words);
    2. acoustic fit: per-frame scores of the recognised words against the frame's best senone;
    3. a competitor: a free phone loop (pocketsphinx allphone search with its phone trigram)
       decodes the same audio; a grammar word scoring far below the loop over the same frames,
       or an utterance doing so on average, was forced onto sounds it does not match;
    4. decoys (garbage modelling): a command is decoded again with each content word free to
       be an out-of-vocabulary word (asr.decoy_words); if one wins, the speaker said it.

    E-stop words get lenient thresholds: a false stop is safe, a missed one is not.
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
        missing = [w for w in grammar.words() if not self._decoder.lookup_word(w)]
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
        voc = grammar.vocabulary
        # Words too short or too unstressed for a per-word verdict (they still count in
        # min_any_word_llr and the utterance ratio).
        minor = {w for p in (*voc.articles, *voc.polite_prefixes, *voc.polite_suffixes)
                 for w in p.split()}  # fmt: skip
        minor |= {w for w in grammar.words() if len(str(self._decoder.lookup_word(w)).split()) < 3}
        self._minor_words = frozenset(minor)
        self.decoys = self._usable_decoys()
        self._decoy_checker: Any = None
        if self.decoys:
            self._decoy_checker = pocketsphinx.Decoder(
                lm=None,
                samprate=ASR_SAMPLE_RATE_HZ,
                loglevel=self.config.log_level,
                bestpath=False,
            )
        self._phone_loop: Any = None
        if self.config.phone_loop_check:
            phone_lm = Path(pocketsphinx.get_model_path()) / "en-us" / "en-us-phone.lm.bin"
            if not phone_lm.is_file():
                raise RuntimeError(f"pocketsphinx phone language model not found: {phone_lm}")
            self._phone_loop = pocketsphinx.Decoder(
                lm=None,
                allphone=str(phone_lm),
                lw=self.config.phone_loop_weight,
                samprate=ASR_SAMPLE_RATE_HZ,
                loglevel=self.config.log_level,
            )

    def _pronunciations(self, word: str) -> list[list[str]]:
        out = []
        for key in (word, *(f"{word}({v})" for v in range(2, 10))):
            phones = self._decoder.lookup_word(key)
            if not phones:
                break
            out.append(str(phones).split())
        return out

    def _usable_decoys(self) -> tuple[str, ...]:
        """Configured decoys minus vocabulary words and words within one phone edit of a
        vocabulary word a decoy could stand for (>= 3 letters, no article); a decoy missing
        from the dictionary is a configuration error."""
        decoys = self.grammar.usable_decoys(self.config.decoy_words)
        missing = [w for w in decoys if not self._decoder.lookup_word(w)]
        if missing:
            raise ValueError(
                f"decoy words missing from the pocketsphinx dictionary: {missing}; "
                "change asr.decoy_words"
            )
        voc = self.grammar.vocabulary
        content = [
            p
            for w in self.grammar.words()
            if len(w) >= 3 and w not in voc.articles
            for p in self._pronunciations(w)
        ]
        return tuple(
            d
            for d in decoys
            if all(edit_distance(p, q) > 1 for p in self._pronunciations(d) for q in content)
        )

    @staticmethod
    def _segments(decoder: Any) -> list[tuple[str, int, int, float]]:
        """(word, first frame, last frame, acoustic score) of the best path, fillers included."""
        logmath = decoder.get_logmath()
        out = []
        for seg in decoder.seg() or []:
            # the binding hands out exp(score); log() recovers the decoder's integer score
            raw = logmath.log(seg.ascore) if seg.ascore > 0.0 else -1e9
            out.append((str(seg.word), int(seg.start_frame), int(seg.end_frame), float(raw)))
        return out

    def transcribe(self, samples: np.ndarray, *, thorough: bool = True) -> Transcript:
        """Decode one utterance (16 kHz mono int16, with a little silence around it).

        thorough=False skips the phone-loop competitor (~60 ms for a 1 s utterance): the
        e-stop fast path uses it, and the utterance's final decode runs every check.
        """
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
        segments = self._segments(decoder)
        covered = np.zeros(speech.size, dtype=bool)
        scores = []
        word_segments = []
        for word, start, end, raw in segments:
            if word in _FILLERS or word.startswith(("<", "[", "+", "(")):
                continue
            word_segments.append((word, start, end, raw))
            covered[max(start, 0) : end + 1] = True
            scores.append(raw / max(end - start + 1, 1))
        explained = float(np.sum(speech & covered)) / n_speech
        text = " ".join(words)
        cfg = self.config
        if 1.0 - explained > cfg.max_unexplained_speech_fraction:
            reason = f"{100 * (1 - explained):.0f}% of the speech is outside the grammar"
            return Transcript(text, explained, rejected_reason=reason)
        mean_score = float(np.mean(scores)) if scores else -1e9
        worst_score = float(np.min(scores)) if scores else -1e9
        estop = self.grammar.interpret(text).kind is CommandKind.ESTOP
        if estop:
            if mean_score < cfg.estop_min_mean_word_score:
                reason = f"stop word fits poorly (score {mean_score:.0f})"
                return Transcript(text, explained, rejected_reason=reason)
        elif mean_score < cfg.min_mean_word_score or worst_score < cfg.min_word_score:
            reason = f"words fit poorly (mean {mean_score:.0f}, worst {worst_score:.0f})"
            return Transcript(text, explained, rejected_reason=reason)
        if thorough and self._phone_loop is not None:
            reason = self._phone_loop_verdict(audio, segments, word_segments, estop)
            if reason:
                return Transcript(text, explained, rejected_reason=reason)
        if thorough and self._decoy_checker is not None and not estop:
            unknown = self._decoy_verdict(audio, words)
            if unknown:
                reason = f"heard '{unknown}', which is not in the vocabulary"
                return Transcript(text, explained, rejected_reason=reason)
        return Transcript(text, explained)

    def _decoy_verdict(self, audio: np.ndarray, words: tuple[str, ...]) -> str:
        """The decoy the re-decode heard in place of a command word, or ""."""
        checker = self._decoy_checker
        jsgf = self.grammar.decoy_check_jsgf(words, self.decoys, self.config.decoy_weight)
        checker.add_jsgf_string("decoy_check", jsgf)
        checker.activate_search("decoy_check")
        checker.start_utt()
        checker.process_raw(audio.tobytes(), full_utt=True)
        checker.end_utt()
        hyp = checker.hyp()
        heard = normalise_words(hyp.hypstr) if hyp is not None else ()
        return next((w for w in heard if w in self.decoys and w not in words), "")

    def _phone_loop_verdict(
        self,
        audio: np.ndarray,
        segments: list[tuple[str, int, int, float]],
        word_segments: list[tuple[str, int, int, float]],
        estop: bool,
    ) -> str:
        """ "" when the grammar path holds up against the free phone loop, else the reason."""
        loop = self._phone_loop
        loop.start_utt()
        loop.process_raw(audio.tobytes(), full_utt=True)
        loop.end_utt()
        phones = self._segments(loop)
        if not phones:
            return ""  # the loop found nothing to compare with: no evidence either way
        p_start = np.array([p[1] for p in phones], dtype=np.int64)
        p_end = np.array([p[2] for p in phones], dtype=np.int64)
        p_score = np.array([p[3] for p in phones])
        p_len = np.maximum(p_end - p_start + 1, 1)

        def loop_score(start: int, end: int) -> float:
            # the loop's score over [start, end], phones cut at the edges pro rata
            overlap = np.minimum(p_end, end) - np.maximum(p_start, start) + 1
            return float(np.sum(p_score * np.clip(overlap, 0, None) / p_len))

        n_frames = max(max(s[2] for s in segments) + 1, 1)
        utterance_llr = (sum(s[3] for s in segments) - float(np.sum(p_score))) / n_frames
        cfg = self.config
        worst = ("", 0.0)
        worst_any = ("", 0.0)
        for word, start, end, raw in word_segments:
            base = normalise_words(word)[0] if normalise_words(word) else word
            if estop and self.grammar.interpret(base).kind is CommandKind.ESTOP:
                continue  # the stop word itself is never held against a stop
            llr = (raw - loop_score(start, end)) / max(end - start + 1, 1)
            if llr < worst_any[1]:
                worst_any = (base, llr)
            if base not in self._minor_words and llr < worst[1]:
                worst = (base, llr)
        if worst_any[1] < cfg.min_any_word_llr:
            return f"'{worst_any[0]}' does not match the speech (LLR {worst_any[1]:.0f})"
        limit = cfg.estop_min_utterance_llr if estop else cfg.min_utterance_llr
        if utterance_llr < limit:
            return f"speech fits the grammar poorly (LLR {utterance_llr:.0f} per frame)"
        if not estop and worst[1] < cfg.min_word_llr:
            return f"'{worst[0]}' does not match the speech (LLR {worst[1]:.0f})"
        return ""


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

    def transcribe(self, samples: np.ndarray, *, thorough: bool = True) -> Transcript:
        """Decode one utterance; the grammar checks the text afterwards (thorough is unused)."""
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

    def transcribe(self, samples: np.ndarray, *, thorough: bool = True) -> Transcript:
        """Decode one utterance; the grammar checks the text afterwards (thorough is unused)."""
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
