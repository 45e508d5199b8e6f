"""Tier 3: WAV files -> audio_file_node -> speech_node -> /instruction and /safety/estop,
and `vla-ros say` -> /instruction, each in its own process over real DDS."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from ros_helpers import spin_until
from speech_synth import require_tools, synth, write_wav

pytestmark = pytest.mark.graph


def start(module: str, *ros_args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", module, "--ros-args", *ros_args],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop_all(procs: list[subprocess.Popen]) -> str:
    logs = []
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        logs.append(out or "")
    return "\n".join(logs)


def test_spoken_files_through_the_real_nodes(executor, tmp_path):
    require_tools()
    from rclpy.node import Node
    from std_msgs.msg import Bool, String
    from vla_ros_msgs.msg import Instruction

    from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS

    files = []
    for i, (text, voice) in enumerate(
        [("pick up the blue cube", "en-us"), ("stop", "en-us+f3"), ("open the door", "en-gb")]
    ):
        files.append(str(write_wav(tmp_path / f"{i}.wav", synth(text, voice, 160))))
    node = Node("speech_graph_probe", context=executor.context)
    executor.add_node(node)
    got: dict[str, list] = {"instr": [], "estop": [], "rej": []}
    node.create_subscription(Instruction, "/instruction", got["instr"].append, COMMAND_QOS)
    node.create_subscription(Bool, "/safety/estop", got["estop"].append, LATCHED_QOS)
    node.create_subscription(String, "/speech/rejected", got["rej"].append, COMMAND_QOS)

    procs = [start("vla_ros.nodes.speech_node")]
    try:
        # the speech node is up once its publishers are seen; only then start the audio
        assert spin_until(executor, lambda: node.count_publishers("/instruction") > 0, 60)
        assert spin_until(executor, lambda: node.count_publishers("/speech/rejected") > 0, 10)
        procs.append(
            start(
                "vla_ros.nodes.audio_file_node",
                "-p",
                f"paths:={files!r}".replace("'", '"'),
                "-p",
                "start_delay_s:=5.0",  # discovery between two busy processes
                "-p",
                "gap_s:=1.0",
            )
        )
        ok = spin_until(executor, lambda: got["instr"] and got["estop"] and got["rej"], 60)
    finally:
        logs = stop_all(procs)
    assert ok, ({k: len(v) for k, v in got.items()}, logs[-3000:])
    assert [m.text for m in got["instr"]] == ["pick up the blue cube"]
    assert got["instr"][0].source == Instruction.SOURCE_VOICE
    assert got["estop"][0].data is True
    assert "open the door" in logs or got["rej"]


def test_say_publishes_one_instruction_and_exits(executor):
    from rclpy.node import Node
    from std_msgs.msg import Bool
    from vla_ros_msgs.msg import Instruction

    from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS

    node = Node("say_probe", context=executor.context)
    executor.add_node(node)
    got: list = []
    estops: list = []
    node.create_subscription(Instruction, "/instruction", got.append, COMMAND_QOS)
    node.create_subscription(Bool, "/safety/estop", estops.append, LATCHED_QOS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vla_ros.tools.say", "please push the red cube to the left"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ok = spin_until(executor, lambda: got and proc.poll() is not None, 60)
    finally:
        out = stop_all([proc])
    assert ok, out
    assert proc.returncode == 0, out
    assert [m.text for m in got] == ["push the red cube to the left"]
    assert got[0].source == Instruction.SOURCE_TEXT

    rejected = subprocess.run(
        [sys.executable, "-m", "vla_ros.tools.say", "make me a coffee"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rejected.returncode == 2 and "not understood" in rejected.stdout

    proc = subprocess.Popen(
        [sys.executable, "-m", "vla_ros.tools.say", "halt"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ok = spin_until(executor, lambda: estops and proc.poll() is not None, 60)
    finally:
        out = stop_all([proc])
    assert ok and proc.returncode == 0, out
    assert estops[-1].data is True
    assert np.all([m.text == "push the red cube to the left" for m in got])  # nothing else


def test_audio_capture_without_a_microphone_exits_cleanly():
    """Where no input device exists the node says so and exits 1, without a traceback."""
    sounddevice = pytest.importorskip("sounddevice")
    try:
        sounddevice.query_devices(kind="input")
        pytest.skip("this machine has an audio input device")
    except (ValueError, sounddevice.PortAudioError):
        pass
    result = subprocess.run(
        [sys.executable, "-m", "vla_ros.nodes.audio_capture_node"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "no usable audio input device" in result.stderr
    assert "Traceback" not in result.stderr
