"""Voice latency through the real nodes: end of a spoken "stop" -> /safety/estop, and end of a
spoken command -> its /instruction (p50 / p99), plus the recogniser's decode time alone.

A WAV of espeak-ng speech (stops and commands in three voices, 1.5 s apart) is played in real
time by audio_file_node (20 ms chunks) into speech_node, each in its own process; this
process listens on /audio (to learn the stream's start stamp), /safety/estop and /instruction.
The end of each utterance is where its synthesised speech ends in the WAV.

Usage: .venv/bin/python bench/bench_speech.py [--repeats 8] [--no-fast-path-run]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "vla_ros" / "test"))  # the tests' espeak-ng synthesiser
sys.path.insert(0, str(ROOT / "bench"))

import speech_synth as ss  # noqa: E402
from machine import describe  # noqa: E402

VOICES = ("en-us", "en-gb", "en-us+f3")
COMMANDS = (
    "pick up the red cube",
    "put the green cube in the bowl",
    "push the blue cube to the left",
    "stack the yellow cube on the red cube",
)
GAP_S = 1.5
CHUNK = 320  # samples per /audio message (audio_file_node's default 20 ms at 16 kHz)


def build_stream(repeats: int, rng: random.Random) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """Playlist audio (after the node's lead-in gap) and (kind, end-of-speech offset [s])."""
    parts, events, offset = [], [], GAP_S  # audio_file_node plays gap_s of silence first
    for i in range(repeats):
        for kind, text in (("stop", "stop"), ("command", COMMANDS[i % len(COMMANDS)])):
            speech = ss.synth(text, VOICES[rng.randrange(len(VOICES))], rng.choice([150, 175]))
            events.append((kind, offset + ss.speech_end_index(speech) / ss.RATE_HZ))
            parts += [speech, np.zeros(int(GAP_S * ss.RATE_HZ), np.int16)]
            offset += (speech.size / ss.RATE_HZ) + GAP_S
    return np.concatenate(parts), events


def run_once(
    wav: Path,
    n_samples: int,
    events: list[tuple[str, float]],
    *,
    fast_path: bool,
    extra_args: list[str],
) -> dict:
    """Play the stream through the nodes; latencies per kind [s]."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import Bool
    from vla_ros_msgs.msg import AudioData, Instruction

    from vla_ros import conversions as conv
    from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS
    from vla_ros.nodes.speech_node import AUDIO_QOS

    context = Context()
    rclpy.init(context=context)
    node = Node("bench_speech", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    stamps: list[float] = []  # every /audio chunk's stamp
    estops: list[float] = []
    instructions: list[tuple[float, float, str]] = []

    last_audio = [time.monotonic()]

    def on_audio(msg: AudioData) -> None:
        stamps.append(conv.stamp_to_seconds(msg.header.stamp))
        last_audio[0] = time.monotonic()

    node.create_subscription(AudioData, "/audio", on_audio, AUDIO_QOS)
    node.create_subscription(
        Bool, "/safety/estop", lambda _m: estops.append(time.time()), LATCHED_QOS
    )
    node.create_subscription(
        Instruction,
        "/instruction",
        lambda m: instructions.append(
            (time.time(), conv.stamp_to_seconds(m.header.stamp), m.text)
        ),
        COMMAND_QOS,
    )
    env = dict(os.environ)
    speech = subprocess.Popen(
        [sys.executable, "-m", "vla_ros.nodes.speech_node", "--ros-args", "-p",
         f"fast_path:={str(fast_path).lower()}", *extra_args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    procs = [speech]
    try:
        deadline = time.monotonic() + 60
        while node.count_publishers("/instruction") == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        player = subprocess.Popen(
            [sys.executable, "-m", "vla_ros.nodes.audio_file_node", "--ros-args",
             "-p", f'paths:=["{wav}"]', "-p", "start_delay_s:=6.0", "-p", f"gap_s:={GAP_S}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(player)
        duration_s = events[-1][1] + 2 * GAP_S + 10.0
        deadline = time.monotonic() + duration_s
        n_stops = sum(1 for kind, _ in events if kind == "stop")
        n_cmds = len(events) - n_stops
        n_chunks = -(-n_samples // CHUNK)
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.01)
            played = stamps and time.monotonic() - last_audio[0] > 1.0  # the playlist ended
            if len(estops) >= n_stops and len(instructions) >= n_cmds and played:
                break
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=15)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    if not stamps:
        raise RuntimeError("no audio seen")
    # anchored on the last chunk: chunks published before discovery completed may be missing
    t0 = stamps[-1] - (n_chunks - 1) * CHUNK / ss.RATE_HZ
    stop_ends = [t0 + end for kind, end in events if kind == "stop"]
    cmd_ends = [t0 + end for kind, end in events if kind == "command"]
    stop_lat = [min((t - e for t in estops if t > e), default=np.nan) for e in stop_ends]
    cmd_lat, stamp_err = [], []
    for end in cmd_ends:
        after = [(t, s) for t, s, _ in instructions if t > end and abs(s - end) < 1.0]
        cmd_lat.append(after[0][0] - end if after else np.nan)
        stamp_err.append(after[0][1] - end if after else np.nan)
    return {
        "stop": np.array(stop_lat),
        "command": np.array(cmd_lat),
        "stamp_error": np.array(stamp_err),
        "n_estop_msgs": len(estops),
        "n_instructions": len(instructions),
        "chunks_missed_at_start": round((stamps[0] - t0) * ss.RATE_HZ / CHUNK),
    }


def report(name: str, values_s: np.ndarray) -> None:
    ok = values_s[np.isfinite(values_s)]
    if ok.size == 0:
        print(f"  {name:44s} no results")
        return
    p50, p99 = np.percentile(ok * 1000, [50, 99])
    print(
        f"  {name:44s} p50 {p50:6.0f} ms  p99 {p99:6.0f} ms  max {ok.max() * 1000:6.0f} ms  "
        f"({ok.size}/{values_s.size} recognised)"
    )


def decode_times(repeats: int) -> np.ndarray:
    from vla_ros.core.speech.grammar import CommandGrammar
    from vla_ros.core.speech.recognizer import CommandRecognizer

    recognizer = CommandRecognizer(CommandGrammar())
    out = []
    for i in range(repeats):
        for text in ("stop", COMMANDS[i % len(COMMANDS)]):
            audio = ss.pad(ss.synth(text, VOICES[i % len(VOICES)], 160))
            out.append((text, recognizer.recognize(audio).decode_s))
    return np.array([t for _, t in out])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8, help="stop+command pairs per run")
    parser.add_argument(
        "--no-fast-path-run", action="store_true", help="also run with fast_path:=false"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="extra speech_node parameter, e.g. --param vad.control_silence_ms:=90.0",
    )
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(101, 200)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    from vla_ros.dds import apply_transport_defaults

    apply_transport_defaults()
    print(describe())
    times = decode_times(args.repeats)
    print(f"recogniser alone (pocketsphinx + checks), {times.size} utterances:")
    report("decode time per utterance", times)
    audio, events = build_stream(args.repeats, random.Random(0))
    with tempfile.TemporaryDirectory() as tmp:
        wav = ss.write_wav(Path(tmp) / "stream.wav", audio)
        runs = [True, False] if args.no_fast_path_run else [True]
        for fast_path in runs:
            n_samples = audio.size + 2 * round(GAP_S * ss.RATE_HZ)  # with the lead-in gap
            extra = [a for p in args.param for a in ("-p", p)]
            result = run_once(wav, n_samples, events, fast_path=fast_path, extra_args=extra)
            print(
                f"through the nodes (audio_file_node -> speech_node, fast_path={fast_path}"
                f"{' ' + ' '.join(args.param) if args.param else ''}), "
                f"{result['n_estop_msgs']} e-stops, {result['n_instructions']} instructions "
                f"({result['chunks_missed_at_start']} audio chunks published before discovery):"
            )
            report('end of "stop" -> /safety/estop received', result["stop"])
            report("end of command -> /instruction received", result["command"])
            report("Instruction stamp - true end of speech", result["stamp_error"])


if __name__ == "__main__":
    main()
