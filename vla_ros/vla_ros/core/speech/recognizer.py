"""Utterance audio (or typed text) -> a validated command: the speech pipeline's decision point."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vla_ros.core.speech.asr import AsrBackend, AsrConfig, make_asr_backend
from vla_ros.core.speech.grammar import CommandGrammar, CommandKind, Interpretation


@dataclass(frozen=True)
class Recognition:
    """The outcome for one utterance or typed line."""

    kind: CommandKind
    text: str  # canonical instruction for TASK, "" otherwise
    control_word: str  # the control word for ESTOP / RESUME / CANCEL, "" otherwise
    heard: str  # the raw words the recogniser (or keyboard) produced
    confidence: float  # [0..1]
    reason: str = ""  # why it was REJECTED
    decode_s: float = 0.0  # time spent decoding [s]

    @property
    def accepted(self) -> bool:
        """True for anything but REJECTED."""
        return self.kind is not CommandKind.REJECTED


def _from_interpretation(
    interpretation: Interpretation, heard: str, confidence: float, decode_s: float
) -> Recognition:
    return Recognition(
        kind=interpretation.kind,
        text=interpretation.text,
        control_word=interpretation.control_word,
        heard=heard,
        confidence=confidence,
        reason=interpretation.reason,
        decode_s=decode_s,
    )


class CommandRecognizer:
    """ASR backend + command grammar; every result is checked against the grammar."""

    def __init__(
        self,
        grammar: CommandGrammar,
        asr_config: AsrConfig | None = None,
        backend: AsrBackend | None = None,
    ) -> None:
        self.grammar = grammar
        self.asr_config = asr_config or AsrConfig()
        self.backend = backend or make_asr_backend(self.asr_config, grammar)

    def recognize(self, samples: np.ndarray, *, thorough: bool = True) -> Recognition:
        """16 kHz mono int16 utterance -> command; anything doubtful comes back REJECTED.

        thorough=False lets the backend skip its slow rejection checks: only for the e-stop
        fast path, where a false stop is safe and every millisecond counts.
        """
        start = time.perf_counter()
        transcript = self.backend.transcribe(samples, thorough=thorough)
        decode_s = time.perf_counter() - start
        if transcript.rejected_reason:
            return Recognition(
                CommandKind.REJECTED,
                "",
                "",
                transcript.text,
                transcript.confidence,
                reason=transcript.rejected_reason,
                decode_s=decode_s,
            )
        if transcript.confidence < self.asr_config.min_confidence:
            return Recognition(
                CommandKind.REJECTED,
                "",
                "",
                transcript.text,
                transcript.confidence,
                reason=f"confidence {transcript.confidence:.2f} below "
                f"{self.asr_config.min_confidence:.2f}",
                decode_s=decode_s,
            )
        interpretation = self.grammar.interpret(transcript.text)
        return _from_interpretation(
            interpretation, transcript.text, transcript.confidence, decode_s
        )


def recognize_text(grammar: CommandGrammar, text: str) -> Recognition:
    """A typed line -> command, through the same grammar as speech (confidence 1)."""
    interpretation = grammar.interpret(text)
    confidence = 1.0 if interpretation.kind is not CommandKind.REJECTED else 0.0
    return _from_interpretation(interpretation, text.strip(), confidence, 0.0)
