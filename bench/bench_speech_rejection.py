"""Recogniser accuracy and rejection, side by side for two recogniser settings.

Runs the real pocketsphinx recogniser (CommandRecognizer, as the speech node does) on
espeak-ng speech: in-vocabulary commands, "stop", out-of-grammar sentences (the test's lists)
and near misses (one word swapped for a similar-sounding unknown one), including a held-out
near-miss list whose unknown words are not among the default decoy words. Each utterance is
decoded by both settings (the default configuration and one with garbage modelling off,
`asr.decoy_words: []`), clean and with noise at 10-20 dB SNR, on the test voices and on
held-out voices.

    .venv/bin/python bench/bench_speech_rejection.py            # about 4 min on 2 cores
    .venv/bin/python bench/bench_speech_rejection.py --quick    # test voices only
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "vla_ros" / "test"))  # the tests' espeak-ng synthesiser
sys.path.insert(0, str(ROOT / "vla_ros" / "test" / "core"))
sys.path.insert(0, str(ROOT / "bench"))

import speech_synth as ss  # noqa: E402
from machine import describe  # noqa: E402
from test_speech_recognition import NEAR_MISSES, OUT_OF_GRAMMAR  # noqa: E402

from vla_ros.core.speech.asr import DEFAULT_DECOY_WORDS, AsrConfig  # noqa: E402
from vla_ros.core.speech.grammar import CommandGrammar, CommandKind  # noqa: E402
from vla_ros.core.speech.recognizer import CommandRecognizer  # noqa: E402

TEST_VOICES = ss.VOICES
HELD_OUT_VOICES = ("en-us+m3", "en-gb-x-rp", "en-us+f2")
# Unknown words that are NOT default decoy words: does garbage modelling generalise?
HELD_OUT_NEAR_MISSES = (
    "pick up the silver cube",
    "pick up the golden cube",
    "pick up the red tube",
    "pick up the green cone",
    "pack up the blue cube",
    "put the blue cube in the bag",
    "put the red cube on the chair",
    "push the green cube to the rear",
    "stack the red cube on the blue puck",
)


def outcome(recognizer: CommandRecognizer, audio: np.ndarray) -> tuple[str, str]:
    result = recognizer.recognize(audio)
    if result.kind is CommandKind.TASK:
        return "task", result.text
    if result.kind is CommandKind.REJECTED:
        return "rejected", result.reason
    return result.kind.value, result.control_word


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the test voices only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    overlap = sorted(
        {w for s in (*NEAR_MISSES, *HELD_OUT_NEAR_MISSES) for w in s.split()}
        & set(DEFAULT_DECOY_WORDS)
    )
    held_out_overlap = sorted(
        {w for s in HELD_OUT_NEAR_MISSES for w in s.split()} & set(DEFAULT_DECOY_WORDS)
    )
    assert not held_out_overlap, held_out_overlap
    grammar = CommandGrammar()
    settings = {
        "decoys": CommandRecognizer(grammar, AsrConfig()),
        "no decoys": CommandRecognizer(grammar, dataclasses.replace(AsrConfig(), decoy_words=())),
    }
    voices = TEST_VOICES if args.quick else (*TEST_VOICES, *HELD_OUT_VOICES)
    rng = np.random.default_rng(args.seed)
    phrases = list(grammar.canonical_phrases())
    sets: dict[str, list[str]] = {
        "in-vocabulary commands": [phrases[i] for i in rng.choice(len(phrases), 12, False)],
        "stop": ["stop"] * 4,
        "out-of-grammar": [s for group in OUT_OF_GRAMMAR.values() for s in group],
        "near misses (test list)": list(NEAR_MISSES),
        "near misses (held-out words)": list(HELD_OUT_NEAR_MISSES),
    }
    counts = {name: {key: [0, 0] for key in sets} for name in settings}
    decode_s = {name: [] for name in settings}
    examples: dict[str, list[str]] = {name: [] for name in settings}
    total = sum(len(v) for v in sets.values()) * len(voices) * 2
    done, start = 0, time.perf_counter()
    for set_name, texts in sets.items():
        for i, text in enumerate(texts):
            for voice in voices:
                rate = ss.SPEAKING_RATES_WPM[(i + voices.index(voice)) % 2]
                clean = ss.pad(ss.synth(text, voice, rate, pitch=int(rng.integers(35, 65))))
                noisy = ss.add_noise(clean, float(rng.uniform(10, 20)), rng)
                for audio in (clean, noisy):
                    for name, recognizer in settings.items():
                        t0 = time.perf_counter()
                        kind, detail = outcome(recognizer, audio)
                        decode_s[name].append(time.perf_counter() - t0)
                        if set_name == "in-vocabulary commands":
                            good = kind == "task" and detail == text
                        elif set_name == "stop":
                            good = kind == "estop"
                        else:
                            good = kind == "rejected"
                        counts[name][set_name][0] += int(good)
                        counts[name][set_name][1] += 1
                        if not good and len(examples[name]) < 400:
                            examples[name].append(
                                f"{set_name}: '{text}' ({voice}) -> {kind} {detail}"
                            )
                    done += 1
                    if done % 40 == 0:
                        elapsed = time.perf_counter() - start
                        print(f"  {done}/{total} utterances, {elapsed:.0f} s", file=sys.stderr)
    print(f"# bench_speech_rejection ({describe()})")
    print(
        f"voices: {', '.join(voices)}; rates {ss.SPEAKING_RATES_WPM} wpm; clean + 10-20 dB noise"
    )
    print(f"test-list near-miss words that are default decoys: {overlap}")
    print()
    print("| set | what counts as right | " + " | ".join(settings) + " |")
    print("|---|---|" + "---|" * len(settings))
    right = {
        "in-vocabulary commands": "exactly the command",
        "stop": "e-stop",
        "out-of-grammar": "rejected",
        "near misses (test list)": "rejected",
        "near misses (held-out words)": "rejected",
    }
    for set_name in sets:
        cells = [f"{c[set_name][0]}/{c[set_name][1]}" for c in counts.values()]
        print(f"| {set_name} | {right[set_name]} | " + " | ".join(cells) + " |")
    p50 = [f"{1000 * np.percentile(v, 50):.0f}" for v in decode_s.values()]
    p99 = [f"{1000 * np.percentile(v, 99):.0f}" for v in decode_s.values()]
    print(
        "| decode time p50 / p99 [ms] | | "
        + " | ".join(f"{a} / {b}" for a, b in zip(p50, p99, strict=True))
        + " |"
    )
    for name, lines in examples.items():
        print(f"\n{name}: wrong outcomes ({len(lines)} shown)")
        for line in lines:
            print("  " + line)


if __name__ == "__main__":
    main()
