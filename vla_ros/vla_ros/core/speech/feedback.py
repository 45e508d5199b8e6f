"""Short spoken confirmations for instructions and safety state changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Safety reasons (SafetyStatus.reasons) as an operator would say them; the first match wins.
REASON_PHRASES: tuple[tuple[str, str], ...] = (
    ("estop", "emergency stop"),
    ("human_inside_sp", "person too close"),
    ("human", "person too close"),
    ("perception_stale", "camera not seen"),
    ("joint_states_stale", "robot state not seen"),
    ("collision", "collision risk"),
    ("path_", "collision risk"),
    ("start_state_invalid", "collision risk"),
)
STATE_NAMES = ("ok", "slowed", "hold", "stopped", "estop")  # SafetyStatus.STATE_* order
_GERUNDS = {"pick": "picking", "put": "putting", "push": "pushing", "stack": "stacking"}


def instruction_feedback(text: str) -> str:
    """ "pick up the red cube" -> "picking up the red cube"; "" (cancel) -> "cancelled"."""
    words = text.strip().lower().split()
    if not words:
        return "cancelled"
    first = words[0]
    gerund = _GERUNDS.get(first)
    if gerund is None:
        gerund = (first[:-1] if first.endswith("e") else first) + "ing"
    return " ".join([gerund, *words[1:]])


def reason_phrase(reasons: Sequence[str]) -> str:
    """The most important reason in operator words, or "" if none is known."""
    for key, phrase in REASON_PHRASES:
        if any(key in reason for reason in reasons):
            return phrase
    return ""


@dataclass
class SafetyFeedback:
    """Says something only when the safety state changes between moving and stopped."""

    last_state: int = -1

    def update(self, state: int, reasons: Sequence[str], *, estop_latched: bool) -> str:
        """Feedback for this status, or "" when nothing worth saying changed."""
        level = 4 if estop_latched else int(state)
        previous, self.last_state = self.last_state, level
        if level == previous:
            return ""
        why = reason_phrase(reasons)
        if level == 4:
            return (
                f"emergency stop: {why}" if why and why != "emergency stop" else "emergency stop"
            )
        if level == 3:
            return f"stopped: {why}" if why else "stopped"
        if previous in (3, 4):
            return "resuming"
        if level == 1 and previous == 0:
            return f"slowing down: {why}" if why else "slowing down"
        return ""
