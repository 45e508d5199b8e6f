"""Tier 2: the speech, keyboard and feedback nodes over real rclpy topics and services."""

from __future__ import annotations

import numpy as np
import pytest
from ros_helpers import spin_until
from speech_synth import RATE_HZ, require_tools, synth

pytestmark = pytest.mark.ros


class Probe:
    """A test node that records the speech outputs and can serve /safety/reset."""

    def __init__(self, executor):
        from rclpy.node import Node
        from std_msgs.msg import Bool, String
        from vla_ros_msgs.msg import Instruction

        from vla_ros.nodes.common import COMMAND_QOS, LATCHED_QOS

        self.node = Node("speech_probe", context=executor.context)
        executor.add_node(self.node)
        keys = ("instr", "estop", "rej", "reset", "fb", "prompt")
        self.got: dict[str, list] = {k: [] for k in keys}
        sub = self.node.create_subscription
        sub(Instruction, "/instruction", self.got["instr"].append, COMMAND_QOS)
        sub(Bool, "/safety/estop", self.got["estop"].append, LATCHED_QOS)
        sub(String, "/speech/rejected", self.got["rej"].append, COMMAND_QOS)
        sub(String, "/speech/reset_result", self.got["reset"].append, COMMAND_QOS)
        sub(String, "/speech/feedback", self.got["fb"].append, COMMAND_QOS)
        sub(String, "/speech/prompt", self.got["prompt"].append, COMMAND_QOS)
        self.reset_calls = 0

    def serve_reset(self, *, success: bool, message: str):
        from std_srvs.srv import Trigger

        def handle(_request, response):
            self.reset_calls += 1
            response.success, response.message = success, message
            return response

        return self.node.create_service(Trigger, "/safety/reset", handle)


def connected(executor, pub, timeout_s=10.0) -> bool:
    return spin_until(executor, lambda: pub.get_subscription_count() > 0, timeout_s)


def test_typed_lines_become_instructions_controls_and_rejections(executor):
    from std_msgs.msg import String
    from vla_ros_msgs.msg import Instruction

    from vla_ros.nodes.common import COMMAND_QOS
    from vla_ros.nodes.text_instruction_node import TextInstructionNode

    probe = Probe(executor)
    node = TextInstructionNode(context=executor.context)
    executor.add_node(node)
    pub = probe.node.create_publisher(String, "/instruction_text", COMMAND_QOS)
    assert connected(executor, pub)
    got = probe.got

    pub.publish(String(data="Could you pick up red cube, please?"))
    assert spin_until(executor, lambda: got["instr"], 10)
    msg = got["instr"][-1]
    assert msg.text == "pick up the red cube" and msg.source == Instruction.SOURCE_TEXT
    assert msg.confidence == 1.0 and msg.id

    pub.publish(String(data="make me a sandwich"))
    assert spin_until(executor, lambda: got["rej"], 10)
    assert "make me a sandwich" in got["rej"][-1].data
    assert len(got["instr"]) == 1 and not got["estop"]  # never turned into motion

    pub.publish(String(data="STOP"))
    assert spin_until(executor, lambda: got["estop"], 10)
    assert got["estop"][-1].data is True

    pub.publish(String(data="cancel"))
    assert spin_until(executor, lambda: len(got["instr"]) == 2, 10)
    assert got["instr"][-1].text == ""

    # no safety filter running: the resume request is refused, and said so
    pub.publish(String(data="resume"))
    assert spin_until(executor, lambda: got["reset"], 10)
    assert got["reset"][-1].data.startswith("refused")


@pytest.mark.parametrize(("success", "message"), [(False, "person too close"), (True, "reset")])
def test_resume_reports_the_safety_filters_answer(executor, success, message):
    from std_msgs.msg import String

    from vla_ros.nodes.common import COMMAND_QOS
    from vla_ros.nodes.text_instruction_node import TextInstructionNode

    probe = Probe(executor)
    probe.serve_reset(success=success, message=message)
    node = TextInstructionNode(context=executor.context)
    executor.add_node(node)
    assert spin_until(executor, node.dispatcher.reset_client.service_is_ready, 10)
    pub = probe.node.create_publisher(String, "/instruction_text", COMMAND_QOS)
    assert connected(executor, pub)
    pub.publish(String(data="continue"))
    assert spin_until(executor, lambda: probe.got["reset"], 10)
    expected = ("accepted: " if success else "refused: ") + message
    assert probe.got["reset"][-1].data == expected
    assert probe.reset_calls == 1


def test_speech_node_hears_stop_a_command_and_rejects_chatter(executor):
    require_tools()
    from vla_ros_msgs.msg import AudioData, Instruction

    from vla_ros import conversions as conv
    from vla_ros.nodes.speech_node import AUDIO_QOS, SpeechNode

    probe = Probe(executor)
    node = SpeechNode(context=executor.context)
    executor.add_node(node)
    pub = probe.node.create_publisher(AudioData, "/audio", AUDIO_QOS)
    assert connected(executor, pub)
    silence = np.zeros(RATE_HZ, np.int16)
    parts = [silence]
    for text in ("stop", "put the green cube on the plate", "hello robot how are you"):
        parts += [synth(text, "en-us", 160), silence]
    audio = np.concatenate(parts)
    t0 = 1000.0
    chunk = RATE_HZ // 10  # 100 ms chunks, sent faster than real time with true stamps
    for start in range(0, audio.size, chunk):
        pub.publish(conv.audio_to_msg(audio[start : start + chunk], RATE_HZ, t0 + start / RATE_HZ))
        executor.spin_once(timeout_sec=0.0)
    got = probe.got
    assert spin_until(executor, lambda: got["estop"] and got["instr"] and got["rej"], 60), {
        k: len(v) for k, v in got.items()
    }
    assert got["estop"][-1].data is True
    instruction = got["instr"][-1]
    assert instruction.text == "put the green cube on the plate"
    assert instruction.source == Instruction.SOURCE_VOICE and 0.5 <= instruction.confidence <= 1
    stamp_s = conv.stamp_to_seconds(instruction.header.stamp)
    assert t0 + 1.0 < stamp_s < t0 + audio.size / RATE_HZ  # the end of that utterance
    assert len(got["instr"]) == 1 and len(got["estop"]) == 1
    assert node.errors.total == 0


def play(executor, pub, texts, t0=2000.0, voice="en-us"):
    """Speak `texts` onto /audio with a second of silence around each (faster than real
    time, true stamps); returns the stamp where the audio ends (the next call's t0)."""
    from vla_ros import conversions as conv

    silence = np.zeros(RATE_HZ, np.int16)
    parts = [silence]
    for text in texts:
        parts += [synth(text, voice, 160), silence]
    audio = np.concatenate(parts)
    chunk = RATE_HZ // 10
    for start in range(0, audio.size, chunk):
        pub.publish(conv.audio_to_msg(audio[start : start + chunk], RATE_HZ, t0 + start / RATE_HZ))
        executor.spin_once(timeout_sec=0.0)
    return t0 + audio.size / RATE_HZ


def confirming_speech_node(executor, timeout_s: float):
    from rclpy.parameter import Parameter

    from vla_ros.nodes.speech_node import SpeechNode

    overrides = [
        Parameter("confirm_commands", value=True),
        Parameter("confirm_timeout_s", value=timeout_s),
    ]
    node = SpeechNode(context=executor.context, parameter_overrides=overrides)
    executor.add_node(node)
    return node


def test_confirmed_commands_wait_for_yes_and_no_drops_them(executor):
    """confirm_commands: the command is asked back, published after "yes"; after "no" the
    next one is dropped; nothing moves without a yes."""
    require_tools()
    from vla_ros_msgs.msg import AudioData

    from vla_ros.nodes.speech_node import AUDIO_QOS

    probe = Probe(executor)
    node = confirming_speech_node(executor, timeout_s=60.0)
    pub = probe.node.create_publisher(AudioData, "/audio", AUDIO_QOS)
    assert connected(executor, pub)
    got = probe.got
    t_end = play(executor, pub, ["pick up the red cube"])
    assert spin_until(executor, lambda: got["prompt"], 60), {k: len(v) for k, v in got.items()}
    assert got["prompt"][-1].data == "did you say: pick up the red cube?"
    assert spin_until(executor, lambda: False, 0.5) is False and not got["instr"]
    play(executor, pub, ["yes", "push the blue cube to the left", "no"], t0=t_end)
    assert spin_until(executor, lambda: len(got["prompt"]) >= 3, 60), [
        m.data for m in got["prompt"]
    ]
    assert [m.data for m in got["prompt"]] == [
        "did you say: pick up the red cube?",
        "did you say: push the blue cube to the left?",
        "okay, not doing that",
    ]
    assert [m.text for m in got["instr"]] == ["pick up the red cube"]
    assert node.dispatcher.confirmation.pending is None and node.errors.total == 0


def test_an_unanswered_command_is_dropped_and_a_late_yes_confirms_nothing(executor):
    require_tools()
    from vla_ros_msgs.msg import AudioData

    from vla_ros.nodes.speech_node import AUDIO_QOS

    probe = Probe(executor)
    confirming_speech_node(executor, timeout_s=1.0)
    pub = probe.node.create_publisher(AudioData, "/audio", AUDIO_QOS)
    assert connected(executor, pub)
    got = probe.got
    t_end = play(executor, pub, ["put the green cube on the plate"])
    assert spin_until(
        executor, lambda: any(m.data == "no answer, not doing that" for m in got["prompt"]), 60
    ), [m.data for m in got["prompt"]]
    play(executor, pub, ["yes"], t0=t_end)
    assert spin_until(executor, lambda: got["rej"], 60)
    assert "nothing to confirm" in got["rej"][-1].data
    assert not got["instr"]


def test_speech_node_takes_48khz_stereo(executor):
    require_tools()
    from scipy.signal import resample_poly
    from vla_ros_msgs.msg import AudioData

    from vla_ros import conversions as conv
    from vla_ros.nodes.speech_node import AUDIO_QOS, SpeechNode

    probe = Probe(executor)
    node = SpeechNode(context=executor.context)
    executor.add_node(node)
    pub = probe.node.create_publisher(AudioData, "/audio", AUDIO_QOS)
    assert connected(executor, pub)
    silence = np.zeros(RATE_HZ, np.int16)
    mono = np.concatenate([silence, synth("freeze", "en-gb", 150), silence])
    high = np.clip(resample_poly(mono.astype(float), 3, 1), -32768, 32767).astype(np.int16)
    stereo = np.stack([high, high], axis=1)
    chunk = 48_000 // 50
    for start in range(0, high.size, chunk):
        pub.publish(conv.audio_to_msg(stereo[start : start + chunk], 48_000, 5.0 + start / 48e3))
        executor.spin_once(timeout_sec=0.0)
    assert spin_until(executor, lambda: probe.got["estop"], 60)
    assert not probe.got["instr"] and node.errors.total == 0


def test_speech_node_counts_malformed_audio_and_keeps_running(executor):
    from vla_ros_msgs.msg import AudioData

    from vla_ros.nodes.speech_node import AUDIO_QOS, SpeechNode

    probe = Probe(executor)
    node = SpeechNode(context=executor.context)
    executor.add_node(node)
    pub = probe.node.create_publisher(AudioData, "/audio", AUDIO_QOS)
    assert connected(executor, pub)
    pub.publish(AudioData(sample_rate_hz=16000, channels=2, samples=[1, 2, 3]))
    assert spin_until(executor, lambda: node.errors.counts.get("bad_audio", 0) == 1, 10)
    assert not probe.got["instr"] and not probe.got["estop"]


def test_feedback_node_confirms_instructions_and_safety_changes(executor):
    from rclpy.parameter import Parameter
    from std_msgs.msg import String
    from vla_ros_msgs.msg import Instruction, SafetyStatus

    from vla_ros.nodes.common import COMMAND_QOS
    from vla_ros.nodes.speech_feedback_node import SpeechFeedbackNode

    probe = Probe(executor)
    node = SpeechFeedbackNode(
        context=executor.context, parameter_overrides=[Parameter("mute", value=True)]
    )
    executor.add_node(node)
    instr_pub = probe.node.create_publisher(Instruction, "/instruction", COMMAND_QOS)
    status_pub = probe.node.create_publisher(SafetyStatus, "/safety/status", COMMAND_QOS)
    assert connected(executor, instr_pub) and connected(executor, status_pub)
    fb = probe.got["fb"]
    instr_pub.publish(Instruction(text="pick up the red cube"))
    assert spin_until(executor, lambda: fb, 10)
    assert fb[-1].data == "picking up the red cube"
    status_pub.publish(SafetyStatus(state=SafetyStatus.STATE_OK))
    status_pub.publish(SafetyStatus(state=SafetyStatus.STATE_STOPPED, reasons=["human_inside_sp"]))
    assert spin_until(executor, lambda: any("person too close" in m.data for m in fb), 10)
    status_pub.publish(SafetyStatus(state=SafetyStatus.STATE_OK))
    assert spin_until(executor, lambda: fb[-1].data == "resuming", 10)
    prompt_pub = probe.node.create_publisher(String, "/speech/prompt", COMMAND_QOS)
    assert connected(executor, prompt_pub)
    prompt_pub.publish(String(data="did you say: pick up the red cube?"))
    assert spin_until(executor, lambda: len(fb) == 4, 10)
    assert [m.data for m in fb] == [
        "picking up the red cube",
        "stopped: person too close",
        "resuming",
        "did you say: pick up the red cube?",
    ]
