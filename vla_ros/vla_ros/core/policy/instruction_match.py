"""Match an instruction to the nearest training wording in the frozen sentence-embedding space.

The embedded VLA reads the instruction as a 384-d sentence embedding. An unseen wording
("grasp the red cube") lands far outside the training wordings in the standardised space the
network reads, and the network extrapolates badly there; in the embedding model's own cosine
space its nearest training wording is usually the right one ("grab the red cube"). A
`WordingBank` holds the training wordings of a checkpoint and their embeddings
(`instruction_bank.safetensors` beside the weights); the policy then conditions on the
embedding of the nearest training wording when its cosine similarity reaches
`min_similarity`, and on the instruction's own embedding otherwise.

The bank holds training wordings only (never the held-out evaluation paraphrases), so
matching adds no knowledge of the held-out list. Sentence embeddings are nearly blind to word
order: "stack the red cube on the blue cube" and "... the blue cube on the red cube" are
close. So a bank that knows its canonical instructions also compares *arguments*: the words in
which two canonical instructions of the same shape differ (colours, left/right, in/on,
bowl/plate; derived from the instructions, see `argument_words`). A wording matches only a
training wording with the same arguments in the same order; when none is close enough the
instruction is read as it is ("put the red cube in the drawer" does not become "... in the
bowl"). `InstructionMatch` says what was matched, so that nodes can report it.

With `canonical`, a matched wording is replaced by the canonical instruction it paraphrases
(the one instruction with the same arguments: in the shipped bank every argument sequence
belongs to exactly one instruction). The policy then acts on every accepted wording exactly as
it acts on the canonical one, its best-trained wording. The match itself is unchanged: the
nearest training wording must still be close enough.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vla_ros.core.policy.language import EMBEDDING_DIM, normalise_instruction

BANK_FILE = "instruction_bank.safetensors"
DEFAULT_MIN_SIMILARITY = 0.8  # cosine; below it the instruction's own embedding is used


NO_MATCH_ARGUMENTS = "arguments"  # no training wording names these objects and places
NO_MATCH_SIMILARITY = "similarity"  # the nearest one with them is below the threshold


@dataclass(frozen=True)
class InstructionMatch:
    """What the policy conditions on for one instruction."""

    instruction: str  # as given (normalised)
    wording: str  # the training wording used, or the instruction itself when unmatched
    similarity: float  # cosine similarity of the two (1.0 for an exact training wording)
    matched: bool  # True when the bank's wording replaced the instruction
    index: int = -1  # the wording's row in the bank when matched
    nearest: str = ""  # the nearest training wording, when `wording` is its canonical one
    # why an unmatched instruction was read as it is: NO_MATCH_ARGUMENTS or NO_MATCH_SIMILARITY
    unmatched_reason: str = ""


def words_of(text: str) -> tuple[str, ...]:
    """Lower-case words of `text` without punctuation ("left, thanks" -> left, thanks)."""
    return tuple(re.findall(r"[a-z0-9']+", text.lower()))


def argument_words(instructions: Iterable[str]) -> frozenset[str]:
    """Words that tell canonical instructions of one shape apart: for every two instructions
    of equal length that differ in one or two word positions, the words at those positions
    ("pick up the red cube" / "... the blue cube": red, blue; "put the red cube in the bowl" /
    "... on the plate": in, on, bowl, plate)."""
    split = sorted({words_of(t) for t in instructions})
    words: set[str] = set()
    for a, b in itertools.combinations(split, 2):
        if len(a) != len(b):
            continue
        differing = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if 1 <= len(differing) <= 2:
            words.update(a[i] for i in differing)
            words.update(b[i] for i in differing)
    return frozenset(words)


class WordingBank:
    """Training wordings, their unit-length sentence embeddings and (optionally) the canonical
    instructions they paraphrase, from which the argument words come."""

    def __init__(
        self,
        wordings: Sequence[str],
        embeddings: np.ndarray,
        instructions: Sequence[str] = (),
    ) -> None:
        matrix = np.asarray(embeddings, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape != (len(wordings), EMBEDDING_DIM):
            raise ValueError(
                f"bank embeddings must be ({len(wordings)}, {EMBEDDING_DIM}), got {matrix.shape}"
            )
        if not wordings:
            raise ValueError("a wording bank needs at least one wording")
        if not np.all(np.isfinite(matrix)):
            raise ValueError("bank embeddings contain NaN or inf")
        norms = np.linalg.norm(matrix, axis=1)
        if np.any(np.abs(norms - 1.0) > 1e-2):
            raise ValueError("bank embeddings must be unit vectors (sentence embeddings)")
        self.wordings = [normalise_instruction(w) for w in wordings]
        if len(set(self.wordings)) != len(self.wordings):
            raise ValueError("bank wordings must be distinct")
        self.embeddings = matrix
        self.instructions = sorted({normalise_instruction(t) for t in instructions})
        self.arguments = argument_words(self.instructions)
        # argument sequence -> rows of the wordings that have it
        groups: dict[tuple[str, ...], list[int]] = {}
        for row, wording in enumerate(self.wordings):
            groups.setdefault(self.arguments_of(wording), []).append(row)
        self._rows = {key: np.asarray(rows) for key, rows in groups.items()}
        # argument sequence -> the row of the one canonical instruction that has it
        row_of = {wording: row for row, wording in enumerate(self.wordings)}
        owners: dict[tuple[str, ...], list[int]] = {}
        for text in self.instructions:
            if text in row_of:
                owners.setdefault(self.arguments_of(text), []).append(row_of[text])
        self._canonical = {key: rows[0] for key, rows in owners.items() if len(rows) == 1}

    def arguments_of(self, text: str) -> tuple[str, ...]:
        """The argument words of `text` in order (empty without canonical instructions)."""
        return tuple(w for w in words_of(text) if w in self.arguments)

    def __len__(self) -> int:
        return len(self.wordings)

    def match(
        self,
        instruction: str,
        embedding: np.ndarray,
        min_similarity: float,
        canonical: bool = False,
    ) -> InstructionMatch:
        """The nearest training wording of `instruction` (its embedding given), if close enough;
        with `canonical`, then the canonical instruction with the same arguments, if the bank
        has exactly one."""
        if not 0.0 <= min_similarity <= 1.0:
            raise ValueError(f"min_similarity must be in [0, 1], got {min_similarity}")
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        text = normalise_instruction(instruction)
        if vector.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(vector)):
            raise ValueError(f"instruction embedding must be a finite ({EMBEDDING_DIM},) vector")
        similarities = self.embeddings @ vector
        rows = self._rows.get(self.arguments_of(text))
        if rows is None:  # no training wording has these arguments: read the text as it is
            best_any = float(np.max(similarities))
            return InstructionMatch(
                text, text, best_any, False, unmatched_reason=NO_MATCH_ARGUMENTS
            )
        best = int(rows[np.argmax(similarities[rows])])
        similarity = float(similarities[best])
        if similarity >= min_similarity:
            row = self._canonical.get(self.arguments_of(text)) if canonical else None
            if row is not None and row != best:
                nearest = self.wordings[best]
                return InstructionMatch(text, self.wordings[row], similarity, True, row, nearest)
            return InstructionMatch(text, self.wordings[best], similarity, True, best)
        return InstructionMatch(
            text, text, similarity, False, unmatched_reason=NO_MATCH_SIMILARITY
        )

    def save(self, path: str | Path) -> Path:
        """Write the bank as safetensors (embeddings) with the wordings in its metadata."""
        from safetensors.numpy import save_file

        out = Path(path)
        save_file(
            {"embeddings": self.embeddings},
            str(out),
            metadata={
                "wordings": json.dumps(self.wordings),
                "instructions": json.dumps(self.instructions),
                "embedding_dim": str(EMBEDDING_DIM),
            },
        )
        return out

    @classmethod
    def load(cls, path: str | Path) -> WordingBank:
        """Read a bank written by save(); ValueError on a corrupt or inconsistent file."""
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as handle:
                metadata = handle.metadata() or {}
                embeddings = handle.get_tensor("embeddings")
        except Exception as exc:  # safetensors raises several types for a corrupt file
            raise ValueError(f"cannot read the instruction bank {path}: {exc}") from exc
        try:
            wordings = json.loads(metadata["wordings"])
        except (KeyError, json.JSONDecodeError) as exc:
            raise ValueError(f"instruction bank {path} has no valid 'wordings' metadata") from exc
        try:
            instructions = json.loads(metadata.get("instructions", "[]"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"instruction bank {path} has invalid 'instructions'") from exc
        for name, value in (("wordings", wordings), ("instructions", instructions)):
            if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
                raise ValueError(f"instruction bank {path}: '{name}' must be a list of strings")
        return cls(wordings, embeddings, instructions)
