"""Speech feedback node: short confirmations and safety changes, spoken and published.

Subscribes /instruction (vla_ros_msgs/Instruction), /safety/status (vla_ros_msgs/SafetyStatus),
/speech/rejected, /speech/reset_result and /speech/prompt (std_msgs/String; the speech node's
confirmation questions, said as they are). Publishes /speech/feedback
(std_msgs/String) always, e.g. "picking up the red cube", "stopped: person too close",
"resuming"; speaks it with espeak-ng when installed and not muted (a newer message cuts off
an older one still being spoken: the latest state matters most).

Parameters: mute (bool, publish text only), voice (espeak-ng voice), rate_wpm [words/min].
"""

from __future__ import annotations

import shutil
import subprocess

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from std_msgs.msg import String
from vla_ros_msgs.msg import Instruction, SafetyStatus

from vla_ros.core.speech.feedback import SafetyFeedback, instruction_feedback
from vla_ros.nodes.common import COMMAND_QOS, run_node


class SpeechFeedbackNode(Node):
    """Thin ROS wrapper around vla_ros.core.speech.feedback."""

    def __init__(self, **kwargs) -> None:
        super().__init__("speech_feedback_node", **kwargs)
        self.mute = bool(
            self.declare_parameter(
                "mute", False, ParameterDescriptor(description="publish text only, no audio")
            ).value
        )
        self.voice = str(
            self.declare_parameter(
                "voice", "en-us", ParameterDescriptor(description="espeak-ng voice")
            ).value
        )
        self.rate_wpm = int(
            self.declare_parameter(
                "rate_wpm", 165, ParameterDescriptor(description="speaking rate [words/min]")
            ).value
        )
        self.espeak = shutil.which("espeak-ng")
        if self.espeak is None and not self.mute:
            self.get_logger().warning("espeak-ng not found: feedback is published as text only")
        self.safety = SafetyFeedback()
        self._speaking: subprocess.Popen | None = None
        self.pub = self.create_publisher(String, "speech/feedback", COMMAND_QOS)
        self.create_subscription(Instruction, "instruction", self._on_instruction, COMMAND_QOS)
        self.create_subscription(SafetyStatus, "safety/status", self._on_status, COMMAND_QOS)
        self.create_subscription(String, "speech/rejected", self._on_rejected, COMMAND_QOS)
        self.create_subscription(String, "speech/reset_result", self._on_reset, COMMAND_QOS)
        self.create_subscription(String, "speech/prompt", self._on_prompt, COMMAND_QOS)

    def _on_instruction(self, msg: Instruction) -> None:
        self.say(instruction_feedback(msg.text))

    def _on_status(self, msg: SafetyStatus) -> None:
        text = self.safety.update(
            int(msg.state), list(msg.reasons), estop_latched=bool(msg.estop_latched)
        )
        if text:
            self.say(text)

    def _on_rejected(self, _msg: String) -> None:
        self.say("sorry, I did not understand")

    def _on_prompt(self, msg: String) -> None:
        self.say(msg.data)

    def _on_reset(self, msg: String) -> None:
        if not msg.data.startswith("accepted"):
            self.say("cannot resume: " + msg.data.partition(": ")[2])

    def say(self, text: str) -> None:
        """Publish `text` on /speech/feedback and speak it unless muted."""
        self.pub.publish(String(data=text))
        self.get_logger().info(f"feedback: {text}")
        if self.mute or self.espeak is None:
            return
        if self._speaking is not None and self._speaking.poll() is None:
            self._speaking.terminate()
        self._speaking = subprocess.Popen(
            [self.espeak, "-v", self.voice, "-s", str(self.rate_wpm), text],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def destroy_node(self) -> None:
        """Stop speaking on shutdown."""
        if self._speaking is not None and self._speaking.poll() is None:
            self._speaking.terminate()
        super().destroy_node()


def main(args=None) -> None:
    """Process entry point: `python -m vla_ros.nodes.speech_feedback_node --ros-args ...`."""
    run_node(SpeechFeedbackNode, args)


if __name__ == "__main__":
    main()
