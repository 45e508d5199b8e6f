"""Instruction matching: the embedded VLA conditions on the nearest training wording.

The bank is checked for what it must never hold (a held-out evaluation wording), for how well
the real sentence encoder maps unseen wordings onto the right training wording, and for what
the policy does with a close and a far instruction. Corrupt banks give clear errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from policy_testing import synthetic_episodes, tiny_config, tiny_spec

from vla_ros.core.policy.backends import make_policy
from vla_ros.core.policy.instruction_match import (
    BANK_FILE,
    NO_MATCH_ARGUMENTS,
    NO_MATCH_SIMILARITY,
    InstructionMatch,
    WordingBank,
    argument_words,
)
from vla_ros.core.policy.language import EMBEDDING_DIM, normalise_instruction
from vla_ros.core.policy.session import matched_wording, status_report
from vla_ros.core.policy.vla_model import CheckpointError, read_config
from vla_ros.core.resources import resource_path
from vla_ros.core.training.dataset import ChunkDataset
from vla_ros.core.training.paraphrase import paraphrases, training_wordings
from vla_ros.core.training.trainer import TrainConfig, train, write_instruction_bank


@pytest.fixture(scope="module")
def shipped_bank():
    return WordingBank.load(resource_path("models", "vla_sim") / BANK_FILE)


def _unit_rows(n: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, EMBEDDING_DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_bank_rejects_inconsistent_contents():
    rows = _unit_rows(2)
    WordingBank(["a", "b"], rows)  # consistent
    with pytest.raises(ValueError, match="must be"):
        WordingBank(["a"], rows)  # one wording, two rows
    with pytest.raises(ValueError, match="at least one"):
        WordingBank([], np.zeros((0, EMBEDDING_DIM)))
    with pytest.raises(ValueError, match="NaN"):
        WordingBank(["a", "b"], np.where(np.eye(2, EMBEDDING_DIM) > 0, np.nan, rows))
    with pytest.raises(ValueError, match="unit"):
        WordingBank(["a", "b"], rows * 2.0)
    with pytest.raises(ValueError, match="distinct"):
        WordingBank(["Pick up", "pick up."], rows)  # the same wording once normalised


def test_match_uses_the_nearest_wording_only_when_close_enough():
    rows = _unit_rows(3)
    bank = WordingBank(["one", "two", "three"], rows)
    close = rows[1] + 0.05 * rows[2]
    close /= np.linalg.norm(close)
    match = bank.match("Two!", close, 0.8)
    assert match.matched and match.wording == "two" and match.index == 1
    assert match.instruction == "two" and match.similarity > 0.99
    far = _unit_rows(1, seed=9)[0]  # random 384-d directions are nearly orthogonal
    miss = bank.match("something else", far, 0.8)
    assert not miss.matched and miss.wording == "something else" and miss.index == -1
    assert bank.match("something else", far, 0.0).matched  # 0 matches everything
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="min_similarity"):
            bank.match("two", close, bad)
    for vector in (np.full(EMBEDDING_DIM, np.nan), np.ones(3)):
        with pytest.raises(ValueError, match="finite"):
            bank.match("two", vector, 0.8)


def test_argument_words_come_from_the_canonical_instructions():
    instructions = [
        "pick up the red cube",
        "pick up the blue cube",
        "put the red cube in the bowl",
        "put the red cube on the plate",
        "push the red cube to the left",
        "push the red cube to the right",
        "stack the red cube on the blue cube",
        "stack the blue cube on the red cube",
    ]
    assert argument_words(instructions) == {
        *("red", "blue", "in", "on", "bowl", "plate", "left", "right")
    }
    assert argument_words(["pick up the red cube"]) == frozenset()  # nothing to tell apart
    rows = _unit_rows(4)
    bank = WordingBank(
        ["stack the red cube on the blue cube", "stack the blue cube on the red cube", "a", "b"],
        rows,
        instructions,
    )
    assert bank.arguments_of("Could you heap the RED cube on the blue cube, please?") == (
        "red",
        "on",
        "blue",
    )
    # the closest wording has its cubes the other way round: the one in order wins
    query = rows[1] + 0.6 * rows[0]
    query /= np.linalg.norm(query)
    match = bank.match("heap the red cube on the blue cube", query, 0.5)
    assert match.matched and match.wording == "stack the red cube on the blue cube"
    # arguments no training wording has: read as it is
    miss = bank.match("stack the red cube on the red cube", rows[0], 0.5)
    assert not miss.matched and miss.similarity > 0.99
    assert miss.unmatched_reason == NO_MATCH_ARGUMENTS
    assert match.unmatched_reason == ""
    far = bank.match("heap the red cube on the blue cube", query, 0.999)
    assert not far.matched and far.unmatched_reason == NO_MATCH_SIMILARITY


def test_bank_round_trip_and_corrupt_files(tmp_path):
    bank = WordingBank(
        ["pick up the red cube", "grab the red cube"], _unit_rows(2), ["pick up the red cube"]
    )
    loaded = WordingBank.load(bank.save(tmp_path / BANK_FILE))
    assert loaded.wordings == bank.wordings and loaded.instructions == ["pick up the red cube"]
    np.testing.assert_array_equal(loaded.embeddings, bank.embeddings)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01 not a safetensors file")
    with pytest.raises(ValueError, match="cannot read"):
        WordingBank.load(garbage)
    from safetensors.numpy import save_file

    save_file({"embeddings": _unit_rows(2)}, str(tmp_path / "no_meta.safetensors"))
    with pytest.raises(ValueError, match="wordings"):
        WordingBank.load(tmp_path / "no_meta.safetensors")
    save_file(
        {"embeddings": _unit_rows(2)},
        str(tmp_path / "bad_meta.safetensors"),
        metadata={"wordings": json.dumps({"a": 1})},
    )
    with pytest.raises(ValueError, match="list of strings"):
        WordingBank.load(tmp_path / "bad_meta.safetensors")
    save_file(
        {"embeddings": _unit_rows(2)},
        str(tmp_path / "bad_instructions.safetensors"),
        metadata={"wordings": json.dumps(["a", "b"]), "instructions": "[1, 2]"},
    )
    with pytest.raises(ValueError, match="'instructions' must be"):
        WordingBank.load(tmp_path / "bad_instructions.safetensors")


def test_shipped_bank_holds_the_training_wordings_and_no_held_out_one(shipped_bank):
    instructions = read_config(resource_path("models", "vla_sim")).metadata["instructions"]
    assert shipped_bank.wordings == training_wordings(instructions)
    assert shipped_bank.instructions == sorted(instructions)
    held_out = {p for text in instructions for p in paraphrases(text, held_out=True)}
    assert held_out and not held_out & set(shipped_bank.wordings)
    assert set(instructions) <= set(shipped_bank.wordings)


@pytest.mark.slow
def test_unseen_wordings_match_a_training_wording_of_the_same_task(shipped_bank, encoder):
    """With the real sentence encoder: every held-out wording of the shipped instructions
    matches a training wording of its own instruction (the argument check keeps a stack's two
    cubes and left/right in order, which sentence embeddings alone confuse), and sentences
    that name no task, or a thing no training wording has, are not matched."""
    instructions = read_config(resource_path("models", "vla_sim")).metadata["instructions"]
    owner = {w: text for text in instructions for w in training_wordings([text])}
    cases = [(p, text) for text in instructions for p in paraphrases(text, held_out=True)]
    vectors = encoder.encode_many([p for p, _ in cases])
    wrong = []
    for (wording, text), vector in zip(cases, vectors, strict=True):
        match = shipped_bank.match(wording, vector, 0.8)
        assert match.matched, f"'{wording}' matched nothing (best {match.similarity:.3f})"
        if owner[match.wording] != text:
            wrong.append((wording, match.wording))
        # canonical: the instruction itself, found through the nearest wording's arguments
        canonical = shipped_bank.match(wording, vector, 0.8, canonical=True)
        assert canonical.matched and canonical.wording == normalise_instruction(text), wording
        assert canonical.similarity == match.similarity
        assert canonical.nearest in ("", match.wording)
    assert not wrong, wrong[:5]
    # a canonical instruction is its own canonical wording; a training paraphrase maps to it
    for text in instructions[:3]:
        exact = shipped_bank.match(text, encoder.encode(text), 0.8, canonical=True)
        assert exact.wording == normalise_instruction(text) and exact.nearest == ""
    paraphrase = training_wordings([instructions[0]])[-1]
    mapped = shipped_bank.match(paraphrase, encoder.encode(paraphrase), 0.8, canonical=True)
    assert mapped.wording == normalise_instruction(instructions[0])
    # without the argument check (a bank that knows no instructions) word order gets lost
    plain = WordingBank(shipped_bank.wordings, shipped_bank.embeddings)
    swapped = [
        w
        for (w, text), v in zip(cases, vectors, strict=True)
        if owner[plain.match(w, v, 0.8).wording] != text
    ]
    assert len(swapped) > 0.02 * len(cases)
    for unrelated in (
        "make me a coffee",
        "hello robot",
        "put the red cube in the drawer",
        "place the blue cube next to the bowl",
        "stack the red cube on the red cube",
        "pick up the red ball",
    ):
        vector = encoder.encode(unrelated)
        assert not shipped_bank.match(unrelated, vector, 0.8).matched, unrelated
    # the documented limit (README): a task outside the set, close enough to one with the
    # same arguments, is read as that one
    outside = shipped_bank.match(
        "push the red cube forward", encoder.encode("push the red cube forward"), 0.8
    )
    assert outside.matched and owner[outside.wording] == "pick up the red cube"


def test_policy_conditions_on_the_matched_wording(tmp_path, encoder, caplog):
    spec = tiny_spec(chunk_length=4)
    episodes = synthetic_episodes(spec)
    settings = TrainConfig(steps=2, batch_size=4, progress=False)
    train(episodes, tiny_config(spec), settings, tmp_path / "ckpt", text_encoder=encoder)
    bank = WordingBank.load(tmp_path / "ckpt" / BANK_FILE)  # the trainer wrote it
    assert bank.instructions == read_config(tmp_path / "ckpt").metadata["instructions"]
    assert "grab the red cube" in bank.wordings and "grasp the red cube" not in bank.wordings
    options = {"checkpoint_dir": str(tmp_path / "ckpt"), "runtime": "torch"}
    policy = make_policy("embedded", options, text_encoder=encoder)
    observation = ChunkDataset(episodes, spec).observation(0, stamp_s=1.0)

    near = policy.instruction_embedding("could you grasp the red cube for me")
    assert policy.last_match.matched
    np.testing.assert_array_equal(near, bank.embeddings[policy.last_match.index])
    # these two instructions share no argument words, so no wording has a unique canonical
    # instruction: the nearest wording stays (the shipped bank's case is tested above)
    assert policy.last_match.nearest == ""
    nearest_only = make_policy(
        "embedded", {**options, "instruction_match_canonical": False}, text_encoder=encoder
    )
    nearest_only.instruction_embedding("could you grasp the red cube for me")
    assert nearest_only.last_match == policy.last_match
    with caplog.at_level("WARNING", logger="vla_ros.core.policy.vla_model"):
        far = policy.instruction_embedding("make me a coffee")
    assert not policy.last_match.matched
    np.testing.assert_array_equal(far, encoder.encode("make me a coffee"))
    assert "far from every training wording" in caplog.text
    caplog.clear()
    # with the shipped bank: a close wording whose cubes no training wording names together.
    # The log says so, rather than quoting a similarity above the threshold as below it.
    policy.bank = WordingBank.load(resource_path("models", "vla_sim") / BANK_FILE)
    with caplog.at_level("WARNING", logger="vla_ros.core.policy.vla_model"):
        policy.instruction_embedding("stack the red cube on the red cube")
    assert not policy.last_match.matched and policy.last_match.similarity >= 0.8
    assert policy.last_match.unmatched_reason == NO_MATCH_ARGUMENTS
    assert "no training wording names together" in caplog.text
    assert "far from every" not in caplog.text
    chunk = policy.infer(observation)
    assert chunk.actions.shape == (4, 4) and np.all(np.isfinite(chunk.actions))

    plain = make_policy("embedded", {**options, "instruction_match": False}, text_encoder=encoder)
    own = plain.instruction_embedding("could you grasp the red cube for me")
    np.testing.assert_array_equal(own, encoder.encode("could you grasp the red cube for me"))
    with pytest.raises(ValueError, match="instruction_match_min_similarity"):
        make_policy("embedded", {**options, "instruction_match_min_similarity": 2.0})

    # a bank made by another encoder (here: shuffled vectors) is refused on first use
    shuffled = WordingBank(bank.wordings, bank.embeddings[::-1].copy())
    shuffled.save(tmp_path / "ckpt" / BANK_FILE)
    other = make_policy("embedded", options, text_encoder=encoder)
    with pytest.raises(ValueError, match="another sentence encoder"):
        other.infer(observation)
    (tmp_path / "ckpt" / BANK_FILE).write_bytes(b"corrupt")
    with pytest.raises(CheckpointError, match="instruction bank"):
        make_policy("embedded", options, text_encoder=encoder)


def test_status_reports_the_matched_wording_of_the_current_instruction_only():
    heard = "Could you grasp the red cube for me?"
    match = InstructionMatch(
        normalise_instruction(heard), "can you grab the red cube", 0.9, True, 3
    )
    assert matched_wording(match, heard) == "can you grab the red cube"
    assert matched_wording(match, "push the red cube to the left") == ""  # not read yet
    assert matched_wording(None, heard) == ""
    unmatched = InstructionMatch("make me a coffee", "make me a coffee", 0.3, False)
    assert matched_wording(unmatched, "make me a coffee") == ""
    exact = InstructionMatch("grab the red cube", "grab the red cube", 1.0, True, 0)
    assert matched_wording(exact, "grab the red cube") == ""  # nothing to tell
    report = status_report(
        stamp_s=1.0,
        backend="embedded",
        assembler=None,
        runner_status=None,
        chunk_length=10,
        control_rate_hz=0.0,
        inference_rate_hz=0.0,
        instruction_matched="can you grab the red cube",
    )
    assert report.instruction_matched == ""  # no instruction: nothing is being acted on


def test_bank_can_be_added_to_an_older_checkpoint(tmp_path, encoder):
    spec = tiny_spec(chunk_length=4)
    settings = TrainConfig(steps=1, batch_size=4, progress=False)
    train(synthetic_episodes(spec), tiny_config(spec), settings, tmp_path, text_encoder=encoder)
    (tmp_path / BANK_FILE).unlink()
    bank = WordingBank.load(write_instruction_bank(tmp_path, encoder))
    instructions = read_config(tmp_path).metadata["instructions"]
    assert bank.wordings == training_wordings(instructions)
