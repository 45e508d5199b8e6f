"""Spoken confirmation: how often a voice command becomes motion, with and without it.

The real pocketsphinx recogniser (CommandRecognizer, as the speech node builds it) on espeak-ng
speech, test and held-out voices, clean and with 10-20 dB noise. Without confirmation a
command becomes motion when the recogniser accepts it as a task. With confirmation
(speech_node `confirm_commands: true`) an accepted task is asked back and becomes motion
only when the operator's answer is heard as "yes"; the simulated operator answers "yes" when
the robot asks back exactly what was said, and "no" otherwise (a near miss heard as a
command, chatter heard as a command, a misheard command). Stray replies that are neither
answer ("okay", "sure", "yeah", ...) are decoded with a task waiting, to count how often one
would be taken as a yes.

    .venv/bin/python bench/bench_speech_confirmation.py            # test + held-out voices
    .venv/bin/python bench/bench_speech_confirmation.py --quick    # test voices, ~2.5 min
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "vla_ros" / "test"))  # the tests' espeak-ng synthesiser
sys.path.insert(0, str(ROOT / "vla_ros" / "test" / "core"))
sys.path.insert(0, str(ROOT / "bench"))

import speech_synth as ss  # noqa: E402
from bench_speech_rejection import HELD_OUT_NEAR_MISSES, HELD_OUT_VOICES  # noqa: E402
from machine import describe  # noqa: E402
from test_speech_recognition import NEAR_MISSES, OUT_OF_GRAMMAR  # noqa: E402

from vla_ros.core.speech.grammar import CommandGrammar, CommandKind  # noqa: E402
from vla_ros.core.speech.recognizer import CommandRecognizer  # noqa: E402

STRAY_REPLIES = ("okay", "sure", "yeah", "nope", "go ahead", "wrong", "not that one", "what")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the test voices only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    plain = CommandRecognizer(CommandGrammar())
    asking = CommandRecognizer(CommandGrammar(confirmation=True))
    voices = ss.VOICES if args.quick else (*ss.VOICES, *HELD_OUT_VOICES)
    rng = np.random.default_rng(args.seed)
    phrases = list(plain.grammar.canonical_phrases())
    sets: dict[str, list[str]] = {
        "in-vocabulary commands": [phrases[i] for i in rng.choice(len(phrases), 12, False)],
        "near misses (test list)": list(NEAR_MISSES),
        "near misses (held-out words)": list(HELD_OUT_NEAR_MISSES),
        "out-of-grammar": [s for group in OUT_OF_GRAMMAR.values() for s in group],
    }
    # per set: [motion without confirmation, motion with, right command carried out with, n]
    counts = {name: [0, 0, 0, 0] for name in sets}
    wrong_motion: list[str] = []
    answers = {"yes": [0, 0], "no": [0, 0]}  # [heard as said, asked]
    total = sum(len(v) for v in sets.values()) * len(voices) * 2
    done, start = 0, time.perf_counter()

    def speak(text: str, voice: str, rate: int, noisy: bool) -> np.ndarray:
        clean = ss.pad(ss.synth(text, voice, rate, pitch=int(rng.integers(35, 65))))
        return ss.add_noise(clean, float(rng.uniform(10, 20)), rng) if noisy else clean

    for set_name, texts in sets.items():
        for i, text in enumerate(texts):
            for voice in voices:
                rate = ss.SPEAKING_RATES_WPM[(i + voices.index(voice)) % 2]
                for noisy in (False, True):
                    audio = speak(text, voice, rate, noisy)
                    row = counts[set_name]
                    row[3] += 1
                    row[0] += plain.recognize(audio).kind is CommandKind.TASK
                    heard = asking.recognize(audio)
                    if heard.kind is CommandKind.TASK:
                        # the operator hears "did you say: <heard.text>?" and answers
                        answer = "yes" if heard.text == text else "no"
                        reply = asking.recognize(speak(answer, voice, rate, noisy))
                        answers[answer][1] += 1
                        expected = CommandKind.CONFIRM if answer == "yes" else CommandKind.DENY
                        answers[answer][0] += reply.kind is expected
                        if reply.kind is CommandKind.CONFIRM:
                            row[1] += 1
                            row[2] += heard.text == text
                            if heard.text != text:
                                wrong_motion.append(f"'{text}' ({voice}) -> '{heard.text}'")
                    done += 1
                    if done % 40 == 0:
                        elapsed = time.perf_counter() - start
                        print(f"  {done}/{total} utterances, {elapsed:.0f} s", file=sys.stderr)
    stray = [0, 0]  # [taken as yes, decoded]
    stray_examples = []
    for reply in STRAY_REPLIES:
        for voice in voices:
            for noisy in (False, True):
                result = asking.recognize(speak(reply, voice, 160, noisy))
                stray[1] += 1
                if result.kind is CommandKind.CONFIRM:
                    stray[0] += 1
                    stray_examples.append(f"'{reply}' ({voice})")
    print(f"# bench_speech_confirmation ({describe()})")
    print(
        f"voices: {', '.join(voices)}; rates {ss.SPEAKING_RATES_WPM} wpm; clean + 10-20 dB noise"
    )
    print()
    print("| set | motion without confirmation | motion with confirmation | of which right |")
    print("|---|---|---|---|")
    for name, (without, with_, right, n) in counts.items():
        print(f"| {name} | {without}/{n} | {with_}/{n} | {right} |")
    print()
    for word, (ok, n) in answers.items():
        print(f"answer '{word}' heard as said: {ok}/{n}")
    print(f"stray replies {list(STRAY_REPLIES)} taken as yes: {stray[0]}/{stray[1]}")
    print(f"wrong commands carried out with confirmation: {len(wrong_motion)} {wrong_motion}")
    print(f"stray replies taken as yes: {stray_examples}")


if __name__ == "__main__":
    main()
