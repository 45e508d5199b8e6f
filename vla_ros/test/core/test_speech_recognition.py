"""Real recognition of espeak-ng speech: accuracy, "stop" recall, rejection, segmentation.

Speech is synthesised at test time (three voices, two speaking rates, clean and with noise at
10-20 dB SNR) and decoded by the real pocketsphinx recogniser with the generated grammar.
"""

from __future__ import annotations

import numpy as np
import pytest
from speech_synth import (
    RATE_HZ,
    SPEAKING_RATES_WPM,
    VOICES,
    add_noise,
    pad,
    require_tools,
    speech_end_index,
    synth,
)

from vla_ros.core.speech.asr import AsrConfig, PocketSphinxAsr, edit_distance, speech_frames
from vla_ros.core.speech.grammar import CommandGrammar, CommandKind
from vla_ros.core.speech.recognizer import CommandRecognizer
from vla_ros.core.speech.vad import (
    SileroVad,
    StreamResampler,
    UtteranceSegmenter,
    VadConfig,
    WebRtcVad,
    to_mono_16k,
)

pytest.importorskip("pocketsphinx")

# Speech outside the command language, by kind. Every one must be rejected.
OUT_OF_GRAMMAR = {
    "question": (
        "what is the weather like today",
        "where is my phone",
        "what time is it",
        "how are you doing today",
        "who are you",
        "what are you doing",
        "is the red cube heavy",
        "how many cubes are there",
        "where did you put the bowl",
        "do you know where the plate is",
    ),
    "chit-chat": (
        "hello robot how are you",
        "thank you very much",
        "good morning everyone",
        "let us have lunch now",
        "the quick brown fox jumps",
        "i think it is going to rain",
        "see you tomorrow",
        "that was really good",
        "my coffee is getting cold",
        "the meeting starts at ten",
    ),
    "other command": (
        "open the door",
        "turn on the lights",
        "call my mother",
        "set a timer for five minutes",
        "close the window",
        "go to the kitchen",
    ),
    "unknown word": (
        "pick up the green banana",
        "pick up the orange ball",
        "pick up the red apple",
        "stack the red cube on the table",
        "throw the red cube",
        "give me the green cube",
        "grab the red cube",
        "wash the red cube",
        "lift the yellow cube",
        "move the red cube to the left",
    ),
}
# One word swapped for a similar-sounding one outside the vocabulary ("cup" for "cube").
# Some of the words are default decoy words, some not ("chair"; "cup" and "white" are dropped
# as one phone from "can" and "right"); bench/bench_speech_rejection.py adds a list whose
# unknown words are all outside the decoys. Only a floor on the rejected share is asserted.
NEAR_MISSES = (
    "pick up the red cup",
    "pick up the black cube",
    "pick up the purple cube",
    "pick up the white cube",
    "put the red cube in the box",
    "put the yellow cube on the floor",
    "push the blue chair to the left",
    "push the yellow cube to the front",
)


@pytest.fixture(scope="module")
def recognizer():
    require_tools()
    return CommandRecognizer(CommandGrammar())


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (substitutions + insertions + deletions)."""
    return edit_distance(reference, hypothesis)


def said_words(recognition) -> list[str]:
    if recognition.kind is CommandKind.TASK:
        return recognition.text.split()
    return [recognition.control_word] if recognition.control_word else []


def test_word_accuracy_on_in_vocabulary_commands(recognizer):
    rng = np.random.default_rng(7)
    phrases = list(recognizer.grammar.canonical_phrases())
    controls = ["stop", "halt", "freeze", "wait", "resume", "continue", "cancel"]
    errors = words = 0
    misses = []
    for voice in VOICES:
        for rate in SPEAKING_RATES_WPM:
            chosen = [phrases[i] for i in rng.choice(len(phrases), size=8, replace=False)]
            for text in [*chosen, *rng.choice(controls, size=3, replace=False)]:
                clean = pad(synth(text, voice, rate, pitch=int(rng.integers(35, 65))))
                for audio in (clean, add_noise(clean, float(rng.uniform(10, 20)), rng)):
                    result = recognizer.recognize(audio)
                    reference = text.split()
                    n_err = word_errors(reference, said_words(result))
                    errors += n_err
                    words += len(reference)
                    if n_err:
                        misses.append((voice, rate, text, result.heard, result.reason))
    accuracy = 1.0 - errors / words
    print(f"word accuracy {accuracy:.3f} over {words} words; misses: {misses}")
    assert accuracy >= 0.95, misses


def test_stop_is_recognised_in_99_percent_of_trials(recognizer):
    rng = np.random.default_rng(11)
    voices = [*VOICES, "en-us+m3", "en-gb-x-rp", "en-us+f2"]
    hits, failures = 0, []
    trials = 100
    cache: dict[tuple, np.ndarray] = {}
    for trial in range(trials):
        voice = voices[trial % len(voices)]
        rate = int(rng.choice([120, 150, 175, 200]))
        pitch = int(rng.choice([30, 50, 70]))
        key = (voice, rate, pitch)
        if key not in cache:
            cache[key] = synth("stop", voice, rate, pitch)
        audio = pad(cache[key], before_s=float(rng.uniform(0.1, 0.4)), after_s=0.3)
        if trial % 2:
            audio = add_noise(audio, float(rng.uniform(10, 20)), rng)
        result = recognizer.recognize(audio)
        if result.kind is CommandKind.ESTOP and result.control_word == "stop":
            hits += 1
        else:
            failures.append((key, result.heard, result.reason))
    print(f"stop recognised {hits}/{trials}; failures: {failures}")
    assert hits >= 99, failures


def test_out_of_grammar_speech_is_rejected_and_never_becomes_a_task(recognizer):
    rng = np.random.default_rng(3)
    accepted, n = [], 0
    for kind, sentences in OUT_OF_GRAMMAR.items():
        for i, text in enumerate(sentences):
            for voice in VOICES:
                rate = SPEAKING_RATES_WPM[(i + VOICES.index(voice)) % len(SPEAKING_RATES_WPM)]
                clean = pad(synth(text, voice, rate))
                for audio in (clean, add_noise(clean, float(rng.uniform(10, 20)), rng)):
                    result = recognizer.recognize(audio)
                    n += 1
                    if result.kind is not CommandKind.REJECTED:
                        accepted.append((kind, voice, rate, text, result.kind.value, result.heard))
                    else:
                        assert result.reason and result.text == ""
    print(f"out-of-grammar: {n - len(accepted)}/{n} rejected; accepted: {accepted}")
    # Goal: every one. Measured 204/216 (5 tasks, 4 stops, 3 resumes); without the phone loop
    # 196/216. Not met: see bench/README.md "Voice".
    tasks = [a for a in accepted if a[4] == CommandKind.TASK.value]
    assert len(accepted) <= 0.08 * n, accepted  # 203-204/216 measured; CMN state varies
    assert len(tasks) <= 0.04 * n, tasks


def test_near_misses_are_mostly_rejected(recognizer):
    """Similar-sounding unknown words ("cup" for "cube", "purple" for "blue"): the decoy
    re-decode (garbage modelling, asr.decoy_words) hears most of them as said. Measured 28/48
    rejected (10-11/48 without decoys); guards that level with a margin for the decoder's
    state, which varies between runs. Not every one: see bench/README.md "Voice"."""
    rng = np.random.default_rng(13)
    accepted, n = [], 0
    for text in NEAR_MISSES:
        for voice in VOICES:
            clean = pad(synth(text, voice, 160))
            for audio in (clean, add_noise(clean, float(rng.uniform(10, 20)), rng)):
                result = recognizer.recognize(audio)
                n += 1
                if result.kind is not CommandKind.REJECTED:
                    accepted.append((voice, text, result.heard))
    print(f"near misses: {n - len(accepted)}/{n} rejected; accepted: {accepted}")
    assert n - len(accepted) >= 0.45 * n, accepted


def test_confirmation_answers_are_heard_and_no_is_never_yes():
    """Where commands are confirmed, "yes" and "no" are words of the language: each
    must be heard as said (6 voices, 3 rates, clean and noisy), and a "no" must never come
    out as a confirmation (that would carry out a misheard command)."""
    require_tools()
    asking = CommandRecognizer(CommandGrammar(confirmation=True))
    rng = np.random.default_rng(17)
    voices = [*VOICES, "en-us+m3", "en-gb-x-rp", "en-us+f2"]
    # "confirm" was tried as a second yes and dropped: heard as "continue" in 9 of 36
    expected = {"yes": CommandKind.CONFIRM, "no": CommandKind.DENY}
    right, n, wrong, no_as_yes = 0, 0, [], 0
    for voice in voices:
        for rate in (130, 160, 190):
            for word, kind in expected.items():
                clean = pad(synth(word, voice, rate))
                for audio in (clean, add_noise(clean, float(rng.uniform(10, 20)), rng)):
                    result = asking.recognize(audio)
                    n += 1
                    if result.kind is kind:
                        right += 1
                    else:
                        wrong.append((voice, rate, word, result.kind.value, result.heard))
                        no_as_yes += word == "no" and result.kind is CommandKind.CONFIRM
    print(f"answers heard right {right}/{n}; wrong: {wrong}")
    assert no_as_yes == 0, wrong
    assert right >= 0.95 * n, wrong


def test_silence_and_noise_alone_are_rejected(recognizer):
    rng = np.random.default_rng(5)
    silence = np.zeros(RATE_HZ, dtype=np.int16)
    noise = np.clip(rng.normal(0, 300, RATE_HZ), -32768, 32767).astype(np.int16)
    for audio in (silence, noise):
        assert recognizer.recognize(audio).kind is CommandKind.REJECTED


def test_missing_dictionary_words_are_reported():
    from vla_ros.core.speech.grammar import VocabularyConfig

    grammar = CommandGrammar(VocabularyConfig(colors=("red", "zzyzzxq")))
    with pytest.raises(ValueError, match="zzyzzxq"):
        PocketSphinxAsr(grammar)


def test_backend_without_model_gives_a_clear_error():
    with pytest.raises(ValueError, match="model_dir"):
        AsrConfig(backend="faster_whisper")
    config = AsrConfig(backend="faster_whisper", model_dir="/nonexistent/model")
    with pytest.raises(RuntimeError, match="faster"):
        CommandRecognizer(CommandGrammar(), config)


def stream_of(texts: list[str], rng: np.random.Generator, snr_db: float | None):
    """1 s silence, then each text followed by 1.2 s silence; returns audio and speech ends."""
    parts, ends = [np.zeros(RATE_HZ, np.int16)], []
    for text in texts:
        speech = synth(text, "en-us", 160)
        ends.append((sum(p.size for p in parts) + speech_end_index(speech)) / RATE_HZ)
        parts += [speech, np.zeros(int(1.2 * RATE_HZ), np.int16)]
    audio = np.concatenate(parts)
    return (add_noise(audio, snr_db, rng) if snr_db else audio), ends


@pytest.mark.parametrize("snr_db", [None, 15.0])
def test_silero_segmenter_cuts_utterances_and_fast_paths_stop(recognizer, snr_db):
    rng = np.random.default_rng(2)
    texts = ["stop", "pick up the red cube", "resume"]
    audio, ends = stream_of(texts, rng, snr_db)
    segmenter = UtteranceSegmenter(SileroVad(), VadConfig())
    cuts = []
    for start in range(0, audio.size, 320):  # 20 ms chunks, as from the audio topic
        cuts += segmenter.process(audio[start : start + 320], start / RATE_HZ)
    finals = [c for c in cuts if c.final]
    assert len(finals) == 3, [(c.start_s, c.end_s) for c in cuts]
    for cut, end_s in zip(finals, ends, strict=False):
        assert abs(cut.end_s - end_s) < 0.25  # the utterance ends where the speech does
    results = [recognizer.recognize(c.samples) for c in finals]
    assert [r.kind for r in results] == [CommandKind.ESTOP, CommandKind.TASK, CommandKind.RESUME]
    assert results[1].text == "pick up the red cube"
    early = [c for c in cuts if not c.final]
    assert early and early[0].index == finals[0].index  # "stop" was cut early as well
    assert recognizer.recognize(early[0].samples).kind is CommandKind.ESTOP
    # the fast path's quick decode (no phone loop) hears it too
    assert recognizer.recognize(early[0].samples, thorough=False).kind is CommandKind.ESTOP
    assert all(c.duration_s <= VadConfig().max_control_utterance_ms / 1000 for c in early)


def test_webrtc_segmenter_on_clean_speech(recognizer):
    rng = np.random.default_rng(4)
    audio, _ = stream_of(["halt", "push the blue cube to the left"], rng, None)
    config = VadConfig(backend="webrtc")
    segmenter = UtteranceSegmenter(WebRtcVad(config.webrtc_aggressiveness), config)
    finals = [c for c in segmenter.process(audio, 0.0) if c.final]
    texts = [recognizer.recognize(c.samples) for c in finals]
    assert [t.control_word or t.text for t in texts] == ["halt", "push the blue cube to the left"]


def test_short_clicks_are_not_utterances():
    click = np.zeros(2 * RATE_HZ, dtype=np.int16)
    click[RATE_HZ : RATE_HZ + 160] = 20000
    segmenter = UtteranceSegmenter(SileroVad(), VadConfig())
    assert segmenter.process(click, 0.0) == []


def test_resampling_to_16k_and_energy_frames():
    t = np.arange(48_000) / 48_000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    stereo = np.stack([tone, tone], axis=1)
    mono = to_mono_16k(stereo, 48_000)
    assert mono.dtype == np.int16 and abs(mono.size - 16_000) <= 1
    assert abs(int(np.abs(mono).max()) - 8000) < 400
    frames = speech_frames(np.concatenate([np.zeros(8000, np.int16), mono[:8000]]), AsrConfig())
    assert not frames[:45].any() and frames[55:].all()


@pytest.mark.parametrize(("rate_hz", "chunk"), [(48_000, 960), (44_100, 882), (16_000, 320)])
def test_stream_resampler_is_continuous_across_chunks(rate_hz, chunk):
    t = np.arange(2 * rate_hz) / rate_hz
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    resampler = StreamResampler()
    out = np.concatenate(
        [resampler.process(tone[i : i + chunk], rate_hz) for i in range(0, tone.size, chunk)]
    )
    assert abs(out.size - 2 * RATE_HZ) <= 1
    delay_s = 0.0 if rate_hz == RATE_HZ else 31 / rate_hz  # the FIR's group delay
    ideal = 8000 * np.sin(2 * np.pi * 440 * (np.arange(out.size) / RATE_HZ - delay_s))
    rms_error = np.sqrt(np.mean((out[100:] - ideal[100:]) ** 2))
    assert rms_error < 20.0  # 8000 peak: no clicks at the chunk boundaries
