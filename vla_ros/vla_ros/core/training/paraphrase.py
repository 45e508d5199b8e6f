"""Instruction paraphrases for augmentation, with a held-out set that training never sees.

Training samples an instruction's wording from TRAIN_VERBS / TRAIN_TEMPLATES; evaluation of
language generalisation uses HELD_OUT_VERBS / HELD_OUT_TEMPLATES, which are disjoint from the
training lists (a test checks it). Never add a held-out wording to the training lists: the
held-out success rate would then no longer measure generalisation to unseen phrasings.
"""

from __future__ import annotations

import numpy as np

from vla_ros.core.policy.language import normalise_instruction

# Canonical verb phrase -> wordings used in training (the canonical one included).
TRAIN_VERBS: dict[str, tuple[str, ...]] = {
    "pick up": ("pick up", "grab", "lift", "take", "get", "collect", "fetch", "hold up"),
    "put": ("put", "place", "set", "lay", "position"),
    "push": ("push", "shove", "slide", "shift"),
    "open": ("open",),
    "close": ("close", "shut"),
    "move": ("move", "bring"),
    "stack": ("stack", "pile", "balance"),
}
# Canonical verb phrase -> wordings kept for evaluation only.
HELD_OUT_VERBS: dict[str, tuple[str, ...]] = {
    "pick up": ("grasp", "raise"),
    "put": ("drop", "deposit"),
    "push": ("nudge",),
    "open": ("pull open",),
    "close": ("push closed",),
    "move": ("carry", "transfer"),
    "stack": ("heap",),
}
TRAIN_TEMPLATES: tuple[str, ...] = (
    "{}",
    "please {}",
    "{} please",
    "can you {}",
    "robot, {}",
    "would you {}",
    "{} now",
    "okay, {}",
    "{}, thanks",
)
HELD_OUT_TEMPLATES: tuple[str, ...] = ("i want you to {}", "could you {} for me", "go and {}")


def _split_verb(instruction: str) -> tuple[str, str] | None:
    """(canonical verb, rest) when the instruction starts with a known canonical verb."""
    text = normalise_instruction(instruction)
    for verb in sorted(TRAIN_VERBS, key=len, reverse=True):
        if text == verb or text.startswith(verb + " "):
            return verb, text[len(verb) :].strip()
    return None


def paraphrases(instruction: str, *, held_out: bool = False) -> list[str]:
    """Every wording of `instruction` in the training (or the held-out) set."""
    verbs, templates = (
        (HELD_OUT_VERBS, HELD_OUT_TEMPLATES) if held_out else (TRAIN_VERBS, TRAIN_TEMPLATES)
    )
    split = _split_verb(instruction)
    bodies = [normalise_instruction(instruction)]
    if split is not None:
        verb, rest = split
        bodies = [f"{v} {rest}".strip() for v in verbs[verb]]
        if held_out:  # held-out templates over the canonical verb are unseen wordings too
            bodies.append(f"{verb} {rest}".strip())
    out = [template.format(body) for body in bodies for template in templates]
    if held_out:
        training = set(paraphrases(instruction))
        out = [p for p in out if p not in training]
    return sorted(set(out))


def training_wordings(instructions: list[str], *, paraphrased: bool = True) -> list[str]:
    """The distinct wordings training conditions on: each instruction and, when `paraphrased`
    (paraphrase augmentation on), its training paraphrases; normalised, sorted."""
    texts = {normalise_instruction(t) for t in instructions}
    if paraphrased:
        texts |= {p for text in instructions for p in paraphrases(text)}
    return sorted(texts)


def augment(instruction: str, rng: np.random.Generator, probability: float) -> str:
    """With `probability`, a random training paraphrase of `instruction`; else the original."""
    if probability <= 0.0 or rng.random() >= probability:
        return instruction
    options = paraphrases(instruction)
    return options[int(rng.integers(len(options)))]
