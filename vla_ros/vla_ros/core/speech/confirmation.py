"""Spoken confirmation of voice commands: "did you say: pick up the red cube?" -> "yes".

A recogniser constrained to the robot's vocabulary hears a similar-sounding unknown word as
the command word it resembles ("tube" -> "cube", "black" -> "blue": bench/README.md, Voice).
With confirmation on, a recognised task does not move the robot until the operator answers
yes; "no", "cancel", any stop word, a newer command or silence for `timeout_s` drops it. A
misheard command then needs a second, independent mistake (an answer heard as "yes") to
become motion. Stop words never wait for anything.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vla_ros.core.speech.grammar import CommandKind
from vla_ros.core.speech.recognizer import Recognition


class Verdict(enum.Enum):
    """What the gate decided about one recognition."""

    PASS = "pass"  # not a task or an answer: act on it as usual
    HELD = "held"  # a task, now waiting for yes / no (a previous one is replaced)
    CONFIRMED = "confirmed"  # yes: carry out `Decision.command`
    DENIED = "denied"  # no: `Decision.command` is dropped
    NOTHING_PENDING = "nothing_pending"  # an answer with no question asked: ignored


@dataclass(frozen=True)
class Decision:
    """The gate's verdict and the command it concerns (None for PASS / NOTHING_PENDING)."""

    verdict: Verdict
    command: Recognition | None = None
    replaced: Recognition | None = None  # HELD: the command that was waiting before


def confirmation_prompt(command: Recognition) -> str:
    """The question the operator hears: "did you say: pick up the red cube?".

    It never contains an answer word: a microphone that hears the robot's own loudspeaker
    must not confirm the question it asks (and "did you say ..." is not a command)."""
    return f"did you say: {command.text}?"


class ConfirmationGate:
    """Holds at most one recognised task until it is confirmed, denied or times out.

    Time is passed in (monotonic seconds), so the gate is deterministic under test.
    """

    def __init__(self, timeout_s: float) -> None:
        if not timeout_s > 0.0:
            raise ValueError(f"confirmation timeout must be > 0 s, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self._pending: Recognition | None = None
        self._deadline_s = 0.0

    @property
    def pending(self) -> Recognition | None:
        """The task waiting for an answer, if any."""
        return self._pending

    def expire(self, now_s: float) -> Recognition | None:
        """Drop the waiting task if its time is up; returns it then (to report), else None."""
        if self._pending is not None and now_s >= self._deadline_s:
            expired, self._pending = self._pending, None
            return expired
        return None

    def clear(self) -> Recognition | None:
        """Drop the waiting task (stop, cancel); returns it, or None."""
        dropped, self._pending = self._pending, None
        return dropped

    def offer(self, recognition: Recognition, now_s: float) -> Decision:
        """Route one recognition: tasks wait, answers resolve, the rest passes through.

        An expired task is never confirmed: `expire` runs first. Stop and cancel words pass
        and also drop the waiting task (what was asked for is no longer wanted).
        """
        self.expire(now_s)
        kind = recognition.kind
        if kind is CommandKind.TASK:
            replaced, self._pending = self._pending, recognition
            self._deadline_s = now_s + self.timeout_s
            return Decision(Verdict.HELD, recognition, replaced)
        if kind in (CommandKind.CONFIRM, CommandKind.DENY):
            command = self.clear()
            if command is None:
                return Decision(Verdict.NOTHING_PENDING)
            verdict = Verdict.CONFIRMED if kind is CommandKind.CONFIRM else Verdict.DENIED
            return Decision(verdict, command)
        if kind in (CommandKind.ESTOP, CommandKind.CANCEL):
            self.clear()
        return Decision(Verdict.PASS)
