"""Spoken confirmation: the gate's decisions, and the answers as part of the language."""

from __future__ import annotations

import re

import pytest

from vla_ros.core.speech.confirmation import (
    ConfirmationGate,
    Verdict,
    confirmation_prompt,
)
from vla_ros.core.speech.grammar import CommandGrammar, CommandKind, VocabularyConfig
from vla_ros.core.speech.recognizer import recognize_text

ASKING = CommandGrammar(confirmation=True)


def said(text: str):
    return recognize_text(ASKING, text)


def test_a_task_waits_for_yes_and_is_then_carried_out():
    gate = ConfirmationGate(timeout_s=8.0)
    task = said("pick up the red cube")
    held = gate.offer(task, now_s=0.0)
    assert held.verdict is Verdict.HELD and held.command == task and gate.pending == task
    confirmed = gate.offer(said("yes"), now_s=3.0)
    assert confirmed.verdict is Verdict.CONFIRMED and confirmed.command == task
    assert gate.pending is None
    # a second yes has nothing to confirm
    assert gate.offer(said("yes"), now_s=3.5).verdict is Verdict.NOTHING_PENDING


@pytest.mark.parametrize("answer", ["no", "cancel", "stop", "halt"])
def test_no_cancel_and_stop_drop_the_waiting_task(answer):
    gate = ConfirmationGate(timeout_s=8.0)
    gate.offer(said("push the blue cube to the left"), now_s=0.0)
    decision = gate.offer(said(answer), now_s=1.0)
    expected = Verdict.DENIED if answer == "no" else Verdict.PASS
    assert decision.verdict is expected
    assert gate.pending is None
    assert gate.offer(said("yes"), now_s=1.5).verdict is Verdict.NOTHING_PENDING


def test_an_unanswered_task_expires_and_is_never_confirmed_late():
    gate = ConfirmationGate(timeout_s=5.0)
    task = said("stack the red cube on the blue cube")
    gate.offer(task, now_s=10.0)
    assert gate.expire(14.9) is None and gate.pending == task
    assert gate.expire(15.0) == task and gate.pending is None
    gate.offer(task, now_s=20.0)
    late = gate.offer(said("yes"), now_s=25.1)  # expiry runs before the answer
    assert late.verdict is Verdict.NOTHING_PENDING


def test_a_newer_task_replaces_the_waiting_one():
    gate = ConfirmationGate(timeout_s=8.0)
    first, second = said("pick up the red cube"), said("pick up the green cube")
    gate.offer(first, now_s=0.0)
    decision = gate.offer(second, now_s=7.0)
    assert decision.verdict is Verdict.HELD and decision.replaced == first
    # the newer task gets its own full timeout
    assert gate.offer(said("yes"), now_s=14.0).command == second


def test_resume_and_rejections_pass_and_keep_the_waiting_task():
    gate = ConfirmationGate(timeout_s=8.0)
    task = said("pick up the red cube")
    gate.offer(task, now_s=0.0)
    for line in ("resume", "open the door"):
        assert gate.offer(said(line), now_s=1.0).verdict is Verdict.PASS
    assert gate.pending == task


def test_the_prompt_has_no_answer_or_command_a_microphone_could_take_back():
    prompt = confirmation_prompt(said("put the red cube in the bowl"))
    assert prompt == "did you say: put the red cube in the bowl?"
    heard_back = said(prompt)
    assert heard_back.kind is CommandKind.REJECTED
    words = set(prompt.replace("?", "").replace(":", "").split())
    assert not words & {"yes", "no"}


def test_answers_are_words_only_where_commands_are_confirmed():
    plain = CommandGrammar()
    for word in ("yes", "no"):
        assert recognize_text(plain, word).kind is CommandKind.REJECTED
        assert word not in plain.words()
        assert word not in re.findall(r"[a-z]+", plain.jsgf())
    assert recognize_text(ASKING, "yes").kind is CommandKind.CONFIRM
    assert recognize_text(ASKING, "yes please").kind is CommandKind.CONFIRM
    assert recognize_text(ASKING, "no").kind is CommandKind.DENY
    assert {"yes", "no"} <= set(ASKING.words())
    assert {"yes", "no"} <= set(re.findall(r"[a-z]+", ASKING.jsgf()))


def test_bad_confirmation_settings_are_clear_errors():
    with pytest.raises(ValueError, match="timeout"):
        ConfirmationGate(timeout_s=0.0)
    with pytest.raises(ValueError, match="confirm_words"):
        CommandGrammar(VocabularyConfig(confirm_words=()), confirmation=True)
    with pytest.raises(ValueError, match="distinct"):
        VocabularyConfig(deny_words=("stop",))
