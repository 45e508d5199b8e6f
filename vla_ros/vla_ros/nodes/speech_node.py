"""Speech node: audio -> utterances -> grammar-checked commands; "stop" goes straight to e-stop.

Subscribes /audio (vla_ros_msgs/AudioData, any rate and channel count; reliable, depth 200).
Publishes /instruction (vla_ros_msgs/Instruction: canonical text, confidence, SOURCE_VOICE,
id, stamp = end of the utterance; an empty text for "cancel"), /safety/estop (std_msgs/Bool
True, latched) for e-stop words, /speech/rejected (std_msgs/String) for speech outside the
command language, /speech/reset_result (std_msgs/String) with the safety filter's answer.
Calls /safety/reset (std_srvs/Trigger) for "resume" / "continue".

E-stop words ("stop", "halt", "freeze", and "wait", which is treated as a stop: a hold that
silently times out would be a second, weaker stop) take a fast path: a short utterance is
decoded as soon as vad.control_silence_ms of silence follows it, without waiting for
vad.end_silence_ms, and without the recogniser's phone-loop check (~60 ms); the final decode
runs every check and only confirms it. A false stop is safe: if the final decode rejects the
utterance, the e-stop stays latched and a warning says so.

Spoken confirmation (confirm_commands: true): a recognised task is not published but asked
back on /speech/prompt ("did you say: pick up the red cube?", spoken by speech_feedback_node);
it becomes an Instruction only when the operator answers a vocabulary.confirm_words word
("yes"); a deny word ("no"), "cancel", a stop word, a newer task or no answer within
confirm_timeout_s drops it. A misheard command then needs a second mistake to move the robot.
Stop words never wait.

Parameters (read-only; defaults and units in config/speech.yaml): fast_path (bool),
confirm_commands (bool), confirm_timeout_s [s],
stream_gap_s [s] (a jump in the audio stamps larger than this restarts segmentation),
vocabulary.* (the command language), vad.* (segmentation), asr.* (recogniser, rejection).
"""

from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from vla_ros_msgs.msg import AudioData, Instruction

from vla_ros import conversions as conv
from vla_ros.core.speech.confirmation import ConfirmationGate
from vla_ros.core.speech.grammar import CommandGrammar, CommandKind
from vla_ros.core.speech.recognizer import CommandRecognizer
from vla_ros.core.speech.vad import (
    VAD_SAMPLE_RATE_HZ,
    StreamResampler,
    Utterance,
    UtteranceSegmenter,
    make_vad,
)
from vla_ros.nodes.common import ErrorCounter, run_node
from vla_ros.nodes.speech_common import CommandDispatcher, declare_speech_parameters

# Audio arrives every ~20 ms while a decode takes tens of ms: queue, never drop.
AUDIO_QOS = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)


class SpeechNode(Node):
    """Thin ROS wrapper around UtteranceSegmenter + CommandRecognizer."""

    def __init__(self, **kwargs) -> None:
        super().__init__("speech_node", **kwargs)
        read_only = ParameterDescriptor(read_only=True)
        self.fast_path = bool(
            self.declare_parameter(
                "fast_path",
                True,
                ParameterDescriptor(
                    description="decode short utterances early for e-stop words",
                    read_only=True,
                ),
            ).value
        )
        self.stream_gap_s = float(self.declare_parameter("stream_gap_s", 0.5, read_only).value)
        confirm = bool(
            self.declare_parameter(
                "confirm_commands",
                False,
                ParameterDescriptor(
                    description="tasks wait for a spoken yes before they are published",
                    read_only=True,
                ),
            ).value
        )
        timeout_s = float(
            self.declare_parameter(
                "confirm_timeout_s",
                8.0,
                ParameterDescriptor(
                    description="an unanswered task is dropped after this [s]", read_only=True
                ),
            ).value
        )
        config = declare_speech_parameters(self, ("vocabulary", "vad", "asr"))
        self.grammar = CommandGrammar(config.vocabulary, confirmation=confirm)
        self.recognizer = CommandRecognizer(self.grammar, config.asr)
        self.segmenter = UtteranceSegmenter(make_vad(config.vad), config.vad)
        self.resampler = StreamResampler()
        gate = ConfirmationGate(timeout_s) if confirm else None
        self.dispatcher = CommandDispatcher(self, Instruction.SOURCE_VOICE, gate)
        if gate is not None:
            self.create_timer(0.1, self.dispatcher.expire)
        self.errors = ErrorCounter(self)
        self._expected_stamp_s: float | None = None
        self._estopped_utterance = -1  # index of the utterance the fast path already acted on
        self.create_subscription(AudioData, "audio", self._on_audio, AUDIO_QOS)
        self.get_logger().info(
            f"listening on {self.resolve_topic_name('audio')} "
            f"(vad {config.vad.backend}, asr {config.asr.backend}, fast path {self.fast_path}, "
            f"confirmation {'on' if confirm else 'off'})"
        )

    def _on_audio(self, msg: AudioData) -> None:
        try:
            samples, rate_hz = conv.audio_from_msg(msg)
            mono = self.resampler.process(samples, rate_hz)
        except ValueError as exc:
            self.errors.report("bad_audio", exc)
            return
        stamp_s = conv.stamp_to_seconds(msg.header.stamp)
        if self._expected_stamp_s is not None and abs(stamp_s - self._expected_stamp_s) > (
            self.stream_gap_s
        ):
            self.errors.report(
                "audio_gap", f"stamp jumped by {stamp_s - self._expected_stamp_s:.3f} s"
            )
            self.segmenter.reset()
        self._expected_stamp_s = stamp_s + mono.size / VAD_SAMPLE_RATE_HZ
        for utterance in self.segmenter.process(mono, stamp_s):
            self._on_utterance(utterance)

    def _on_utterance(self, utterance: Utterance) -> None:
        if not utterance.final and not self.fast_path:
            return
        # the early cut only looks for e-stop words: skip the slow phone-loop and decoy checks
        recognition = self.recognizer.recognize(utterance.samples, thorough=utterance.final)
        if not utterance.final:
            # early cut: act only on e-stop words; everything else waits for the final cut
            if recognition.kind is CommandKind.ESTOP:
                self._estopped_utterance = utterance.index
                self.dispatcher.dispatch(recognition, utterance.end_s)
            return
        if utterance.index == self._estopped_utterance:
            if recognition.kind is CommandKind.ESTOP:
                return  # confirmed; already acted on
            self.get_logger().warning(
                f"fast-path stop was followed by '{recognition.heard}' ({recognition.kind.value})"
                "; the e-stop stays latched"
            )
        self.dispatcher.dispatch(recognition, utterance.end_s)


def main(args=None) -> None:
    """Process entry point: `python -m vla_ros.nodes.speech_node --ros-args ...`."""
    run_node(SpeechNode, args)


if __name__ == "__main__":
    main()
