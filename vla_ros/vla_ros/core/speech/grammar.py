"""The command language: vocabulary, JSGF generation and normalisation to canonical text."""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

_SLOT_RE = re.compile(r"\{(color|object|place|direction)\}")
_WORD_RE = re.compile(r"^[a-z][a-z']*$")


class CommandKind(enum.Enum):
    """What an utterance or typed line asks for."""

    TASK = "task"  # an instruction for the policy
    ESTOP = "estop"  # latch the emergency stop
    RESUME = "resume"  # ask the safety filter to reset its e-stop
    CANCEL = "cancel"  # the policy goes idle (empty instruction)
    CONFIRM = "confirm"  # yes: carry out the command waiting for confirmation
    DENY = "deny"  # no: drop the command waiting for confirmation
    REJECTED = "rejected"  # not in the language: never turned into motion


def _words(phrase: str) -> tuple[str, ...]:
    return tuple(phrase.split())


@dataclass(frozen=True)
class VocabularyConfig:
    """The words and phrase templates the robot understands (all lower case)."""

    # Phrase templates; slots {color}, {object}, {place}, {direction}; "the" is optional when said.
    templates: tuple[str, ...] = (
        "pick up the {color} {object}",
        "put the {color} {object} {place}",
        "push the {color} {object} to the {direction}",
        "stack the {color} {object} on the {color} {object}",
    )
    colors: tuple[str, ...] = ("red", "green", "blue", "yellow")  # fills {color}
    objects: tuple[str, ...] = ("cube",)  # fills {object}
    places: tuple[str, ...] = ("in the bowl", "on the plate")  # fills {place}
    directions: tuple[str, ...] = ("left", "right")  # fills {direction}
    articles: tuple[str, ...] = ("the",)  # may be left out when spoken or typed
    polite_prefixes: tuple[str, ...] = ("please", "could you", "can you", "would you")  # ignored
    polite_suffixes: tuple[str, ...] = ("please",)  # ignored at the end of a phrase
    estop_words: tuple[str, ...] = ("stop", "halt", "freeze", "wait")  # latch the e-stop
    resume_words: tuple[str, ...] = ("resume", "continue")  # call the safety reset service
    cancel_words: tuple[str, ...] = ("cancel",)  # publish an empty instruction (idle)
    # answers to "did you say ...?"; part of the language only where commands are confirmed
    confirm_words: tuple[str, ...] = ("yes",)
    deny_words: tuple[str, ...] = ("no",)
    wake_words: tuple[str, ...] = ()  # e.g. ("robot",); may precede any phrase
    require_wake_word: bool = False  # tasks need a wake word first; control words never do

    def __post_init__(self) -> None:
        if not self.templates:
            raise ValueError("vocabulary needs at least one template")
        fills = {
            "color": self.colors,
            "object": self.objects,
            "place": self.places,
            "direction": self.directions,
        }
        for template in self.templates:
            for slot in _SLOT_RE.findall(template):
                if not fills[slot]:
                    raise ValueError(f"template '{template}' uses {{{slot}}} but none are set")
            leftover = _SLOT_RE.sub("", template)
            if "{" in leftover or "}" in leftover:
                raise ValueError(f"template '{template}' has an unknown slot")
        controls = [
            *self.estop_words,
            *self.resume_words,
            *self.cancel_words,
            *self.confirm_words,
            *self.deny_words,
        ]
        if not self.estop_words:
            raise ValueError("at least one e-stop word is required")
        if len(set(controls)) != len(controls):
            raise ValueError(f"control words must be distinct: {controls}")
        for word in controls:
            if len(_words(word)) != 1:
                raise ValueError(f"control words are single words, got '{word}'")
        if self.require_wake_word and not self.wake_words:
            raise ValueError("require_wake_word needs at least one wake word")
        phrases = [
            *self.templates,
            *self.colors,
            *self.objects,
            *self.places,
            *self.directions,
            *self.articles,
            *self.polite_prefixes,
            *self.polite_suffixes,
            *controls,
            *self.wake_words,
        ]
        for phrase in phrases:
            for word in _words(_SLOT_RE.sub("", phrase)):
                if not _WORD_RE.match(word):
                    raise ValueError(f"'{word}' in '{phrase}' is not a lower-case word")

    def all_words(self) -> tuple[str, ...]:
        """Every word of the commands and control words, sorted (CommandGrammar.words adds
        the confirmation answers where they are part of the language)."""
        phrases = [
            _SLOT_RE.sub("", t)
            for t in (
                *self.templates,
                *self.colors,
                *self.objects,
                *self.places,
                *self.directions,
                *self.polite_prefixes,
                *self.polite_suffixes,
                *self.estop_words,
                *self.resume_words,
                *self.cancel_words,
                *self.wake_words,
            )
        ]
        return tuple(sorted({w for p in phrases for w in _words(p)}))


@dataclass(frozen=True)
class Interpretation:
    """What a line of words means in the command language."""

    kind: CommandKind
    text: str  # canonical instruction for TASK, "" otherwise
    control_word: str = ""  # the control word for ESTOP / RESUME / CANCEL
    reason: str = ""  # why a line was REJECTED


def normalise_words(text: str) -> tuple[str, ...]:
    """Lower case, punctuation dropped, pocketsphinx alternates ("to(3)") reduced to the word."""
    text = re.sub(r"\(\d+\)", "", text.lower())
    text = re.sub(r"[^a-z' ]+", " ", text)
    return tuple(w for w in text.split() if w and w not in {"<s>", "</s>", "<sil>"})


class CommandGrammar:
    """Generates the recogniser's JSGF grammar and maps word strings to canonical commands.

    With `confirmation`, the answers (vocabulary.confirm_words, deny_words) are part of the
    language; without it they are not (the keyboard needs no "did you say ...?").
    """

    def __init__(
        self, vocabulary: VocabularyConfig | None = None, *, confirmation: bool = False
    ) -> None:
        self.vocabulary = vocabulary or VocabularyConfig()
        voc = self.vocabulary
        if confirmation and not (voc.confirm_words and voc.deny_words):
            raise ValueError("confirmation needs vocabulary.confirm_words and deny_words")
        self.confirmation = confirmation
        self._control: dict[str, CommandKind] = {
            **{w: CommandKind.ESTOP for w in voc.estop_words},
            **{w: CommandKind.RESUME for w in voc.resume_words},
            **{w: CommandKind.CANCEL for w in voc.cancel_words},
        }
        if confirmation:
            self._control.update({w: CommandKind.CONFIRM for w in voc.confirm_words})
            self._control.update({w: CommandKind.DENY for w in voc.deny_words})
        self._patterns = [self._template_regex(t) for t in voc.templates]

    def words(self) -> tuple[str, ...]:
        """Every word the grammar can produce, sorted (for dictionary checks)."""
        voc = self.vocabulary
        answers = (*voc.confirm_words, *voc.deny_words) if self.confirmation else ()
        return tuple(sorted({*voc.all_words(), *answers}))

    # ------------------------------------------------------------------ canonical text

    def _alternatives(self, slot: str) -> tuple[str, ...]:
        voc = self.vocabulary
        return {
            "color": voc.colors,
            "object": voc.objects,
            "place": voc.places,
            "direction": voc.directions,
        }[slot]

    def _phrase_regex(self, phrase: str) -> str:
        parts = []
        for word in _words(phrase):
            if word in self.vocabulary.articles:
                parts.append(f"(?:{re.escape(word)} )?")
            else:
                parts.append(re.escape(word) + " ")
        return "".join(parts)

    def _template_regex(self, template: str) -> tuple[re.Pattern[str], list[str]]:
        slots: list[str] = []
        out = []
        for token in re.split(r"(\{[a-z]+\})", template):
            match = _SLOT_RE.fullmatch(token)
            if match:
                slot = match.group(1)
                slots.append(slot)
                alts = "|".join(
                    self._phrase_regex(a)
                    for a in sorted(self._alternatives(slot), key=len, reverse=True)
                )
                out.append(f"({alts})")
            elif token.strip():
                out.append(self._phrase_regex(token.strip()))
        return re.compile("^" + "".join(out) + "$"), slots

    def _canonical_fill(self, slot: str, said: str) -> str:
        said_core = [w for w in _words(said) if w not in self.vocabulary.articles]
        for alt in self._alternatives(slot):
            if [w for w in _words(alt) if w not in self.vocabulary.articles] == said_core:
                return alt
        raise AssertionError(f"regex matched '{said}' but no {slot} fits")  # pragma: no cover

    def interpret(self, text: str) -> Interpretation:
        """A recognised or typed line -> its canonical command, or REJECTED with the reason."""
        voc = self.vocabulary
        words = list(normalise_words(text))
        if not words:
            return Interpretation(CommandKind.REJECTED, "", reason="empty")
        woken = False
        for wake in sorted(voc.wake_words, key=len, reverse=True):
            wake_words = list(_words(wake))
            if words[: len(wake_words)] == wake_words:
                words = words[len(wake_words) :]
                woken = True
                break
        words = self._strip_politeness(words)
        if len(words) == 1 and words[0] in self._control:
            kind = self._control[words[0]]
            return Interpretation(kind, "", control_word=words[0])
        if voc.require_wake_word and not woken:
            return Interpretation(CommandKind.REJECTED, "", reason="no wake word")
        line = " ".join(words) + " "
        for (pattern, slots), template in zip(self._patterns, voc.templates, strict=True):
            match = pattern.match(line)
            if match is None:
                continue
            fills = [
                self._canonical_fill(s, g.strip())
                for s, g in zip(slots, match.groups(), strict=True)
            ]
            canonical = template
            for slot, fill in zip(slots, fills, strict=True):
                canonical = canonical.replace("{" + slot + "}", fill, 1)
            return Interpretation(CommandKind.TASK, canonical)
        return Interpretation(CommandKind.REJECTED, "", reason="not in the command language")

    def _strip_politeness(self, words: list[str]) -> list[str]:
        voc = self.vocabulary
        changed = True
        while changed and words:
            changed = False
            for prefix in sorted(voc.polite_prefixes, key=len, reverse=True):
                p = list(_words(prefix))
                if words[: len(p)] == p and len(words) > len(p):
                    words, changed = words[len(p) :], True
                    break
        for suffix in sorted(voc.polite_suffixes, key=len, reverse=True):
            s = list(_words(suffix))
            if len(words) > len(s) and words[-len(s) :] == s:
                words = words[: -len(s)]
                break
        return words

    def canonical_phrases(self) -> tuple[str, ...]:
        """Every canonical task phrase (for tests, docs and the keyboard's help)."""
        out = []
        for template in self.vocabulary.templates:
            slots = _SLOT_RE.findall(template)
            for combo in itertools.product(*(self._alternatives(s) for s in slots)):
                text = template
                for slot, fill in zip(slots, combo, strict=True):
                    text = text.replace("{" + slot + "}", fill, 1)
                out.append(text)
        return tuple(out)

    # ------------------------------------------------------------------ JSGF

    def usable_decoys(self, decoys: Sequence[str]) -> tuple[str, ...]:
        """The decoy words that are single lower-case words outside the vocabulary, sorted."""
        known = set(self.words()) | set(self.vocabulary.articles)
        return tuple(sorted({d for d in decoys if _WORD_RE.match(d) and d not in known}))

    def decoy_check_jsgf(
        self, heard: Sequence[str], decoys: Sequence[str], decoy_weight: float
    ) -> str:
        """JSGF for re-decoding an utterance the grammar heard as `heard`, with every content
        word (>= 3 letters, no article) free to be any one of `decoys` instead, at the prior
        weight `decoy_weight` against 1 for the word heard; articles and short words (up, in,
        to) optional. If the best path then goes through a decoy, the speaker said a word the
        robot does not know where the grammar heard a command word (garbage modelling)."""
        if not heard or not decoys:
            raise ValueError("decoy check needs the words heard and at least one decoy")

        def weight(w: float) -> str:  # JSGF weights are plain decimals: no exponent
            return "/" + format(Decimal(repr(float(w))), "f") + "/"

        tokens = []
        for word in heard:
            if word in self.vocabulary.articles or len(word) < 3:
                tokens.append(f"[{word}]")
            else:
                tokens.append(f"( {weight(1.0)} {word} | {weight(decoy_weight)} <decoy> )")
        return (
            "#JSGF V1.0;\ngrammar decoy_check;\n"
            f"public <check> = {' '.join(tokens)};\n"
            f"<decoy> = {' | '.join(decoys)};\n"
        )

    def _jsgf_phrase(self, phrase: str) -> str:
        parts = []
        for word in _words(phrase):
            parts.append(f"[{word}]" if word in self.vocabulary.articles else word)
        return " ".join(parts)

    def jsgf(self, name: str = "vla_commands") -> str:
        """The JSGF grammar of every phrase (articles and politeness optional).

        Optional words at the very start and end are spelled out as alternatives rather than
        `[...]`: pocketsphinx then always has a complete path to the final state.
        """
        voc = self.vocabulary
        lines = ["#JSGF V1.0;", f"grammar {name};"]
        body = "<task> | <control>"
        starts = ["<body>"]
        if voc.polite_prefixes:
            starts.append("<polite> <body>")
        if voc.wake_words:
            starts += [f"<wake> {s}" for s in starts]
        tops = list(starts)
        if voc.polite_suffixes:
            tops += [f"{s} <polite_end>" for s in starts]
        lines.append("public <command> = " + " | ".join(tops) + ";")
        lines.append(f"<body> = {body};")
        lines.append("<control> = " + " | ".join(self._control) + ";")
        task_rules = []
        for i, template in enumerate(voc.templates):
            rule = _SLOT_RE.sub(lambda m: f"<{m.group(1)}>", template)
            pieces = [p if p.startswith("<") else self._jsgf_phrase(p) for p in rule.split()]
            lines.append(f"<task{i}> = " + " ".join(pieces) + ";")
            task_rules.append(f"<task{i}>")
        lines.append("<task> = " + " | ".join(task_rules) + ";")
        slot_fills = {
            "color": voc.colors,
            "object": voc.objects,
            "place": voc.places,
            "direction": voc.directions,
        }
        for slot, fills in slot_fills.items():
            if fills:
                lines.append(
                    f"<{slot}> = " + " | ".join(self._jsgf_phrase(f) for f in fills) + ";"
                )
        if voc.polite_prefixes:
            lines.append("<polite> = " + " | ".join(voc.polite_prefixes) + ";")
        if voc.polite_suffixes:
            lines.append("<polite_end> = " + " | ".join(voc.polite_suffixes) + ";")
        if voc.wake_words:
            lines.append("<wake> = " + " | ".join(voc.wake_words) + ";")
        return "\n".join(lines) + "\n"
