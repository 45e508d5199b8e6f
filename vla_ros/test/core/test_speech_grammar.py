"""The command language: generated JSGF, normalisation to canonical text, rejection, config."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_ros.core.resources import resource_path
from vla_ros.core.speech.config import (
    SpeechConfig,
    flat_defaults,
    load_speech_config,
    speech_config_from_flat,
)
from vla_ros.core.speech.feedback import SafetyFeedback, instruction_feedback, reason_phrase
from vla_ros.core.speech.grammar import CommandGrammar, CommandKind, VocabularyConfig
from vla_ros.core.speech.recognizer import recognize_text

GRAMMAR = CommandGrammar()
CANONICAL = GRAMMAR.canonical_phrases()


def test_the_task_language_of_the_issue():
    assert len(CANONICAL) == 4 + 4 * 2 + 4 * 2 + 4 * 4
    assert "pick up the red cube" in CANONICAL
    assert "put the yellow cube in the bowl" in CANONICAL
    assert "push the green cube to the left" in CANONICAL
    assert "stack the blue cube on the red cube" in CANONICAL


@pytest.mark.parametrize(
    ("said", "canonical"),
    [
        ("Pick up the red cube.", "pick up the red cube"),
        ("please pick up red cube", "pick up the red cube"),
        ("could you put the green cube on plate please", "put the green cube on the plate"),
        ("can you push blue cube to the right", "push the blue cube to the right"),
        ("stack yellow cube on the red cube", "stack the yellow cube on the red cube"),
        ("put the red(2) cube in the bowl", "put the red cube in the bowl"),
    ],
)
def test_variants_normalise_to_canonical_text(said, canonical):
    result = GRAMMAR.interpret(said)
    assert result.kind is CommandKind.TASK
    assert result.text == canonical


@pytest.mark.parametrize(
    ("said", "kind"),
    [
        ("stop", CommandKind.ESTOP),
        ("STOP!", CommandKind.ESTOP),
        ("halt", CommandKind.ESTOP),
        ("freeze", CommandKind.ESTOP),
        ("wait", CommandKind.ESTOP),
        ("please stop", CommandKind.ESTOP),
        ("resume", CommandKind.RESUME),
        ("continue please", CommandKind.RESUME),
        ("cancel", CommandKind.CANCEL),
    ],
)
def test_control_words(said, kind):
    result = GRAMMAR.interpret(said)
    assert result.kind is kind
    assert result.text == ""


@pytest.mark.parametrize(
    "said",
    [
        "",
        "hello robot",
        "pick up the red ball",
        "push the cube",
        "pick up the purple cube",
        "stop the red cube",
        "put the red cube in the box",
        "stack the red cube",
        "pick up the red cube and stop",
        "please",
    ],
)
def test_outside_the_language_is_rejected(said):
    result = GRAMMAR.interpret(said)
    assert result.kind is CommandKind.REJECTED
    assert result.text == "" and result.reason


_PREFIXES = st.sampled_from(["", "please ", "could you ", "can you ", "would you "])
_SUFFIXES = st.sampled_from(["", " please"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CANONICAL), _PREFIXES, _SUFFIXES, st.booleans(), st.booleans())
def test_any_spoken_variant_maps_back_to_its_canonical_phrase(
    phrase, prefix, suffix, drop_articles, upper
):
    words = phrase.split()
    if drop_articles:
        words = [w for w in words if w != "the"]
    said = prefix + " ".join(words) + suffix
    said = said.upper() if upper else said
    result = GRAMMAR.interpret(said)
    assert result.kind is CommandKind.TASK
    assert result.text == phrase


_VOCAB_WORDS = [*list(GRAMMAR.vocabulary.all_words()), "ball", "box", "table", "hello"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_VOCAB_WORDS), min_size=0, max_size=10))
def test_random_word_salad_never_becomes_an_unknown_instruction(words):
    """Safety: whatever the recogniser emits, only canonical phrases or control words pass."""
    result = GRAMMAR.interpret(" ".join(words))
    if result.kind is CommandKind.TASK:
        assert result.text in CANONICAL
    elif result.kind is CommandKind.REJECTED:
        assert result.text == ""
    else:
        assert result.control_word in words and result.text == ""


def test_jsgf_lists_every_word_and_rule():
    jsgf = GRAMMAR.jsgf()
    assert jsgf.startswith("#JSGF V1.0;")
    assert "public <command> =" in jsgf
    for word in GRAMMAR.vocabulary.all_words():
        assert word in jsgf
    assert "[the]" in jsgf  # articles optional when spoken


def test_decoy_check_grammar_offers_a_decoy_for_every_content_word():
    """Garbage modelling: vocabulary words are never decoys; the re-decode grammar keeps the
    words heard, each content word with a decoy alternative at the given prior weight, and a
    line that uses a decoy is not a command."""
    decoys = GRAMMAR.usable_decoys(("purple", "red", "grab", "bin", "Two words", "cube", "the"))
    assert decoys == ("bin", "grab", "purple")
    jsgf = GRAMMAR.decoy_check_jsgf(("pick", "up", "the", "red", "cube"), decoys, 5e-7)
    assert "public <check> = ( /1.0/ pick | /0.0000005/ <decoy> ) [up] [the] ( /1.0/ red |" in jsgf
    assert "<decoy> = bin | grab | purple;" in jsgf
    with pytest.raises(ValueError):
        GRAMMAR.decoy_check_jsgf((), decoys, 1e-6)
    for line in ("pick up the purple cube", "grab the red cube", "put the red cube in the bin"):
        assert GRAMMAR.interpret(line).kind is CommandKind.REJECTED


def test_wake_word():
    grammar = CommandGrammar(VocabularyConfig(wake_words=("robot",), require_wake_word=True))
    assert grammar.interpret("pick up the red cube").kind is CommandKind.REJECTED
    assert grammar.interpret("robot pick up the red cube").text == "pick up the red cube"
    assert grammar.interpret("stop").kind is CommandKind.ESTOP  # stop never needs a wake word
    assert "<wake>" in grammar.jsgf()


def test_configured_colours_change_the_language():
    grammar = CommandGrammar(VocabularyConfig(colors=("orange", "purple")))
    assert grammar.interpret("pick up the orange cube").text == "pick up the orange cube"
    assert grammar.interpret("pick up the red cube").kind is CommandKind.REJECTED


@pytest.mark.parametrize(
    "bad",
    [
        {"templates": ()},
        {"templates": ("pick up the {colour} cube",)},
        {"estop_words": ()},
        {"estop_words": ("stop",), "cancel_words": ("stop",)},
        {"resume_words": ("go on",)},
        {"colors": ("Red",)},
        {"require_wake_word": True},
    ],
)
def test_bad_vocabulary_is_refused(bad):
    with pytest.raises(ValueError):
        VocabularyConfig(**bad)


def test_typed_text_gets_confidence_one_and_rejections_zero():
    ok = recognize_text(GRAMMAR, "pick up the blue cube")
    assert ok.kind is CommandKind.TASK and ok.confidence == 1.0
    bad = recognize_text(GRAMMAR, "make me a sandwich")
    assert bad.kind is CommandKind.REJECTED and bad.confidence == 0.0 and not bad.accepted


def test_packaged_yaml_matches_the_defaults_and_flat_round_trip():
    assert load_speech_config(resource_path("config", "speech.yaml")) == SpeechConfig()
    assert speech_config_from_flat(flat_defaults()) == SpeechConfig()
    custom = dataclasses.replace(
        SpeechConfig(), vocabulary=VocabularyConfig(colors=("black", "white"))
    )
    assert speech_config_from_flat(flat_defaults(custom)) == custom
    with pytest.raises(ValueError, match="unknown speech parameters"):
        speech_config_from_flat({"vad.treshold": 0.3})
    with pytest.raises(ValueError):
        speech_config_from_flat({"vad.threshold": 1.5})


def test_feedback_phrases():
    assert instruction_feedback("pick up the red cube") == "picking up the red cube"
    assert instruction_feedback("stack the red cube on the blue cube").startswith("stacking")
    assert instruction_feedback("") == "cancelled"
    assert reason_phrase(["human_inside_sp"]) == "person too close"
    assert reason_phrase(["something_new"]) == ""
    feedback = SafetyFeedback()
    assert feedback.update(0, [], estop_latched=False) == ""
    assert feedback.update(0, [], estop_latched=False) == ""  # no change, nothing said
    assert feedback.update(3, ["human_inside_sp"], estop_latched=False) == (
        "stopped: person too close"
    )
    assert feedback.update(0, [], estop_latched=False) == "resuming"
    assert feedback.update(4, ["estop"], estop_latched=True) == "emergency stop"
    assert feedback.update(2, ["no_fresh_command"], estop_latched=False) == "resuming"
